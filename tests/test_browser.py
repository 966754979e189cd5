"""A real Chromium (Debian's /usr/bin/chromium) drives the page: upload, Transcribe, read, download, screenshot,
at desktop width and at a phone's (400 px).

Screenshots land in the test's tmp folder, and are copied to ``$TEST_ARTIFACTS_DIR`` when that is set.
Every request the page makes must stay on the loopback address (no fonts, scripts or analytics from the internet).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pysubs2
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from app_process import running_app, speech_wav

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_models_dir):
    with running_app(tiny_models_dir, tmp_path_factory.mktemp("browser_app")) as running:
        yield running
        assert not running.network_attempts(), "the app tried to reach another machine"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 400, "height": 800}


@contextlib.contextmanager
def open_page(browser, url: str, viewport: dict = DESKTOP) -> Iterator[Page]:
    """A fresh page on ``url``; fails the test if it requested anything from another host."""
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if _is_external(r.url) else None)
    page.goto(url)
    expect(page.locator("#app-header")).to_contain_text("Offline Speech Transcription")
    try:
        yield page
    finally:
        context.close()
    assert not external, f"the page reached outside this machine: {external}"


@pytest.fixture
def page(browser, app):
    with open_page(browser, app.url) as page:
        yield page


@pytest.fixture
def phone(browser, app):
    with open_page(browser, app.url, PHONE) as page:
        yield page


def _is_external(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in {"http", "https", "ws", "wss"} and parsed.hostname not in LOCAL_HOSTS


def upload_and_transcribe(page: Page, *files: Path) -> None:
    """Put ``files`` in the upload box, wait until they are listed, press Transcribe."""
    page.locator("#audio-files input[type=file]").set_input_files([str(f) for f in files])
    for f in files:
        expect(page.locator(f"#audio-files td.filename[aria-label='{f.name}']")).to_be_visible(timeout=30_000)
    page.locator("#transcribe-button").click()


PROGRESS_TEXT = re.compile(r"^\s*(processing\b|queue:|\d+(\.\d+)?(/\d+(\.\d+)?)?s\b)")  # a progress tracker


def wait_for_events_to_end(page: Page, selectors: tuple[str, ...]) -> None:
    """Wait until a run's chain of events has ended: Transcribe is enabled again, Cancel is hidden (the chain's last
    step) and no component in ``selectors`` shows a progress tracker ("processing | 0.0/0.1s", "0.4s")."""
    expect(page.locator("#transcribe-button")).to_be_enabled(timeout=60_000)
    expect(page.locator("#cancel-button")).to_be_hidden(timeout=60_000)
    for sel in selectors:
        expect(page.locator(sel)).not_to_contain_text(PROGRESS_TEXT, timeout=30_000)


def settled_boxes(page: Page, *selectors: str, timeout_s: float = 15.0) -> list[dict]:
    """The bounding boxes of ``selectors`` once the page's layout has settled (the same in two looks 0.25 s apart):
    what a person sees, not a frame of the first render, while Gradio is still mounting components (a fresh-clone
    run measured the messages 570 px below the button in such a frame)."""
    deadline, last = time.monotonic() + timeout_s, None
    while True:
        boxes = [page.locator(sel).bounding_box() for sel in selectors]
        if boxes == last or time.monotonic() > deadline:
            return boxes
        last = boxes
        page.wait_for_timeout(250)


def save_screenshot(page: Page, path: Path, full_page: bool = True) -> Path:
    """A screenshot (of the whole page, or of what is on screen) at ``path``, also copied to
    ``$TEST_ARTIFACTS_DIR`` when set."""
    page.screenshot(path=str(path), full_page=full_page)
    if artifacts := os.environ.get("TEST_ARTIFACTS_DIR"):
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(artifacts) / path.name)
    return path


def test_upload_transcribe_read_download(page, tmp_path):
    header = page.locator("#app-header")
    expect(header).to_contain_text("local model files")
    expect(header).to_contain_text("fully offline")
    expect(page.locator("#model-status")).to_contain_text("Parakeet-TDT-0.6B-v2")

    audio = speech_wav(tmp_path / "meeting.wav", "hello world this is a test")
    upload_and_transcribe(page, audio)

    expect(page.locator("#stats")).to_contain_text("✓ done", timeout=120_000)
    expect(page.locator("#messages")).to_contain_text("Transcribed 1 of 1 file with Parakeet-TDT-0.6B-v2")
    transcript = page.locator("#transcript textarea").input_value()
    assert transcript.strip()
    expect(page.locator("#segments")).to_contain_text("meeting.wav")
    expect(page.locator("#model-status")).to_contain_text("ready on CPU", timeout=10_000)

    rows = page.locator("#downloads td.filename")
    expect(rows.first).to_have_attribute("aria-label", re.compile(r"^transcripts-\d{8}-\d{6}\.zip$"))
    assert rows.count() == 8  # the ZIP, then each of the seven files
    expect(page.locator("#downloads button[aria-label='Remove this file']").first).to_be_hidden()  # read-only list
    with page.expect_download() as download:
        page.locator("#downloads a[download='meeting.srt']").click()
    srt = tmp_path / "downloaded.srt"
    download.value.save_as(srt)
    subs = pysubs2.load(str(srt), format_="srt")
    assert len(subs) >= 1 and " ".join(e.plaintext for e in subs) == transcript

    for title, phrase in [
        ("How to Use", "Models load from local files"),
        ("Privacy & Performance", "Completely offline after the one-time setup"),
        ("Model Information", "reported by NVIDIA's model cards"),
    ]:
        page.get_by_text(title, exact=True).click()
        expect(page.get_by_text(phrase).first).to_be_visible()
    page.get_by_text("How to Use", exact=True).scroll_into_view_if_needed()
    save_screenshot(page, tmp_path / "transcribe_page.png")


def test_ask_a_preset_question_about_the_transcript(page, tmp_path):
    """Transcribe, then press Summary: Canary's own LLM answers under the results (random weights here: the answer's
    words are noise; tests/test_ask.py checks real ones through the same handler)."""
    audio = speech_wav(tmp_path / "standup.wav", "hello world this is a test")
    upload_and_transcribe(page, audio)
    expect(page.locator("#stats")).to_contain_text("✓ done", timeout=120_000)
    expect(page.locator("#ask-intro")).to_contain_text("Canary-Qwen-2.5B's own LLM (Qwen3-1.7B)")
    page.locator("#ask-summary").click()
    answer = page.locator("#ask-answer")
    expect(answer).to_contain_text("Summary", timeout=30_000)
    expect(answer).to_contain_text("Answered about standup.wav by Canary-Qwen-2.5B's own LLM", timeout=120_000)
    save_screenshot(page, tmp_path / "ask-summary.png")


def test_bad_file_shows_a_readable_message_in_the_page(page, tmp_path):
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"ID3" + b"\x00" * 3000)
    good = speech_wav(tmp_path / "good.wav", "hello again")
    upload_and_transcribe(page, broken, good)

    messages = page.locator("#messages")
    expect(messages).to_contain_text("Transcribed 1 of 2 files", timeout=120_000)
    expect(messages).to_contain_text("'broken.mp3' could not be read as audio")
    expect(page.locator("#stats")).to_contain_text("✗ failed")
    expect(page.locator("#downloads")).to_contain_text("good")
    expect(page.get_by_text("Not transcribed: broken.mp3").first).to_be_visible()  # the warning toast
    save_screenshot(page, tmp_path / "transcribe_page_error.png")


def test_no_audio_is_refused_and_the_results_stay(page, app, tmp_path):
    """Transcribe with nothing selected: a "No audio" warning, the last results stay, no "Error" badges, no
    traceback in the server's log."""
    upload_and_transcribe(page, speech_wav(tmp_path / "first.wav", "hello there"))
    expect(page.locator("#stats")).to_contain_text("✓ done", timeout=120_000)
    shown = ("#segments", "#downloads", "#stats", "#messages")
    wait_for_events_to_end(page, shown)
    before = {sel: page.locator(sel).inner_text() for sel in shown}
    transcript = page.locator("#transcript textarea").input_value()

    page.locator("#audio-files button[aria-label='Clear']").click()
    expect(page.locator("#audio-files td.filename")).to_have_count(0)
    page.locator("#transcribe-button").click()
    toast = page.locator(".toast-body").filter(has_text="No audio: add an audio file or record with the microphone")
    expect(toast).to_be_visible(timeout=30_000)
    page.wait_for_timeout(500)  # the toast fades in: let the screenshot show it
    wait_for_events_to_end(page, shown)
    save_screenshot(page, tmp_path / "no_audio.png")
    for sel in ("#transcript", "#segments", "#downloads", "#stats", "#messages"):
        expect(page.locator(sel).get_by_text("Error", exact=True)).to_have_count(0)
    assert page.locator("#transcript textarea").input_value() == transcript
    assert {sel: page.locator(sel).inner_text() for sel in before} == before
    assert "Traceback" not in app.log()


