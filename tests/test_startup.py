"""Start-up validation: with models missing the app names every missing path and exits 1 without opening a port."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from app_process import PROJECT_DIR, SCRIPT, app_env, free_port, port_is_listening, run_app_command

SETUP_HINT = "setup_local_models.py"
GUIDE = "user-model-setup-guide.md"


def start_and_watch_port(models_dir: Path, tmp_path: Path, timeout: float = 60) -> tuple[int, str, float, bool]:
    """Run the page command; return (exit status, output, seconds taken, whether the port was ever open)."""
    port = free_port()
    cmd = [sys.executable, str(SCRIPT), "--models-dir", str(models_dir), "--port", str(port)]
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=PROJECT_DIR, env=app_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    opened = False
    try:
        while proc.poll() is None and time.monotonic() - started < timeout:
            opened |= port_is_listening(port)
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.communicate()[0]
    return proc.returncode, output, time.monotonic() - started, opened or port_is_listening(port)


def test_empty_models_folder_exits_1_naming_every_path(tmp_path):
    empty = tmp_path / "local_models"
    empty.mkdir()
    status, output, seconds, opened = start_and_watch_port(empty, tmp_path)
    assert status == 1, output
    assert seconds < 30, f"took {seconds:.1f} s"
    assert not opened, "a port was opened although the models are missing"
    assert str(empty / "parakeet.nemo") in output
    assert str(empty / "canary") in output
    assert "parakeet-v3" not in output  # an optional model is never required
    assert SETUP_HINT in output and GUIDE in output
    assert "Traceback" not in output
    assert not (tmp_path / "netguard.log").exists(), "start-up tried to reach another machine"


def test_missing_models_folder_exits_1(tmp_path):
    absent = tmp_path / "nowhere"
    status, output, _, opened = start_and_watch_port(absent, tmp_path)
    assert status == 1 and not opened
    assert str(absent / "parakeet.nemo") in output and str(absent / "canary") in output
    assert not absent.exists(), "validation must not create the models folder"


def test_one_model_missing_names_only_that_one(tmp_path, models_dir):
    shutil.rmtree(models_dir / "canary")
    status, output, _, opened = start_and_watch_port(models_dir, tmp_path)
    assert status == 1 and not opened
    assert str(models_dir / "canary") in output
    assert str(models_dir / "parakeet.nemo") not in output
    assert "--only canary" in output


def test_headless_with_missing_model_exits_1(tmp_path):
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF")
    result = run_app_command(
        ["--models-dir", str(tmp_path / "none"), "--transcribe", str(audio), "--output-dir", str(tmp_path / "out")],
        tmp_path,
    )
    assert result.returncode == 1
    assert str(tmp_path / "none" / "parakeet.nemo") in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()


def test_bad_format_is_a_usage_error(tmp_path):
    result = run_app_command(["--transcribe", "x.wav", "--format", "pdf"], tmp_path)
    assert result.returncode == 2
    assert "--format" in result.stderr and "pdf" in result.stderr


def test_the_start_up_check_does_not_wait_for_gradio():
    """Gradio (seconds to import) is imported only once the model files have passed the check."""
    code = ("import sys, transcribe_ui; "
            "print(sorted(m for m in ('gradio', 'offline_transcribe.server.page') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_setup_of_one_model_ends_with_a_start_command_that_works(tmp_path, tiny_sources):
    """``setup_local_models.py --only parakeet`` says first whether a GPU is usable, and ends with the command that
    starts the app with what is installed (``--only parakeet``); that command starts, and the page shows Canary as
    not installed with its setup command. The plain start command still refuses, and names the ``--only`` one."""
    from gradio_client import Client

    from app_process import running_app

    models = tmp_path / "local_models"
    setup = subprocess.run(
        [sys.executable, "setup_local_models.py", "--models-dir", str(models), "--only", "parakeet",
         "--from", str(tiny_sources["parakeet"]), "--no-check-load"],
        cwd=PROJECT_DIR, env=app_env(tmp_path), capture_output=True, text=True, timeout=120,
    )
    lines = setup.stdout.strip().splitlines()
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert lines[0].startswith("GPU: ") and ("run on the CPU" in lines[0] or "will run on it" in lines[0])
    assert lines[-1] == f"Done. Start the app with: python transcribe_ui.py --models-dir {models} --only parakeet"

    refused = run_app_command(["--models-dir", str(models)], tmp_path)
    assert refused.returncode == 1 and str(models / "canary") in refused.stderr
    assert f"python transcribe_ui.py --models-dir {models} --only parakeet" in refused.stderr

    start_args = lines[-1].split("python transcribe_ui.py ", 1)[1].split()
    assert start_args[:2] == ["--models-dir", str(models)]
    with running_app(models, tmp_path / "app", *start_args[2:]) as app:
        status = Client(app.url, verbose=False, analytics_enabled=False).predict(api_name="/model_status")
    assert "**Parakeet-TDT-0.6B-v2** (`parakeet.nemo`): not loaded" in status
    assert ("**Canary-Qwen-2.5B** (`canary/`): not installed — set it up with "
            f"`python setup_local_models.py --only canary --models-dir {models}`") in status


def test_only_checks_the_named_models(tmp_path, models_dir):
    (models_dir / "parakeet.nemo").unlink()
    result = run_app_command(["--models-dir", str(models_dir), "--only", "parakeet"], tmp_path)
    assert result.returncode == 1 and str(models_dir / "parakeet.nemo") in result.stderr
    assert f"python transcribe_ui.py --models-dir {models_dir} --only canary" in result.stderr  # what is set up
