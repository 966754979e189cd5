"""Who said what, end to end, with models that really work: the tiny Streaming Sortformer trained here
(``tests/data/tiny_sortformer.nemo``, ``training/train_tiny_sortformer.py``) and the tiny TDT that recognises words
(``tests/data/tiny_words_tdt.nemo``), both installed by the real setup command, used through the store, the
transcriber, the command line, the page's API and a real browser.

All speech is held-out: conversations of voices (and a speed and pitch) the diarizer never heard in training, with
every turn and word time known, so the checks are about real speaker turns, not plumbing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import docx
import numpy as np
import openai
import pysubs2
import pytest
import webvtt
from gradio_client import Client, handle_file
from subtitle_check import check_cues, read_srt, read_vtt

import synth_conversation as sc
import synth_speech as ss
from app_process import running_app
from conftest import install_model
from offline_transcribe import LongAudioPolicy, ModelStore
from offline_transcribe.audio import write_wav
from offline_transcribe.diarize import SpeakerOptions
from offline_transcribe.models.registry import DIARIZER
from offline_transcribe.subtitles import PRESETS
from offline_transcribe.transcribe import transcribe_audio

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "tiny_sortformer.nemo"
FIGURES = DATA / "tiny_sortformer.json"
WORDS_MODEL = DATA / "tiny_words_tdt.nemo"
MAX_DER = 0.15  # a few short held-out conversations; the training run reports DER on 40 (training/README.md)
MIN_WORD_ACCURACY = 0.9  # correctly recognised words that went to the right speaker

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed"),
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One torch thread: the tiny models gain nothing from more, and shared cores make more slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def speaker_models_dir(tmp_path_factory, tiny_models_dir) -> Path:
    """The tiny models folder with the trained word model as Parakeet and the trained diarizer, set up by
    ``setup_local_models.py --only KEY --from PATH``."""
    models_dir = tmp_path_factory.mktemp("speakers") / "local_models"
    shutil.copytree(tiny_models_dir, models_dir)
    install_model(models_dir, "parakeet", WORDS_MODEL)
    return install_model(models_dir, DIARIZER, FIXTURE)


@pytest.fixture(scope="module")
def store(speaker_models_dir):
    store = ModelStore(speaker_models_dir)
    yield store
    store.close()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="module")
def conversations(clips) -> list[sc.Conversation]:
    """Three held-out two-speaker conversations of about 20 s (seeds of their own)."""
    rng = np.random.default_rng(2024)
    return [sc.heldout_conversation(rng, 2, 20, cache_dir=clips) for _ in range(3)]


def hyp_turns(t) -> list[tuple[float, float, str]]:
    return [(u.start, u.end, u.speaker) for u in t.speaker_turns]


def word_speaker_accuracy(conv: sc.Conversation, t) -> float:
    """Of the recognised words that match the reference, the share whose speaker is right, under the best mapping
    of the transcript's speaker labels to the conversation's speakers (labels may be permuted)."""
    ref = sorted((w.start, w.word, turn.speaker) for turn in conv.turns for w in turn.words)
    hyp = t.words
    pairs = ss.align_words([r[1] for r in ref], [w.text for w in hyp])
    matched = [(ref[i][2], hyp[j].speaker) for i, j in pairs
               if i is not None and j is not None and ref[i][1] == hyp[j].text]  # fmt: skip
    speakers = sorted({spk for spk, _ in matched})
    labels = sorted({label for _, label in matched}) + [None] * len(speakers)
    best = max(
        sum(dict(zip(speakers, perm, strict=False)).get(spk) == label for spk, label in matched)
        for perm in itertools.permutations(labels, len(speakers))
    )
    return best / max(1, len(matched))


# ---------------------------------------------------------------------------------------------------------------
# The fixture


def test_the_fixture_is_the_recorded_one_small_and_trained_without_the_test_voices():
    figures = json.loads(FIGURES.read_text())
    assert hashlib.sha256(FIXTURE.read_bytes()).hexdigest() == figures["sha256"]
    assert FIXTURE.stat().st_size <= 5_000_000
    assert not set(figures["heldout_voices"]) & set(figures["train_voices"])
    assert figures["heldout_speed"] not in figures["train_speeds"]
    assert set(sc.DIAR_HELDOUT_VOICES) == set(figures["heldout_voices"])


# ---------------------------------------------------------------------------------------------------------------
# Through the store and the transcriber


def test_held_out_conversations_get_the_right_turns_and_each_word_the_right_speaker(store, conversations):
    transcripts = [transcribe_audio(c.audio, "parakeet", store=store, speakers=SpeakerOptions()) for c in conversations]
    der = sc.diarization_error_rate(conversations, [hyp_turns(t) for t in transcripts])
    assert der <= MAX_DER, f"DER {der:.3f} on held-out conversations"
    for conv, t in zip(conversations, transcripts, strict=True):
        assert t.speakers == ["Speaker 1", "Speaker 2"]
        assert t.text.startswith("Speaker 1: ") and "\n\nSpeaker 2: " in t.text
        assert all(seg.speaker and {w.speaker for w in seg.words} == {seg.speaker} for seg in t.segments)
        assert word_speaker_accuracy(conv, t) >= MIN_WORD_ACCURACY
    assert store.status(DIARIZER).ready  # loaded through the same store, kept for the next request


def test_a_given_number_of_speakers_and_a_monologue(store, conversations, clips):
    one = transcribe_audio(conversations[0].audio, "parakeet", store=store, speakers=SpeakerOptions(1))
    assert one.speakers == ["Speaker 1"] and {w.speaker for w in one.words} == {"Speaker 1"}
    monologue = sc.heldout_conversation(np.random.default_rng(5), 1, 15, cache_dir=clips)
    t = transcribe_audio(monologue.audio, "parakeet", store=store, speakers=SpeakerOptions())
    assert t.speakers == ["Speaker 1"] and t.text.startswith("Speaker 1: ")


def test_silence_has_no_speakers_and_says_so(store):
    t = transcribe_audio(np.zeros(16000 * 5, dtype=np.float32), "parakeet", store=store, speakers=SpeakerOptions())
    assert t.text == "" and t.speakers == [] and "No speech found: the audio is silent." in t.notes


def test_more_than_four_speakers_get_at_most_four_labels_and_a_note(store, clips):
    rng = np.random.default_rng(9)
    voices = (*sc.DIAR_HELDOUT_VOICES, "en-us+klatt2", "en+f1")
    speakers = tuple(sc.Speaker(v) for v in voices)
    conv = sc.make_conversation(rng, speakers, 30, same_speaker_share=0.0, cache_dir=clips)
    t = transcribe_audio(conv.audio, "parakeet", store=store, speakers=SpeakerOptions())
    assert 2 <= len(t.speakers) <= 4
    assert any("the most this diarizer tells apart" in n for n in t.notes) == (len(t.speakers) == 4)


def test_canary_is_cut_at_the_turns_one_speaker_per_segment(store, conversations, monkeypatch):
    """The tiny random Canary (``tests/tiny_models.py``) really runs on each piece, but its random LLM says nothing;
    an empty answer is replaced by the piece's number, so that the segment stays and its times and speaker can be
    checked (the text is not what is checked here)."""
    from offline_transcribe.backends import salm
    from offline_transcribe.diarize.attribute import turn_windows

    heard: list[int] = []  # the length of every piece of audio Canary was given

    def generate(model, chunks, max_new_tokens):
        heard.extend(len(c) for c in chunks)
        return [text or f"piece {len(heard) - len(chunks) + i + 1}" for i, text in
                enumerate(real_generate(model, chunks, max_new_tokens))]  # fmt: skip

    real_generate = salm.generate
    monkeypatch.setattr(salm, "generate", generate)
    conv = conversations[0]
    no_word_times = LongAudioPolicy(borrow_word_times=False)  # (with them: Parakeet's words get the speakers)
    t = transcribe_audio(conv.audio, "canary", store=store, speakers=SpeakerOptions(2), policy=no_word_times)
    expected = turn_windows(t.speaker_turns, conv.audio, 40.0, SpeakerOptions().policy)
    assert f"Transcribed turn by turn: {len(expected)} pieces cut at the speaker turns." in t.notes
    assert [(seg.start, seg.end, seg.speaker) for seg in t.segments] == expected  # a segment per piece, its speaker
    assert heard == [int(e * 16000) - int(s * 16000) for s, e, _ in expected]
    assert {seg.speaker for seg in t.segments} == set(t.speakers) == {"Speaker 1", "Speaker 2"}
    assert t.text.startswith("Speaker 1: piece 1")


# ---------------------------------------------------------------------------------------------------------------
# The command line


def test_the_command_line_writes_speaker_labelled_files(speaker_models_dir, tiny_models_dir, conversations, tmp_path,
                                                       capsys):  # fmt: skip
    """In-process (``test_startup.py`` runs the command as a subprocess)."""
    import transcribe_ui

    wav = write_wav(tmp_path / "interview.wav", conversations[1].audio)
    out = tmp_path / "out"
    args = ["--transcribe", str(wav), "--speakers", "2", "--format", "srt,vtt,docx,md", "--output-dir", str(out)]
    assert transcribe_ui.main(["--models-dir", str(speaker_models_dir), *args]) == 0, capsys.readouterr()
    subs = pysubs2.load(str(out / "interview.srt"))
    assert {e.plaintext.split(":")[0] for e in subs} == {"Speaker 1", "Speaker 2"}
    assert {c.voice for c in webvtt.read(str(out / "interview.vtt"))} == {"Speaker 1", "Speaker 2"}
    standard = PRESETS["standard"]  # every cue within the limits (subtitle_check reads them independently)
    check_cues(read_srt((out / "interview.srt").read_text()), standard)
    check_cues(read_vtt((out / "interview.vtt").read_text()), standard)
    if shutil.which("pandoc"):  # the documents, read by another program: who said what
        for name in ("interview.docx", "interview.md"):
            text = subprocess.run(["pandoc", str(out / name), "-t", "plain"], capture_output=True, text=True,
                                  check=True).stdout  # fmt: skip
            assert "Speaker 1:" in text and "Speaker 2:" in text and "interview.wav" in text, name
    assert (out / "interview.rttm").read_text().startswith("SPEAKER interview 1 ")

    capsys.readouterr()
    assert transcribe_ui.main(["--models-dir", str(tiny_models_dir), *args, "--overwrite"]) == 1
    missing = capsys.readouterr().out
    assert "diarizer.nemo" in missing and re.search(r"setup_local_models\.py .*--only diarizer", missing)


# ---------------------------------------------------------------------------------------------------------------
# The page: its API, and a real browser (one server for both)


@pytest.fixture(scope="module")
def app(speaker_models_dir, tmp_path_factory):
    with running_app(speaker_models_dir, tmp_path_factory.mktemp("speakers_app")) as running:
        yield running
        assert not running.network_attempts(), "the app tried to reach another machine"


@pytest.fixture(scope="module")
def conversation_wav(conversations, tmp_path_factory) -> Path:
    return write_wav(tmp_path_factory.mktemp("speakers_audio") / "two people.wav", conversations[2].audio)


def test_the_page_api_identifies_speakers_and_renaming_rewrites_every_download(app, conversation_wav, tmp_path):
    client = Client(app.url, verbose=False, download_files=str(tmp_path / "dl"), analytics_enabled=False)
    text, segments, downloads, stats, messages = client.predict(
        [handle_file(str(conversation_wav))], None, "parakeet", True, "auto", api_name="/transcribe"
    )
    assert messages.startswith("✓ Transcribed 1 of 1 file"), messages
    assert segments["headers"] == ["File", "Start", "End", "Speaker", "Text"]
    assert {row[3] for row in segments["data"]} == {"Speaker 1", "Speaker 2"}
    assert {Path(p).suffix for p in downloads} == {".zip", ".txt", ".srt", ".vtt", ".json", ".csv", ".docx", ".md",
                                                   ".rttm"}
    assert text.startswith("Speaker 1: ")

    names = {"headers": ["File", "Speaker", "Name"],
             "data": [["two people.wav", "Speaker 1", "Alice"], ["two people.wav", "Speaker 2", ""]]}  # fmt: skip
    text, segments, downloads, timeline = client.predict(names, api_name="/rename_speakers")
    assert text.startswith("Alice: ") and "Speaker 1" not in text
    assert {row[3] for row in segments["data"]} == {"Alice", "Speaker 2"}
    assert 'data-speaker="Alice"' in timeline and 'data-speaker="Speaker 2"' in timeline
    by_suffix = {Path(p).suffix: Path(p) for p in downloads}
    assert set(by_suffix) == {".zip", ".txt", ".srt", ".vtt", ".json", ".csv", ".docx", ".md", ".rttm"}
    with zipfile.ZipFile(by_suffix.pop(".zip")) as archive:  # the ZIP holds the renamed files too
        assert sorted(archive.namelist()) == sorted(p.name for p in by_suffix.values())
        contents = {Path(name).suffix: archive.read(name) for name in archive.namelist()}
    for suffix, path in by_suffix.items():
        assert path.read_bytes() == contents[suffix]
        content = "\n".join(p.text for p in docx.Document(str(path)).paragraphs) if suffix == ".docx" else (
            path.read_text())  # fmt: skip
        assert "Alice" in content and "Speaker 1" not in content and "Speaker_1" not in content, suffix
    assert json.loads(by_suffix[".json"].read_text())["speakers"] == ["Alice", "Speaker 2"]


def reference_speaker(conv: sc.Conversation, start: float, end: float) -> int | None:
    """The conversation's speaker who talks most within ``start``..``end``."""
    talk: dict[int, float] = {}
    for turn in conv.turns:
        talk[turn.speaker] = talk.get(turn.speaker, 0.0) + max(0.0, min(end, turn.end) - max(start, turn.start))
    best = max(talk, key=lambda s: talk[s]) if talk else None
    return best if best is not None and talk[best] > 0 else None


