"""The page's "Subtitles" settings in a real Chromium: after a run, another preset and "Apply to the downloads"
write the SRT again in the new shape, from the transcript already there (no new transcription)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect
from subtitle_check import check_cues, read_srt
from test_browser import CHROMIUM, browser, open_page, upload_and_transcribe  # noqa: F401  (browser: a fixture)

import synth_speech as ss
from app_process import running_app
from offline_transcribe.audio import write_wav
from offline_transcribe.subtitles import PRESETS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed"),
]
TRAINED_NEMO = Path(__file__).resolve().parent / "data" / "tiny_words_tdt.nemo"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from conftest import install_parakeet

    models_dir = tmp_path_factory.mktemp("sub_browser_models") / "local_models"
    install_parakeet(models_dir, TRAINED_NEMO)
    with running_app(models_dir, tmp_path_factory.mktemp("sub_browser_app"), "--only", "parakeet", "--preload") as a:
        yield a
        assert not a.network_attempts(), "the app tried to reach another machine"


def download_srt(page, name: str, to: Path) -> str:
    with page.expect_download() as download:
        page.locator(f"#downloads a[download='{name}']").click()
    download.value.save_as(to)
    return to.read_text(encoding="utf-8")


def test_another_preset_after_a_run_reshapes_the_srt(browser, app, tmp_path):  # noqa: F811
    rng = np.random.default_rng(2728)
    words = [w for _ in range(3) for w in ss.random_text(rng, 8, digit_share=0.0)]
    audio, _ = ss.make_utterance(words, ss.HELDOUT_VOICES[0], ss.HELDOUT_SPEED, ss.HELDOUT_PITCH, rng,
                                 gap_range=(0.05, 0.2), cache_dir=tmp_path / "clips")  # fmt: skip
    wav = write_wav(tmp_path / "talk.wav", audio)
    with open_page(browser, app.url) as page:
        upload_and_transcribe(page, wav)
        expect(page.locator("#stats")).to_contain_text("✓ done", timeout=120_000)
        names = page.locator("#downloads td.filename")
        expect(names.first).to_have_attribute("aria-label", re.compile(r"^transcripts-.*\.zip$"))
        labels = {names.nth(i).get_attribute("aria-label") for i in range(names.count())}
        assert {"talk.docx", "talk.md", "talk.srt"} <= labels
        standard = read_srt(download_srt(page, "talk.srt", tmp_path / "standard.srt"))
        check_cues(standard, PRESETS["standard"])
        assert max(len(c.lines) for c in standard) == 2 and max(len(ln) for c in standard for ln in c.lines) > 32

        page.get_by_text("Subtitles", exact=True).click()
        page.locator("#subtitle-preset input").click()
        page.get_by_role("option", name="one line").click()
        expect(page.locator("#subtitle-max-line-chars input")).to_have_value("32")
        link = page.locator("#downloads a[download='talk.srt']")
        before = link.get_attribute("href")
        page.locator("#subtitle-apply").click()
        expect(link).not_to_have_attribute("href", before, timeout=30_000)  # a new file
        one_line = read_srt(download_srt(page, "talk.srt", tmp_path / "one_line.srt"))
    check_cues(one_line, PRESETS["one line"])
    assert [w for c in one_line for ln in c.lines for w in ln.split()] == [
        w for c in standard for ln in c.lines for w in ln.split()
    ]
    assert len(one_line) > len(standard)
    assert len(re.findall(r"job \d+ start", app.log())) == 1, app.log()[-3000:]  # no second transcription
