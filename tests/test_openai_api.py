"""The OpenAI-compatible API and who may drive the server (issue 12), against the real app.

One app serves most of the module: the tiny model trained here (``tests/data``) installed as Parakeet, so the words
are real, and the tiny Canary; on 127.0.0.1 with ``--allowed-hosts proxy.example`` and ``--max-file-size 2mb``. It
is driven through the official ``openai`` SDK (every response format, streaming, models, errors as the SDK's own
exception types), ``curl`` (multipart as Open WebUI sends it, the form without ``[]``) and raw HTTP (Host and Origin
headers of a DNS-rebinding page), with the page's API (``gradio_client``) beside it: the same words through both,
and 8 API clients with 2 page clients at once, one job at a time in the server's log. A second app on 0.0.0.0 with
an API key checks the key (every request goes to 127.0.0.1); without a key it refuses to start. The first tests
check the pieces in-process.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import openai
import pysubs2
import pytest
import soundfile
from gradio_client import Client, handle_file

import synth_speech as ss
from app_process import HOST, AppProcess, free_port, port_is_listening, run_app_command, running_app
from offline_transcribe.audio import write_wav
from offline_transcribe.config import API_KEY_ENV, Settings, parse_size

pytestmark = pytest.mark.timeout(300)

SPOKEN_WORDS = ["hello", "seven", "two", "open", "the", "door"]  # recognised exactly (tests/test_browser.py)
JOB_LINE = re.compile(r"job (\d+) (start|end) t=([0-9.]+)")
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


# ---------------------------------------------------------------------------------------------------------------
# The pieces, in-process


def test_host_origin_and_key_rules():
    from offline_transcribe.server.access import AccessPolicy, startup_refusal

    local = AccessPolicy.from_settings(Settings(allowed_hosts=("Proxy.Example.",), api_key=None))
    for host in ["127.0.0.1:7860", "localhost:7860", "LOCALHOST", "[::1]:7860", "127.0.0.2", "proxy.example",
                 "proxy.example.:443", "localhost."]:
        assert local.host_allowed(host), host
    for host in [None, "", "attacker.example:7860", "127.0.0.1.attacker.example", "localhost.attacker.example",
                 "[::1", "0.0.0.0:7860", "192.168.1.20:7860"]:
        assert not local.host_allowed(host), host
    assert local.origin_allowed(None, "127.0.0.1:7860")
    assert local.origin_allowed("http://127.0.0.1:7860", "127.0.0.1:7860")
    assert local.origin_allowed("HTTP://LOCALHOST:80/", "localhost")  # the page's own origin, however written
    assert local.origin_allowed("http://[::1]:7860", "[::1]:7860")
    for origin in ("https://proxy.example", "http://attacker.example", "null", "http://127.0.0.1:7861",
                   "http://localhost:8080", "http://127.0.0.1", "https://127.0.0.1:7860", "file://", "garbage",
                   "http://127.0.0.1:7860/path"):  # other sites, and pages on other ports of this machine
        assert not local.origin_allowed(origin, "127.0.0.1:7860"), origin
    trusted = AccessPolicy.from_settings(Settings(allowed_origins=("https://notes.example",)))
    assert trusted.origin_allowed("https://notes.example:443", "127.0.0.1:7860")
    assert not trusted.origin_allowed("http://notes.example", "127.0.0.1:7860")
    assert local.key_matches(None)  # no key: /v1 is open (to this machine only)

    public = AccessPolicy.from_settings(Settings(host="0.0.0.0", api_key="s3cret-key"))
    assert public.host_allowed("192.168.1.20:7860") and public.host_allowed("box.lan")
    assert public.origin_allowed("http://box.lan:7860", "box.lan:7860")  # the server's own origin
    assert not public.origin_allowed("http://attacker.example", "box.lan:7860")
    assert public.key_matches("Bearer s3cret-key") and public.key_matches("bearer  s3cret-key ")
    for header in [None, "", "Bearer", "Bearer wrong", "Basic s3cret-key", "s3cret-key", "Bearer s3cret-key2"]:
        assert not public.key_matches(header), header
    assert public.login("anyone", "s3cret-key") and not public.login("anyone", "wrong")
    assert "s3cret-key" not in repr(public)

    assert startup_refusal(Settings(host="127.0.0.1")) is None
    assert startup_refusal(Settings(host="0.0.0.0", api_key="k")) is None
    for refused in (Settings(host="0.0.0.0"), Settings(host="::"), Settings(share=True)):
        assert "needs an API key" in startup_refusal(refused) and API_KEY_ENV in startup_refusal(refused)


def test_settings_take_the_key_from_the_environment_and_never_show_it():
    from offline_transcribe.cli import parse_args, settings_from_args

    assert Settings.from_env(env={API_KEY_ENV: " from-env "}).api_key == "from-env"
    assert Settings.from_env(env={API_KEY_ENV: ""}).api_key is None
    settings = settings_from_args(parse_args(["--api-key", "from-cli", "--allowed-hosts", "a.example, b.example",
                                              "--allowed-origins", "https://Notes.example, http://127.0.0.1:9000"]))
    assert settings.api_key == "from-cli" and settings.allowed_hosts == ("a.example", "b.example")
    assert settings.allowed_origins == ("https://notes.example:443", "http://127.0.0.1:9000")
    with pytest.raises(SystemExit):
        parse_args(["--allowed-origins", "notes.example/path"])
    assert "from-cli" not in repr(settings)
    assert parse_size("2gb") == 2 * 1024**3 and parse_size("500 MB") == 500 * 1024**2 and parse_size("10") == 10
    with pytest.raises(ValueError):
        parse_size("lots")


def test_the_job_line_runs_one_job_at_a_time_in_order():
    from offline_transcribe.server.jobs import JobQueue

    jobs = JobQueue()
    order: list[int] = []
    running, most = [0], [0]
    lock = threading.Lock()
    gate = threading.Event()

    def work(i: int) -> None:
        with jobs.job(files=1, model="m", via="test"):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            order.append(i)
            gate.wait(5)
            time.sleep(0.01)
            with lock:
                running[0] -= 1

    def gives_up() -> None:  # leaves the line while waiting: must not block the others
        def stop() -> None:
            raise RuntimeError("client went away")

        with pytest.raises(RuntimeError), jobs.job(files=1, model="m", via="test", on_wait=stop):
            pass

    threads = [threading.Thread(target=work, args=(0,))]
    threads[0].start()
    while not order:
        time.sleep(0.005)
    quitter = threading.Thread(target=gives_up)
    quitter.start()
    quitter.join(5)
    for i in range(1, 6):
        threads.append(threading.Thread(target=work, args=(i,)))
        threads[-1].start()
        while jobs.waiting() < i:  # each one in the line before the next arrives
            time.sleep(0.005)
    gate.set()
    for t in threads:
        t.join(10)
    assert order == list(range(6)) and most[0] == 1 and jobs.waiting() == 0


# ---------------------------------------------------------------------------------------------------------------
# The app


@pytest.fixture(scope="module")
def app_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("api_app")


@pytest.fixture(scope="module")
def app(trained_models_dir, app_tmp):
    args = ("--preload", "--allowed-hosts", "proxy.example", "--max-file-size", "2mb")  # preload: while clips are made
    with running_app(trained_models_dir, app_tmp, *args) as a:
        yield a
        assert not a.network_attempts(), "the app tried to reach another machine"
    assert a.proc.returncode == 0, a.log()[-2000:]
    assert not list(app_tmp.glob("offline-transcribe-*/server-*")), "the server's private folder outlived it"


@pytest.fixture(scope="module")
def client(app) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{app.url}v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Speech in a held-out voice: the words the trained model recognises exactly, and ten other utterances."""
    root = tmp_path_factory.mktemp("api_clips")
    cache = root / "words"
    audio, _ = ss.make_utterance(SPOKEN_WORDS, ss.HELDOUT_VOICES[0], ss.HELDOUT_SPEED, ss.HELDOUT_PITCH,
                                 np.random.default_rng(7), cache_dir=cache)
    out = {"door": write_wav(root / "door.wav", audio)}
    rng = np.random.default_rng(12)
    for i in range(10):
        words = ss.random_text(rng, 3 + i % 4)
        audio, _ = ss.make_utterance(words, ss.HELDOUT_VOICES[i % 2], ss.HELDOUT_SPEED, ss.HELDOUT_PITCH, rng,
                                     cache_dir=cache)
        out[f"u{i}"] = write_wav(root / f"utterance {i}.wav", audio)
    return out