def test_the_openai_api_s_diarized_json_has_the_right_speaker_on_each_segment(app, conversation_wav, conversations):
    client = openai.OpenAI(base_url=f"{app.url}v1", api_key="unused", max_retries=0, timeout=180)
    with open(conversation_wav, "rb") as f:
        result = client.audio.transcriptions.create(file=f, model="parakeet", response_format="diarized_json")
    assert result.task == "transcribe" and result.duration == pytest.approx(conversations[2].duration, abs=0.01)
    assert result.usage.type == "duration" and result.usage.seconds == result.duration
    assert result.segments[0].speaker == "A" and {s.speaker for s in result.segments} == {"A", "B"}
    assert all(s.type == "transcript.text.segment" and 0 <= s.start <= s.end <= result.duration
               for s in result.segments)  # fmt: skip
    assert len({s.id for s in result.segments}) == len(result.segments)
    assert " ".join(s.text for s in result.segments) == result.text and "Speaker" not in result.text
    pairs = [(s.speaker, reference_speaker(conversations[2], s.start, s.end)) for s in result.segments]
    mapping = {label: max({r for _, r in pairs}, key=lambda r: pairs.count((label, r))) for label in ("A", "B")}
    assert len(set(mapping.values())) == 2 and sum(mapping[label] == ref for label, ref in pairs) >= 0.9 * len(pairs)

    with open(conversation_wav, "rb") as f:
        events = list(client.audio.transcriptions.create(file=f, model="parakeet", response_format="diarized_json",
                                                         stream=True))  # fmt: skip
    assert [e.type for e in events] == ["transcript.text.segment"] * len(result.segments) + ["transcript.text.done"]
    assert [(e.speaker, e.text) for e in events[:-1]] == [(s.speaker, s.text) for s in result.segments]


