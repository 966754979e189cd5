"""What the page says, checked without a browser: advice names only installed transcription models, an answer
that found no room says so (not "(no answer)"), a live session's words survive an empty final pass."""

from __future__ import annotations

from offline_transcribe.ask.engine import Answer
from offline_transcribe.batch import no_speech_message
from offline_transcribe.server.ask_panel import _final_md
from offline_transcribe.server.live import FINAL_FOUND_NOTHING, FINAL_REPLACES, after_final_pass
from offline_transcribe.types import Transcript


def test_no_speech_advice_names_only_installed_transcription_models():
    silent = Transcript("", [], "parakeet", "Parakeet-TDT-0.6B-v2", 3.0, 0.1, "cpu", "word")
    advice = no_speech_message("quiet.wav", silent, installed=["parakeet", "canary", "diarizer"])
    assert "Canary-Qwen-2.5B" in advice
    assert "Parakeet-TDT-0.6B-v3" not in advice  # not installed here
    assert "Sortformer" not in advice  # the speaker model transcribes nothing


def test_an_answer_cut_at_its_length_limit_before_it_began_says_so():
    answer = Answer("q", "", 1, 100, 4096, "length", 2.0, "Canary-Qwen-2.5B", "Qwen3-1.7B")
    shown = _final_md(answer, [])
    assert "(no answer)" not in shown and "stopped at its length limit" not in shown
    assert "length limit while it was still thinking" in shown


def test_live_words_are_kept_when_the_final_pass_finds_nothing():
    live = '<span class="live-committed">open the</span> <span class="live-tentative">door</span>'
    box, status, transcript = after_final_pass(live, "")
    assert "open the door" in box and transcript == "open the door" and status == FINAL_FOUND_NOTHING
    box, status, transcript = after_final_pass(live, "open the door please")
    assert "open the door please" in box and status == FINAL_REPLACES
    box, status, transcript = after_final_pass("", "")
    assert "(no speech recognised)" in box and transcript == ""
