"""The page's Live mode in a real Chromium whose microphone plays a file (Chromium's fake capture device:
``--use-fake-device-for-media-stream --use-file-for-fake-audio-capture=FILE.wav``, which loops the file).

The app serves the tiny model trained here as Parakeet, so the words are real, behind its access check with an
API key: every tab logs in (Gradio's login, the key as the password) before it goes live, and the live stream
passes the Host and Origin checks. Screenshots land in the test's tmp folder and in ``$TEST_ARTIFACTS_DIR`` when
that is set.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page, expect, sync_playwright
from test_browser import CHROMIUM, CHROMIUM_ARGS, TRAINED_NEMO, save_screenshot

import synth_speech as ss
from app_process import running_app
from offline_transcribe.audio import write_wav
from offline_transcribe.config import API_KEY_ENV

FAKE_MIC = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
A_WORD = re.compile(r"[a-z]")
KEY = "live-test-key"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed"),
]


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    """About 12 s of held-out speech (utterances with pauses) for the fake microphone (which loops it)."""
    root = tmp_path_factory.mktemp("live_speech")
    audio, _ = ss.make_long_file(np.random.default_rng(42), minutes=0.2, cache_dir=root / "clips")
    return write_wav(root / "speech.wav", np.concatenate([np.zeros(ss.SAMPLE_RATE // 2, np.float32), audio]))


@pytest.fixture(scope="module")
def live_app(tmp_path_factory, tiny_models_dir):
    """The app with the trained tiny model installed as Parakeet (the tiny Canary stays: the app wants both), behind
    an API key, with a short live context (words final 2.4 s after they are said) given on the command line."""
    from conftest import install_parakeet

    models_dir = tmp_path_factory.mktemp("live_app") / "local_models"
    shutil.copytree(tiny_models_dir, models_dir)
    install_parakeet(models_dir, TRAINED_NEMO)
    run_dir = tmp_path_factory.mktemp("live_app_run")
    context = ("--live-chunk", "1.6", "--live-left", "1.6", "--live-right", "0.8")
    with running_app(models_dir, run_dir, "--preload", *context, env={API_KEY_ENV: KEY}) as running:
        yield running
        assert not running.network_attempts(), "the app tried to reach another machine"
    assert KEY not in running.log()


def launch(playwright, wav: Path):
    args = [*CHROMIUM_ARGS, *FAKE_MIC, f"--use-file-for-fake-audio-capture={wav}"]
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)


@pytest.fixture(scope="module")
def playwright():
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def mic(playwright, speech):
    """A Chromium whose microphone plays ``speech``."""
    browser = launch(playwright, speech)
    yield browser
    browser.close()


# How long the first words (or the first status of a stream) may take: about 3 s (the live context's latency plus a
# step), more beside other jobs on a busy machine.
FIRST_WORDS_MS = 30_000


def open_page(browser, app) -> tuple:
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, permissions=["microphone"])
    login = context.request.post(f"{app.url}login", form={"username": "someone", "password": KEY})
    assert login.ok, login.status  # the session cookie is the context's from now on
    page = context.new_page()
    page.goto(app.url)
    page.get_by_role("tab", name="Live").click()  # the page's inputs are tabs: Files, Record, Live
    expect(page.locator("#live-record")).to_be_visible(timeout=60_000)
    return context, page


def record(page: Page) -> float:
    """Press Record (at once, as soon as the page shows it); when it was pressed."""
    page.locator("#live-record").click()
    pressed = time.monotonic()
    expect(page.locator("#live-stop")).to_be_visible(timeout=30_000)
    return pressed


def stop(page: Page) -> None:
    page.locator("#live-stop").click()


def wait_for_log(app, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in app.log():
        assert time.monotonic() < deadline, f"{text!r} not in the app's log:\n{app.log()[-3000:]}"
        time.sleep(0.2)


def test_words_appear_while_speaking_then_the_final_transcript_replaces_them(mic, live_app, tmp_path):
    """Live: committed words appear while the microphone still plays; a second tab is told Live is busy and its
    recording is transcribed when it stops; Stop gives the offline transcript, its table and downloads."""
    context, page = open_page(mic, live_app)
    try:
        _words_then_final_transcript(mic, live_app, tmp_path, page)
    finally:
        context.close()  # a tab left live would hold Live for the tests after this one


def _words_then_final_transcript(mic, live_app, tmp_path, page) -> None:
    pressed = record(page)
    committed = page.locator("#live-text .live-committed")
    expect(committed).to_contain_text(A_WORD, timeout=FIRST_WORDS_MS)
    print(f"first words {time.monotonic() - pressed:.2f} s after Record")  # reported by the 20-run check
    expect(page.locator("#live-stop")).to_be_visible()  # still recording: the microphone plays on
    expect(page.locator("#live-status")).to_contain_text("Live with Parakeet-TDT-0.6B-v2 on CPU: words turn final")
    heard = committed.inner_text().split()
    assert heard and set(heard) <= set(ss.VOCAB), heard
    save_screenshot(page, tmp_path / "live_page_speaking.png")

    other, second = open_page(mic, live_app)  # a second tab while the first one is live
    record(second)
    expect(second.locator("#live-status")).to_contain_text("running in another tab", timeout=FIRST_WORDS_MS)
    time.sleep(1.5)
    stop(second)
    expect(second.locator("#stats")).to_contain_text("recording-", timeout=120_000)
    other.close()

    stop(page)
    expect(page.locator("#stats")).to_contain_text("✓ done", timeout=120_000)
    transcript = page.locator("#transcript textarea").input_value()
    assert transcript.split() and set(transcript.split()) <= set(ss.VOCAB), transcript
    expect(page.locator("#live-text")).to_contain_text(transcript)  # the final text replaces the live one
    expect(page.locator("#live-status")).to_contain_text("final transcript")
    expect(page.locator("#segments")).to_contain_text("recording-")
    for ext in ("txt", "srt", "vtt", "json", "csv"):
        expect(page.locator(f"#downloads a[download$='.{ext}']")).to_have_count(1)
    save_screenshot(page, tmp_path / "live_page_final.png")


def test_a_tab_that_goes_away_frees_live(mic, live_app):
    """The browser disconnects mid-stream: the server frees the session, and another tab can go live at once."""
    context, page = open_page(mic, live_app)
    record(page)
    expect(page.locator("#live-status")).to_contain_text("Live with", timeout=FIRST_WORDS_MS)
    context.close()  # no Stop: the tab just goes away
    wait_for_log(live_app, "gone; its session is freed")

    context, page = open_page(mic, live_app)
    record(page)
    expect(page.locator("#live-status")).to_contain_text("Live with", timeout=FIRST_WORDS_MS)
    expect(page.locator("#live-status")).not_to_contain_text("another tab")
    stop(page)
    context.close()


def test_silence_gives_no_text_and_no_error(playwright, live_app, tmp_path):
    """A microphone that delivers silence: no live text, no error; the final pass says no speech was found."""
    silent = write_wav(tmp_path / "silence.wav", np.zeros(3 * ss.SAMPLE_RATE, np.float32))
    browser = launch(playwright, silent)
    try:
        context, page = open_page(browser, live_app)
        record(page)
        expect(page.locator("#live-status")).to_contain_text("Heard 2", timeout=FIRST_WORDS_MS)
        stop(page)
        expect(page.locator("#stats")).to_contain_text("⚠ no speech", timeout=120_000)
        expect(page.locator("#messages")).to_contain_text("No speech recognised")
        assert page.locator("#live-text .live-committed").inner_text().strip() in {"", "(no speech recognised)"}
        expect(page.locator(".toast-body.error")).to_have_count(0)
        context.close()
    finally:
        browser.close()
