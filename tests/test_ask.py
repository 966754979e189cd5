"""Asking about a transcript (issue 13): Canary-Qwen's own LLM with the speech adapter off, in-process.

One models folder serves the module: the tiny model trained here (``tests/data``) as Parakeet, so transcripts have
real words, and a tiny SALM wrapped with LoRA as Canary-Qwen's LLM is, with non-zero adapter weights, on a
*scripted* Qwen3 (``tiny_models.build_scripted_qwen3``): asked anything the way the app asks, it writes
``<think> quick brown fox</think>she sells sea shells by the shore`` greedily, and with the adapter on it writes
something else. So the tests can tell the adapter's state from the output, see that the thinking block never
reaches the reader, and read real answers through the page's handler, the command line and the chat API.
(The real server, with the API's Host and key checks and a browser, is in ``test_openai_api.py`` and
``test_browser.py``.)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import torch

import synth_speech as ss
from conftest import install_model
from offline_transcribe import ask
from offline_transcribe.ask.budget import split_transcript
from offline_transcribe.ask.thinking import ThinkingFilter, strip_thinking
from offline_transcribe.audio import write_wav
from offline_transcribe.backends import get_backend
from offline_transcribe.backends.base import ChatTurn
from offline_transcribe.errors import AppError
from offline_transcribe.exports import to_json
from offline_transcribe.models.store import ModelStore
from offline_transcribe.native_memory import release_freed_memory
from offline_transcribe.server.ask_panel import AskPanel, transcript_from_table
from offline_transcribe.server.jobs import JobQueue
from offline_transcribe.types import Segment, Transcript
from tiny_models import SCRIPTED_ANSWER, SCRIPTED_THINKING, build_scripted_qwen3, build_tiny_canary

pytestmark = pytest.mark.timeout(300)

TRAINED_NEMO = Path(__file__).resolve().parent / "data" / "tiny_words_tdt.nemo"
SPOKEN_WORDS = ["hello", "seven", "two", "open", "the", "door"]  # the trained model recognises them exactly
MEETING = [  # (start, end, speaker, text)
    (0.0, 4.0, "Ana", "good morning everyone"),
    (65.2, 71.0, "Ben", "we open the north door on friday"),
    (3725.0, 3731.5, "Ana", "please send the budget"),
]


@pytest.fixture(scope="module")
def scripted(tmp_path_factory, tiny_sources) -> dict[str, Path]:
    """The scripted LLM's folder (the bare LLM) and a models folder with the trained Parakeet and the LoRA Canary.

    The LLM's vocabulary is padded (13 M parameters, 51 MB) for a second copy to show in the process's memory.
    """
    root = tmp_path_factory.mktemp("ask")
    llm = build_scripted_qwen3(root / "llm", hidden_size=64, vocab_size=100_000)
    build_tiny_canary(root / "canary", tiny_sources["parakeet"], lora=True, llm=lambda d: shutil.copytree(llm, d))
    models = root / "local_models"
    install_model(models, "parakeet", TRAINED_NEMO)
    install_model(models, "canary", root / "canary")
    return {"llm": llm, "models_dir": models}


@pytest.fixture(scope="module")
def ask_store(scripted):
    store = ModelStore(scripted["models_dir"], device="cpu")
    yield store
    store.close()


@pytest.fixture(scope="module")
def parakeet_only(tmp_path_factory) -> Path:
    return install_model(tmp_path_factory.mktemp("no_canary") / "local_models", "parakeet", TRAINED_NEMO)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ask_speech")
    audio, _ = ss.make_utterance(SPOKEN_WORDS, ss.HELDOUT_VOICES[0], ss.HELDOUT_SPEED, ss.HELDOUT_PITCH,
                                 np.random.default_rng(7), cache_dir=root / "words")
    return write_wav(root / "meeting.wav", audio)


class Calls:
    """The LLM calls of the backend (a spy that calls through): the model, the prompt, the token budget, and the
    process's memory while each one ran."""

    def __init__(self, monkeypatch) -> None:
        backend = type(get_backend("salm"))
        real = backend.generate_text
        self.seen: list[dict] = []

        def spy(this, model, prompt, max_new_tokens, on_token=None, cancelled=None):
            call = {"model": model, "prompt": list(prompt), "max_new_tokens": max_new_tokens,
                    "rss": [psutil.Process().memory_info().rss]}
            self.seen.append(call)

            def sampled(token: int) -> None:
                call["rss"].append(psutil.Process().memory_info().rss)
                on_token(token)

            return real(this, model, prompt, max_new_tokens, sampled if on_token else None, cancelled)

        monkeypatch.setattr(backend, "generate_text", spy)


