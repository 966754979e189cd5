"""The server as an attacker on the same machine sees it: a real app process (the trained tiny TDT), raw HTTP.

* Inputs: the page's API never reads a file that was not uploaded to it (server paths, another user's 0600
  recording, ``/etc/passwd``, a link into Gradio's cache): nothing read, copied or served.
* Origins: only the page's own origin may drive the server; pages on other ports of this machine get 403.
* Private files: everything the server writes is 0600 in 0700 folders, under load.
* Crashes: a server killed with SIGKILL leaves its folder, the next start removes it, and a second running server
  is never touched.
* API errors: every error of /v1 is OpenAI-shaped JSON, whatever the body (a fuzz of wrong types, deep nesting, huge
  and empty bodies); ``n: null`` is accepted.
* Jobs: a request whose client hangs up before its turn is dropped, on the API and on the page.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import stat
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file

import synth_speech as ss
from app_process import HOST, AppProcess, running_app, start_app
from offline_transcribe.audio import write_wav

pytestmark = pytest.mark.timeout(400)

SECRET = "the-secret-words-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("security_speech")
    audio, _ = ss.make_utterance(["hello", "seven", "two", "open", "the", "door"], ss.HELDOUT_VOICES[0],
                                 ss.HELDOUT_SPEED, ss.HELDOUT_PITCH, np.random.default_rng(7), cache_dir=root / "w")
    return write_wav(root / "door.wav", audio)


@pytest.fixture(scope="module")
def app_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("security_app")


@pytest.fixture(scope="module")
def app(trained_models_dir, app_tmp):
    with running_app(trained_models_dir, app_tmp, "--preload") as a:
        yield a
    assert a.proc.returncode == 0, a.log()[-2000:]
    assert not list(app_tmp.glob("offline-transcribe-*/server-*")), "a cleanly stopped server left its folder"


def workspace_of(app: AppProcess, tmp: Path) -> Path:
    """The running server's private folder (the one whose name has its process id)."""
    return app.private_dir