def test_without_the_speaker_model_the_option_says_how_to_install_it_and_the_rest_works(tiny_models_dir, tmp_path):
    from offline_transcribe.server import page, speakers

    store = ModelStore(tiny_models_dir)
    assert speakers.install_hint(store).startswith("python setup_local_models.py --only diarizer")
    wav = write_wav(tmp_path / "hi.wav", np.sin(np.arange(16000 * 2) / 8).astype(np.float32) * 0.3)
    handler = page.TranscribeHandler(store, tmp_path / "exports")
    text, segments, downloads, stats, messages = handler([str(wav)], None, "parakeet", True, "2",
                                                         progress=lambda *a, **k: None)  # fmt: skip
    assert messages.startswith("✓ Transcribed 1 of 1 file") and stats[0][1] != "✗ failed"
    assert "Speakers were not identified" in messages
    assert re.search(r"setup_local_models\.py .*--only diarizer", messages)
    assert segments["headers"][3] == "Text" and not any(p.endswith(".rttm") for p in downloads)
    store.close()


@pytest.mark.browser
def test_in_the_browser_two_speakers_show_up_and_a_new_name_reaches_the_srt(app, conversation_wav, tmp_path):
    from playwright.sync_api import expect, sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS, save_screenshot, upload_and_transcribe

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
        page.goto(app.url)
        page.locator("#identify-speakers input[type=checkbox]").check()
        expect(page.locator("#speaker-count")).to_be_visible()
        upload_and_transcribe(page, conversation_wav)
        expect(page.locator("#stats")).to_contain_text("✓ done", timeout=180_000)
        lanes = page.locator("#speaker-timeline .lane")
        expect(lanes).to_have_count(2, timeout=30_000)
        assert lanes.nth(0).get_attribute("data-speaker") == "Speaker 1"
        assert page.locator("#speaker-timeline .turn").count() >= 2
        expect(page.locator("#segments")).to_contain_text("Speaker 2")
        assert page.locator("#transcript textarea").input_value().startswith("Speaker 1: ")

        page.locator("#speaker-names [data-testid='cell-0-2']").dblclick()  # Speaker 1's name
        editor = page.locator("#speaker-names [data-testid='cell-0-2']").locator("textarea, input")
        editor.fill("Alice")
        editor.press("Enter")
        page.locator("#rename-speakers").click()
        expect(page.locator("#transcript textarea")).to_have_value(re.compile(r"^Alice: "), timeout=60_000)
        expect(page.locator("#speaker-timeline .lane").first).to_have_attribute("data-speaker", "Alice")
        shot = save_screenshot(page, tmp_path / "speakers_page.png")
        with page.expect_download() as download:
            page.locator("#downloads a[download='two people.srt']").click()
        srt = Path(download.value.path()).read_text()

        # Another subtitle preset after the run: the downloads are written again from the transcript, names kept.
        page.get_by_text("Subtitles", exact=True).click()
        page.locator("#subtitle-preset input").click()
        page.get_by_role("option", name="one line").click()
        expect(page.locator("#subtitle-max-line-chars input")).to_have_value("32")
        link = page.locator("#downloads a[download='two people.srt']")
        before = link.get_attribute("href")
        page.locator("#subtitle-apply").click()
        expect(link).not_to_have_attribute("href", before, timeout=30_000)  # a new file
        with page.expect_download() as download:
            link.click()
        one_line = Path(download.value.path()).read_text()

        # In the editor, the first segment goes to Speaker 2 and is saved: every download follows, with the name
        # and the subtitle preset chosen above kept.
        first = page.locator("#editor .ed-seg").first
        span = float(first.get_attribute("data-s")), float(first.get_attribute("data-e"))
        first.locator(".ed-speaker").select_option("Speaker 2")
        before = link.get_attribute("href")
        page.locator("#editor .ed-save").click()
        expect(link).not_to_have_attribute("href", before, timeout=30_000)
        expect(page.locator("#transcript textarea")).to_have_value(re.compile(r"^Speaker 2: "))
        edited = {}
        for suffix in ("srt", "json", "rttm"):
            with page.expect_download() as download:
                page.locator(f"#downloads a[download='two people.{suffix}']").click()
            edited[suffix] = Path(download.value.path()).read_text()
        shot_editor = save_screenshot(page, tmp_path / "editor_speakers_desktop.png")
        browser.close()
    first_cue = read_srt(edited["srt"])[0]
    assert first_cue.lines[0].startswith("Speaker 2: ") and span[0] - 0.002 <= first_cue.start < span[1]
    check_cues(read_srt(edited["srt"]), PRESETS["one line"])
    assert "Alice: " in edited["srt"]  # the other segments of Speaker 1 keep the name
    data = json.loads(edited["json"])
    assert data["segments"][0]["speaker"] == "Speaker 2" and {w["speaker"] for w in data["segments"][0]["words"]} == {
        "Speaker 2"}
    turns = [line.split() for line in edited["rttm"].splitlines()]
    assert any(t[7] == "Speaker_2" and float(t[3]) <= span[0] + 0.002 and float(t[3]) + float(t[4]) >= span[1] - 0.002
               for t in turns), (span, edited["rttm"])  # fmt: skip
    assert not any(t[7] == "Alice" and float(t[3]) < span[1] - 0.002 and float(t[3]) + float(t[4]) > span[0] + 0.002
                   for t in turns), (span, edited["rttm"])  # fmt: skip
    print(f"screenshot: {shot_editor}")
    assert "Alice: " in srt and "Speaker 1" not in srt
    assert {e.plaintext.split(":")[0] for e in pysubs2.SSAFile.from_string(srt)} == {"Alice", "Speaker 2"}
    check_cues(read_srt(srt), PRESETS["standard"])
    check_cues(read_srt(one_line), PRESETS["one line"])  # the new shape: one line of at most 32 characters a cue
    assert "Alice: " in one_line and "Speaker 1" not in one_line and one_line != srt
    said = [" ".join(re.sub(r"^(Alice|Speaker 2): ", "", " ".join(c.lines)) for c in read_srt(text)).split()
            for text in (srt, one_line)]  # fmt: skip
    assert said[0] == said[1]  # the same words
    print(f"screenshot: {shot}")