def create(client: openai.OpenAI, path: Path, **options):
    with open(path, "rb") as f:
        return client.audio.transcriptions.create(file=f, **{"model": "parakeet", **options})


def page_transcribe(app: AppProcess, path: Path, downloads: Path) -> tuple[str, dict]:
    """Transcribe through the page's API; returns the transcript and the page's JSON export."""
    page = Client(app.url, verbose=False, download_files=str(downloads), analytics_enabled=False)
    text, _, files, _, messages = page.predict([handle_file(str(path))], None, "parakeet", api_name="/transcribe")
    export = next(Path(p) for p in files if p.endswith(".json"))
    return text, json.loads(export.read_text())


def test_every_response_format_through_the_sdk(client, clips):
    door = clips["door"]
    plain = create(client, door)
    assert plain.text.split() == SPOKEN_WORDS
    assert create(client, door, model="whisper-1").text == plain.text  # unmodified clients: the default model

    assert create(client, door, response_format="text") == plain.text + "\n"
    srt = create(client, door, response_format="srt")
    cues = pysubs2.SSAFile.from_string(srt, format_="srt")
    assert " ".join(c.plaintext for c in cues) == plain.text and cues[0].start >= 0
    vtt = create(client, door, response_format="vtt")
    assert vtt.startswith("WEBVTT") and [c.plaintext for c in pysubs2.SSAFile.from_string(vtt)] == [
        c.plaintext for c in cues]

    both = create(client, door, response_format="verbose_json", timestamp_granularities=["word", "segment"])
    assert both.text == plain.text and both.language == "english"
    assert both.duration == pytest.approx(soundfile.info(door).duration, abs=0.01) == both.usage.seconds
    assert [w.word for w in both.words] == SPOKEN_WORDS
    assert all(0 <= w.start <= w.end <= both.duration for w in both.words)
    assert [w.start for w in both.words] == sorted(w.start for w in both.words)
    assert [s.id for s in both.segments] == list(range(len(both.segments)))
    assert " ".join(s.text for s in both.segments) == plain.text
    assert all(s.start <= s.end and s.tokens == [] for s in both.segments)

    words_only = create(client, door, response_format="verbose_json", timestamp_granularities=["word"])
    assert words_only.words == both.words and words_only.segments is None
    segments_only = create(client, door, response_format="verbose_json")  # OpenAI's default granularity
    assert segments_only.segments == both.segments and segments_only.words is None