def layout_problems(page: Page, selector: str) -> list[str]:
    """What a person could not read in the table ``selector``: a word broken across two lines ("dialo/gue.w/av",
    "Spe/ake/r 1"), or a cell whose text runs past the table's right edge (cut off)."""
    return page.evaluate(r"""(sel) => {
        const table = document.querySelector(sel + ' .virtual-table-viewport') || document.querySelector(sel);
        const right = table.getBoundingClientRect().right, problems = [];
        for (const span of document.querySelectorAll(sel + ' .body-cell span.text')) {
            const text = span.firstChild;
            if (!text || text.nodeType !== Node.TEXT_NODE || !span.offsetParent) continue;
            if (span.getBoundingClientRect().right > right + 1 || span.scrollWidth > span.clientWidth + 1)
                problems.push('cut: ' + text.data);
            const range = document.createRange();
            for (const m of text.data.matchAll(/\S+/g)) {
                range.setStart(text, m.index);
                range.setEnd(text, m.index + m[0].length);
                const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
                if (tops.size > 1) problems.push('broken: ' + m[0]);
            }
        }
        return problems;
    }""", selector)


def header_lines(page: Page, table: str) -> dict[str, int]:
    """How many lines each header of a table's columns takes on the screen."""
    return page.evaluate(
        """(table) => Object.fromEntries([...document.querySelectorAll(`${table} th .header`)].map(span => {
            const range = document.createRange(); range.selectNodeContents(span);
            return [span.innerText.trim(), new Set([...range.getClientRects()].map(r => Math.round(r.top))).size];
        }))""",
        table,
    )