def meeting_items() -> list[ask.TimedText]:
    return [ask.TimedText(start, end, text, "meeting.wav", who) for start, end, who, text in MEETING]


def lora_layers(model) -> list:
    from peft.tuners.lora import LoraLayer

    return [m for m in model.llm.modules() if isinstance(m, LoraLayer)]


def adapter_on(model) -> bool:
    layers = lora_layers(model)
    assert layers
    return not any(layer.disable_adapters for layer in layers)


def greedy(generate, prompt: list[int], eos: int, pad: int) -> list[int]:
    """The new tokens of greedy decoding by ``generate`` (a transformers model's, or the SALM's own, which puts the
    LLM's embedding back for the call), up to the end-of-text token."""
    from transformers import GenerationConfig

    config = GenerationConfig(max_new_tokens=40, do_sample=False, eos_token_id=eos, pad_token_id=pad)
    with torch.inference_mode():
        ids = generate(torch.tensor([prompt]), generation_config=config)[0, len(prompt):].tolist()
    return ids[: ids.index(eos)] if eos in ids else ids


# ---------------------------------------------------------------------------------------------------------------
# The LLM call


def test_the_adapter_is_off_exactly_during_the_llm_call(ask_store, scripted):
    from transformers import AutoModelForCausalLM

    backend = get_backend("salm")
    with ask_store.use("canary") as loaded:
        model = loaded.model
        prompt = backend.chat_prompt(model, [ChatTurn("user", "Summarise this: [00:01] hello world")])
        assert adapter_on(model)
        during: list[bool] = []
        off = backend.generate_text(model, prompt, 40, on_token=lambda _: during.append(adapter_on(model)))
        assert during and not any(during), "the adapter was on while the LLM answered"
        assert adapter_on(model), "the adapter stayed off after the call"
        assert off.finish_reason == "stop"
        assert backend.decode_text(model, off.ids) == f"<think>{SCRIPTED_THINKING}</think>{SCRIPTED_ANSWER}"

        bare = AutoModelForCausalLM.from_pretrained(scripted["llm"]).eval()  # the LLM before LoRA wrapped it
        ends = model.text_eos_id, model.text_pad_id
        assert list(off.ids) == greedy(bare.generate, prompt, *ends)
        with_adapter = greedy(lambda t, **kw: model.generate(prompts=t, **kw), prompt, *ends)  # the speech LoRA on
        assert with_adapter != list(off.ids)

        def fail(token: int) -> None:
            raise RuntimeError("the reader broke")

        with pytest.raises(RuntimeError, match="the reader broke"):
            backend.generate_text(model, prompt, 40, on_token=fail)
        assert adapter_on(model), "an exception left the adapter off"
        stopped = backend.generate_text(model, prompt, 40, cancelled=lambda: True)
        assert stopped.finish_reason == "cancelled" and len(stopped.ids) < len(off.ids)
        assert adapter_on(model), "a cancelled call left the adapter off"
        assert greedy(lambda t, **kw: model.generate(prompts=t, **kw), prompt, *ends) == with_adapter  # as it was


def test_the_store_s_model_answers_and_no_second_copy_is_made(ask_store, monkeypatch):
    loaded = ask_store.load("canary")
    ask.ask("summary", meeting_items(), store=ask_store).result()  # once first: whatever one-off memory it takes
    calls = Calls(monkeypatch)
    release_freed_memory()
    before = psutil.Process().memory_info().rss
    for question in ("summary", "What about the door?"):
        assert ask.ask(question, meeting_items(), store=ask_store).result().text == SCRIPTED_ANSWER
    model_bytes = sum(p.numel() * p.element_size() for p in loaded.model.parameters())
    assert model_bytes > 45e6
    assert calls.seen and all(call["model"] is loaded.model for call in calls.seen)  # the store's own object
    grew = max(rss for call in calls.seen for rss in call["rss"]) - before
    assert grew < model_bytes / 2, f"{grew / 1e6:.0f} MB more while answering ({model_bytes / 1e6:.0f} MB model)"
    assert [m.key for m in ask_store.loaded()].count("canary") == 1