def test_subtitle_fields_shape_srt_and_vtt_and_canary_has_words(client, clips):
    """srt/vtt take the subtitle fields (extra form fields; none: "standard"), and Canary answers word timestamps
    with Parakeet's word times."""
    from subtitle_check import check_cues, read_srt, read_vtt

    from offline_transcribe.subtitles import subtitle_options

    door = clips["door"]
    one_line = subtitle_options("one line", max_line_chars=12)
    srt = create(client, door, response_format="srt", extra_body={"subtitle_preset": "one line", "max_line_chars": 12})
    check_cues(read_srt(srt), one_line, SPOKEN_WORDS)
    assert len(read_srt(srt)) > 1  # 6 words do not fit one line of 12 characters
    vtt = create(client, door, response_format="vtt", extra_body={"subtitle_preset": "one line", "max_line_chars": 12})
    check_cues(read_vtt(vtt), one_line, SPOKEN_WORDS)
    canary = create(client, door, model="canary", response_format="verbose_json", timestamp_granularities=["word"])
    assert [w.word for w in canary.words] == canary.text.split()  # (the tiny random Canary may say nothing)


def test_streaming_events(client, clips):
    stream = create(client, clips["door"], stream=True)
    events = list(stream)
    assert [e.type for e in events[:-1]] == ["transcript.text.delta"] * (len(events) - 1) and len(events) >= 2
    assert events[-1].type == "transcript.text.done"
    assert "".join(e.delta for e in events[:-1]) == events[-1].text
    assert events[-1].text.split() == SPOKEN_WORDS


def test_models_list_the_installed_ones(client):
    listed = client.models.list()
    assert [m.id for m in listed.data] == ["parakeet", "canary", "canary-qwen-llm"]  # parakeet-v3 is not installed
    assert all(m.object == "model" and m.owned_by == "nvidia" and m.created > 0 for m in listed.data)
    assert client.models.retrieve("canary").id == "canary"
    assert client.models.retrieve("canary-qwen-llm").id == "canary-qwen-llm"  # Canary's LLM, for chat
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("parakeet-v3")


