"""A real Chromium (Debian's /usr/bin/chromium) drives the page: upload, Transcribe, read, download, screenshot.

The screenshot lands in the test's tmp folder, and is copied to ``$TEST_ARTIFACTS_DIR`` when that is set.
Every request the page makes must stay on the loopback address (no fonts, scripts or analytics from the internet).
"""

from __future__ import annotations

import os
import shutil
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


@pytest.fixture
def page(browser, app):
    """A fresh page on the app; fails the test if it requested anything from another host."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if _is_external(r.url) else None)
    page.goto(app.url)
    expect(page.locator("#app-header")).to_contain_text("Offline Speech Transcription")
    yield page
    context.close()
    assert not external, f"the page reached outside this machine: {external}"


def _is_external(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in {"http", "https", "ws", "wss"} and parsed.hostname not in LOCAL_HOSTS


def upload_and_transcribe(page: Page, *files: Path) -> None:
    """Put ``files`` in the upload box, wait until they are listed, press Transcribe."""
    page.locator("#audio-files input[type=file]").set_input_files([str(f) for f in files])
    for f in files:
        expect(page.locator(f"#audio-files td.filename[aria-label='{f.name}']")).to_be_visible(timeout=30_000)
    page.locator("#transcribe-button").click()


def save_screenshot(page: Page, path: Path) -> Path:
    """A full-page screenshot at ``path``, also copied to ``$TEST_ARTIFACTS_DIR`` when set."""
    page.screenshot(path=str(path), full_page=True)
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


def test_no_audio_shows_an_error(page):
    page.locator("#transcribe-button").click()
    expect(page.get_by_text("Add an audio file or record with the microphone").first).to_be_visible(timeout=30_000)


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