def test_phone_width_keeps_the_button_the_progress_and_the_tables_readable(phone, tmp_path):
    """At 400 px: the messages (where the progress bar is drawn) sit right under the Transcribe button, the
    segments table's times read m:ss.s, its cards and the statistics' headers break no word, and no table is wider
    than the page."""
    expect(phone.locator("#device-notice")).to_contain_text("Running on the CPU")  # no GPU here: the page says so
    button, messages = settled_boxes(phone, "#transcribe-button", "#messages")
    assert 0 <= messages["y"] - (button["y"] + button["height"]) < 40, (button, messages)
    assert messages["y"] + messages["height"] - button["y"] < PHONE["height"]  # both fit on one screen

    upload_and_transcribe(phone, speech_wav(tmp_path / "a call.wav", "call me back tomorrow afternoon please"))
    expect(phone.locator("#stats")).to_contain_text("✓ done", timeout=120_000)
    times = phone.locator("#segments td").filter(has_text=re.compile(r"^\d+:\d\d\.\d$"))
    assert times.count() >= 2  # start and end of the first segment, as m:ss.s
    assert set(header_lines(phone, "#segments").values()) == {0}  # a phone shows each segment as a card, no header
    assert not layout_problems(phone, "#segments")  # no word broken across lines, no text cut off
    assert set(header_lines(phone, "#stats").values()) == {1}
    widths = phone.evaluate("""() => [...document.querySelectorAll('#segments .table-wrap, #stats .table-wrap')]
        .map(w => [w.scrollWidth, w.clientWidth])""")
    assert all(scroll <= client + 1 for scroll, client in widths), widths  # nothing cut off at the right
    save_screenshot(phone, tmp_path / "transcribe_page_phone.png")


TRAINED_NEMO = Path(__file__).resolve().parent / "data" / "tiny_words_tdt.nemo"
SPOKEN_WORDS = ["hello", "seven", "two", "open", "the", "door"]


@pytest.fixture(scope="module")
def trained_app(tmp_path_factory, tiny_models_dir):
    """The app with the model trained here (tests/data) installed as Parakeet, through the real setup."""
    from conftest import install_parakeet

    models_dir = tmp_path_factory.mktemp("trained_app") / "local_models"
    shutil.copytree(tiny_models_dir, models_dir)  # the tiny Canary stays: the app wants both models
    install_parakeet(models_dir, TRAINED_NEMO)
    with running_app(models_dir, tmp_path_factory.mktemp("trained_app_run")) as running:
        yield running
        assert not running.network_attempts(), "the app tried to reach another machine"


def test_the_trained_model_s_words_appear_on_the_page(browser, trained_app, tmp_path):
    """Real words, not gibberish: speech in a held-out voice goes through upload, engine and page intact."""
    import numpy as np

    import synth_speech as ss
    from offline_transcribe.audio import write_wav

    rng = np.random.default_rng(7)
    audio, _ = ss.make_utterance(
        SPOKEN_WORDS, ss.HELDOUT_VOICES[0], ss.HELDOUT_SPEED, ss.HELDOUT_PITCH, rng, cache_dir=tmp_path / "clips"
    )
    wav = write_wav(tmp_path / "door.wav", audio)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(trained_app.url)
        upload_and_transcribe(page, wav)
        expect(page.locator("#stats")).to_contain_text("✓ done", timeout=120_000)
        transcript = page.locator("#transcript textarea").input_value()
        assert transcript.split() == SPOKEN_WORDS
        expect(page.locator("#segments")).to_contain_text("hello seven two open the door")
        save_screenshot(page, tmp_path / "transcribe_page_trained.png")
    finally:
        context.close()