def test_chat_completions_on_the_same_server_and_in_the_same_job_line(app, client):
    """Canary's LLM answers chat clients (random weights here: the words are noise, the shapes are OpenAI's)."""
    messages = [{"role": "user", "content": "What was decided about the door?"}]
    reply = client.chat.completions.create(model="canary-qwen-llm", messages=messages, max_tokens=6)
    assert reply.object == "chat.completion" and reply.choices[0].message.role == "assistant"
    assert reply.usage.completion_tokens <= 6 and reply.choices[0].finish_reason in {"stop", "length"}
    chunks = list(client.chat.completions.create(model="canary-qwen-llm", messages=messages, max_tokens=6,
                                                 stream=True))
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[-1].choices[0].finish_reason in {"stop", "length"}
    assert re.search(r"job \d+ start t=[0-9.]+ files=0 model=canary-qwen-llm via=api", app.log())
    with pytest.raises(openai.BadRequestError, match="transcribes audio"):
        client.chat.completions.create(model="parakeet", messages=messages)


def test_the_same_words_through_the_sdk_as_through_the_page(app, client, clips, tmp_path):
    api = create(client, clips["door"], response_format="verbose_json", timestamp_granularities=["word"])
    text, export = page_transcribe(app, clips["door"], tmp_path)
    page_words = [(w["text"], round(w["start"], 3), round(w["end"], 3)) for s in export["segments"] for w in s["words"]]
    assert text == api.text
    assert [(w.word, w.start, w.end) for w in api.words] == page_words
    assert [w[0] for w in page_words] == SPOKEN_WORDS


ERRORS = [  # (id, how to call, SDK exception, status, words in the message)
    ("unknown-model", {"model": "gpt-4o-transcribe"}, openai.NotFoundError, 404, "does not exist"),
    ("not-installed", {"model": "parakeet-v3"}, openai.InternalServerError, 503,
     "python setup_local_models.py --only parakeet-v3"),
    ("random-bytes", {"file": "random"}, openai.BadRequestError, 400, "could not be read as audio or video"),
    ("empty-file", {"file": "empty"}, openai.BadRequestError, 400, "is empty (0 bytes)"),
    ("too-large", {"file": "large"}, openai.APIStatusError, 413, "larger than this server accepts"),
    ("bad-format", {"response_format": "xml"}, openai.BadRequestError, 400, "Unknown response_format 'xml'"),
    ("diarized-json-without-speaker-model", {"response_format": "diarized_json"}, openai.InternalServerError, 503,
     "python setup_local_models.py --only diarizer"),
    ("diarizer-is-no-transcriber", {"model": "diarizer"}, openai.NotFoundError, 404, "does not exist"),
    ("bad-subtitle-limit", {"response_format": "srt", "extra_body": {"max_lines": "9"}}, openai.BadRequestError, 400,
     "max_lines must be from 1 to 4"),
    ("bad-granularity", {"timestamp_granularities": ["sentence"]}, openai.BadRequestError, 400, "sentence"),
    ("bad-temperature", {"temperature": 7}, openai.BadRequestError, 400, "temperature"),
    ("stream-srt", {"stream": True, "response_format": "srt"}, openai.BadRequestError, 400, "stream=true"),
]


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_errors_come_as_the_sdk_s_own_exceptions(case, app, client, clips, tmp_path):
    _, options, exception, status, words = case
    options = dict(options)
    path = clips["door"]
    if kind := options.pop("file", None):
        path = tmp_path / f"{kind}.wav"
        size = {"random": 30_000, "empty": 0, "large": 3 * 2**20}[kind]
        path.write_bytes(np.random.default_rng(1).bytes(size))
    with pytest.raises(exception) as caught:
        create(client, path, **options)
    err = caught.value
    assert err.status_code == status
    assert set(err.body) == {"message", "type", "param", "code"}, err.body
    assert err.body["type"] == ("invalid_request_error" if status < 500 else "server_error")
    assert words in err.body["message"] and "Traceback" not in err.response.text
    assert create(client, clips["door"]).text.split() == SPOKEN_WORDS  # the server goes on serving
    assert app.proc.poll() is None


