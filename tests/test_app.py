"""The real app in a subprocess with tiny models, driven through Gradio's own API (``gradio_client``).

One app process serves most tests of this module; a second one (``--preload``, its own copy of the models)
covers the model states and a model deleted while the app runs. The last tests call the event handler
in-process to force failures a CPU cannot produce (GPU out of memory) and run the headless command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
import zipfile
from pathlib import Path

import pysubs2
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError as ClientAppError

from app_process import running_app, speech_wav

pytestmark = pytest.mark.timeout(300)

FORMATS = {"txt", "srt", "vtt", "json", "csv", "docx", "md"}
TABLE_TIME = re.compile(r"^(\d+):(\d\d\.\d)$")  # the segments table's m:ss.s (clips here are under an hour)


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> dict[str, Path]:
    """Two spoken clips of different lengths, silence, and a file that is not audio at all."""
    import numpy as np

    from offline_transcribe.audio import write_wav

    root = tmp_path_factory.mktemp("audio")
    broken = root / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + os.urandom(4000))
    return {
        "hello": speech_wav(root / "hello.wav", "hello world"),
        "long": speech_wav(root / "long.wav", "the quick brown fox jumps over the lazy dog and runs far away"),
        "silent": write_wav(root / "silent.wav", np.zeros(32000, np.float32)),
        "broken": broken,
    }


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_models_dir):
    """One app process for the module, serving the tiny models."""
    with running_app(tiny_models_dir, tmp_path_factory.mktemp("app")) as running:
        yield running
        assert not running.network_attempts(), "the app tried to reach another machine"


def new_client(app, tmp_path: Path) -> Client:
    """A client of ``app`` that downloads result files under ``tmp_path``."""
    return Client(app.url, verbose=False, download_files=str(tmp_path / "downloads"), analytics_enabled=False)


@pytest.fixture
def client(app, tmp_path) -> Client:
    return new_client(app, tmp_path)


def transcribe(client: Client, files: list[Path], model: str = "parakeet") -> dict:
    """Call ``/transcribe`` and name its five outputs."""
    text, segments, downloads, stats, messages = client.predict(
        [handle_file(str(f)) for f in files], None, model, api_name="/transcribe"
    )
    return {"text": text, "segments": segments, "downloads": [Path(p) for p in downloads or []],
            "stats": stats, "messages": messages}


def singles(result: dict) -> list[Path]:
    """The downloads without the ZIP that comes first and holds them all."""
    return [p for p in result["downloads"] if p.suffix != ".zip"]


def table_seconds(cell: str) -> float:
    """A segments-table time (``m:ss.s``) in seconds."""
    minutes, secs = TABLE_TIME.match(cell).groups()
    return int(minutes) * 60 + float(secs)


def stats_by_file(result: dict) -> dict[str, dict]:
    """The statistics table as {file name: {column: value}}."""
    headers = result["stats"]["headers"]
    return {row[0]: dict(zip(headers, row, strict=True)) for row in result["stats"]["data"]}


def test_api_names_the_transcribe_endpoint(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert [p["parameter_name"] for p in api["/transcribe"]["parameters"]] == [
        "files", "recording", "model_key", "identify_speakers", "speaker_count", "vocabulary_text", "replacements_text"
    ]
    assert [r["label"] for r in api["/transcribe"]["returns"]] == [
        "Transcript", "Segments",
        "Downloads: everything as one ZIP, and each file (TXT, SRT, VTT, JSON, CSV, DOCX, Markdown; RTTM with "
        "speakers)",
        "Statistics per file", "Messages",
    ]
    assert "/model_status" in api


def test_transcribe_a_file_and_download_its_subtitles(client, audio):
    result = transcribe(client, [audio["hello"]])

    assert result["text"].strip(), "the tiny model always says something for speech"
    assert result["messages"].startswith("✓ Transcribed 1 of 1 file with Parakeet-TDT-0.6B-v2")
    assert result["segments"]["headers"] == ["File", "Start", "End", "Text"]
    rows = result["segments"]["data"]
    assert rows and all(r[0] == "hello.wav" and TABLE_TIME.match(r[1]) and TABLE_TIME.match(r[2]) for r in rows)
    assert all(table_seconds(r[1]) <= table_seconds(r[2]) for r in rows)

    zipped, *files = result["downloads"]  # the ZIP of everything first, then each file
    by_ext = {p.suffix[1:]: p for p in files}
    assert set(by_ext) == FORMATS and {p.stem for p in files} == {"hello"}
    with zipfile.ZipFile(zipped) as z:
        assert zipped.suffix == ".zip" and sorted(z.namelist()) == sorted(p.name for p in files)
        assert z.read("hello.srt") == by_ext["srt"].read_bytes()
    subs = pysubs2.load(str(by_ext["srt"]), format_="srt")
    assert [e.plaintext for e in subs] == [r[3] for r in rows]
    assert subs[0].start == pytest.approx(table_seconds(rows[0][1]) * 1000, abs=60)
    data = json.loads(by_ext["json"].read_text())
    assert data["text"] == result["text"] and data["model"] == "parakeet"
    assert all(w["end"] == round(w["end"], 3) for seg in data["segments"] for w in seg["words"])  # milliseconds

    stats = stats_by_file(result)["hello.wav"]
    assert stats["Result"] == "✓ done" and stats["Device"] == "CPU" and stats["Audio"].endswith(" s")
    assert re.fullmatch(r"\d+\.\d\d s · RTF \d+\.\d{3}", stats["Took"]), stats


def test_no_speech_is_its_own_outcome_with_nothing_to_download(client, audio):
    """Silence (or a model that hears nothing) is not a success: no empty subtitle files, and what to try."""
    result = transcribe(client, [audio["silent"], audio["hello"]])
    assert result["messages"].startswith("⚠ Transcribed 1 of 2 files with Parakeet-TDT-0.6B-v2. No speech "
                                         "recognised in 1.")
    assert "No speech recognised in 'silent.wav' (2.0 s of audio" in result["messages"]
    assert "the audio is silent" in result["messages"] and "Try:" in result["messages"]
    assert {n: s["Result"] for n, s in stats_by_file(result).items()} == {"silent.wav": "⚠ no speech",
                                                                        "hello.wav": "✓ done"}
    assert {p.stem for p in singles(result)} == {"hello"}  # nothing for the silent file
    assert "── silent.wav ──\n(no speech recognised: see the messages)" in result["text"]


def test_same_stem_keeps_the_extension_and_recordings_are_named_by_time(client, audio, tmp_path):
    """``b.wav`` + ``b.mp3`` give ``b.wav.*`` and ``b.mp3.*``; a recording is ``recording-<date>-<time>.wav``."""
    import subprocess

    wav = Path(shutil.copy(audio["hello"], tmp_path / "b.wav"))
    mp3 = tmp_path / "b.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), str(mp3)], check=True)
    text, segments, downloads, stats, messages = client.predict(
        [handle_file(str(wav)), handle_file(str(mp3))], handle_file(str(audio["long"])), "parakeet",
        api_name="/transcribe",
    )
    names = [row[0] for row in stats["data"]]
    assert names[:2] == ["b.wav", "b.mp3"] and re.fullmatch(r"recording-\d{8}-\d{6}\.wav", names[2]), names
    stems = {Path(p).name.rsplit(".", 1)[0] for p in downloads if not p.endswith(".zip")}
    assert stems == {"b.wav", "b.mp3", names[2].removesuffix(".wav")}


def test_two_concurrent_clients_get_their_own_results(app, audio, tmp_path):
    results: dict[str, dict] = {}
    errors: list[BaseException] = []

    def run(key: str) -> None:
        try:
            results[key] = transcribe(new_client(app, tmp_path / key), [audio[key]])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(key,)) for key in ("hello", "long")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for key in ("hello", "long"):
        name = f"{key}.wav"
        assert list(stats_by_file(results[key])) == [name]
        assert {r[0] for r in results[key]["segments"]["data"]} == {name}
        assert {p.stem for p in singles(results[key])} == {key}
    hello_seconds = stats_by_file(results["hello"])["hello.wav"]["Audio"]
    long_seconds = stats_by_file(results["long"])["long.wav"]["Audio"]
    assert float(hello_seconds.split()[0]) < float(long_seconds.split()[0])


def test_bad_file_gives_a_readable_error_and_the_next_request_works(client, audio):
    result = transcribe(client, [audio["broken"]])
    assert result["messages"].startswith("✗ Transcribed 0 of 1 file")
    assert "'broken.wav' could not be read as audio" in result["messages"]
    assert "Traceback" not in result["messages"]
    assert stats_by_file(result)["broken.wav"]["Result"] == "✗ failed"
    assert result["downloads"] == [] and result["segments"]["data"] == [] and result["text"] == ""

    again = transcribe(client, [audio["hello"]])
    assert again["text"].strip() and stats_by_file(again)["hello.wav"]["Result"] == "✓ done"


def test_one_bad_file_does_not_lose_the_others(client, audio):
    result = transcribe(client, [audio["hello"], audio["broken"], audio["long"]])
    assert result["messages"].startswith("⚠ Transcribed 2 of 3 files")
    assert "broken.wav" in result["messages"]
    assert {n: s["Result"] for n, s in stats_by_file(result).items()} == {
        "hello.wav": "✓ done", "broken.wav": "✗ failed", "long.wav": "✓ done",
    }
    assert sorted(p.name for p in singles(result)) == sorted(f"{s}.{e}" for s in ("hello", "long") for e in FORMATS)
    assert "── hello.wav ──" in result["text"] and "── long.wav ──" in result["text"]


def test_no_audio_is_a_readable_error(client, app):
    with pytest.raises(ClientAppError, match="No audio: add an audio file or record with the microphone"):
        client.predict([], None, "parakeet", api_name="/transcribe")
    assert "Traceback" not in app.log()


def test_wrong_file_type_is_refused_readably(client, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio")
    with pytest.raises(ClientAppError, match="Invalid file type"):
        transcribe(client, [notes])


def test_canary_runs_through_the_same_endpoint(client, audio):
    result = transcribe(client, [audio["hello"]], model="canary")
    assert "with Canary-Qwen-2.5B" in result["messages"]
    assert "per window" in result["messages"]  # Canary's timestamps are window-level, and the page says so
    result_label = stats_by_file(result)["hello.wav"]["Result"]
    assert result_label in {"✓ done", "⚠ no speech"}  # random weights: maybe silent
    if result_label == "✓ done":
        assert {p.suffix[1:] for p in singles(result)} == FORMATS
    else:
        assert result["downloads"] == [] and "No speech recognised in 'hello.wav'" in result["messages"]


def test_the_server_log_is_the_app_s_own(app):
    """After loads and transcriptions with both models: no NeMo or Lightning chatter, and Gradio's banner names
    the command line's --share, not launch()'s share=True."""
    log = app.log()
    assert "job 1 start" in log and "ready on CPU" in log
    assert "[NeMo" not in log and "Lightning" not in log and "OneLogger" not in log, log[-3000:]
    assert "share=True" not in log and "--share would add a public link" in log


# ---------------------------------------------------------------------------------------------------------------
# A second app: --preload, and its models folder changes while it runs


@pytest.fixture(scope="module")
def preloaded(tmp_path_factory, tiny_models_dir):
    """An app started with --preload on its own copy of the models (tests may delete files in it)."""
    root = tmp_path_factory.mktemp("preloaded")
    models = root / "local_models"
    shutil.copytree(tiny_models_dir, models)
    with running_app(models, root, "--preload") as running:
        yield running, models
        assert not running.network_attempts(), "the app tried to reach another machine"


def model_states(client: Client) -> dict[str, str]:
    """``/model_status`` as {display name: state}."""
    status = client.predict(api_name="/model_status")
    return dict(re.findall(r"^- \*\*(.+?)\*\* \(`[^`]+`\): (.+)$", status, flags=re.MULTILINE))


def test_preload_loads_the_default_model_and_the_page_shows_it(preloaded, tmp_path):
    app, _ = preloaded
    client = new_client(app, tmp_path)
    deadline = time.monotonic() + 120
    while (states := model_states(client))["Parakeet-TDT-0.6B-v2"] != "ready on CPU":
        assert states["Parakeet-TDT-0.6B-v2"] in {"not loaded", "loading…"}, states
        assert time.monotonic() < deadline, states
        time.sleep(0.5)
    assert states["Canary-Qwen-2.5B"] == "not loaded"


def test_model_deleted_at_run_time_is_a_readable_error(preloaded, audio, tmp_path):
    app, models = preloaded
    client = new_client(app, tmp_path)
    shutil.rmtree(models / "canary")
    failed = transcribe(client, [audio["hello"]], model="canary")
    message = failed["messages"]
    assert message.startswith("✗ Canary-Qwen-2.5B is not available; nothing was transcribed.")
    assert str(models / "canary") in message and "setup_local_models.py" in message and "Traceback" not in message
    assert stats_by_file(failed)["hello.wav"]["Result"] == "✗ failed" and failed["downloads"] == []
    assert model_states(client)["Canary-Qwen-2.5B"] == (
        f"not installed — set it up with `python setup_local_models.py --only canary --models-dir {models}`"
    )

    result = transcribe(client, [audio["hello"]])  # the server keeps serving the other model
    assert stats_by_file(result)["hello.wav"]["Result"] == "✓ done"
    assert app.proc.poll() is None


def test_page_wiring(tiny_models_dir, tiny_store, tmp_path):
    from offline_transcribe import Settings
    from offline_transcribe.server import page

    demo = page.build_app(Settings(models_dir=tiny_models_dir), tiny_store, exports_root=tmp_path)
    events = {fn.api_name: fn for fn in demo.fns.values()}
    assert events["transcribe"].queue and events["transcribe"].concurrency_limit == "default"
    assert demo._queue.default_concurrency_limit == 1  # one transcription at a time (no public accessor)
    assert not events["model_status"].queue  # the state stays live while a transcription runs
    assert demo.delete_cache and demo.analytics_enabled is False
    messages = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "messages")
    assert events["transcribe"].show_progress_on == [messages]  # one progress bar, not one per output


def test_model_information_says_how_each_model_is_loaded_and_in_which_precision(tiny_models_dir):
    from offline_transcribe.backends import get_backend
    from offline_transcribe.models.registry import MODELS
    from offline_transcribe.server import page

    info = page.model_info_md(tiny_models_dir)
    for spec in MODELS.values():
        assert f"`{spec.path(tiny_models_dir)}`: {get_backend(spec.backend).loaded_as}." in info
    assert "read in place from the `.nemo` archive" in info and "never a hub name" in info
    assert "Canary runs in **bfloat16** on a GPU that supports it" in info and "--half" not in info
    assert "Started with `--float32`" in page.model_info_md(tiny_models_dir, precision="float32")


# ---------------------------------------------------------------------------------------------------------------
# In-process: failures a CPU cannot produce, and unexpected bugs


def test_gpu_out_of_memory_and_bugs_are_reported_per_file(monkeypatch, tmp_path, tiny_store, audio):
    import offline_transcribe.batch as batch
    from offline_transcribe import GpuOutOfMemoryError
    from offline_transcribe.server import page

    real = batch.transcribe_file

    def flaky(path, model_key, **kwargs):
        name = Path(path).name
        if name == "oom.wav":
            raise GpuOutOfMemoryError("The GPU ran out of memory while transcribing oom.wav.")
        if name == "bug.wav":
            raise ZeroDivisionError("internal detail")
        return real(path, model_key, **kwargs)

    monkeypatch.setattr(batch, "transcribe_file", flaky)
    # Several files share model calls (jobs.files): a failed batch call is redone file by file, where they fail
    import offline_transcribe.jobs.runner as job_runner
    from offline_transcribe.backends import get_backend

    real_audio = job_runner.transcribe_audio

    def flaky_audio(samples, model_key, **kwargs):
        if kwargs.get("source") == "oom.wav":
            raise GpuOutOfMemoryError("The GPU ran out of memory while transcribing oom.wav.")
        if kwargs.get("source") == "bug.wav":
            raise ZeroDivisionError("internal detail")
        return real_audio(samples, model_key, **kwargs)

    def batch_fails(*args, **kwargs):
        raise ZeroDivisionError("internal detail")

    monkeypatch.setattr(job_runner, "transcribe_audio", flaky_audio)
    monkeypatch.setattr(type(get_backend("nemo_tdt")), "transcribe_batch", batch_fails)
    files = [shutil.copy(audio["hello"], tmp_path / n) for n in ("oom.wav", "ok.wav", "bug.wav")]
    handler = page.TranscribeHandler(tiny_store, tmp_path / "exports")
    text, segments, downloads, stats, messages = handler(files, None, "parakeet", progress=lambda *a, **k: None)

    assert [row[1] for row in stats] == ["✗ failed", "✓ done", "✗ failed"]
    assert "The GPU ran out of memory while transcribing oom.wav." in messages
    assert "Unexpected error while transcribing 'bug.wav'" in messages and "internal detail" not in messages
    assert sorted(Path(p).name for p in downloads if not p.endswith(".zip")) == sorted(f"ok.{e}" for e in FORMATS)
    assert "── ok.wav ──" in text and {row[0] for row in segments["data"]} == {"ok.wav"}


# ---------------------------------------------------------------------------------------------------------------
# Headless


def headless(args: list[str], capsys) -> tuple[int, list[str]]:
    """Run the command line in-process (the start-up tests run it as a real subprocess); (status, printed lines)."""
    import transcribe_ui

    status = transcribe_ui.main(args)
    return status, capsys.readouterr().out.splitlines()


def test_headless_batch_writes_files_and_reports_each(tiny_models_dir, audio, tmp_path, capsys):
    out = tmp_path / "out"
    hello, broken = str(audio["hello"]), str(audio["broken"])
    status, lines = headless(
        ["--models-dir", str(tiny_models_dir), "--model", "parakeet", "--format", "srt,txt", "--output-dir", str(out),
         "--transcribe", hello, broken],
        capsys,
    )
    assert status == 1, lines
    assert len(lines) == 2
    assert lines[0].startswith(f"OK     {hello} -> {out / 'hello.srt'}, {out / 'hello.txt'} (")
    assert re.search(r"\(\d+\.\d s audio in \d+\.\d s, RTF \d+\.\d{3}, CPU\)( \[.+\])?$", lines[0]), lines[0]
    assert lines[1].startswith(f"FAILED {broken}: 'broken.wav' could not be read as audio")
    assert sorted(p.name for p in out.iterdir()) == ["hello.srt", "hello.txt"]
    assert pysubs2.load(str(out / "hello.srt"), format_="srt")


def test_headless_exit_status_is_0_when_every_file_succeeds(tiny_models_dir, audio, tmp_path, capsys):
    out = tmp_path / "out"
    files = [str(audio["hello"]), str(audio["long"]), str(audio["hello"])]
    status, lines = headless(
        ["--models-dir", str(tiny_models_dir), "--format", "all", "--output-dir", str(out), "--transcribe", *files],
        capsys,
    )
    assert status == 0, lines
    assert [line.split()[:2] for line in lines] == [["OK", f] for f in files]
    stems = ("hello", "long", "hello-2")  # the same name twice is not overwritten
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{s}.{e}" for s in stems for e in FORMATS)


def test_headless_reports_missing_inputs_and_unusable_output_folders(tiny_models_dir, audio, tmp_path, capsys):
    missing = str(tmp_path / "nope.wav")
    status, lines = headless(
        ["--models-dir", str(tiny_models_dir), "--output-dir", str(tmp_path / "out"), "--transcribe", missing,
         str(audio["hello"])],
        capsys,
    )
    assert status == 1
    assert lines[0] == f"FAILED {missing}: 'nope.wav' was not found: {missing}"
    assert lines[1].startswith(f"OK     {audio['hello']} -> {tmp_path / 'out' / 'hello.txt'}")

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    status, lines = headless(
        ["--models-dir", str(tiny_models_dir), "--output-dir", str(blocker / "sub"), "--transcribe", missing], capsys
    )
    assert status == 1 and lines == [f"Cannot create the output folder {blocker / 'sub'}: Not a directory"]
