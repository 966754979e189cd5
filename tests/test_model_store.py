"""The model store: offline loading, caching, unloading, states, and clear errors for every kind of broken file.

Most tests use a ``ModelStore`` of their own (the ``store`` fixture, over a fresh copy of the tiny models); a few
check ``model_store.py``, the store's public face as the original request named it.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import model_store
from offline_transcribe import ModelFilesInvalidError, ModelsMissingError, ModelState, ModelStore
from offline_transcribe.config import PROJECT_DIR, resolve_models_dir
from offline_transcribe.models.files import read_manifest, sha256_file, validate_local_models, write_manifest
from offline_transcribe.setup import cli as setup_cli


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
    assert resolve_models_dir() == PROJECT_DIR / "local_models" == Path(model_store.__file__).parent / "local_models"
    monkeypatch.setenv("LOCAL_MODELS_DIR", str(tmp_path / "env"))
    assert resolve_models_dir() == tmp_path / "env"
    assert resolve_models_dir(tmp_path / "arg") == tmp_path / "arg"


def test_valid_folder_passes_and_both_models_load_and_run(store, models_dir):
    assert store.validate() == models_dir
    parakeet = store.load("parakeet").model
    assert not parakeet.training
    hyps = parakeet.transcribe([np.zeros(16000, dtype=np.float32)], timestamps=True, verbose=False)
    assert isinstance(hyps[0].text, str)
    canary = store.load("canary").model
    assert not canary.training and canary.audio_locator_tag
    assert store.load("parakeet").model is parakeet  # cached
    assert str(store.status("parakeet")) == "ready on CPU"


def test_the_request_s_functions_keep_working(models_dir):
    """``model_store.validate_local_models`` / ``load_model``: one store per folder behind them."""
    assert model_store.validate_local_models(models_dir) == models_dir
    model = model_store.load_model("parakeet", models_dir)
    assert model_store.load_model("parakeet", models_dir) is model
    assert model_store.default_store(models_dir).load("parakeet").model is model
    assert model_store.model_status("parakeet", models_dir) == "ready on CPU"
    model_store.forget("parakeet", models_dir)
    assert model_store.model_status("parakeet", models_dir) == "not loaded"


def test_half_precision_is_for_the_gpu_canary_stays_float32_on_the_cpu(models_dir):
    canary = ModelStore(models_dir, precision="half").load("canary", device="cpu")
    assert canary.dtype == "float32" and next(canary.model.parameters()).dtype == torch.float32
    assert model_store.load("canary", models_dir, device="cpu", half=True).dtype == "float32"


def test_missing_folder_lists_every_path_the_command_and_the_guide(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ModelsMissingError) as info:
        validate_local_models(missing)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert str(missing / "parakeet.nemo") in message and str(missing / "canary") in message
    assert f"python setup_local_models.py --models-dir {missing}" in message
    assert "user-model-setup-guide.md" in message


def test_one_model_missing_names_it_and_only_it(store, models_dir):
    (models_dir / "parakeet.nemo").unlink()
    with pytest.raises(ModelsMissingError) as info:
        store.load("parakeet")
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
def test_damaged_nemo_without_a_manifest_size_still_never_shows_a_raw_tar_error(store, models_dir, damage):
    """Even if the manifest agrees with a broken file (edited by hand), the load error is ours."""
    path = models_dir / "parakeet.nemo"
    data = path.read_bytes()
    path.write_bytes({"empty": b"", "text": b"hello\n" * 10, "truncated": data[: len(data) // 2]}[damage])
    manifest = read_manifest(models_dir)
    manifest["models"]["parakeet"]["files"]["parakeet.nemo"]["size"] = path.stat().st_size
    write_manifest(models_dir, manifest)
    with pytest.raises(ModelFilesInvalidError) as info:
        store.load("parakeet")
    message = str(info.value)
    assert str(path) in message and "--only parakeet" in message and "--force" in message
    assert "not a gzip file" not in message.splitlines()[0] or "not a .nemo archive" in message


def flip_middle_bytes(path, count=64):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, middle + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_weights_corrupted_in_the_middle_are_caught_by_verify_and_by_load(store, models_dir, capsys):
    path = models_dir / "parakeet.nemo"
    flip_middle_bytes(path)
    validate_local_models(models_dir)  # fast start-up check: same size, so it passes
    assert setup_cli.main(["--models-dir", str(models_dir), "--verify"]) == 1
    out = capsys.readouterr().out
    assert str(path) in out and "sha256" in out and "--force" in out
    with pytest.raises(ModelFilesInvalidError) as info:
        store.load("parakeet")
    assert str(path) in str(info.value) and "corrupt" in str(info.value)


def test_verify_passes_on_intact_files(models_dir, capsys):
    assert setup_cli.main(["--models-dir", str(models_dir), "--verify"]) == 0
    assert "match the sha256" in capsys.readouterr().out


@pytest.mark.parametrize("removed", ["tokenizer.json", "tokenizer_config.json", "llm_backbone/config.json"])
def test_salm_folder_missing_its_tokenizer_or_llm_config_is_reported(store, models_dir, removed):
    (models_dir / "canary" / removed).unlink()
    with pytest.raises(ModelsMissingError) as info:
        store.load("canary")
    message = str(info.value)
    assert str(models_dir / "canary" / removed) in message
    assert "--only canary" in message


def test_salm_weights_that_do_not_fit_the_model_are_refused(store, models_dir):
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
        store.load("canary")
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


def test_missing_file_at_load_time_is_wrapped_like_the_start_up_check(store, models_dir):
    """The original request's Change 4: a FileNotFoundError from restore_from becomes our message."""
    validate_local_models(models_dir)
    shutil.rmtree(models_dir / "canary")
    (models_dir / "parakeet.nemo").unlink()
    for key in ("parakeet", "canary"):
        with pytest.raises(ModelsMissingError) as info:
            store.load(key)
        assert "python setup_local_models.py" in str(info.value)
        status = store.status(key)
        assert status.state is ModelState.FAILED and str(status).startswith("failed: ")