def request(app: AppProcess, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(HOST, app.port, timeout=120)
    try:
        conn.request(method, path, body=body, headers={"Host": f"{HOST}:{app.port}", **(headers or {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def call_page_api(app: AppProcess, name: str, data: list) -> list[dict]:
    """POST /gradio_api/call/NAME as any HTTP client can, then read its events; returns them as dicts."""
    status, _, body = request(app, "POST", f"/gradio_api/call/{name}", json.dumps({"data": data}).encode(),
                              {"Content-Type": "application/json"})
    assert status == 200, (status, body)
    event_id = json.loads(body)["event_id"]
    status, _, stream = request(app, "GET", f"/gradio_api/call/{name}/{event_id}")
    events, kind = [], None
    for line in stream.decode().splitlines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            events.append({"event": kind, "data": line[6:]})
    return events


def file_data(path: str | Path) -> dict:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}, "orig_name": Path(path).name}


def tree_holds(root: Path, marker: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and marker in p.read_bytes()]


# ---------------------------------------------------------------------------------------------------------------
# Inputs


def test_the_page_api_reads_no_file_it_was_not_sent(app, app_tmp, speech, tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    secret_text = private / "secret.txt"
    secret_text.write_text(SECRET)
    secret_text.chmod(0o600)
    recording = private / "interview.wav"  # another user's recording: transcribable, if it were read
    shutil.copy(speech, recording)
    recording.chmod(0o600)
    marker = speech.read_bytes()[-2048:]
    work = workspace_of(app, app_tmp)
    cache_link = tmp_path / "into-cache.wav"  # a link whose target is inside the cache, named from outside it
    uploaded = next(iter((work / "gradio").rglob("*.wav")), None)  # none yet: link to the cache folder itself
    cache_link.symlink_to(uploaded or (work / "gradio"))
    out_link = work / "gradio" / "out-link.wav"  # a link inside the cache that points out of it
    out_link.symlink_to(recording)

    # Which public endpoints take files: each must be in this test.
    info = json.loads(request(app, "GET", "/gradio_api/info")[2])
    with_files = sorted(name for name, ep in info["named_endpoints"].items()
                        if any("FileData" in json.dumps(p.get("type", "")) or p.get("component") in ("File", "Audio")
                               for p in ep["parameters"]))
    assert with_files == ["/transcribe"], with_files

    for target in (secret_text, recording, Path("/etc/passwd"), cache_link, out_link):
        for data in ([[file_data(target)], None, "parakeet", False, "auto", None, "", ""],
                     [None, file_data(target), "parakeet", False, "auto", None, "", ""]):
            events = call_page_api(app, "transcribe", data)
            assert events and events[-1]["event"] == "error", (target, events)
            assert SECRET not in json.dumps(events) and "hello" not in json.dumps(events).lower(), events
            said = json.dumps(events).replace(str(target), "<sent>")
            assert str(work) not in said, events  # names none of the server's own paths, only what it was sent
            assert "enough input values" not in json.dumps(events), events
    assert not tree_holds(work, SECRET.encode()), "a secret was copied into the server's folder"
    assert not [p for p in tree_holds(work, marker) if p != out_link], "the private recording was copied"
    for target in (secret_text, recording, out_link):
        status, _, body = request(app, "GET", f"/gradio_api/file={target}")
        assert status == 403 and SECRET.encode() not in body and marker not in body, (target, status)
    out_link.unlink()


def test_an_upload_still_works(app, speech, tmp_path):
    client = Client(app.url, verbose=False, download_files=str(tmp_path), analytics_enabled=False)
    text, *_ = client.predict([handle_file(str(speech))], None, "parakeet", api_name="/transcribe")
    assert "door" in text.lower(), text


# ---------------------------------------------------------------------------------------------------------------
# Origins


def test_pages_of_other_local_ports_are_refused(app):
    port = app.port
    for origin in (f"http://127.0.0.1:{port + 1}", f"http://localhost:{port}", "http://127.0.0.1", "null"):
        for method, path in (("GET", "/gradio_api/info"), ("OPTIONS", "/gradio_api/upload"), ("GET", "/v1/models")):
            status, headers, _ = request(app, method, path, headers={
                "Origin": origin, "Access-Control-Request-Method": "POST"})
            assert status == 403, (origin, method, path, status)
            assert headers.get("access-control-allow-origin") in (None, f"http://127.0.0.1:{port}"), headers
    status, headers, _ = request(app, "GET", "/v1/models", headers={"Origin": f"http://127.0.0.1:{port}"})
    assert status == 200


# ---------------------------------------------------------------------------------------------------------------
# Private files


def assert_private(root: Path) -> int:
    seen = 0
    for path in [root, *root.rglob("*")]:
        with contextlib.suppress(FileNotFoundError):  # a request's folder may go while we walk
            mode = stat.S_IMODE(path.lstat().st_mode)
            if path.is_symlink():
                continue
            assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
            seen += 1
    return seen


def test_everything_the_server_writes_is_private_under_load(app, app_tmp, speech, tmp_path):
    import openai

    root = app_tmp / f"offline-transcribe-{os.getuid()}"
    client = openai.OpenAI(base_url=f"{app.url}v1", api_key="unused", max_retries=0, timeout=120)
    page = Client(app.url, verbose=False, download_files=str(tmp_path), analytics_enabled=False)
    done = threading.Event()

    def load() -> None:
        try:
            for _ in range(3):
                page.predict([handle_file(str(speech))], None, "parakeet", api_name="/transcribe")
                with open(speech, "rb") as f:
                    client.audio.transcriptions.create(model="parakeet", file=f, response_format="srt")
        finally:
            done.set()

    worker = threading.Thread(target=load)
    worker.start()
    walks, files = 0, 0
    while not done.is_set():
        files = max(files, assert_private(root))
        walks += 1
        time.sleep(0.05)
    worker.join()
    files = max(files, assert_private(root))
    assert walks > 3 and files > 8, (walks, files)  # it saw the uploads, the cached results and the exports


# ---------------------------------------------------------------------------------------------------------------
# Crashes and two servers


def test_a_killed_server_leaves_nothing_after_the_next_start(trained_models_dir, speech, tmp_path):
    tmp = tmp_path / "tmp"
    other = start_app(trained_models_dir, tmp, "--preload")  # a second server that must keep working throughout
    try:
        victim = start_app(trained_models_dir, tmp)
        victim_dir = workspace_of(victim, tmp)
        client = Client(victim.url, verbose=False, download_files=str(tmp_path / "d"), analytics_enabled=False)
        job = client.submit([handle_file(str(speech))], None, "parakeet", api_name="/transcribe")
        deadline = time.monotonic() + 60
        while not list((victim_dir / "gradio").rglob("*.wav")) and time.monotonic() < deadline:
            time.sleep(0.05)  # the upload has landed: the request is under way
        os.killpg(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait(10)
        with contextlib.suppress(Exception):
            job.cancel()
        left = [p for p in victim_dir.rglob("*") if p.is_file()]
        assert left, "the killed server left nothing to clean (the test did not catch it mid-request)"

        with running_app(trained_models_dir, tmp) as restarted:
            assert not victim_dir.exists(), [str(p) for p in victim_dir.rglob("*")]
            assert not victim_dir.with_name(victim_dir.name + ".lock").exists()
            assert workspace_of(other, tmp).is_dir() and workspace_of(restarted, tmp).is_dir()
            for server in (other, restarted):  # both serve, neither touched the other's files
                c = Client(server.url, verbose=False, download_files=str(tmp_path / "e"), analytics_enabled=False)
                text, *_ = c.predict([handle_file(str(speech))], None, "parakeet", api_name="/transcribe")
                assert "door" in text.lower()
    finally:
        other.stop()
    assert not list(tmp.glob("offline-transcribe-*/server-*")), list(tmp.rglob("*"))[:20]


# ---------------------------------------------------------------------------------------------------------------
# API errors


def _assert_openai_error(status: int, headers: dict[str, str], body: bytes, what: object) -> None:
    assert 400 <= status < 500, (what, status, body[:300])
    assert headers.get("content-type", "").startswith("application/json"), (what, headers, body[:300])
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"], (what, error)


WRONG_VALUES = [None, True, 0, -1, 1.5, "x", "", [], ["x"], {}, {"a": 1}, [[[]]], "\u0000", 10**30]


def test_chat_errors_are_openai_shaped_whatever_the_body(app):
    good = {"model": "canary-qwen-llm", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    def number(v: object) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    valid = {  # what each field accepts (so these are not errors)
        "model": lambda v: False, "messages": lambda v: False,
        "stream": lambda v: v is None or isinstance(v, bool),
        "stream_options": lambda v: v is None or isinstance(v, dict),
        "n": lambda v: v is None or (v == 1 and not isinstance(v, bool)),
        "max_tokens": lambda v: v is None or (number(v) and isinstance(v, int) and v >= 1),
        "max_completion_tokens": lambda v: v is None or (number(v) and isinstance(v, int) and v >= 1),
        "temperature": lambda v: v is None or (isinstance(v, int | float) and 0 <= v <= 2),
        **{name: (lambda v: not v) for name in ("tools", "functions", "audio", "logprobs")},
    }
    bodies: list[bytes] = [b"", b"{", b"[]", b"null", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000,
                           b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"x" * (9 << 20)]
    for name, accepts in valid.items():
        bodies += [json.dumps({**good, name: value}).encode() for value in WRONG_VALUES if not accepts(value)]
    bodies.append(json.dumps({**good, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}).encode())
    bodies.append(json.dumps({**good, "messages": [{"role": ["user"], "content": "x"}]}).encode())
    for body in bodies:
        status, headers, reply = request(app, "POST", "/v1/chat/completions", body,
                                         {"Content-Type": "application/json"})
        _assert_openai_error(status, headers, reply, body[:120])
    for method in ("GET", "PUT", "HEAD", "OPTIONS", "DELETE"):
        status, headers, reply = request(app, method, "/v1/chat/completions")
        assert status == 404 and (method == "HEAD" or "error" in json.loads(reply)), (method, status, reply)


def test_chat_accepts_n_null(app):
    body = {"model": "canary-qwen-llm", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "n": None}
    status, headers, reply = request(app, "POST", "/v1/chat/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    assert status == 200, reply
    assert json.loads(reply)["object"] == "chat.completion"


def multipart(fields: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, filename, data in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        parts.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_transcription_errors_are_openai_shaped_whatever_the_body(app, speech):
    audio = speech.read_bytes()
    text_fields = ["model", "response_format", "timestamp_granularities[]", "temperature", "stream", "language",
                   "prompt"]
    cases: list[tuple[bytes, str]] = [
        (b"", "multipart/form-data; boundary=x"), (b"", "application/json"), (b"{}", "application/json"),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"), (b"a=b", "application/x-www-form-urlencoded"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
        multipart([("file", None, b"not a file field")]),
        multipart([("file", "x.wav", b"RIFF but not audio")]),
        multipart([("file", "x.wav", b"")]),
        multipart([("file", "x.wav", audio), ("model", None, b"no-such-model")]),
        multipart([("file", "x.wav", audio), ("model", "a.wav", audio)]),  # a file where text belongs
    ]
    for name in text_fields:
        for value in (b"\xff\xfe", b"x" * 70_000, b"[1, 2]", b"-1", b"true false"):
            if name in ("language", "prompt") or (name == "stream" and value == b"-1"):
                continue
            cases.append(multipart([("file", "x.wav", audio), (name, None, value)]))
    for body, content_type in cases:
        status, headers, reply = request(app, "POST", "/v1/audio/transcriptions", body,
                                         {"Content-Type": content_type})
        _assert_openai_error(status, headers, reply, body[:120])
    status, headers, reply = request(app, "POST", "/v1/audio/transcriptions", b"x" * (3 << 20),
                                     {"Content-Type": "multipart/form-data; boundary=x"})
    _assert_openai_error(status, headers, reply, "huge")


# ---------------------------------------------------------------------------------------------------------------
# Jobs whose client went away


def wait_until_the_line_is_empty(app, quiet_s: float = 1.0, timeout: float = 180.0) -> None:
    """Wait until every job that has started has ended and none started for ``quiet_s``: what earlier tests left in
    the job line (in random order, one of them may still be running a request its client gave up on) is done, so
    that the next job to start is the caller's."""
    deadline, quiet_since, last = time.monotonic() + timeout, time.monotonic(), None
    while time.monotonic() < deadline:
        log = app.log()
        state = (len(re.findall(r"job \d+ start", log)), len(re.findall(r"job \d+ end", log)))
        if state != last or state[0] != state[1]:
            quiet_since, last = time.monotonic(), state
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        time.sleep(0.05)
    raise AssertionError(f"the job line never emptied: {app.log()[-2000:]}")


def test_a_request_whose_client_hung_up_while_waiting_is_dropped(app, tmp_path):
    long = write_wav(tmp_path / "long.wav", np.random.default_rng(3).normal(0, 0.1, 16000 * 600).astype(np.float32))
    short = long.with_name("short.wav")
    write_wav(short, np.zeros(16000, np.float32))
    def api_jobs() -> int:
        return len(re.findall(r"job \d+ start .* via=api", app.log()))

    wait_until_the_line_is_empty(app)
    before = api_jobs()

    body, content_type = multipart([("file", "long.wav", long.read_bytes()), ("model", None, b"parakeet")])
    results: list[int] = []
    busy = threading.Thread(target=lambda: results.append(request(app, "POST", "/v1/audio/transcriptions", body,
                                                                  {"Content-Type": content_type})[0]))
    busy.start()
    deadline = time.monotonic() + 60
    while api_jobs() == before and time.monotonic() < deadline:
        time.sleep(0.02)  # the long job holds the line
    assert api_jobs() == before + 1

    quitter, quitter_type = multipart([("file", "short.wav", short.read_bytes()), ("model", None, b"parakeet")])
    sock = socket.create_connection((HOST, app.port))
    sock.sendall(f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: {HOST}:{app.port}\r\nContent-Type: "
                 f"{quitter_type}\r\nContent-Length: {len(quitter)}\r\n\r\n".encode() + quitter)
    time.sleep(0.5)
    sock.close()  # hangs up while the long job runs
    busy.join(300)
    assert results == [200]
    deadline = time.monotonic() + 10
    while "went away before its turn" not in app.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "whose client went away before its turn" in app.log(), app.log()[-2000:]
    assert api_jobs() == before + 1, "the hung-up request was run"


# ---------------------------------------------------------------------------------------------------------------
# A header that lies


def test_a_wav_header_that_lies_gives_times_inside_the_audio(app, speech, tmp_path):
    """16 kHz mono samples under a header that claims 8 channels at 384 kHz: whatever the model makes of the
    0.03 s that this decodes to, no segment or word starts or ends after the duration reported."""
    import struct

    import openai

    pcm = speech.read_bytes()[44:]
    channels, rate, bits = 8, 384_000, 16
    header = (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt "
              + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
              + b"data" + struct.pack("<I", len(pcm)))
    liar = tmp_path / "liar.wav"
    liar.write_bytes(header + pcm)
    client = openai.OpenAI(base_url=f"{app.url}v1", api_key="unused", max_retries=0, timeout=120)
    with open(liar, "rb") as f:
        result = client.audio.transcriptions.create(model="parakeet", file=f, response_format="verbose_json",
                                                    timestamp_granularities=["word", "segment"])
    times = [t for seg in result.segments or [] for t in (seg.start, seg.end)]
    times += [t for w in result.words or [] for t in (w.start, w.end)]
    assert all(0 <= t <= result.duration for t in times), (result.duration, times)


def test_a_page_request_whose_page_closed_while_waiting_is_dropped(app, speech, tmp_path):
    """The page's job waits in the job line behind a long API job; its page closes (the event stream ends): it is
    dropped when its turn would come, and never runs."""
    long = write_wav(tmp_path / "long.wav", np.random.default_rng(4).normal(0, 0.1, 16000 * 600).astype(np.float32))

    def page_jobs() -> int:
        return len(re.findall(r"job \d+ start .* via=page", app.log()))

    config = json.loads(request(app, "GET", "/config")[2])
    fn_index = next(i for i, dep in enumerate(config["dependencies"]) if dep.get("api_name") == "transcribe")
    upload, upload_type = multipart([("files", "door.wav", speech.read_bytes())])
    status, _, uploaded = request(app, "POST", "/gradio_api/upload", upload, {"Content-Type": upload_type})
    assert status == 200, uploaded
    wait_until_the_line_is_empty(app)
    before = page_jobs()
    started = len(re.findall(r"job \d+ start", app.log()))

    body, content_type = multipart([("file", "long.wav", long.read_bytes()), ("model", None, b"parakeet")])
    busy = threading.Thread(target=request, args=(app, "POST", "/v1/audio/transcriptions", body,
                                                  {"Content-Type": content_type}))
    busy.start()
    deadline = time.monotonic() + 60
    while len(re.findall(r"job \d+ start", app.log())) == started and time.monotonic() < deadline:
        time.sleep(0.02)  # the long job (the next to start: the line was empty) holds the line
    assert "via=api" in app.log().split("start t=")[-1]

    session = uuid.uuid4().hex
    join = {"data": [[file_data(json.loads(uploaded)[0])], None, "parakeet", False, "auto", None, "", ""],
            "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    status, _, reply = request(app, "POST", "/gradio_api/queue/join", json.dumps(join).encode(),
                               {"Content-Type": "application/json"})
    assert status == 200, reply
    stream = socket.create_connection((HOST, app.port))
    stream.sendall(f"GET /gradio_api/queue/data?session_hash={session} HTTP/1.1\r\nHost: {HOST}:{app.port}\r\n"
                   "Accept: text/event-stream\r\n\r\n".encode())
    seen = b""
    while b"process_starts" not in seen:  # the page's job has left Gradio's queue and waits in the job line
        seen += stream.recv(65536)
    stream.close()  # the page closes
    busy.join(300)
    deadline = time.monotonic() + 15
    while "via=page) whose client went away" not in app.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "model=parakeet via=page) whose client went away before its turn" in app.log(), app.log()[-3000:]
    assert page_jobs() == before, "the closed page's job was run"
