"""A real Chromium: the page's Vocabulary and Replacements boxes are remembered by the browser between visits."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from app_process import running_app
from offline_transcribe.server.vocabulary_panel import STORAGE_KEY

CHROMIUM = "/usr/bin/chromium"
TRAINED_NEMO = Path(__file__).resolve().parent / "data/tiny_words_tdt.nemo"
STORED = f"() => localStorage.getItem({STORAGE_KEY!r})"  # the boxes as the browser stores them (encrypted)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from conftest import install_parakeet

    models = install_parakeet(tmp_path_factory.mktemp("vocab_browser") / "local_models", TRAINED_NEMO)
    with running_app(models, tmp_path_factory.mktemp("vocab_browser_app"), "--only", "parakeet") as running:
        yield running
        assert not running.network_attempts(), "the app tried to reach another machine"


def test_the_boxes_are_remembered_between_visits(app):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(app.url)
        page.get_by_text("Custom vocabulary").click()
        expect(page.locator("#vocabulary-help")).to_contain_text("only the replacements apply")
        for box, text in (("phrases", "Sortformer\nQwen"), ("replacements", "parakeet t d t => Parakeet-TDT")):
            before = page.evaluate(STORED)
            page.locator(f"#vocabulary-{box} textarea").fill(text)
            page.wait_for_function(f"([before]) => ({STORED})() !== before", arg=[before])  # stored
        page.reload()
        page.get_by_text("Custom vocabulary").click()
        expect(page.locator("#vocabulary-phrases textarea")).to_have_value("Sortformer\nQwen")
        expect(page.locator("#vocabulary-replacements textarea")).to_have_value("parakeet t d t => Parakeet-TDT")
        other = browser.new_context().new_page()  # another browser profile: nothing remembered
        other.goto(app.url)
        other.get_by_text("Custom vocabulary").click()
        expect(other.locator("#vocabulary-phrases textarea")).to_have_value("")
        browser.close()