def test_the_page_s_answer_has_the_timed_transcript_behind_it_and_never_the_thinking(ask_store, monkeypatch):
    calls = Calls(monkeypatch)
    table = pd.DataFrame([["meeting.wav", "0:00.0", "0:04.0", "Ana", "good morning everyone"],
                          ["meeting.wav", "1:05.2", "1:11.0", "Ben", "we open the north door on friday"],
                          ["meeting.wav", "1:02:05", "1:02:11", "Ana", "please send the budget"]],
                         columns=["File", "Start", "End", "Speaker", "Text"])
    shown = list(AskPanel(ask_store, JobQueue()).answer("action-items", table))
    assert all(SCRIPTED_THINKING.strip() not in md and "<think>" not in md for md in shown), shown
    assert any(SCRIPTED_ANSWER in md for md in shown[:-1])  # it streamed in before the end
    final = shown[-1]
    assert final.startswith("**Action items**") and SCRIPTED_ANSWER in final
    assert "Answered about meeting.wav by Canary-Qwen-2.5B's own LLM (Qwen3-1.7B), offline" in final
    (call,) = calls.seen
    prompt = get_backend("salm").decode_text(call["model"], call["prompt"])
    for line in ("[00:00] Ana: good morning everyone", "[01:05] Ben: we open the north door on friday",
                 "[1:02:05] Ana: please send the budget"):
        assert line in prompt
    assert ask.PRESETS_BY_KEY["action-items"].question in prompt and "[mm:ss]" in prompt
    assert prompt.endswith("<think>\n\n</think>\n\n")  # thinking turned off in the prompt as well


def test_with_nemo_s_qwen3_prompt_format_the_formatter_turns_thinking_off(ask_store):
    """A checkpoint whose config names ``qwen3`` (it has a system role and ``enable_thinking``) gets the same ending."""
    backend = get_backend("salm")
    turns = [ChatTurn("system", "Be brief."), ChatTurn("user", "What is at [01:05]?")]
    with ask_store.use("canary") as loaded:
        model = loaded.model
        qwen = backend.decode_text(model, backend.chat_prompt(model, turns))
        model.cfg.prompt_format = "qwen3"
        try:
            qwen3 = backend.decode_text(model, backend.chat_prompt(model, turns))
        finally:
            model.cfg.prompt_format = "qwen"
    assert qwen.endswith("assistant\n<think>\n\n</think>\n\n") and qwen3.endswith("assistant\n<think>\n\n</think>\n\n")
    assert qwen.count("<think>") == qwen3.count("<think>") == 1
    assert "system\nBe brief." in qwen3 and "user\nBe brief.\n\nWhat is at [01:05]?" in qwen  # no system role: merged


def test_above_the_budget_it_answers_map_reduce_and_says_so(ask_store, monkeypatch):
    calls = Calls(monkeypatch)
    long = [ask.TimedText(i * 10.0, i * 10.0 + 9, f"point {i} of the talk is that the door is open") for i in range(48)]
    policy = ask.AskPolicy(context_tokens=1024)
    events = list(ask.ask("key-points", long, store=ask_store, policy=policy))
    answer = events[-1].result
    assert answer.parts > 2 and answer.transcript_tokens > policy.context_tokens and answer.budget == 1024
    assert answer.text == SCRIPTED_ANSWER
    assert f"read in {answer.parts} parts" in answer.note and "map-reduce" in answer.note
    statuses = [e.message for e in events if isinstance(e, ask.Status)]
    assert statuses[0].startswith(f"Reading part 1 of {answer.parts} ([00:00]–")
    assert statuses[-1] == "Writing the answer from the notes on each part…"
    assert len(calls.seen) == answer.parts + 1  # notes on each part, then the answer
    assert all(len(c["prompt"]) + c["max_new_tokens"] <= policy.context_tokens for c in calls.seen)
    model = calls.seen[0]["model"]
    *part_prompts, final_prompt = [get_backend("salm").decode_text(model, c["prompt"]) for c in calls.seen]
    assert "point 0 of" in part_prompts[0] and "point 47 of" in part_prompts[-1]
    assert all(f"Notes on part {i} of {answer.parts}" in final_prompt for i in range(1, answer.parts + 1))
    assert SCRIPTED_THINKING.strip() not in final_prompt  # the notes hold no thinking either


