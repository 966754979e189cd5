"""The command line as a user meets it: ``--transcribe`` in a terminal (a pseudo-terminal: progress bars on stderr,
result lines on stdout, no library chatter), its exit statuses, output names, overwriting, and wrong modes."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest

from app_process import PROJECT_DIR, SCRIPT, app_env, run_app_command, speech_wav
from offline_transcribe.audio import write_wav

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Speech as WAV and as MP3 with the same stem, silence, and a file that is not audio."""
    root = tmp_path_factory.mktemp("clips")
    hello = speech_wav(root / "hello.wav", "hello world")
    wav = shutil.copy(hello, root / "b.wav")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), str(root / "b.mp3")], check=True)
    broken = root / "broken.mp3"
    broken.write_bytes(b"ID3" + b"\x00" * 3000)
    return {"hello": hello, "b.wav": root / "b.wav", "b.mp3": root / "b.mp3", "broken": broken,
            "silent": write_wav(root / "silent.wav", np.zeros(32000, np.float32))}


def run_in_terminal(args: list[str], cwd, tmp_path, timeout: float = 240) -> tuple[int, str, str]:
    """Run ``transcribe_ui.py ARGS`` with stderr on a pseudo-terminal (as in a shell) and stdout on a pipe;
    (exit status, stdout, what the terminal showed)."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # 160 columns, as a window has
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *args], cwd=cwd, env=app_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=secondary, stdin=subprocess.DEVNULL)
    os.close(secondary)
    shown = bytearray()
    try:
        while True:
            ready, _, _ = select.select([primary], [], [], timeout)
            if not ready:
                raise TimeoutError(shown.decode(errors="replace")[-2000:])
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        out = proc.stdout.read().decode()
        return proc.wait(timeout), out, shown.decode(errors="replace")
    finally:
        os.close(primary)
        if proc.poll() is None:
            proc.kill()


def test_headless_in_a_terminal_shows_bars_and_results_only(tiny_models_dir, clips, tmp_path):
    """One run, four files: a bar per file on the terminal, one result line each on stdout, nothing from NeMo,
    Lightning or transformers; ``b.wav`` + ``b.mp3`` keep their extension; silence writes nothing (status 3)."""
    out = tmp_path / "out"
    files = [clips["hello"], clips["silent"], clips["b.wav"], clips["b.mp3"]]
    status, stdout, terminal = run_in_terminal(
        ["--models-dir", str(tiny_models_dir), "--format", "srt,json", "--output-dir", str(out),
         "--transcribe", *map(str, files)],
        PROJECT_DIR, tmp_path,
    )
    lines = stdout.splitlines()
    assert status == 3, stdout + terminal
    assert [line.split()[0] for line in lines] == ["OK", "EMPTY", "OK", "OK"], lines
    assert lines[1].startswith(f"EMPTY  {clips['silent']}: No speech recognised in 'silent.wav' (2.0 s of audio")
    assert "Try:" in lines[1]
    assert f"-> {out / 'b.wav.srt'}, {out / 'b.wav.json'} (" in lines[2]
    assert f"-> {out / 'b.mp3.srt'}, {out / 'b.mp3.json'} (" in lines[3]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{stem}.{fmt}" for stem in ("hello", "b.wav", "b.mp3") for fmt in ("srt", "json")
    )  # no (empty) subtitles for the silent file
    bars = re.findall(r"(\d+)% \|[^|]*\| \[(\d)/4\] ([^:\r\n]+):", terminal)
    assert {(index, name) for _, index, name in bars} >= {("1", "hello.wav"), ("3", "b.wav"), ("4", "b.mp3")}
    # The stage, with the time left once this machine's speed is measured (else the time so far: these clips are
    # too short to measure it).
    time_shown = r"(\d+:\d\d|about [\d:]+( s)? left|a few seconds left)"
    assert re.search(r"Transcribing [^\r]* · " + time_shown, terminal), terminal[-2000:]
    for noise in ("NeMo", "Lightning", "OneLogger", "transformers", "Loading weights", "Traceback", "WARNING"):
        assert noise not in terminal + stdout, noise
    data = json.loads((out / "hello.json").read_text())
    assert data["audio_duration"] == round(data["audio_duration"], 3)


def headless(args: list[str], capsys) -> tuple[int, list[str]]:
    """The command line in-process (its output is not a terminal: no bars); (status, printed lines)."""
    import transcribe_ui

    status = transcribe_ui.main(args)
    return status, capsys.readouterr().out.splitlines()


def test_existing_outputs_are_kept_unless_overwrite(tiny_models_dir, clips, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "hello.txt").write_text("my notes")
    args = ["--models-dir", str(tiny_models_dir), "--output-dir", str(out), "--transcribe", str(clips["hello"])]
    status, lines = headless(args, capsys)
    assert status == 1 and lines == [
        "Nothing transcribed: these output files already exist:", f"  {out / 'hello.txt'}",
        "Add --overwrite to replace them, or choose another folder with --output-dir.",
    ]
    assert (out / "hello.txt").read_text() == "my notes"

    status, lines = headless([*args, "--overwrite"], capsys)
    assert status == 0 and lines[0].startswith(f"OK     {clips['hello']} -> {out / 'hello.txt'}")
    assert (out / "hello.txt").read_text() != "my notes"


def test_exit_status_counts_failures_before_no_speech(tiny_models_dir, clips, tmp_path, capsys):
    """1 when a file failed (whatever else happened), 3 when nothing failed but a file had no speech."""
    status, lines = headless(["--models-dir", str(tiny_models_dir), "--output-dir", str(tmp_path / "a"),
                              "--transcribe", str(clips["silent"]), str(clips["broken"])], capsys)
    assert status == 1 and [line.split()[0] for line in lines] == ["EMPTY", "FAILED"]
    assert "Supported: recordings such as WAV" in lines[1]  # said for the command line too
    assert "upload" not in " ".join(lines).lower()
    status, _ = headless(["--models-dir", str(tiny_models_dir), "--output-dir", str(tmp_path / "b"),
                          "--transcribe", str(clips["silent"])], capsys)
    assert status == 3


@pytest.mark.parametrize("args, said", [
    (["--format", "srt"], "--format applies only with --transcribe FILE..."),
    (["--output-dir", "out", "--format", "srt"], "--format and --output-dir apply only with --transcribe FILE..."),
    (["--overwrite"], "--overwrite applies only with --transcribe FILE..."),
    (["--only", "parakeet,whisper"], "--only: unknown model whisper; choose from parakeet, canary, parakeet-v3"),
    (["--only", "canary", "--model", "parakeet"], "--model parakeet is not one of --only canary"),
    (["--half", "--float32"], "--half and --float32 contradict each other"),
])
def test_options_in_the_wrong_mode_are_refused(args, said, tmp_path):
    """Without --transcribe these would silently start the web server; now they are usage errors (status 2)."""
    result = run_app_command(args, tmp_path, timeout=60)
    assert result.returncode == 2 and said in result.stderr, result.stderr
    assert "Running on" not in result.stdout


def test_precision_options():
    from offline_transcribe.cli import parse_args, settings_from_args

    assert settings_from_args(parse_args([])).precision == "auto"  # bfloat16 on GPUs that support it
    assert settings_from_args(parse_args(["--float32"])).precision == "float32"
    assert settings_from_args(parse_args(["--half"])).precision == "half"  # deprecated, still works
    only = settings_from_args(parse_args(["--only", "canary"]))
    assert only.only_models == ("canary",) and only.default_model == "canary" and only.startup_models == ["canary"]
