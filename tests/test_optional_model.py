"""An optional model, Parakeet-TDT-0.6B-v3 (``parakeet-v3``): one registry entry, and everything else follows.

A tiny model of the same class (the tests' TDT builder, another seed) is installed as ``parakeet-v3`` through the
real setup command, then used through the page (a real server, ``gradio_client``) and the command line (a
subprocess). Without it the app starts as before and never calls it missing; damaged, ``--verify`` and the page
name its file.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from app_process import run_app_command, running_app, speech_wav
from conftest import install_model
from offline_transcribe import MODELS, ModelState, ModelStore
from offline_transcribe.models.registry import required_keys
from offline_transcribe.setup import cli as setup_cli

V3 = MODELS["parakeet-v3"]

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def v3_nemo(tmp_path_factory) -> Path:
    """A tiny FastConformer-TDT ``.nemo``, the class of Parakeet-TDT-0.6B-v3 (weights of another seed)."""
    from tiny_models import build_tiny_parakeet

    out = tmp_path_factory.mktemp("v3") / "tiny_parakeet_v3.nemo"
    build_tiny_parakeet(out, seed=3)
    return out


@pytest.fixture(scope="module")
def v3_models_dir(tmp_path_factory, tiny_models_dir, v3_nemo) -> Path:
    """The tiny models folder plus ``parakeet-v3``, installed by ``setup_local_models.py --only parakeet-v3 --from``."""
    models_dir = tmp_path_factory.mktemp("with_v3") / "local_models"
    shutil.copytree(tiny_models_dir, models_dir)
    return install_model(models_dir, "parakeet-v3", v3_nemo)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    return speech_wav(tmp_path_factory.mktemp("v3_audio") / "hallo.wav", "hello world this is a test")


def test_the_registry_entry_is_pinned_optional_and_multilingual():
    assert V3.repo_id == "nvidia/parakeet-tdt-0.6b-v3" and V3.hub_filename == "parakeet-tdt-0.6b-v3.nemo"
    assert re.fullmatch(r"[0-9a-f]{40}", V3.revision)
    assert not V3.required and "parakeet-v3" not in required_keys()
    assert V3.backend == MODELS["parakeet"].backend and len(V3.languages) == 25 and "de" in V3.languages


def test_without_it_the_app_starts_and_never_calls_it_missing(tiny_models_dir, tmp_path):
    store = ModelStore(tiny_models_dir)
    assert store.validate() == tiny_models_dir and store.problems() == []
    assert store.status("parakeet-v3").state is ModelState.NOT_INSTALLED
    assert store.installed() == ["parakeet", "canary"]
    empty = tmp_path / "empty"
    empty.mkdir()
    output = run_app_command(["--models-dir", str(empty)], tmp_path).stderr
    assert "parakeet.nemo" in output and V3.local_name not in output and "parakeet-v3" not in output
    with running_app(tiny_models_dir, tmp_path / "app") as app:
        assert "Missing" not in app.log() and V3.local_name not in app.log()
        status = Client(app.url, verbose=False, analytics_enabled=False).predict(api_name="/model_status")
    assert f"**{V3.display_name}** (`{V3.local_name}`): not installed" in status
    assert "`python setup_local_models.py --only parakeet-v3 --models-dir" in status


def test_it_transcribes_through_the_page(v3_models_dir, speech, tmp_path):
    with running_app(v3_models_dir, tmp_path / "app") as app:
        client = Client(app.url, verbose=False, download_files=str(tmp_path / "dl"), analytics_enabled=False)
        status = client.predict(api_name="/model_status")
        assert f"**{V3.display_name}** (`{V3.local_name}`): not loaded" in status
        text, segments, downloads, stats, messages = client.predict(
            [handle_file(str(speech))], None, "parakeet-v3", api_name="/transcribe"
        )
        assert messages.startswith(f"✓ Transcribed 1 of 1 file with {V3.display_name}")
        assert stats["data"][0][1] == "✓ done" and text.strip() and segments["data"]
        assert {Path(p).suffix for p in downloads} == {".zip", ".txt", ".srt", ".vtt", ".json", ".csv", ".docx", ".md"}
        status = client.predict(api_name="/model_status")
        assert f"**{V3.display_name}** (`{V3.local_name}`): ready on CPU" in status
        assert not app.network_attempts()


def test_it_transcribes_through_the_command_line(v3_models_dir, speech, tmp_path):
    out = tmp_path / "out"
    result = run_app_command(
        ["--models-dir", str(v3_models_dir), "--transcribe", str(speech), "--model", "parakeet-v3",
         "--format", "json", "--output-dir", str(out)],
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"OK     {speech} -> {out / 'hallo.json'}")
    assert '"model": "parakeet-v3"' in (out / "hallo.json").read_text()


def test_damaged_it_is_named_by_verify_and_by_the_page(v3_models_dir, tmp_path, speech, capsys):
    from offline_transcribe.server import page

    models_dir = tmp_path / "local_models"
    shutil.copytree(v3_models_dir, models_dir)
    assert setup_cli.main(["--models-dir", str(models_dir), "--verify"]) == 0
    assert "parakeet-v3" in capsys.readouterr().out  # --verify covers the optional model it finds installed

    nemo = models_dir / V3.local_name
    data = bytearray(nemo.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other content: only the hashes can tell
    nemo.write_bytes(bytes(data))
    assert setup_cli.main(["--models-dir", str(models_dir), "--verify"]) == 1
    out = capsys.readouterr().out
    assert f"{nemo}: content differs from the sha256 recorded at setup" in out and "--only parakeet-v3" in out

    nemo.write_bytes(bytes(data[:1000]))  # truncated: the fast checks see it
    store = ModelStore(models_dir)
    assert store.validate() == models_dir  # the required models are fine: the app still starts
    assert f"**{V3.display_name}** (`{V3.local_name}`): not installed" in page.status_md(store)
    assert "parakeet-v3" not in dict(page.model_choices(store)).values()  # it cannot be chosen…
    assert "--only parakeet-v3" in page.missing_models_html(store)  # …it is shown disabled, with its setup command
    handler = page.TranscribeHandler(store, tmp_path / "exports")
    _, _, downloads, _, messages = handler([str(speech)], None, "parakeet-v3", progress=lambda *a, **k: None)
    assert messages.startswith(f"✗ {V3.display_name} is not available")
    assert str(nemo) in messages and "python setup_local_models.py" in messages and downloads == []
    _, _, downloads, _, messages = handler([str(speech)], None, "parakeet", progress=lambda *a, **k: None)
    assert messages.startswith("✓ Transcribed 1 of 1 file")  # the other models keep working
