"""Every control of the page, used as a person would in a real Chromium (whose microphone plays a file), at
1400 × 900 and at 400 × 800: the input tabs (Files, Record, Live), the model selector, speakers and renaming,
Transcribe, the downloads, the recording of a live session, and every button of "Ask about this transcript"
(presets, the typed question with the button and with Enter, Stop) and its page API ``/ask``.

One app (the trained tiny TDT as Parakeet, the tiny Canary, the trained tiny Sortformer) and one browser serve the
whole module. Screenshots land in the test's tmp folder and in ``$TEST_ARTIFACTS_DIR`` when that is set.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client
from playwright.sync_api import Page, expect, sync_playwright
from test_browser import CHROMIUM, CHROMIUM_ARGS, TRAINED_NEMO, _is_external, layout_problems, save_screenshot

import synth_conversation as sc
import synth_speech as ss
from app_process import running_app
from conftest import install_model
from offline_transcribe.audio import write_wav
from offline_transcribe.models.registry import DIARIZER

SORTFORMER = Path(__file__).resolve().parent / "data" / "tiny_sortformer.nemo"
FAKE_MIC = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 400, "height": 800}
WORDS = ["hello", "seven", "two", "open", "the", "door"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed"),
]


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> dict[str, Path]:
    """Held-out speech: six words, a two-person conversation (about 20 s), 18 s of long sentences and 8 s for the
    microphone."""
    root = tmp_path_factory.mktemp("page_audio")
    rng = np.random.default_rng(7)
    words, _ = ss.make_utterance(WORDS, ss.HELDOUT_VOICES[0], ss.HELDOUT_SPEED, ss.HELDOUT_PITCH, rng,
                                 cache_dir=root / "clips")  # fmt: skip
    conversation = sc.heldout_conversation(np.random.default_rng(2024), 2, 20, cache_dir=root / "clips")
    mic, _ = ss.make_long_file(np.random.default_rng(42), minutes=0.15, cache_dir=root / "clips")
    sentences, _ = ss.make_long_file(np.random.default_rng(5), minutes=0.3, words_range=(14, 18),
                                     cache_dir=root / "clips")  # fmt: skip
    noise = np.random.default_rng(3).standard_normal(150 * ss.SAMPLE_RATE).astype(np.float32) * 0.05
    return {
        "noise": [write_wav(root / f"noise {n}.wav", noise) for n in (1, 2)],
        "words": write_wav(root / "door.wav", words),
        "conversation": write_wav(root / "two people.wav", conversation.audio),
        "sentences": write_wav(root / "long sentences of a recorded talk.wav", sentences),
        "mic": write_wav(root / "mic.wav", np.concatenate([np.zeros(ss.SAMPLE_RATE // 2, np.float32), mic])),
    }


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_models_dir):
    """The trained tiny TDT as Parakeet, the tiny Canary (it answers questions), the trained tiny Sortformer."""
    models_dir = tmp_path_factory.mktemp("page_app") / "local_models"
    shutil.copytree(tiny_models_dir, models_dir)
    install_model(models_dir, "parakeet", TRAINED_NEMO)
    install_model(models_dir, DIARIZER, SORTFORMER)
    with running_app(models_dir, tmp_path_factory.mktemp("page_app_run")) as running:
        yield running
        assert not running.network_attempts(), "the app tried to reach another machine"
    assert "Traceback" not in running.log(), running.log()[-4000:]


@pytest.fixture(scope="module")
def browser(audio):
    with sync_playwright() as p:
        args = [*CHROMIUM_ARGS, *FAKE_MIC, f"--use-file-for-fake-audio-capture={audio['mic']}"]
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield chromium
        chromium.close()


def new_page(browser, app, viewport: dict) -> tuple:
    context = browser.new_context(viewport=viewport, accept_downloads=True, permissions=["microphone"])
    page = context.new_page()
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if _is_external(r.url) else None)
    page.goto(app.url)
    expect(page.locator("#app-header")).to_contain_text("Offline Speech Transcription")
    return context, page, external


def no_error_toast(page: Page) -> None:
    expect(page.locator(".toast-body.error")).to_have_count(0)


def upload(page: Page, *files: Path) -> None:
    page.locator("#audio-files input[type=file]").set_input_files([str(f) for f in files])
    for f in files:
        expect(page.locator(f"#audio-files td.filename[aria-label='{f.name}']")).to_be_visible(timeout=30_000)


def scrolled_away(page: Page, selector: str) -> list[str]:
    """Scrolling boxes inside ``selector`` that hide part of what they hold (vertically)."""
    return page.evaluate("""(sel) => [...document.querySelectorAll(`${sel}, ${sel} *`)].filter(el => {
        const overflow = getComputedStyle(el).overflowY;
        return (overflow === 'auto' || overflow === 'scroll') && el.scrollHeight > el.clientHeight + 2;
    }).map(el => el.className)""", selector)


def readable_timeline(page: Page) -> None:
    """Each speaker timeline's names and time labels are drawn at a readable size, its time labels do not overlap
    and the last one is not clipped."""
    timelines = page.evaluate("""() => [...document.querySelectorAll('#speaker-timeline .timeline')].map(t => {
        const box = el => { const r = el.getBoundingClientRect();
                            return {left: r.left, right: r.right, height: r.height}; };
        const shown = sel => [...t.querySelectorAll(sel)].filter(el => el.offsetParent).map(box);
        return {edge: box(t), labels: shown('.lane-label'), ticks: shown('.tick')}; })""")
    assert timelines
    for t in timelines:
        labels, ticks = t["labels"], t["ticks"]
        assert all(b["height"] >= 12 for b in labels + ticks), t  # a scaled drawing made them 4 px tall on a phone
        assert len(ticks) >= 3 and all(a["right"] <= b["left"] for a, b in zip(ticks, ticks[1:], strict=False)), t
        assert ticks[-1]["right"] <= t["edge"]["right"] + 0.5, t


def background(page: Page, selector: str) -> str:
    return page.locator(selector).evaluate("el => getComputedStyle(el).backgroundColor")


PRESET_HEADINGS = ("Summary", "Key points", "Action items", "Questions")


def ask_and_wait(page: Page, press, heading: str | None, source: str) -> str:
    """Ask (``press`` does it) and wait for the whole answer: headed ``heading`` (a preset's), or by none of the
    presets' headings (a typed question); consecutive questions here differ in that."""
    answer = page.locator("#ask-answer")
    press()
    head = re.escape(heading) if heading else "(?!" + "|".join(PRESET_HEADINGS) + ")"
    done = re.compile(rf"^\s*{head}[\s\S]*Answered about {re.escape(source)} by Canary-Qwen-2.5B's own LLM")
    expect(answer).to_have_text(done, timeout=120_000)
    text = answer.inner_text()
    assert "Could not postprocess" not in text and "(no answer)" not in text
    no_error_toast(page)
    return text


def test_every_control_at_desktop_width(browser, app, audio, tmp_path):
    context, page, external = new_page(browser, app, DESKTOP)
    try:
        _model_selector(page)
        _files_speakers_and_renaming(page, audio)
        save_screenshot(page, tmp_path / "page-desktop-speakers.png")
        _ask_panel(page, app, tmp_path)
        _long_text_wraps(page, audio, tmp_path)
        _a_new_run_clears_the_last_results(page, audio)
        _cancel_keeps_what_is_finished(page, audio)
        _record_tab(page, tmp_path)
        _live_tab_keeps_the_recording(page, tmp_path)
    finally:
        context.close()
    assert not external, f"the page reached outside this machine: {external}"


def _model_selector(page: Page) -> None:
    """Installed models only can be chosen; one that is not installed is shown disabled with its setup command;
    the chosen one stays marked while the mouse is over it."""
    model = page.locator("#model")
    expect(model.locator("label")).to_have_count(2)  # Parakeet v2 and Canary: v3 is not installed here
    expect(model).not_to_contain_text("v3")
    missing = page.locator("#models-not-installed")
    expect(missing).to_contain_text("Parakeet-TDT-0.6B-v3")
    expect(missing).to_contain_text("setup_local_models.py --only parakeet-v3")
    expect(missing.locator("input[type=radio]")).to_be_disabled()

    selected = "#model label.selected"
    expect(page.locator(selected)).to_contain_text("Parakeet-TDT-0.6B-v2")
    page.mouse.move(0, 0)
    still = background(page, selected)
    page.locator(selected).hover()
    page.wait_for_timeout(300)
    assert background(page, selected) == still  # not white under the mouse
    model.get_by_text("Canary-Qwen-2.5B").click()
    expect(page.locator(selected)).to_contain_text("Canary-Qwen-2.5B")
    model.get_by_text("Parakeet-TDT-0.6B-v2").click()
    expect(page.locator(selected)).to_contain_text("Parakeet-TDT-0.6B-v2")


def _files_speakers_and_renaming(page: Page, audio: dict[str, Path]) -> None:
    """Files tab, Identify speakers with a given number, Transcribe; rename by a single click and typing, and
    the same name twice merges the two speakers."""
    expect(page.locator("#audio-files")).to_be_visible()
    expect(page.locator("#recording")).to_be_hidden()  # one tab at a time
    expect(page.locator("#live-record")).to_be_hidden()
    page.locator("#identify-speakers input[type=checkbox]").check()
    count = page.locator("#speaker-count")
    expect(count).to_be_visible()
    count.locator("input").click()
    page.get_by_role("option", name="2", exact=True).click()
    upload(page, audio["conversation"])
    page.locator("#transcribe-button").click()
    expect(page.locator("#stats")).to_contain_text("✓ done", timeout=180_000)
    expect(page.locator("#speaker-timeline .lane")).to_have_count(2, timeout=30_000)
    expect(page.locator("#downloads td.filename")).to_have_count(9)  # ZIP, TXT, SRT, VTT, JSON, CSV, DOCX, MD, RTTM
    assert not scrolled_away(page, "#downloads")  # every download in sight, none in a small scrolling list
    expect(page.locator("#messages a[href='#results']")).to_be_visible()  # a way to jump to the results
    readable_timeline(page)
    assert not layout_problems(page, "#segments") and not layout_problems(page, "#speaker-names")

    names = page.locator("#speaker-names")
    names.locator("[data-testid='cell-0-2']").click()  # one click on Speaker 1's name, then type
    page.keyboard.type("Alice")
    page.keyboard.press("Enter")
    expect(names.locator("[data-testid='cell-0-2']")).to_have_text(re.compile(r"^\s*Alice\s*⋮?\s*$"))
    menus = names.locator(".cell-menu-button")
    assert all(not menus.nth(i).is_visible() for i in range(menus.count()))  # no menu to add or delete rows
    page.locator("#rename-speakers").click()
    expect(page.locator("#transcript textarea")).to_have_value(re.compile(r"^Alice: "), timeout=60_000)
    expect(page.locator("#speaker-timeline .lane").first).to_have_attribute("data-speaker", "Alice")

    names.locator("[data-testid='cell-1-2']").dblclick()  # Speaker 2 is Alice too: one person split in two
    editor = names.locator("[data-testid='cell-1-2']").locator("textarea, input")
    editor.fill("Alice")
    editor.press("Enter")
    expect(names.locator("[data-testid='cell-1-2']")).to_have_text(re.compile(r"^\s*Alice\s*⋮?\s*$"))
    page.locator("#rename-speakers").click()
    expect(page.locator("#speaker-timeline .lane")).to_have_count(1, timeout=60_000)
    text = page.locator("#transcript textarea").input_value()
    assert "Speaker" not in text and "Alice (2)" not in text, text
    expect(page.locator("#segments")).not_to_contain_text("Speaker 2")
    page.locator("#identify-speakers input[type=checkbox]").uncheck()
    expect(count).to_be_hidden()


def _ask_panel(page: Page, app, tmp_path: Path) -> None:
    """Every Ask control: the four presets, a typed question with the button and with Enter, Stop; the page API
    ``/ask``; the buttons look like buttons."""
    for button in ("#ask-summary", "#ask-button"):
        style = page.locator(button).evaluate("el => getComputedStyle(el).borderTopWidth")
        assert style not in {"0px", ""}, (button, style)
    assert background(page, "#ask-button") != background(page, "#ask-panel >> nth=0")

    source = "two people.wav"
    ask_and_wait(page, lambda: page.locator("#ask-summary").click(), "Summary", source)
    question = page.locator("#ask-question textarea")
    question.fill("What did Alice say about the door?")
    ask_and_wait(page, lambda: page.locator("#ask-button").click(), None, source)
    for key, label in [("key-points", "Key points"), ("action-items", "Action items"), ("questions", "Questions")]:
        ask_and_wait(page, lambda key=key: page.locator(f"#ask-{key}").click(), label, source)
    question.fill("Who opened the door?")
    ask_and_wait(page, lambda: question.press("Enter"), None, source)

    page.locator("#ask-summary").click()
    page.locator("#ask-stop").click()  # stops the answer; the next question is answered
    no_error_toast(page)
    ask_and_wait(page, lambda: page.locator("#ask-button").click(), None, source)
    save_screenshot(page, tmp_path / "page-ask-desktop.png")

    client = Client(app.url, verbose=False, analytics_enabled=False)
    table = {"headers": ["File", "Start", "End", "Text"], "data": [["x.wav", "0:00.0", "0:02.0", "open the door"]]}
    said = client.predict("Who opened the door?", table, api_name="/ask")
    assert "Answered about x.wav by Canary-Qwen-2.5B's own LLM" in said, said


def _long_text_wraps(page: Page, audio: dict[str, Path], tmp_path: Path) -> None:
    """Segments of long sentences: their text wraps inside the table instead of running past its edge."""
    page.locator("#audio-files button[aria-label='Clear']").click()
    upload(page, audio["sentences"])
    page.locator("#transcribe-button").click()
    expect(page.locator("#stats")).to_contain_text("long sentences of a recorded talk.wav", timeout=120_000)
    expect(page.locator("#stats")).to_contain_text("✓ done")
    longest = max(len(row) for row in page.locator("#transcript textarea").input_value().splitlines())
    assert longest > 60, longest  # longer than the text column is wide
    assert not layout_problems(page, "#segments")
    save_screenshot(page, tmp_path / "page-desktop-long-text.png")


def _a_new_run_clears_the_last_results(page: Page, audio: dict[str, Path]) -> None:
    """A new run starts: the last run's transcript, speakers, downloads and answer go at once."""
    page.evaluate("""() => { window.shown = [];
        const note = () => { const t = document.querySelector('#transcript textarea');
            const speakers = document.querySelector('#speakers-panel');
            shown.push([t ? t.value : null, !!(speakers && speakers.offsetParent),
                        document.querySelectorAll('#downloads td.filename').length,
                        (document.querySelector('#ask-answer') || {}).innerText || '']); };
        window.watch = setInterval(note, 20); }""")
    page.locator("#audio-files button[aria-label='Clear']").click()
    upload(page, audio["words"])
    page.locator("#transcribe-button").click()
    expect(page.locator("#stats")).to_contain_text("door.wav", timeout=120_000)
    expect(page.locator("#stats")).to_contain_text("✓ done")
    shown = page.evaluate("() => { clearInterval(window.watch); return window.shown; }")
    cleared = [s for s in shown if s[0] == "" and not s[1] and s[2] == 0 and not s[3].strip()]
    assert cleared, shown[:5]
    assert page.locator("#transcript textarea").input_value().split() == WORDS


def _cancel_keeps_what_is_finished(page: Page, audio: dict) -> None:
    """Cancel during the second of three files: the first stays done, the third is not started, Transcribe comes
    back (it was disabled, so a second click could not queue the same run) and the job line is free (the next
    part transcribes)."""
    page.locator("#audio-files button[aria-label='Clear']").click()
    upload(page, audio["words"], *audio["noise"])
    assert not scrolled_away(page, "#audio-files")  # the third file is in sight too
    button = page.locator("#transcribe-button")
    button.click()
    expect(page.locator("#messages")).to_contain_text("[2/3]", timeout=60_000)
    expect(button).to_be_disabled()
    page.locator("#cancel-button").click()
    expect(page.locator("#messages")).to_contain_text("Cancelled", timeout=60_000)
    stats = page.locator("#stats")
    expect(stats.get_by_role("row", name=re.compile(r"^door\.wav ✓ done"))).to_be_visible()  # finished: kept
    expect(stats.get_by_role("row", name=re.compile(r"^noise 2\.wav ✗ failed"))).to_be_visible()  # not started
    expect(page.locator("#messages")).to_contain_text("Not transcribed: the run was cancelled.")
    expect(button).to_be_enabled()
    expect(page.locator("#cancel-button")).to_be_hidden()


def _record_tab(page: Page, tmp_path: Path) -> None:
    """Record: the microphone (playing a file here), then Transcribe."""
    page.get_by_role("tab", name="Record").click()
    expect(page.locator("#audio-files")).to_be_hidden()
    recording = page.locator("#recording")
    expect(recording).to_be_visible()
    save_screenshot(page, tmp_path / "page-record-tab-desktop.png", full_page=False)  # one Record, in its tab
    recording.locator(".record-button").click()
    page.wait_for_timeout(2500)
    recording.locator(".stop-button").click()
    expect(recording.locator("audio, .waveform-container, button[aria-label='Play']").first).to_be_attached(
        timeout=30_000)
    page.locator("#transcribe-button").click()
    expect(page.locator("#stats")).to_contain_text("recording-", timeout=120_000)


def _live_tab_keeps_the_recording(page: Page, tmp_path: Path) -> None:
    """Live: only what it needs (no Transcribe, no speaker options); after Stop the recording is offered to play
    and to download, and the transcript follows."""
    page.get_by_role("tab", name="Live").click()
    expect(page.locator("#live-record")).to_be_visible()
    expect(page.locator("#transcribe-button")).to_be_hidden()
    expect(page.locator("#identify-speakers")).to_be_hidden()
    page.locator("#live-record").click()
    expect(page.locator("#live-status")).to_contain_text("Heard", timeout=120_000)
    page.wait_for_timeout(3000)
    page.locator("#live-stop").click()
    saved = page.locator("#live-recording")
    expect(saved).to_be_visible(timeout=120_000)
    expect(page.locator("#live-status")).to_contain_text(re.compile("final"), timeout=120_000)
    expect(page.locator("#downloads a[download$='.wav']")).to_have_count(1)
    with page.expect_download() as download:
        page.locator("#downloads a[download$='.wav']").click()
    wav = tmp_path / "live.wav"
    download.value.save_as(wav)
    import soundfile

    assert soundfile.info(str(wav)).duration > 2.0
    save_screenshot(page, tmp_path / "page-live-desktop.png")
    page.get_by_role("tab", name="Files").click()
    expect(page.locator("#transcribe-button")).to_be_visible()


def test_phone_width(browser, app, audio, tmp_path):
    """At 400 × 800: the tabs, the question box at full width; after a run, a link in the messages takes the
    person down to the results; the segments and the speakers to name are cards whose words stay whole, the
    timeline's labels are readable, and a speaker is renamed from the phone."""
    context, page, external = new_page(browser, app, PHONE)
    try:
        expect(page.get_by_role("tab", name="Live")).to_be_visible()
        box = page.locator("#ask-question textarea").bounding_box()
        assert box is not None and box["width"] > 0.8 * (PHONE["width"] - 40), box
        save_screenshot(page, tmp_path / "page-phone.png", full_page=False)
        page.locator("#identify-speakers input[type=checkbox]").check()
        upload(page, audio["conversation"], audio["sentences"])
        page.locator("#transcribe-button").click()
        for name in ("two people", "long sentences of a recorded talk"):
            row = page.locator("#stats").get_by_role("row", name=re.compile(rf"^{name}\.wav ✓ done"))
            expect(row).to_be_visible(timeout=180_000)
        page.locator("#messages a[href='#results']").click()
        page.wait_for_function("() => Math.abs(document.querySelector('#results').getBoundingClientRect().top) < 80")
        save_screenshot(page, tmp_path / "page-phone-results.png", full_page=False)  # the results' top

        expect(page.locator("#speaker-timeline .lane")).to_have_count(4, timeout=30_000)  # two files, two each
        readable_timeline(page)
        assert not layout_problems(page, "#segments")
        assert not layout_problems(page, "#speaker-names")
        name = page.locator("#speaker-names [data-testid='cell-0-2']")
        name.scroll_into_view_if_needed()
        cell = name.bounding_box()
        assert cell is not None and cell["x"] >= 0 and cell["x"] + cell["width"] <= PHONE["width"], cell
        save_element(page.locator("#speakers-panel"), tmp_path / "page-phone-speakers.png")
        save_element(page.locator("#segments"), tmp_path / "page-phone-segments.png")
        name.click()
        page.keyboard.type("Alice")
        page.keyboard.press("Enter")
        page.locator("#rename-speakers").click()
        expect(page.locator("#transcript textarea")).to_have_value(re.compile(r"Alice: "), timeout=60_000)
        save_screenshot(page, tmp_path / "page-phone-full.png")
    finally:
        context.close()
    assert not external


def save_element(locator, path: Path) -> None:
    """A screenshot of one part of the page, also copied to ``$TEST_ARTIFACTS_DIR`` when set."""
    locator.screenshot(path=str(path))
    if artifacts := os.environ.get("TEST_ARTIFACTS_DIR"):
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(artifacts) / path.name)