def curl(*args: str) -> tuple[int, str]:
    """``curl ARGS``; returns the HTTP status and the body."""
    done = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=120,
                          check=True)
    body, _, code = done.stdout.rpartition("\n")
    return int(code), body


@needs_curl
def test_curl_multipart_as_open_webui_sends_it(app, clips, tmp_path):
    url = f"{app.url}v1/audio/transcriptions"
    door = f"file=@{clips['door']};type=audio/wav"
    status, body = curl("-H", "Authorization: Bearer unused", "-F", door, "-F", "model=whisper-1", url)
    assert status == 200 and json.loads(body)["text"].split() == SPOKEN_WORDS
    # LiteLLM's form: timestamp_granularities without [] (speaches #462); the SDK's: with [] and one per value.
    for fields in (["timestamp_granularities=word"], ["timestamp_granularities[]=word",
                                                      "timestamp_granularities[]=segment"]):
        status, body = curl("-F", door, "-F", "response_format=verbose_json",
                            *[a for f in fields for a in ("-F", f)], url)
        verbose = json.loads(body)
        assert status == 200 and [w["word"] for w in verbose["words"]] == SPOKEN_WORDS, body
        assert ("segments" in verbose) == (len(fields) == 2)
    status, body = curl("-F", door, "-F", "response_format=srt", url)
    assert status == 200 and body.startswith("1\n00:00:")
    # Too large: curl asks first (Expect: 100-continue) and gets 413 without sending the body.
    large = tmp_path / "large.wav"
    large.write_bytes(b"\0" * (5 * 2**20))
    status, body = curl("-F", f"file=@{large}", url)
    assert status == 413 and json.loads(body)["error"]["code"] == "file_too_large"
    status, body = curl("-X", "POST", url)
    assert status == 400 and json.loads(body)["error"]["param"] == "file"


def raw_request(app: AppProcess, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> int:
    """One request exactly as given (Host included); returns the status."""
    conn = http.client.HTTPConnection(HOST, app.port, timeout=60)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def multipart(field: str, name: str, data: bytes, extra: dict[str, str] | None = None) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in (extra or {}).items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                 "Content-Type: audio/wav\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_dns_rebinding_and_other_sites_are_refused(app, clips):
    port = app.port
    audio = clips["door"].read_bytes()
    upload, upload_type = multipart("files", "door.wav", audio)
    api, api_type = multipart("file", "door.wav", audio, {"model": "parakeet"})
    join = json.dumps({"data": [None, None, "parakeet"], "fn_index": 0, "session_hash": "x"}).encode()
    chat = json.dumps({"model": "canary-qwen-llm", "messages": [{"role": "user", "content": "hi"}],
                       "max_tokens": 1}).encode()
    requests = {  # what a rebinding page would reach: the page, Gradio's API, uploads, the queue, /v1
        "page": ("GET", "/", b"", {}),
        "gradio-api": ("GET", "/gradio_api/info", b"", {}),
        "config": ("GET", "/config", b"", {}),
        "upload": ("POST", "/gradio_api/upload", upload, {"Content-Type": upload_type}),
        "queue": ("POST", "/gradio_api/queue/join", join, {"Content-Type": "application/json"}),
        "v1-models": ("GET", "/v1/models", b"", {}),
        "v1-transcribe": ("POST", "/v1/audio/transcriptions", api, {"Content-Type": api_type}),
        "v1-chat": ("POST", "/v1/chat/completions", chat, {"Content-Type": "application/json"}),
    }
    refused = {}
    for name, (method, path, body, headers) in requests.items():
        for host in (f"attacker.example:{port}", "attacker.example", f"127.0.0.1.attacker.example:{port}"):
            refused[name, host] = raw_request(app, method, path, {**headers, "Host": host}, body)
        for origin in (f"http://attacker.example:{port}", f"http://127.0.0.1:{port + 1}", f"http://localhost:{port}"):
            refused[name, origin] = raw_request(app, method, path, {**headers, "Host": f"127.0.0.1:{port}",
                                                                    "Origin": origin}, body)
    assert set(refused.values()) == {403}, refused

    allowed = {}
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "proxy.example"):
        for name in ("page", "gradio-api", "upload", "v1-models", "v1-transcribe", "v1-chat"):
            method, path, body, headers = requests[name]
            allowed[name, host] = raw_request(app, method, path, {**headers, "Host": host}, body)
    allowed["v1-models", "own-origin"] = raw_request(
        app, "GET", "/v1/models", {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"})
    assert set(allowed.values()) == {200}, allowed
    assert "Refused GET / for Host 'attacker.example:" in app.log()


def test_8_api_clients_and_2_page_clients_at_once(app, client, clips, tmp_path):
    names = [f"u{i}" for i in range(10)]
    expected = {name: create(client, clips[name]).text for name in names}  # one after another first
    assert len(set(expected.values())) == len(names), expected
    last_job = max((int(j) for j, _, _ in JOB_LINE.findall(app.log())), default=0)

    results: dict[str, str] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(names))

    def run(name: str, via_page: bool) -> None:
        try:
            barrier.wait(30)
            if via_page:
                results[name] = page_transcribe(app, clips[name], tmp_path / name)[0]
            else:
                results[name] = create(client, clips[name]).text
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name, i >= 8)) for i, name in enumerate(names)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not errors, errors
    assert results == expected

    spans: dict[int, list[float]] = {}
    for job, what, t in JOB_LINE.findall(app.log()):
        if int(job) > last_job:
            spans.setdefault(int(job), [0.0, 0.0])[what == "end"] = float(t)
    assert len(spans) == len(names), spans
    ordered = sorted(spans.values())
    assert all(a[1] <= b[0] for a, b in zip(ordered, ordered[1:], strict=False)), f"two jobs overlapped: {ordered}"
    vias = re.findall(r"job (\d+) start .* via=(\w+)", app.log())
    assert sorted(via for job, via in vias if int(job) > last_job) == ["api"] * 8 + ["page"] * 2