@pytest.fixture(scope="module")
def long_audio_app(tmp_path_factory, tiny_models_dir):
    """The page served from this process with a fresh store, the long-audio thresholds lowered (10 s windows above
    30 s) and the model-status box's timer slowed to an hour: what moves during a job, the job moves."""
    from app_process import free_port
    from offline_transcribe import ModelStore, Settings
    from offline_transcribe.config import LongAudioPolicy
    from offline_transcribe.server import page as page_module

    root = tmp_path_factory.mktemp("long_audio_app")
    policy = LongAudioPolicy(window_above_s=30, window_s=10, overlap_s=2, local_attention_above_s=3600)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(page_module, "STATUS_REFRESH_S", 3600.0)
        patch.setenv("GRADIO_TEMP_DIR", str(root / "gradio"))
        store = ModelStore(tiny_models_dir)
        demo = page_module.build_app(Settings(models_dir=tiny_models_dir, long_audio=policy), store, root / "exports")
        demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                    theme=page_module.theme(), css=page_module.CSS, ssr_mode=False)
        try:
            yield f"http://127.0.0.1:{demo.server_port}/"
        finally:
            demo.close()
            store.close()


WATCH_PROGRESS = """() => {
    window.seen = {bars: [], maxBars: 0, outside: false, status: []};
    const note = () => {
        const bars = [...document.querySelectorAll('[role=progressbar]')];
        seen.maxBars = Math.max(seen.maxBars, bars.length);
        seen.outside ||= bars.some(bar => !bar.closest('#messages'));
        for (const bar of bars) {
            const value = [bar.getAttribute('aria-valuenow'), bar.getAttribute('aria-valuetext')];
            const last = seen.bars[seen.bars.length - 1];
            if (!last || last[0] !== value[0] || last[1] !== value[1]) seen.bars.push(value);
        }
        const line = [...document.querySelectorAll('#model-status li')].map(li => li.innerText)
            .find(text => text.startsWith('Parakeet-TDT-0.6B-v2'));
        if (line && seen.status[seen.status.length - 1] !== line) seen.status.push(line);
    };
    new MutationObserver(note).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                       characterData: true});
}"""


def test_progress_on_a_long_file_moves_with_the_time_left_in_one_place(browser, long_audio_app, tmp_path):
    """A 4-minute file in 10 s windows, at phone width: one progress bar, right below the Transcribe button and on
    screen with it, its value changes many times and it says the time left; the model-status box says
    "loading…" and then "ready" as the load starts and ends (its timer is slowed to an hour here)."""
    import numpy as np

    from offline_transcribe.audio import write_wav

    noise = np.random.default_rng(3).standard_normal(240 * 16000).astype(np.float32) * 0.1
    long_file = write_wav(tmp_path / "four minutes.wav", noise)
    with open_page(browser, long_audio_app, PHONE) as page:
        page.evaluate(WATCH_PROGRESS)
        upload_and_transcribe(page, long_file)
        bar = page.locator("#messages [role=progressbar]")
        expect(bar).to_be_visible(timeout=60_000)
        viewport = page.viewport_size
        for box in (page.locator("#transcribe-button").bounding_box(), bar.bounding_box()):
            assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], box
        expect(page.locator("#messages")).to_contain_text("left", timeout=60_000)
        save_screenshot(page, tmp_path / "progress_phone.png", full_page=False)  # what the phone's screen shows
        expect(page.locator("#stats")).to_contain_text("✓ done", timeout=240_000)
        seen = page.evaluate("window.seen")
    values = [float(value) for value, _ in seen["bars"]]
    assert len(set(values)) >= 5, seen["bars"]  # it moves, not 5 % from start to end
    assert values == sorted(values), values  # never backwards (the estimate stops short of a step's end)
    assert any(re.search(r"about [\d:]+( s)? left|a few seconds left", text) for _, text in seen["bars"]), seen

    assert seen["maxBars"] == 1 and not seen["outside"], seen  # one progress element, below the button
    states = [line.split(": ", 1)[1] for line in seen["status"]]
    assert "loading…" in states and states.index("loading…") < states.index("ready on CPU"), states
