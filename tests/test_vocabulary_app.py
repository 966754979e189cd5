"""Custom vocabulary through the app's three doors, with the trained tiny TDT: the page (``gradio_client``), the
command line (``--vocabulary``, ``--replacements``) and the OpenAI API (the ``openai`` SDK with
``extra_body={"hotwords": ...}``) give the same transcript for the same phrases; the server's own ``--vocabulary``
and ``--replacements`` apply to requests that bring none, the Realtime API's live words included (a session may
bring its own ``hotwords``); bad input is refused with its line (an ``error`` event over the Realtime socket);
Canary gets the replacements and is told that it has no phrase boosting."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import openai
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError as ClientAppError
from websockets.sync.client import connect

import vocabulary_clips as vc
from app_process import running_app
from offline_transcribe import cli
from offline_transcribe.audio import load_audio, write_wav
from tiny_models import SCRIPTED_ANSWER

pytestmark = pytest.mark.timeout(300)

TRAINED_NEMO = Path(__file__).resolve().parent / "data/tiny_words_tdt.nemo"
PHRASES = ("STOP", "THANK", "HOME", "LEFT", "SMALL", "WATER")  # the targets, typed in capitals
SERVER_PHRASES = "# the server's defaults\nSTOP\nQwen\n"
SERVER_RULES = "five => 5\nnine => 9\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vocab_app")
    clips = vc.make_clips(seed=11, per_target=1, cache_dir=root / "clips")
    pause = np.zeros(8000, np.float32)
    audio = np.concatenate([x for _, a in clips[:4] for x in (a, pause)])
    (root / "phrases.txt").write_text("\n".join(PHRASES) + "\n")
    (root / "server_phrases.txt").write_text(SERVER_PHRASES)
    (root / "server_rules.txt").write_text(SERVER_RULES)
    return {"wav": write_wav(root / "clip.wav", audio), "phrases": root / "phrases.txt",
            "server_phrases": root / "server_phrases.txt", "server_rules": root / "server_rules.txt"}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """The trained TDT as Parakeet, and as Canary a tiny SALM on it whose LLM is scripted to answer
    ``SCRIPTED_ANSWER`` (no LoRA: the script is what it transcribes)."""
    from conftest import install_model
    from tiny_models import build_scripted_qwen3, build_tiny_canary, build_tiny_parakeet

    root = tmp_path_factory.mktemp("vocab_models")
    llm = build_scripted_qwen3(root / "llm")
    build_tiny_parakeet(root / "encoder.nemo")  # the SALM's speech encoder (64 mel features, as its config wants)
    build_tiny_canary(root / "canary", root / "encoder.nemo", llm=lambda d: shutil.copytree(llm, d))
    models = root / "local_models"
    install_model(models, "parakeet", TRAINED_NEMO)
    install_model(models, "canary", root / "canary")
    return models


@pytest.fixture(scope="module")
def app(models_dir, files, tmp_path_factory):
    args = ("--preload", "--vocabulary", str(files["server_phrases"]), "--replacements", str(files["server_rules"]))
    with running_app(models_dir, tmp_path_factory.mktemp("vocab_server"), *args) as running:
        yield running
        assert not running.network_attempts(), "the app tried to reach another machine"


@pytest.fixture(scope="module")
def api(app) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{app.url}v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def page(app, tmp_path_factory) -> Client:
    return Client(app.url, verbose=False, download_files=str(tmp_path_factory.mktemp("dl")), analytics_enabled=False)


def api_text(api: openai.OpenAI, wav: Path, **extra) -> str:
    with wav.open("rb") as f:
        return api.audio.transcriptions.create(model="parakeet", file=f, response_format="text", **extra).strip()


def page_run(page: Client, wav: Path, model: str, phrases: str = "", rules: str = "") -> tuple[str, str]:
    """The transcript and the messages of one page request."""
    text, _, _, _, messages = page.predict([handle_file(str(wav))], None, model, False, "auto", phrases, rules,
                                           api_name="/transcribe")
    return text, messages


def test_server_defaults_apply_to_an_api_request_without_hotwords(api, files):
    text = api_text(api, files["wav"])
    words = text.split()
    assert "5" in words or "9" in words, text  # the server's replacements
    assert "five" not in words and "nine" not in words
    assert "stop" not in words  # the server's phrase, written as typed


def test_page_cli_and_api_give_the_same_transcript_for_the_same_phrases(api, page, files, models_dir, tmp_path, capsys):
    from_api = api_text(api, files["wav"], extra_body={"hotwords": ", ".join(PHRASES)})
    from_page, messages = page_run(page, files["wav"], "parakeet", "\n".join(PHRASES))
    out = tmp_path / "out"
    status = cli.main(["--models-dir", str(models_dir), "--model", "parakeet", "--transcribe", str(files["wav"]),
                       "--vocabulary", str(files["phrases"]), "--replacements", str(files["server_rules"]),
                       "--output-dir", str(out)])
    assert status == 0, capsys.readouterr()
    from_cli = (out / "clip.txt").read_text().strip()
    assert from_api == from_page == from_cli
    assert any(w in PHRASES for w in from_api.split()), from_api  # phrases written as typed
    assert not any(w.upper() in PHRASES for w in from_api.split() if not w.isupper())
    assert "6 phrases boosted" in messages


def test_a_phrase_the_model_cannot_write_is_a_warning_in_the_response(api, files):
    with files["wav"].open("rb") as f:
        raw = api.audio.transcriptions.with_raw_response.create(
            model="parakeet", file=f, response_format="verbose_json", extra_body={"hotwords": "HOME, Zoë Ångström"})
    (warning,) = json.loads(raw.headers["X-Transcribe-Warnings"])
    assert "cannot write 'Zoë Ångström'" in warning and "HOME" not in warning, warning
    assert raw.headers["X-Transcribe-Warnings"].isascii()
    assert raw.http_response.json()["warnings"] == [warning]
    assert raw.parse().text  # the SDK reads the response as ever
    with files["wav"].open("rb") as f:  # the text format: the header alone
        raw = api.audio.transcriptions.with_raw_response.create(model="parakeet", file=f, response_format="text",
                                                                extra_body={"hotwords": "HOME"})
    assert "X-Transcribe-Warnings" not in raw.headers  # every phrase written: no warning


def test_bad_vocabulary_is_refused_naming_the_line(api, page, files):
    with pytest.raises(openai.BadRequestError, match="101 characters"):
        api_text(api, files["wav"], extra_body={"hotwords": "ok, " + "x" * 101})
    with pytest.raises(ClientAppError, match="Replacements, line 2: 'oops' has no `=>`"):
        page_run(page, files["wav"], "parakeet", "", "a => b\noops")


def test_canary_gets_the_replacements_and_is_told_it_has_no_boosting(page, files):
    plain, messages = page_run(page, files["wav"], "canary")
    assert "has no phrase boosting" in messages  # the server's phrases do not apply to it
    assert SCRIPTED_ANSWER in " ".join(plain.split())  # (paragraphs at the pauses of Parakeet's borrowed times)
    replaced, messages = page_run(page, files["wav"], "canary", "Sortformer", "sea shells => Seashells\nsells => sold")
    assert "she sold Seashells by the shore" in " ".join(replaced.split()), replaced
    assert "has no phrase boosting" in messages


def test_the_page_says_what_applies_to_which_model():
    from offline_transcribe.config import Settings
    from offline_transcribe.server.vocabulary_panel import applies_md

    text = applies_md(Settings())
    assert "Parakeet-TDT-0.6B-v2 and Parakeet-TDT-0.6B-v3 decode" in text
    assert "Canary-Qwen-2.5B: NeMo has no phrase boosting for it, so only the replacements apply." in text


# ------------------------------------------------------------------------------------------ live: the Realtime API


def realtime(app, wav: Path, transcription: dict | None = None) -> tuple[str, str]:
    """One Realtime turn over ``wav`` (sent at once, 16 kHz), with ``transcription`` settings: (the deltas joined,
    the completed transcript)."""
    pcm = (np.clip(load_audio(wav), -1, 1) * 32767).astype("<i2").tobytes()
    with connect(f"ws://127.0.0.1:{app.port}/v1/realtime?intent=transcription", max_size=None) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "session.created"
        ws.send(json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 16000}, "transcription": transcription or {}}}}}))  # fmt: skip
        assert json.loads(ws.recv(timeout=30))["type"] == "session.updated"
        for i in range(0, len(pcm), 32000):
            chunk = base64.b64encode(pcm[i : i + 32000]).decode()  # 1 s
            ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        deltas = []
        while True:
            event = json.loads(ws.recv(timeout=120))
            assert event["type"] != "error", event
            if event["type"] == "conversation.item.input_audio_transcription.delta":
                deltas.append(event["delta"])
            if event["type"] == "conversation.item.input_audio_transcription.completed":
                return "".join(deltas), event["transcript"]


def test_the_live_words_of_the_realtime_api_use_the_vocabulary(app, files):
    joined, server = realtime(app, files["wav"])  # the server's --vocabulary and --replacements
    print("live, the server's vocabulary:", server)
    assert joined == server
    words = server.split()
    assert ("5" in words or "9" in words) and "five" not in words and "nine" not in words, server
    joined, own = realtime(app, files["wav"], {"hotwords": list(PHRASES)})  # the session's own phrases (a list)
    print("live, the session's phrases:", own)
    assert joined == own
    _, other = realtime(app, files["wav"], {"hotwords": "Qwen"})  # other phrases: the targets not boosted
    print("live, other phrases:", other)
    hits = [w for w in own.split() if w in PHRASES]
    assert hits and not any(w in vc.TARGETS for w in own.split())  # written as typed
    assert len(hits) > sum(w.lower() in vc.TARGETS for w in other.split()), (own, other)  # boosted


def test_bad_vocabulary_over_the_realtime_socket_gets_an_error_event(app):
    with connect(f"ws://127.0.0.1:{app.port}/v1/realtime?intent=transcription") as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "session.created"

        def update(transcription: dict) -> dict:
            ws.send(json.dumps({"type": "session.update", "session": {"audio": {"input": {
                "transcription": transcription}}}}))  # fmt: skip
            return json.loads(ws.recv(timeout=30))

        error = update({"hotwords": "ok, " + "x" * 101})["error"]
        assert error["param"] == "session.audio.input.transcription.hotwords" and "101 characters" in error["message"]
        error = update({"replacements": "a => b\noops"})["error"]
        assert "replacements, line 2: 'oops' has no `=>`" in error["message"], error
        assert update({"hotwords": 5})["error"]["code"] == "invalid_type"
        updated = update({"hotwords": "Qwen, Sortformer"})  # the connection goes on
        assert updated["session"]["audio"]["input"]["transcription"]["hotwords"] == ["Qwen", "Sortformer"]