def test_a_reader_that_leaves_cancels_the_job_and_the_adapter_comes_back(ask_store):
    run = ask.ask("summary", meeting_items(), store=ask_store)
    for event in run:
        if isinstance(event, ask.Delta):
            break  # the page closed, the client hung up: the iteration ends and cancels the job
    assert run.cancelled.is_set() and run.join(30)  # (the LLM call stops at its next token: the first test)
    with ask_store.use("canary") as loaded:  # the model is free again, with its adapter on
        assert adapter_on(loaded.model)


def test_errors_are_messages_and_the_next_question_works(ask_store, parakeet_only):
    with pytest.raises(AppError, match="There is no transcript to ask about yet"):
        ask.ask("summary", [], store=ask_store)
    with pytest.raises(AppError, match="Ask a question"):
        ask.ask("  ", meeting_items(), store=ask_store)
    run = ask.chat([ChatTurn("user", "word " * 3000)], ask.answering_model(ask_store), store=ask_store)
    with pytest.raises(AppError, match="Send fewer or shorter messages"):
        run.result()
    assert ask.ask("summary", meeting_items(), store=ask_store).result().text == SCRIPTED_ANSWER
    no_canary = ModelStore(parakeet_only)
    with pytest.raises(AppError) as missing:
        ask.ask("summary", meeting_items(), store=no_canary)
    assert f"python setup_local_models.py --only canary --models-dir {parakeet_only}" in str(missing.value)


# ---------------------------------------------------------------------------------------------------------------
# The page without Canary, the command line, the chat API