def test_uploads_are_gone_after_each_request(app, app_tmp, client, clips):
    create(client, clips["door"])
    (upload_root,) = app_tmp.glob("offline-transcribe-*/server-*/api")
    assert not list(upload_root.iterdir()), list(upload_root.iterdir())
    marker = clips["door"].read_bytes()[-4096:]
    kept = [p for p in app_tmp.rglob("*") if p.is_file() and p.suffix == ".wav" and marker in p.read_bytes()
            and "gradio" not in p.parts]  # Gradio's own cache (the page's uploads) has its own age and clean-up
    assert not kept, kept


# ---------------------------------------------------------------------------------------------------------------
# A server that other computers can reach


def test_off_loopback_the_server_needs_a_key(tiny_models_dir, tmp_path, monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    port = free_port()
    done = run_app_command(["--models-dir", str(tiny_models_dir), "--host", "0.0.0.0", "--port", str(port)], tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Not starting: listening on 0.0.0.0" in done.stderr and API_KEY_ENV in done.stderr
    assert not port_is_listening(port)

    key = secrets.token_urlsafe(24)
    with running_app(tiny_models_dir, tmp_path / "keyed", "--host", "0.0.0.0", env={API_KEY_ENV: key}) as app:
        models = f"{app.url}v1/models"
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {key}"}):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(models, headers=headers), timeout=30)
            assert refused.value.code == 401 and refused.value.headers["WWW-Authenticate"] == "Bearer"
            assert json.load(refused.value)["error"]["code"] == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{app.url}v1", api_key="wrong", max_retries=0).models.list()
        keyed = openai.OpenAI(base_url=f"{app.url}v1", api_key=key, max_retries=0, timeout=120)
        assert [m.id for m in keyed.models.list().data] == ["parakeet", "canary", "canary-qwen-llm"]
        chat = {"model": "canary-qwen-llm", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{app.url}v1", api_key="wrong", max_retries=0).chat.completions.create(**chat)
        assert keyed.chat.completions.create(**chat).usage.completion_tokens <= 1
        with pytest.raises(openai.BadRequestError):  # past the key check: the audio itself is what is wrong
            keyed.audio.transcriptions.create(model="parakeet", file=("noise.wav", b"not audio"))

        # The page asks for the same key: Gradio's login, any user name.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{app.url}gradio_api/info", timeout=30)
        assert refused.value.code == 401
        with pytest.raises(ValueError):
            Client(app.url, verbose=False, auth=("someone", "wrong"))
        page = Client(app.url, verbose=False, auth=("someone", key))
        assert "/transcribe" in page.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert "Listening on 0.0.0.0" in app.log()
    assert key not in app.log() and key not in "\n".join(app.network_attempts())
    assert not app.network_attempts()
