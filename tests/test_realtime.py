"""The Realtime transcription endpoint (``/v1/realtime?intent=transcription``) against the real app serving the
tiny model trained here as Parakeet, behind an API key: the official ``openai`` SDK's realtime client streams a
WAV at real-time speed and gets words before the audio ends, then the transcript ``--live FILE`` prints; a raw
WebSocket client gets ``error`` events for bad events and stays connected; a page of another site and a client
without the key are refused; a second session while one decodes is told so.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import openai
import pytest
import soxr
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

import synth_speech as ss
from app_process import run_app_command, running_app
from offline_transcribe.audio import load_audio, write_wav
from offline_transcribe.config import API_KEY_ENV

KEY = "realtime-test-key"
CONTEXT = ("--live-chunk", "1.6", "--live-left", "1.6", "--live-right", "0.8")
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@pytest.fixture(scope="module")
def app(trained_models_dir, tmp_path_factory):
    with running_app(trained_models_dir, tmp_path_factory.mktemp("realtime_run"), "--preload", *CONTEXT,
                     env={API_KEY_ENV: KEY}) as running:  # fmt: skip
        yield running
        assert not running.network_attempts(), "the app tried to reach another machine"
    assert KEY not in running.log()


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    """About 12 s of held-out speech with pauses: long enough that words come back while it still streams, even
    on a loaded machine (the first words need the context's 2.4 s and a step or two)."""
    root = tmp_path_factory.mktemp("realtime_speech")
    audio, _ = ss.make_long_file(np.random.default_rng(7), minutes=0.2, cache_dir=root / "clips")
    return write_wav(root / "speech.wav", np.concatenate([np.zeros(ss.SAMPLE_RATE // 2, np.float32), audio]))


def ws_url(app) -> str:
    return f"ws://127.0.0.1:{app.port}/v1/realtime?intent=transcription"


def pcm16_b64(samples: np.ndarray) -> str:
    return base64.b64encode((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()).decode()


def test_the_openai_sdk_gets_words_while_streaming_and_the_live_transcript(app, trained_models_dir, speech, tmp_path):
    audio = soxr.resample(load_audio(speech), ss.SAMPLE_RATE, 24000)  # OpenAI's PCM16 rate
    client = openai.OpenAI(base_url=f"{app.url}v1", api_key=KEY)
    events: list[tuple[float, object]] = []
    with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
        assert conn.recv().type == "session.created"
        conn.session.update(session={"type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 24000}, "transcription": {"model": "parakeet"},
            "turn_detection": None}}})  # fmt: skip
        assert conn.recv().type == "session.updated"
        done = threading.Event()
        ended: list[float] = []

        def stream() -> None:  # 100 ms at a time, at real-time speed
            step = 2400
            start = time.monotonic()
            for i, offset in enumerate(range(0, audio.size, step)):
                conn.input_audio_buffer.append(audio=pcm16_b64(audio[offset:offset + step]))
                time.sleep(max(0.0, start + (i + 1) * 0.1 - time.monotonic()))
            ended.append(time.monotonic())
            conn.input_audio_buffer.commit()
            done.set()

        sender = threading.Thread(target=stream)
        sender.start()
        while True:
            event = conn.recv()
            events.append((time.monotonic(), event))
            assert event.type != "error", event
            if event.type == "conversation.item.input_audio_transcription.completed":
                break
        sender.join()
    deltas = [(t, e) for t, e in events if e.type == "conversation.item.input_audio_transcription.delta"]
    assert deltas and deltas[0][0] < ended[0] - 1.0, "no words arrived while the audio was still streaming"
    completed = events[-1][1]
    assert "".join(e.delta for _, e in deltas) == completed.transcript
    assert any(e.type == "input_audio_buffer.committed" for _, e in events)

    live = run_app_command(["--models-dir", str(trained_models_dir), "--live", str(speech), *CONTEXT], tmp_path,
                           timeout=180)
    assert live.returncode == 0, live.stderr
    words = " ".join(re.sub(r"^\[[^]]*\] ", "", line) for line in live.stdout.splitlines() if line.strip())
    assert completed.transcript.split() == words.split() and words.split()


def test_bad_events_get_error_events_and_the_connection_goes_on(app):
    with connect(ws_url(app), additional_headers={"Authorization": f"Bearer {KEY}"}, max_size=None) as ws:
        assert json.loads(ws.recv())["type"] == "session.created"

        def error_for(event: str | bytes) -> dict:
            ws.send(event)
            reply = json.loads(ws.recv(timeout=30))
            assert reply["type"] == "error", reply
            return reply["error"]

        bad = error_for(json.dumps({"type": "session.update", "event_id": "e1",
                                    "session": {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 8000}}}}}))
        assert (bad["param"], bad["event_id"], bad["type"]) == ("session.audio.input.format.rate", "e1",
                                                                "invalid_request_error")
        assert error_for(json.dumps({"type": "input_audio_buffer.append", "audio": "not base64!"}))["param"] == "audio"
        big = error_for(json.dumps({"type": "input_audio_buffer.append", "audio": "A" * 10_000_000}))
        assert big["code"] == "event_too_large"
        assert error_for("{not json")["code"] == "invalid_json"
        assert error_for(json.dumps({"type": "input_audio_buffer.commit"}))["code"] == "input_audio_buffer_commit_empty"
        ws.send(json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 16000}}}}}))  # fmt: skip
        updated = json.loads(ws.recv(timeout=30))
        assert updated["type"] == "session.updated"
        assert updated["session"]["audio"]["input"]["format"]["rate"] == 16000

        # one live stream per server: a second session is told so and closed
        with connect(ws_url(app), subprotocols=["realtime", f"openai-insecure-api-key.{KEY}"]) as second:
            assert second.subprotocol == "realtime"
            error = json.loads(second.recv(timeout=30))
            assert error["type"] == "error" and error["error"]["code"] == "live_busy"


def test_a_foreign_page_and_a_missing_key_are_refused(app):
    for headers in ({"Origin": "http://evil.example", "Authorization": f"Bearer {KEY}"}, {}):
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(app), additional_headers=headers)
        assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        connect(ws_url(app), subprotocols=["realtime", "openai-insecure-api-key.wrong"])