def test_without_canary_the_panel_says_how_to_install_it_and_the_page_works(parakeet_only, speech, tmp_path):
    from offline_transcribe.config import Settings
    from offline_transcribe.server import page

    store = ModelStore(parakeet_only)
    demo = page.build_app(Settings(models_dir=parakeet_only), store)
    by_id = {block.elem_id: block for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    intro = by_id["ask-intro"].value
    assert "not installed" in intro and f"--only canary --models-dir {parakeet_only}" in intro
    assert not by_id["ask-summary"].interactive and not by_id["ask-question"].interactive
    table = pd.DataFrame([["a.wav", "0:01.0", "0:02.0", "hello"]], columns=page.SEGMENT_HEADERS)
    (said,) = AskPanel(store, JobQueue()).answer("summary", table)
    assert "setup_local_models.py --only canary" in said
    text, rows, downloads, stats, messages = page.TranscribeHandler(store, tmp_path)([str(speech)], None, "parakeet")
    assert text.split() == SPOKEN_WORDS and stats[0][1] == "✓ done"


def test_the_command_line_asks_after_transcribing_and_about_a_saved_transcript(scripted, speech, tmp_path, capsys):
    import transcribe_ui

    models = ["--models-dir", str(scripted["models_dir"])]
    out = tmp_path / "out"
    status = transcribe_ui.main([*models, "--transcribe", str(speech), "--format", "json", "--output-dir", str(out),
                                 "--ask", "What are the action items?", "--ask", "summary"])
    lines = capsys.readouterr().out.splitlines()
    assert status == 0, lines
    assert lines[0].startswith(f"OK     {speech} -> {out / 'meeting.json'}")
    assert lines[1:5] == ["── What are the action items? (meeting.wav) ──", SCRIPTED_ANSWER,
                          "── Summary (meeting.wav) ──", SCRIPTED_ANSWER]
    assert lines[5].startswith(f"ANSWERS meeting.wav -> {out / 'meeting.answers.md'} (2 answers in ")
    written = (out / "meeting.answers.md").read_text()
    assert written.count(SCRIPTED_ANSWER) == 2
    assert "## What are the action items?" in written and "## Summary" in written
    assert SCRIPTED_THINKING.strip() not in written

    # Again over the JSON it wrote: the answers go beside it, and are not replaced without --overwrite.
    saved = tmp_path / "saved" / "meeting.json"
    saved.parent.mkdir()
    shutil.copy(out / "meeting.json", saved)
    ask_saved = [*models, "--transcript", str(saved), "--ask", "key-points"]
    assert transcribe_ui.main(ask_saved) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith(f"ANSWERS meeting.json -> {saved.parent / 'meeting.answers.md'} (1 answer in ")
    assert "## Key points" in (saved.parent / "meeting.answers.md").read_text()
    assert transcribe_ui.main(ask_saved) == 1
    assert "Add --overwrite to replace them" in capsys.readouterr().out

    not_json = tmp_path / "meeting.txt"
    not_json.write_text("hello")
    assert transcribe_ui.main([*models, "--transcript", str(not_json), "--ask", "summary"]) == 1
    assert "--transcript reads the .json file the app writes" in capsys.readouterr().out


@pytest.mark.parametrize("args, said", [
    (["--ask", "summary"], "--ask applies only with --transcribe FILE... or --transcript JSON..."),
    (["--transcript", "a.json"], "--transcript JSON... needs --ask QUESTION"),
    (["--transcript", "a.json", "--ask", "x", "--format", "srt"], "--format applies only with --transcribe"),
])
def test_ask_options_in_the_wrong_mode_are_usage_errors(args, said, capsys):
    from offline_transcribe.cli import parse_args

    with pytest.raises(SystemExit) as exited:
        parse_args(args)
    assert exited.value.code == 2 and said in capsys.readouterr().err


@pytest.fixture(scope="module")
def chat_client(scripted, ask_store):
    """The OpenAI SDK on the chat and transcription routes over the scripted store (in-process)."""
    import openai
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from offline_transcribe.config import Settings
    from offline_transcribe.server import openai_api, openai_chat

    app = FastAPI()
    settings, jobs = Settings(models_dir=scripted["models_dir"]), JobQueue()
    openai_chat.install(app, settings, ask_store, jobs)
    openai_api.install(app, settings, ask_store, jobs)
    with TestClient(app, base_url="http://127.0.0.1") as http:
        yield openai.OpenAI(base_url="http://127.0.0.1/v1", api_key="unused", http_client=http, max_retries=0)


def test_chat_completions_answer_in_openai_s_shape(chat_client):
    import openai

    assert "canary-qwen-llm" in [m.id for m in chat_client.models.list().data]
    messages = [{"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": [{"type": "text", "text": "What is at [01:05]?"}]}]
    reply = chat_client.chat.completions.create(model="canary-qwen-llm", messages=messages)
    assert reply.object == "chat.completion" and reply.model == "canary-qwen-llm"
    assert reply.choices[0].message.content == SCRIPTED_ANSWER and reply.choices[0].finish_reason == "stop"
    assert reply.usage.completion_tokens > 0 and reply.usage.total_tokens == reply.usage.prompt_tokens + 12

    chunks = list(chat_client.chat.completions.create(model="canary-qwen-llm", messages=messages, stream=True,
                                                      stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(pieces) == SCRIPTED_ANSWER and len([p for p in pieces if p]) > 3
    assert chunks[-2].choices[0].finish_reason == "stop" and chunks[-1].usage.completion_tokens > 0
    cut = chat_client.chat.completions.create(model="canary-qwen-llm", messages=messages, max_tokens=3)
    assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 3

    def refused(error, code, **request):
        with pytest.raises(error) as raised:
            chat_client.chat.completions.create(**{"model": "canary-qwen-llm", "messages": messages, **request})
        assert raised.value.body["code"] == code, raised.value.body
        return raised.value.message

    assert "transcribes audio" in refused(openai.BadRequestError, "model_not_supported", model="parakeet")
    assert "canary-qwen-llm" in refused(openai.NotFoundError, "model_not_found", model="gpt-4o")
    refused(openai.BadRequestError, "invalid_value", messages=[{"role": "user", "content": "a"},
                                                               {"role": "assistant", "content": "b"}])
    refused(openai.BadRequestError, "unsupported_value",
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])
    refused(openai.BadRequestError, "unsupported_value", tools=[{"type": "function", "function": {"name": "f"}}])
    too_long = refused(openai.BadRequestError, "context_length_exceeded",
                       messages=[{"role": "user", "content": "word " * 3000}])
    assert "reads 2,048 tokens at once" in too_long
    assert chat_client.chat.completions.create(model="canary-qwen-llm", messages=messages).choices[0].message.content


def test_chat_without_canary_says_how_to_install_it(parakeet_only):
    import openai
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from offline_transcribe.config import Settings
    from offline_transcribe.server import openai_api, openai_chat

    app, store = FastAPI(), ModelStore(parakeet_only)
    openai_chat.install(app, Settings(models_dir=parakeet_only), store, JobQueue())
    openai_api.install(app, Settings(models_dir=parakeet_only), store, JobQueue())
    with TestClient(app, base_url="http://127.0.0.1") as http:
        client = openai.OpenAI(base_url="http://127.0.0.1/v1", api_key="unused", http_client=http, max_retries=0)
        assert [m.id for m in client.models.list().data] == ["parakeet"]
        with pytest.raises(openai.InternalServerError) as raised:
            client.chat.completions.create(model="canary-qwen-llm", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == 503 and raised.value.body["code"] == "model_not_installed"
    assert f"setup_local_models.py --only canary --models-dir {parakeet_only}" in raised.value.message


# ---------------------------------------------------------------------------------------------------------------
# The pieces


def test_chat_errors_get_openai_s_statuses():
    from offline_transcribe.errors import AskError, ContextTooLongError, GpuOutOfMemoryError, ModelLoadError
    from offline_transcribe.server.openai_chat import _error_for

    cases = [(ContextTooLongError("long", 9000, 8192), 400, "context_length_exceeded"),
             (AskError("no"), 400, "invalid_value"), (ModelLoadError("broken"), 503, "model_unavailable"),
             (GpuOutOfMemoryError("oom"), 507, "gpu_out_of_memory"), (AppError("other"), 500, "chat_failed")]
    assert [(_error_for(exc).status, _error_for(exc).code) for exc, *_ in cases] == [c[1:] for c in cases]


def test_thinking_is_filtered_out_however_the_text_is_cut():
    text = f"<think>{SCRIPTED_THINKING}</think>\n\n{SCRIPTED_ANSWER}"
    for size in (1, 2, 3, 5, 8):
        f = ThinkingFilter()
        shown = "".join(f.feed(text[i : i + size]) for i in range(0, len(text), size)) + f.finish()
        assert shown == SCRIPTED_ANSWER, size
    assert strip_thinking("a <thi") == "a <thi" and strip_thinking("<think>never closed") == ""
    assert strip_thinking("one <think>x</think>two") == "one two"


def test_a_long_transcript_is_cut_into_consecutive_parts_that_fit():
    items = [ask.TimedText(i, i + 1, " ".join(["word"] * (i % 7 + 1))) for i in range(50)]
    items.append(ask.TimedText(50, 60, " ".join(["long"] * 40)))  # longer than a part: cut at words
    tokens = lambda item: len(item.text.split()) + 2  # noqa: E731
    prompt = lambda part: 10 + sum(tokens(i) for i in part)  # noqa: E731
    parts = split_transcript(items, tokens, prompt, 30)
    assert all(prompt(part) <= 30 for part in parts) and len(parts) > 5
    flat = [item for part in parts for item in part]
    assert " ".join(i.text for i in flat) == " ".join(i.text for i in items)  # nothing lost, nothing doubled
    assert [i.start for i in flat] == sorted(i.start for i in flat)
    with pytest.raises(ValueError):
        split_transcript(items, tokens, prompt, 12)


def test_transcripts_reach_the_llm_with_their_times_and_speakers(tmp_path):
    segments = [Segment(s, e, text) for s, e, _, text in MEETING]
    transcript = Transcript(text="", segments=segments, model="parakeet", model_name="Parakeet", audio_duration=3732,
                            processing_time=1, device="CPU", timestamp_level="word", source="meeting.wav")
    from_file = ask.from_json(json.loads(to_json(transcript)))
    assert [(i.start, i.text, i.source) for i in from_file] == [(s, t, "meeting.wav") for s, _, _, t in MEETING]
    assert [ask.transcript.line(i) for i in from_file][1:] == ["[01:05] we open the north door on friday",
                                                               "[1:02:05] please send the budget"]
    numbers = pd.DataFrame([["a.wav", 65.2, 71.0, "Ben", "hi"], ["a.wav", None, None, None, None]],  # diarization's
                           columns=["File", "Start (s)", "End (s)", "Speaker", "Text"])  # table has seconds, speakers
    assert transcript_from_table(numbers) == [ask.TimedText(65.2, 71.0, "hi", "a.wav", "Ben")]
    assert transcript_from_table(pd.DataFrame([["", "", "", ""]], columns=["File", "Start", "End", "Text"])) == []
    with pytest.raises(ValueError, match="a segment lacks"):
        ask.from_json({"segments": [{"text": "x"}]})