def test_two_threads_loading_at_once_build_the_model_once(store, monkeypatch):
    from offline_transcribe.backends.nemo_tdt import NemoTdtBackend

    calls = []
    real = NemoTdtBackend.load

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(NemoTdtBackend, "load", counting)
    barrier = threading.Barrier(2)
    results = []

    def worker():
        barrier.wait()
        results.append(store.load("parakeet").model)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert results[0] is results[1]


def test_loading_and_transcribing_open_no_outside_connection(store):
    """A socket guard (loopback allowed) around load + transcription in both models."""
    from pytest_socket import enable_socket, socket_allow_hosts

    socket_allow_hosts(["127.0.0.1", "::1"], allow_unix_socket=True)
    try:
        import socket

        from pytest_socket import SocketConnectBlockedError

        with pytest.raises(SocketConnectBlockedError):  # the guard is really on
            socket.create_connection(("10.255.255.1", 443), timeout=1)
        parakeet = store.load("parakeet").model
        parakeet.transcribe([np.zeros(8000, dtype=np.float32)], verbose=False)
        canary = store.load("canary").model
        import torch

        canary.generate(
            prompts=[[{"role": "user", "content": f"Transcribe the following: {canary.audio_locator_tag}"}]],
            audios=torch.zeros(1, 8000),
            audio_lens=torch.tensor([8000]),
            max_new_tokens=4,
        )
    finally:
        enable_socket()


# ---------------------------------------------------------------------------------------------------------------
# The store object: keys, unloading, states


def test_another_dtype_is_another_model_and_the_same_one_is_cached(store):
    fp32 = store.load("parakeet")
    bf16 = store.load("parakeet", dtype="bfloat16")
    assert bf16.model is not fp32.model
    assert (fp32.dtype, bf16.dtype) == ("float32", "bfloat16")
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    assert store.load("parakeet", dtype=torch.bfloat16) is bf16 and store.load("parakeet") is fp32
    assert store.load("parakeet", device="cpu", dtype="float32") is fp32  # the default device here
    assert len(store.loaded()) == 2


def test_stores_of_two_folders_keep_their_own_models(store, models_dir, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(models_dir, other)
    assert ModelStore(other).load("parakeet").model is not store.load("parakeet").model


def test_unload_frees_the_model(store):
    import gc
    import weakref

    ref = weakref.ref(store.load("parakeet").model)
    assert store.unload("parakeet") == 1
    gc.collect()
    assert ref() is None, "the store still holds the unloaded model"
    assert store.loaded() == [] and store.unload("parakeet") == 0
    assert store.load("parakeet").model is not None  # and it loads again


def test_states_go_not_loaded_loading_ready_not_loaded(store, monkeypatch):
    from offline_transcribe.backends.nemo_tdt import NemoTdtBackend

    seen = [store.status("parakeet").state]
    real = NemoTdtBackend.load

    def watching(*args, **kwargs):
        seen.append(store.status("parakeet").state)  # from inside the load
        return real(*args, **kwargs)

    monkeypatch.setattr(NemoTdtBackend, "load", watching)
    loaded = store.load("parakeet")
    seen.append(store.status("parakeet").state)
    assert store.status("parakeet").device == "CPU" == loaded.device_label
    store.unload("parakeet")
    seen.append(store.status("parakeet").state)
    assert seen == [ModelState.NOT_LOADED, ModelState.LOADING, ModelState.READY, ModelState.NOT_LOADED]
    assert store.status("parakeet-v3").state is ModelState.NOT_INSTALLED  # an optional model, not set up here


def test_an_idle_model_is_unloaded_but_not_while_it_works(models_dir):
    import time

    store = ModelStore(models_dir, unload_after_s=0.2)
    try:
        with store.use("parakeet") as loaded:
            time.sleep(0.6)  # busy for longer than the idle time: it stays
            assert store.loaded() == [loaded]
        deadline = time.monotonic() + 10
        while store.loaded() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.loaded() == [] and store.status("parakeet").state is ModelState.NOT_LOADED
    finally:
        store.close()


def test_use_runs_one_job_per_model_at_a_time(store):
    import time

    order = []

    def job(name):
        with store.use("parakeet"):
            order.append(f"{name} start")
            time.sleep(0.2)
            order.append(f"{name} end")

    threads = [threading.Thread(target=job, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert order in (["a start", "a end", "b start", "b end"], ["b start", "b end", "a start", "a end"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_unload_returns_the_gpu_memory(store):
    loaded = store.load("parakeet", device="cuda")
    assert loaded.device_label.startswith("GPU (") and str(store.status("parakeet")).startswith("ready on GPU")
    held = torch.cuda.memory_allocated()
    assert held > 0
    del loaded
    store.unload("parakeet")
    assert torch.cuda.memory_allocated() < held
