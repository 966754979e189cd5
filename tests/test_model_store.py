"""The model store: offline loading, caching, and clear errors for every kind of broken model files."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import model_store
import setup_local_models
from model_files import (
    MODELS,
    ModelFilesInvalidError,
    ModelsMissingError,
    read_manifest,
    sha256_file,
    validate_local_models,
    write_manifest,
)

pytestmark = pytest.mark.usefixtures("fresh_model_cache")


def test_offline_switches_are_set_before_nemo_is_imported():
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    import huggingface_hub.constants

    assert huggingface_hub.constants.HF_HUB_OFFLINE


def test_models_dir_defaults_beside_the_scripts_and_can_be_overridden(monkeypatch, tmp_path):
    monkeypatch.delenv("LOCAL_MODELS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert model_store.resolve_models_dir() == Path(setup_local_models.__file__).resolve().parent / "local_models"
    monkeypatch.setenv("LOCAL_MODELS_DIR", str(tmp_path / "env"))
    assert model_store.resolve_models_dir() == tmp_path / "env"
    assert model_store.resolve_models_dir(tmp_path / "arg") == tmp_path / "arg"


def test_valid_folder_passes_and_both_models_load_and_run(models_dir):
    assert validate_local_models(models_dir) == models_dir
    parakeet = model_store.load_model("parakeet", models_dir)
    assert not parakeet.training
    hyps = parakeet.transcribe([np.zeros(16000, dtype=np.float32)], timestamps=True, verbose=False)
    assert isinstance(hyps[0].text, str)
    canary = model_store.load_model("canary", models_dir)
    assert not canary.training and canary.audio_locator_tag
    assert model_store.load_model("parakeet", models_dir) is parakeet  # cached
    assert model_store.model_status("parakeet", models_dir) == "ready on CPU"


def test_half_precision_is_for_the_gpu_canary_stays_float32_on_the_cpu(models_dir):
    canary = model_store.load("canary", models_dir, device="cpu", half=True)
    assert canary.dtype == "float32" and next(canary.model.parameters()).dtype == torch.float32


def test_missing_folder_lists_every_path_the_command_and_the_guide(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ModelsMissingError) as info:
        validate_local_models(missing)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert str(missing / "parakeet.nemo") in message and str(missing / "canary") in message
    assert f"python setup_local_models.py --models-dir {missing}" in message
    assert "user-model-setup-guide.md" in message


def test_one_model_missing_names_it_and_only_it(models_dir):
    (models_dir / "parakeet.nemo").unlink()
    with pytest.raises(ModelsMissingError) as info:
        model_store.load_model("parakeet", models_dir)
    message = str(info.value)
    assert str(models_dir / "parakeet.nemo") in message
    assert "--only parakeet" in message and "canary" not in message.split("Run:")[0].split("Missing:")[1]


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("empty", "size is 0 bytes"),
        ("text", "size is"),
        ("truncated", "size is"),
        ("folder", "should be a .nemo file but is a folder"),
    ],
)
def test_damaged_nemo_is_reported_by_validation_with_the_fix(models_dir, damage, expected):
    path = models_dir / "parakeet.nemo"
    data = path.read_bytes()
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "text":
        path.write_text("this is not a model\n")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.unlink()
        path.mkdir()
    with pytest.raises(ModelFilesInvalidError) as info:
        validate_local_models(models_dir)
    message = str(info.value)
    assert str(path) in message and expected in message
    assert "python setup_local_models.py" in message and "--force" in message
    assert "ReadError" not in message


@pytest.mark.parametrize("damage", ["empty", "text", "truncated"])
def test_damaged_nemo_without_a_manifest_size_still_never_shows_a_raw_tar_error(models_dir, damage):
    """Even if the manifest agrees with a broken file (edited by hand), the load error is ours."""
    path = models_dir / "parakeet.nemo"
    data = path.read_bytes()
    path.write_bytes({"empty": b"", "text": b"hello\n" * 10, "truncated": data[: len(data) // 2]}[damage])
    manifest = read_manifest(models_dir)
    manifest["models"]["parakeet"]["files"]["parakeet.nemo"]["size"] = path.stat().st_size
    write_manifest(models_dir, manifest)
    with pytest.raises(ModelFilesInvalidError) as info:
        model_store.load_model("parakeet", models_dir)
    message = str(info.value)
    assert str(path) in message and "--only parakeet" in message and "--force" in message
    assert "not a gzip file" not in message.splitlines()[0] or "not a .nemo archive" in message


def flip_middle_bytes(path, count=64):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, middle + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_weights_corrupted_in_the_middle_are_caught_by_verify_and_by_load(models_dir, capsys):
    path = models_dir / "parakeet.nemo"
    flip_middle_bytes(path)
    validate_local_models(models_dir)  # fast start-up check: same size, so it passes
    assert setup_local_models.main(["--models-dir", str(models_dir), "--verify"]) == 1
    out = capsys.readouterr().out
    assert str(path) in out and "sha256" in out and "--force" in out
    with pytest.raises(ModelFilesInvalidError) as info:
        model_store.load_model("parakeet", models_dir)
    assert str(path) in str(info.value) and "corrupt" in str(info.value)


def test_verify_passes_on_intact_files(models_dir, capsys):
    assert setup_local_models.main(["--models-dir", str(models_dir), "--verify"]) == 0
    assert "match the sha256" in capsys.readouterr().out


@pytest.mark.parametrize("removed", ["tokenizer.json", "tokenizer_config.json", "llm_backbone/config.json"])
def test_salm_folder_missing_its_tokenizer_or_llm_config_is_reported(models_dir, removed):
    (models_dir / "canary" / removed).unlink()
    with pytest.raises(ModelsMissingError) as info:
        model_store.load_model("canary", models_dir)
    message = str(info.value)
    assert str(models_dir / "canary" / removed) in message
    assert "--only canary" in message


def test_salm_weights_that_do_not_fit_the_model_are_refused(models_dir, tmp_path):
    """SALM.from_pretrained loads with strict=False; the store refuses a checkpoint with missing weights."""
    from safetensors.torch import load_file, save_file

    weights = models_dir / "canary" / "model.safetensors"
    state = load_file(str(weights))
    dropped = next(k for k in state if k.startswith("perception.encoder"))
    del state[dropped]
    save_file(state, str(weights), metadata={"format": "pt"})
    manifest = read_manifest(models_dir)
    manifest["models"]["canary"]["files"]["canary/model.safetensors"].update(
        size=weights.stat().st_size, sha256=sha256_file(weights)
    )
    write_manifest(models_dir, manifest)
    with pytest.raises(ModelFilesInvalidError) as info:
        model_store.load_model("canary", models_dir)
    assert "not in the file" in str(info.value) and dropped in str(info.value)


def test_manifest_missing_or_garbled_is_reported(models_dir):
    (models_dir / "manifest.json").unlink()
    with pytest.raises(ModelsMissingError) as info:
        validate_local_models(models_dir)
    assert "manifest.json" in str(info.value) and "setup" in str(info.value)
    (models_dir / "manifest.json").write_text("{ not json")
    with pytest.raises(ModelFilesInvalidError) as info:
        validate_local_models(models_dir)
    assert "manifest.json" in str(info.value)


def test_missing_file_at_load_time_is_wrapped_like_the_start_up_check(models_dir):
    """The original request's Change 4: a FileNotFoundError from restore_from becomes our message."""
    validate_local_models(models_dir)
    shutil.rmtree(models_dir / "canary")
    (models_dir / "parakeet.nemo").unlink()
    for key in MODELS:
        with pytest.raises(ModelsMissingError) as info:
            model_store.load_model(key, models_dir)
        assert "python setup_local_models.py" in str(info.value)
        assert model_store.model_status(key, models_dir).startswith("failed: ")


