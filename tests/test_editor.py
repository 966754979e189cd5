"""The transcript editor: the edits themselves (re-timing, speakers, refusals), then a real Chromium on the real app
with the trained tiny TDT: click a word and hear it from there, follow along, keyboard, edit and save (every
download follows, the JSON marks the segment), and the same at a phone's width.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pysubs2
import pytest
from playwright.sync_api import expect, sync_playwright
from subtitle_check import check_cues, read_srt
from test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, save_screenshot

import synth_speech as ss
from app_process import running_app
from offline_transcribe import ModelStore
from offline_transcribe.audio import write_wav
from offline_transcribe.errors import TranscriptFileError
from offline_transcribe.exports import ExportOptions, to_json
from offline_transcribe.server.editor import EditError, apply_edits, parse_transcript, read_transcript
from offline_transcribe.server.editor.model import edit_segment, reassign_turns, retime
from offline_transcribe.server.editor.reopen import misfit
from offline_transcribe.server.run_downloads import RunDownloads, names_of
from offline_transcribe.subtitles import PRESETS
from offline_transcribe.types import Segment, SpeakerTurn, Transcript, Word

TRAINED_NEMO = Path(__file__).resolve().parent / "data" / "tiny_words_tdt.nemo"
SPOKEN = ["hello", "seven", "two", "open", "the", "door"]  # recognised exactly by the trained model


def _transcript(speakers: list[str] | None = None) -> Transcript:
    words = (Word("hello", 0.5, 0.9, "Speaker 1"), Word("seven", 1.0, 1.4, "Speaker 1"))
    turns = [SpeakerTurn(0.4, 1.5, "Speaker 1"), SpeakerTurn(1.9, 3.1, "Speaker 2")] if speakers else []
    return Transcript(text="hello seven", segments=[Segment(0.5, 1.4, "hello seven", words, "Speaker 1"),
                                                      Segment(2.0, 3.0, "two", (Word("two", 2.0, 3.0),), "Speaker 2")],
                      model="parakeet", model_name="P", audio_duration=4.0, processing_time=0.1, device="cpu",
                      timestamp_level="word", speakers=speakers or [], speaker_turns=turns)


def test_an_edit_keeps_word_times_or_retimes_inside_the_segment():
    seg = _transcript().segments[0]
    same_count = edit_segment(seg, "Hello Severn", "Speaker 1")
    assert [(w.text, w.start, w.end) for w in same_count.words] == [("Hello", 0.5, 0.9), ("Severn", 1.0, 1.4)]
    assert same_count.edited and same_count.start == 0.5 and same_count.end == 1.4
    longer = edit_segment(seg, "hello there   seven", "Speaker 1")
    assert [w.text for w in longer.words] == ["hello", "there", "seven"]
    assert longer.words[0].start == 0.5 and longer.words[-1].end == pytest.approx(1.4)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(longer.words, longer.words[1:], strict=False))
    assert longer.words[0].end - longer.words[0].start == pytest.approx(0.9 * 6 / 18)  # in proportion to length
    assert edit_segment(seg, " hello  seven ", "Speaker 1") is seg  # spaces only: no edit
    moved = edit_segment(seg, "hello seven", "Speaker 2")
    assert not moved.edited and {w.speaker for w in moved.words} == {"Speaker 2"}
    assert retime([], 0, 1, None) == ()


def test_apply_edits_marks_the_json_and_refuses_what_does_not_fit():
    t = _transcript(["Speaker 1", "Speaker 2"])
    edited = apply_edits(t, [{"text": "hello seven", "speaker": "Speaker 2"}, {"text": "too", "speaker": "Speaker 2"}])
    d = edited.to_dict()
    assert "edited" not in d["segments"][0] and d["segments"][1]["edited"] is True
    assert edited.text == "hello seven too" or "too" in edited.text
    for bad in ([], [{"text": "x"}], [{"text": 3}, {"text": "y"}], [{"text": "x" * 6000}, {"text": "y"}],
                [{"text": "a", "speaker": "Mallory"}, {"text": "b"}], "nope"):
        with pytest.raises(EditError):
            apply_edits(t, bad)


def test_a_changed_speaker_moves_its_span_of_the_speaker_turns():
    t = _transcript(["Speaker 1", "Speaker 2"])
    moved = apply_edits(t, [{"text": "hello seven", "speaker": "Speaker 2"}, {"text": "two", "speaker": "Speaker 2"}])
    assert [(u.start, u.end, u.speaker) for u in moved.speaker_turns] == [
        (0.4, 0.5, "Speaker 1"), (0.5, 1.4, "Speaker 2"), (1.4, 1.5, "Speaker 1"), (1.9, 3.1, "Speaker 2")]
    touching = reassign_turns([SpeakerTurn(0, 2, "A"), SpeakerTurn(2, 3, "B")], 1, 2, "A", "B")
    assert [(u.start, u.end, u.speaker) for u in touching] == [(0, 1, "A"), (1, 3, "B")]


def test_the_json_download_reads_back_as_the_same_transcript():
    t = apply_edits(_transcript(["Speaker 1", "Speaker 2"]), [{"text": "hello seven"}, {"text": "two too"}])
    again = parse_transcript(json.loads(to_json(t)), "x.json")
    assert again.to_dict() == t.to_dict() and again.segments[1].edited
    plain = _transcript()
    assert parse_transcript(json.loads(to_json(plain)), "x.json").to_dict() == plain.to_dict()


def _bad_json(change) -> dict:
    data = json.loads(to_json(_transcript(["Speaker 1", "Speaker 2"])))
    change(data)
    return data


@pytest.mark.parametrize("change, says", [
    (lambda d: d.pop("segments"), "no 'segments'"),
    (lambda d: d.update(segments={"a": 1}), "'segments' is not a list"),
    (lambda d: d["segments"][1].pop("end"), "segment 2's end is not a time"),
    (lambda d: d["segments"][0].update(start=-1), "segment 1's start is not a time"),
    (lambda d: d["segments"][0].update(start=9), "segment 1 ends before it starts"),
    (lambda d: d["segments"][0]["words"][1].update(text=7), "word 2 of segment 1's 'text' is not text"),
    (lambda d: d["segments"][1].update(speaker="Mallory"), "segment 2's speaker is not one of the speakers"),
    (lambda d: d["segments"][0].update(edited="yes"), "'edited' is not true or false"),
    (lambda d: d.update(speakers="Speaker 1"), "'speakers' is not a list"),
    (lambda d: d.update(audio_duration=float("inf")), "'audio_duration' is not a time"),
])  # fmt: skip
def test_a_json_this_app_did_not_write_is_refused_saying_what_is_wrong(change, says):
    with pytest.raises(TranscriptFileError, match=f"'x.json' is not a transcript this app wrote: .*{re.escape(says)}"):
        parse_transcript(_bad_json(change), "x.json")


def test_json_files_that_are_not_transcripts_and_audio_that_does_not_fit(tmp_path):
    for content, says in ((b"\xff\xfe not text", "is not JSON"), (b"{nope", "is not JSON"), (b"[1, 2]", "no object")):
        (tmp_path / "bad.json").write_bytes(content)
        with pytest.raises(TranscriptFileError, match=says):
            read_transcript(tmp_path / "bad.json")
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(60 * 2**20)
    with pytest.raises(TranscriptFileError, match="at most 50 MB"):
        read_transcript(big)
    assert misfit(60.0, 20.0) and misfit(10.0, 13.0) and not misfit(10.0, 10.4) and not misfit(600.0, 620.0)


def test_the_downloads_written_again_take_the_names_and_the_subtitle_preset(tmp_path):
    from offline_transcribe.batch import FileResult
    from offline_transcribe.exports import write_exports
    from offline_transcribe.server.page import TranscribeHandler

    long = " ".join(["word"] * 30)
    t = _transcript(["Speaker 1", "Speaker 2"])
    t = apply_edits(t, [{"text": "hello seven"}, {"text": long}])
    first = FileResult(Path("a.wav"), "a.wav", t, write_exports(t, tmp_path / "run", "a", ["srt", "json", "txt"]))
    folders = iter(tmp_path / f"again{i}" for i in range(9))
    again, files = RunDownloads(lambda: next(folders), TranscribeHandler.downloads).write(
        [first], names_of({"data": [["a.wav", "Speaker 1", "Alice"], ["a.wav", "Speaker 2", ""]]}),
        ExportOptions(PRESETS["one line"]))
    assert sorted(Path(f).suffix for f in files) == [".json", ".rttm", ".srt", ".txt", ".zip"]
    srt = pysubs2.load(str(again[0].outputs["srt"]))
    assert all("\n" not in e.plaintext for e in srt) and len(srt) > 2  # one-line cues
    assert srt[0].plaintext.startswith("Alice:") and json.loads(again[0].outputs["json"].read_text())["speakers"] == [
        "Alice", "Speaker 2"]


# ---------------------------------------------------------------------------------------------------------------
# In Chromium


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_models_dir):
    from conftest import install_parakeet

    models_dir = tmp_path_factory.mktemp("editor_models") / "local_models"
    shutil.copytree(tiny_models_dir, models_dir)
    install_parakeet(models_dir, TRAINED_NEMO)
    with running_app(models_dir, tmp_path_factory.mktemp("editor_app"), "--preload") as running:
        yield running
        assert not running.network_attempts(), "the app tried to reach another machine"


@pytest.fixture(scope="module")
def door(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("editor_audio")
    audio, _ = ss.make_utterance(SPOKEN, ss.HELDOUT_VOICES[0], ss.HELDOUT_SPEED, ss.HELDOUT_PITCH,
                                 np.random.default_rng(7), cache_dir=root / "w")
    padded = np.concatenate([np.zeros(8000, np.float32), audio, np.zeros(16000 * 8, np.float32)])  # room to skip
    return write_wav(root / "door.wav", padded)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"])
        yield chromium
        chromium.close()


def _transcribe(page, audio: Path) -> None:
    page.locator("#audio-files input[type=file]").set_input_files([str(audio)])
    expect(page.locator(f"#audio-files td.filename[aria-label='{audio.name}']")).to_be_visible(timeout=30_000)
    page.locator("#transcribe-button").click()
    expect(page.locator("#stats")).to_contain_text("✓ done", timeout=120_000)
    expect(page.locator("#editor .ed-word")).to_have_count(len(SPOKEN), timeout=30_000)


PLAYER = "() => { const a = document.querySelector('#editor .ed-audio'); return [a.currentTime, a.paused]; }"
NOW = """() => { const a = document.querySelector('#editor .ed-audio'), w = document.querySelector('#editor .ed-now');
  return [a.currentTime, w ? +w.dataset.s : null, w ? +w.dataset.e : null]; }"""


def test_click_a_word_hear_it_follow_along_and_the_keys(browser, app, door, tmp_path):
    page = browser.new_page(viewport=DESKTOP, accept_downloads=True)
    try:
        page.goto(app.url)
        _transcribe(page, door)
        word = page.locator("#editor .ed-word", has_text="seven")
        start = float(word.get_attribute("data-s"))
        word.click()
        page.wait_for_function("() => !document.querySelector('#editor .ed-audio').paused", timeout=10_000)
        current, paused = page.evaluate(PLAYER)
        assert abs(current - start) < 0.15 and not paused, (current, start)

        seen = []
        for _ in range(200):  # while it plays: the highlighted word is the one being heard
            now, s, e = page.evaluate(NOW)
            if s is not None:
                assert s - 0.05 <= now <= e + 0.35, (now, s, e)
                if not seen or seen[-1][1] != s:
                    seen.append((now, s))
            if len(seen) >= 3:
                break
            page.wait_for_timeout(50)
        assert len(seen) >= 3, seen
        page.locator("#editor .ed-play").click()  # pause
        page.wait_for_function("() => document.querySelector('#editor .ed-audio').paused")

        page.locator("#app-header").click()  # the focus on the page, not in a field
        page.keyboard.press("Space")
        page.wait_for_function("() => !document.querySelector('#editor .ed-audio').paused", timeout=5_000)
        page.keyboard.press("Space")
        page.wait_for_function("() => document.querySelector('#editor .ed-audio').paused", timeout=5_000)
        before, _ = page.evaluate(PLAYER)
        page.keyboard.press("ArrowRight")
        after, _ = page.evaluate(PLAYER)
        assert after == pytest.approx(before + 5, abs=0.1), (before, after)
        page.keyboard.press("ArrowLeft")
        assert page.evaluate(PLAYER)[0] == pytest.approx(before, abs=0.1)

        page.locator("#editor .ed-edit").first.click()  # typing in a segment: the keys are the text's
        box = page.locator("#editor .ed-input")
        box.press("End")
        box.press("Space")
        box.press("ArrowLeft")
        _, paused = page.evaluate(PLAYER)
        assert paused and box.input_value().endswith(" "), box.input_value()
        assert page.evaluate(PLAYER)[0] == pytest.approx(before, abs=0.1)
        box.press("Escape")
        expect(page.locator("#editor .ed-input")).to_have_count(0)
    finally:
        page.close()


def _download(page, name: str, tmp_path: Path) -> Path:
    with page.expect_download() as download:
        page.locator(f"#downloads a[download='{name}']").click()
    path = tmp_path / f"dl-{name}"
    download.value.save_as(path)
    return path


def test_edit_a_segment_and_every_download_follows(browser, app, door, tmp_path):
    page = browser.new_page(viewport=DESKTOP, accept_downloads=True)
    try:
        page.goto(app.url)
        _transcribe(page, door)
        srt_before = pysubs2.load(str(_download(page, "door.srt", tmp_path)))
        page.locator("#editor .ed-edit").first.click()
        box = page.locator("#editor .ed-input")
        box.fill("hello seven two open the window")
        box.press("Control+Enter")  # applies and saves
        expect(page.locator("#transcript textarea")).to_have_value("hello seven two open the window",
                                                                   timeout=30_000)
        expect(page.locator("#segments")).to_contain_text("the window")
        expect(page.locator("#editor .ed-seg.ed-edited")).to_have_count(1)
        srt = pysubs2.load(str(_download(page, "door.srt", tmp_path)))
        assert [(e.start, e.end) for e in srt] == [(e.start, e.end) for e in srt_before]  # cue times unchanged
        assert "window" in srt[0].plaintext
        data = json.loads(_download(page, "door.json", tmp_path).read_text())
        first = data["segments"][0]
        assert first["edited"] is True and first["text"] == "hello seven two open the window"
        assert [w["word"] if "word" in w else w["text"] for w in data["segments"][0]["words"]][-1] == "window"
        for name, needle in (("door.txt", "the window"), ("door.vtt", "the window"), ("door.csv", "the window")):
            assert needle in _download(page, name, tmp_path).read_text(), name

        page.locator("#editor .ed-edit").first.click()  # undo the next edit before saving: nothing changes
        page.locator("#editor .ed-input").fill("goodbye")
        page.locator("#editor .ed-done").click()
        expect(page.locator("#editor .ed-text").first).to_contain_text("goodbye")
        page.locator("#editor .ed-undo").click()
        expect(page.locator("#editor .ed-text").first).to_contain_text("the window")
        page.locator("#editor .ed-redo").click()
        expect(page.locator("#editor .ed-text").first).to_contain_text("goodbye")
        page.locator("#editor .ed-undo").click()
        save_screenshot(page, tmp_path / "editor_desktop.png")
    finally:
        page.close()


def test_at_phone_width_the_player_and_the_segment_stay_usable(browser, app, door, tmp_path):
    page = browser.new_page(viewport=PHONE)
    try:
        page.goto(app.url)
        _transcribe(page, door)
        page.locator("#editor").scroll_into_view_if_needed()
        for sel in ("#editor .ed-audio", "#editor .ed-play", "#editor .ed-seg"):
            box = page.locator(sel).first.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1, (sel, box)
        word = page.locator("#editor .ed-word", has_text="door")
        word.click()
        page.wait_for_function("() => !document.querySelector('#editor .ed-audio').paused", timeout=10_000)
        assert abs(page.evaluate(PLAYER)[0] - float(word.get_attribute("data-s"))) < 0.15
        save_screenshot(page, tmp_path / "editor_phone.png", full_page=False)
    finally:
        page.close()


def test_open_reads_only_uploads_and_says_when_the_audio_does_not_fit(tmp_path):
    import gradio as gr

    from offline_transcribe.server.editor import Reopener
    from offline_transcribe.server.page import TranscribeHandler, segment_rows, stats_rows, transcript_text

    uploads = tmp_path / "exports"  # the handler's own folder: files in it count as uploads
    handler = TranscribeHandler(ModelStore(tmp_path / "no_models"), uploads)
    folders = iter(uploads / f"run{i}" for i in range(9))
    reopener = Reopener(handler.refuse_foreign_paths, RunDownloads(lambda: next(folders), handler.downloads),
                        transcript_text, segment_rows, stats_rows)  # fmt: skip
    (uploads / "in").mkdir(parents=True)
    wav = write_wav(uploads / "in" / "talk.wav", np.zeros(16000 * 10, np.float32))
    t = _transcript(["Speaker 1", "Speaker 2"])
    (uploads / "in" / "talk.json").write_text(to_json(t))
    outside = tmp_path / "secret.json"
    outside.write_text(to_json(t))
    for paths in ((str(outside), str(wav)), (str(uploads / "in" / "talk.json"), "/etc/passwd")):
        with pytest.raises(gr.Error, match="only files uploaded to this server"):
            reopener.open(*paths)
    with pytest.raises(gr.Error, match="Add its audio"):
        reopener.open(str(uploads / "in" / "talk.json"), None)
    with pytest.raises(gr.Error, match="could not be read as audio"):
        reopener.open(str(uploads / "in" / "talk.json"), str(uploads / "in" / "talk.json"))

    text, segments, files, stats, message, results = reopener.open(str(uploads / "in" / "talk.json"), str(wav))
    assert results[0].transcript.to_dict() == t.to_dict() and results[0].path == wav
    assert "⚠ The transcript is of 4.0 s of audio, but talk.wav lasts 10.0 s" in message
    assert {Path(f).suffix for f in files} == {".zip", ".txt", ".srt", ".vtt", ".json", ".csv", ".docx", ".md",
                                               ".rttm"}
    assert segments["data"][0][3] == "Speaker 1" and stats[0][1] == "✓ done" and text == t.text


def _upload(page, where: str, path: Path) -> None:
    page.locator(f"{where} input[type=file]").set_input_files([str(path)])
    expect(page.locator(f"{where} td.filename[aria-label='{path.name}']")).to_be_visible(timeout=30_000)


def test_open_a_transcript_in_a_fresh_tab_edit_and_save_with_the_chosen_subtitles(browser, app, door, tmp_path):
    page = browser.new_page(viewport=DESKTOP, accept_downloads=True)
    try:
        page.goto(app.url)
        _transcribe(page, door)
        srt_before = pysubs2.load(str(_download(page, "door.srt", tmp_path)))
        saved_json = _download(page, "door.json", tmp_path)
    finally:
        page.close()
    bad = tmp_path / "notes.json"
    bad.write_text(json.dumps({"segments": [{"start": 0, "text": "hi"}], "model": "x", "audio_duration": 1,
                               "timestamp_level": "word"}))  # fmt: skip
    page = browser.new_page(viewport=DESKTOP, accept_downloads=True)  # a fresh tab: nothing of the run above
    try:
        page.goto(app.url)
        page.get_by_role("tab", name="Open transcript").click()
        expect(page.locator("#transcribe-button")).to_be_hidden()
        _upload(page, "#open-audio", door)
        _upload(page, "#open-json", bad)
        page.locator("#open-button").click()
        toast = page.locator(".toast-body").filter(has_text="'notes.json' is not a transcript this app wrote: "
                                                            "segment 1's end is not a time")  # fmt: skip
        expect(toast).to_be_visible(timeout=30_000)
        page.locator("#open-json button[aria-label='Clear']").click()
        _upload(page, "#open-json", saved_json)
        page.locator("#open-button").click()
        expect(page.locator("#messages")).to_contain_text("Opened door.wav", timeout=30_000)
        expect(page.locator("#editor .ed-word")).to_have_count(len(SPOKEN), timeout=30_000)
        expect(page.locator("#segments")).to_contain_text("open the door")
        save_screenshot(page, tmp_path / "editor_open_desktop.png")

        page.locator("#editor .ed-edit").first.click()
        page.locator("#editor .ed-input").fill("hello seven two open the window")
        page.locator("#editor .ed-save").click()
        expect(page.locator("#transcript textarea")).to_have_value("hello seven two open the window", timeout=30_000)
        srt = pysubs2.load(str(_download(page, "door.srt", tmp_path)))
        assert [(e.start, e.end) for e in srt] == [(e.start, e.end) for e in srt_before]  # cue times unchanged
        assert "window" in srt[0].plaintext
        data = json.loads(_download(page, "door.json", tmp_path).read_text())
        assert data["segments"][0]["edited"] is True and "the window" in data["segments"][0]["text"]

        # The editor's Save writes the subtitles as the Subtitles group says: one line of at most 32 characters.
        page.get_by_text("Subtitles", exact=True).click()
        page.locator("#subtitle-preset input").click()
        page.get_by_role("option", name="one line").click()
        expect(page.locator("#subtitle-max-line-chars input")).to_have_value("32")
        page.locator("#editor .ed-edit").first.click()
        page.locator("#editor .ed-input").fill("hello seven two open the big window")
        page.locator("#editor .ed-input").press("Control+Enter")
        expect(page.locator("#transcript textarea")).to_have_value("hello seven two open the big window",
                                                                   timeout=30_000)
        one_line = _download(page, "door.srt", tmp_path).read_text()
        check_cues(read_srt(one_line), PRESETS["one line"], ["hello", "seven", "two", "open", "the", "big", "window"])
        assert len(read_srt(one_line)) > 1
    finally:
        page.close()


def test_open_a_transcript_at_phone_width(browser, app, door, tmp_path):
    page = browser.new_page(viewport=PHONE)
    try:
        page.goto(app.url)
        expect(page.get_by_role("tab", name="Files")).to_be_visible()
        tab = page.get_by_role("tab", name="Open transcript")
        if not tab.is_visible():  # at 400 px Gradio moves the fourth tab into the tabs' overflow menu (⋯)
            page.locator("#input-tabs .overflow-menu button").first.click()
            tab = page.locator("#input-tabs .overflow-dropdown").get_by_text("Open transcript")
        tab.click()
        expect(page.locator("#open-button")).to_be_visible()
        box = page.locator("#open-json").bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"] + 1, box
        save_screenshot(page, tmp_path / "editor_open_phone.png", full_page=False)
    finally:
        page.close()
