"""The transcript editor: the edits themselves (re-timing, speakers, refusals), then a real Chromium on the real app
with the trained tiny TDT: click a word and hear it from there, follow along, keyboard, edit and save (every
download follows, the JSON marks the segment), and the same at a phone's width.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pysubs2
import pytest
from playwright.sync_api import expect, sync_playwright
from test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, save_screenshot

import synth_speech as ss
from app_process import running_app
from offline_transcribe.audio import write_wav
from offline_transcribe.server.editor import EditError, apply_edits
from offline_transcribe.server.editor.model import edit_segment, retime
from offline_transcribe.types import Segment, Transcript, Word

TRAINED_NEMO = Path(__file__).resolve().parent / "data" / "tiny_words_tdt.nemo"
SPOKEN = ["hello", "seven", "two", "open", "the", "door"]  # recognised exactly by the trained model


def _transcript(speakers: list[str] | None = None) -> Transcript:
    words = (Word("hello", 0.5, 0.9, "Speaker 1"), Word("seven", 1.0, 1.4, "Speaker 1"))
    return Transcript(text="hello seven", segments=[Segment(0.5, 1.4, "hello seven", words, "Speaker 1"),
                                                      Segment(2.0, 3.0, "two", (Word("two", 2.0, 3.0),), "Speaker 2")],
                      model="parakeet", model_name="P", audio_duration=4.0, processing_time=0.1, device="cpu",
                      timestamp_level="word", speakers=speakers or [])


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