def test_two_threads_loading_at_once_build_the_model_once(models_dir, monkeypatch):
    calls = []
    real = model_store._restore_nemo

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(model_store, "_restore_nemo", counting)
    barrier = threading.Barrier(2)
    results = []

    def worker():
        barrier.wait()
        results.append(model_store.load_model("parakeet", models_dir))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert results[0] is results[1]


def test_loading_and_transcribing_open_no_outside_connection(models_dir):
    """A socket guard (loopback allowed) around load + transcription in both models."""
    from pytest_socket import enable_socket, socket_allow_hosts

    socket_allow_hosts(["127.0.0.1", "::1"], allow_unix_socket=True)
    try:
        import socket

        from pytest_socket import SocketConnectBlockedError

        with pytest.raises(SocketConnectBlockedError):  # the guard is really on
            socket.create_connection(("10.255.255.1", 443), timeout=1)
        parakeet = model_store.load_model("parakeet", models_dir)
        parakeet.transcribe([np.zeros(8000, dtype=np.float32)], verbose=False)
        canary = model_store.load_model("canary", models_dir)
        import torch

        canary.generate(
            prompts=[[{"role": "user", "content": f"Transcribe the following: {canary.audio_locator_tag}"}]],
            audios=torch.zeros(1, 8000),
            audio_lens=torch.tensor([8000]),
            max_new_tokens=4,
        )
    finally:
        enable_socket()
