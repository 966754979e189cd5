"""nemo_archive.restore_nemo: the same model as ASRModel.restore_from, and the store's errors for damaged files.

Correctness only; the speed and memory are measured by bench/bench_load_and_transcribe.py.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import offline_transcribe.models.store as store_module
from conftest import install_parakeet
from offline_transcribe import ModelFilesInvalidError
from offline_transcribe.loaders import nemo_archive, salm_checkpoint
from offline_transcribe.loaders.no_init import skip_weight_init
from offline_transcribe.models.files import read_manifest, sha256_file, write_manifest


@pytest.fixture
def private_tmpdir(tmp_path, monkeypatch) -> Path:
    """An empty folder that ``tempfile`` uses for the duration of the test (to see what is left behind)."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def restore_from(path: Path, device: str = "cpu"):
    from nemo.collections.asr.models import ASRModel

    return ASRModel.restore_from(str(path), map_location=device)


def as_bytes(t: torch.Tensor) -> bytes:
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
        assert as_bytes(a[key]) == as_bytes(b[key]), f"{key} differs"


def words(model, audio) -> tuple[str, list]:
    hyp = model.transcribe([audio], batch_size=1, timestamps=True, verbose=False)[0]
    return hyp.text, [(w["word"], w["start"], w["end"]) for w in hyp.timestamp["word"]]


def test_fast_restore_is_bit_identical_to_restore_from_and_transcribes_the_same(tiny_sources, private_tmpdir):
    nemo = tiny_sources["parakeet"]
    ref = restore_from(nemo)
    fast = nemo_archive.restore_nemo(nemo, "cpu")
    assert type(fast) is type(ref) and fast.training == ref.training
    assert OmegaConf.to_yaml(fast.cfg) == OmegaConf.to_yaml(ref.cfg)  # same keys, values and order
    assert_same_tensors(ref.state_dict(), fast.state_dict())
    assert_same_tensors(dict(ref.named_buffers()), dict(fast.named_buffers()))  # also buffers that are not saved
    assert {n for n, p in fast.named_parameters() if p.requires_grad} == {
        n for n, p in ref.named_parameters() if p.requires_grad
    }
    assert fast.tokenizer.vocab_size == ref.tokenizer.vocab_size
    ref.eval()
    fast.eval()
    audio = (np.random.default_rng(0).standard_normal(3 * 16000) * 0.1).astype(np.float32)
    assert words(fast, audio) == words(ref, audio)
    assert list(private_tmpdir.iterdir()) == []  # the temporary config/tokenizer folder is gone


def test_the_vocabulary_lists_are_left_to_the_tokenizer_and_come_back_the_same(tiny_sources, tmp_path):
    folder = tmp_path / "extracted"
    folder.mkdir()
    nemo_archive._extract_small_members(nemo_archive.read_layout(tiny_sources["parakeet"]), folder)
    full = OmegaConf.load(folder / nemo_archive.CONFIG_NAME)
    light = nemo_archive._config_without_rebuilt_lists(folder / nemo_archive.CONFIG_NAME)
    assert list(light) == list(full) and list(light.joint) == list(full.joint)  # same keys, same order
    assert list(light.labels) == [] and list(light.joint.vocabulary) == [] and len(full.joint.vocabulary) > 0
    light.labels, light.joint.vocabulary = full.labels, full.joint.vocabulary
    assert OmegaConf.to_yaml(light) == OmegaConf.to_yaml(full)  # nothing else was touched


def test_if_nemo_stopped_rebuilding_the_lists_the_model_is_built_from_the_full_config(tiny_sources, monkeypatch):
    ref = restore_from(tiny_sources["parakeet"])
    builds = []
    real_build = nemo_archive._build
    monkeypatch.setattr(nemo_archive, "_build", lambda *a: builds.append(a[-1]) or real_build(*a))
    monkeypatch.setattr(nemo_archive, "_rebuilt_lists_filled", lambda model: False)
    fast = nemo_archive.restore_nemo(tiny_sources["parakeet"], "cpu")
    assert [config is None for config in builds] == [False, True]
    assert OmegaConf.to_yaml(fast.cfg) == OmegaConf.to_yaml(ref.cfg)
    assert_same_tensors(ref.state_dict(), fast.state_dict())


def test_a_spoken_file_gives_the_same_words_and_times(tiny_sources, tmp_path):
    from app_process import speech_wav

    try:
        wav = speech_wav(tmp_path / "speech.wav", "please transcribe this audio file offline")
    except (OSError, RuntimeError) as exc:  # no espeak-ng
        pytest.skip(f"espeak-ng not available: {exc}")
    nemo = tiny_sources["parakeet"]
    assert words(nemo_archive.restore_nemo(nemo, "cpu").eval(), str(wav)) == words(restore_from(nemo).eval(), str(wav))


def test_weights_are_mapped_from_the_nemo_and_nothing_is_written_beside_it(tiny_sources, tmp_path):
    nemo = tmp_path / "models" / "parakeet.nemo"
    nemo.parent.mkdir()
    nemo.write_bytes(tiny_sources["parakeet"].read_bytes())
    model = nemo_archive.restore_nemo(nemo, "cpu")
    assert sorted(p.name for p in nemo.parent.iterdir()) == ["parakeet.nemo"]
    maps = Path("/proc/self/maps").read_text()
    assert str(nemo) in maps  # the weights are views of a private mapping of the .nemo, not a copy
    assert model.encoder is not None


def test_prefaulting_the_weights_finishes_and_changes_nothing(tiny_sources):
    nemo = tiny_sources["parakeet"]
    fast = nemo_archive.restore_nemo(nemo, "cpu", prefault=True)
    assert nemo_archive.wait_for_prefault(timeout=60)
    lazy = nemo_archive.restore_nemo(nemo, "cpu", prefault=False)
    assert_same_tensors(fast.state_dict(), lazy.state_dict())


def test_the_model_can_be_saved_again_like_a_restored_one(tiny_sources, tmp_path):
    """Artifacts (the tokenizer) are taken from the .nemo after a fast restore too."""
    nemo = tiny_sources["parakeet"]
    fast = nemo_archive.restore_nemo(nemo, "cpu")
    again = tmp_path / "again.nemo"
    fast.save_to(str(again))
    assert_same_tensors(restore_from(again).state_dict(), restore_from(nemo).state_dict())


def test_without_memory_mapping_the_weights_are_read_and_still_identical(tiny_sources, monkeypatch):
    """The path taken for a GPU, or where torch's private loader changes: a plain torch.load of the member."""
    monkeypatch.setattr(nemo_archive, "_private_load_supports_mmap", lambda: False)
    nemo = tiny_sources["parakeet"]
    assert_same_tensors(nemo_archive.restore_nemo(nemo, "cpu").state_dict(), restore_from(nemo).state_dict())


def test_a_gzip_compressed_nemo_still_loads(tiny_sources, tmp_path):
    """Old NeMo wrote .nemo files as tar.gz: they cannot be read in place and go through restore_from."""
    nemo = tiny_sources["parakeet"]
    packed = tmp_path / "old.nemo"
    packed.write_bytes(gzip.compress(nemo.read_bytes()))
    assert not nemo_archive.is_plain_tar(packed)
    assert_same_tensors(nemo_archive.restore_nemo(packed, "cpu").state_dict(), restore_from(nemo).state_dict())


def test_the_store_loads_a_replaced_nemo_afresh(store, models_dir, tmp_path):
    """Nothing derived from the .nemo is kept on disk, so a replaced file can never meet stale weights."""
    from tiny_models import build_tiny_parakeet

    first = store.load("parakeet").model
    other = tmp_path / "other.nemo"
    build_tiny_parakeet(other, seed=1)
    install_parakeet(models_dir, other)
    installed = sorted(p.name for p in models_dir.iterdir())
    store.unload("parakeet")
    second = store.load("parakeet").model
    assert sorted(p.name for p in models_dir.iterdir()) == installed
    assert_same_tensors(second.state_dict(), restore_from(other).state_dict())
    assert not torch.equal(first.encoder.layers[0].self_attn.linear_q.weight,
                           second.encoder.layers[0].self_attn.linear_q.weight)


# ---------------------------------------------------------------------------------------------------------------
# Damaged files


def weights_range(nemo: Path) -> tuple[int, int]:
    layout = nemo_archive.read_layout(nemo)
    return layout.weights_offset, layout.weights_size


def damage(nemo: Path, how: str) -> None:
    """Damage the weights member of ``nemo`` so that its tar headers still look right."""
    data = bytearray(nemo.read_bytes())
    start, size = weights_range(nemo)
    if how == "zip header":  # the first local file header of the torch zip
        data[start : start + 4] = b"XXXX"
    elif how == "zip directory":  # the end of the zip: its central directory
        data[start + size - 200 : start + size] = bytes(200)
    elif how == "pickle":  # the inside of data.pkl (the first record, stored uncompressed)
        data[start + 80 : start + 400] = bytes(range(256)) + bytes(64)
    elif how == "truncated weights":
        del data[start + size // 2 :]
    elif how == "truncated headers":
        del data[start - 100 :]
    else:
        raise ValueError(how)
    nemo.write_bytes(bytes(data))


def record_in_manifest(models_dir: Path) -> None:
    """Make the manifest agree with the damaged file (as if setup had recorded it), so only the loader can tell."""
    path = models_dir / "parakeet.nemo"
    manifest = read_manifest(models_dir)
    manifest["models"]["parakeet"]["files"]["parakeet.nemo"].update(
        size=path.stat().st_size, sha256=sha256_file(path)
    )
    write_manifest(models_dir, manifest)


@pytest.mark.parametrize("how", ["zip header", "zip directory", "pickle"])
def test_damaged_weights_are_reported_by_the_store_as_invalid_files(store, models_dir, private_tmpdir, how):
    path = models_dir / "parakeet.nemo"
    damage(path, how)
    record_in_manifest(models_dir)
    before = sorted(p.name for p in models_dir.iterdir())
    with pytest.raises(ModelFilesInvalidError) as info:
        store.load("parakeet")
    message = str(info.value)
    assert str(path) in message and "--only parakeet" in message and "--force" in message
    assert sorted(p.name for p in models_dir.iterdir()) == before  # nothing half-made beside it
    assert list(private_tmpdir.iterdir()) == []


@pytest.mark.parametrize("how", ["truncated weights", "truncated headers"])
def test_a_nemo_truncated_after_the_start_up_check_is_reported_as_invalid(store, models_dir, private_tmpdir,
                                                                          monkeypatch, how):
    """The start-up check catches truncation; if the file is cut after it, the loader's own check does."""
    path = models_dir / "parakeet.nemo"
    damage(path, how)
    record_in_manifest(models_dir)
    monkeypatch.setattr(store_module, "validate_local_models", lambda *args, **kwargs: models_dir)
    before = sorted(p.name for p in models_dir.iterdir())
    with pytest.raises(ModelFilesInvalidError) as info:
        store.load("parakeet")
    assert str(path) in str(info.value) and "truncated" in str(info.value)
    assert sorted(p.name for p in models_dir.iterdir()) == before
    assert list(private_tmpdir.iterdir()) == []


@pytest.mark.parametrize(
    ("how", "error"),
    [("truncated weights", tarfile.ReadError), ("zip directory", RuntimeError), ("no config", FileNotFoundError),
     ("empty", tarfile.ReadError)],
)
def test_restore_nemo_raises_what_restore_from_raises(tiny_sources, tmp_path, how, error):
    nemo = tmp_path / "parakeet.nemo"
    nemo.write_bytes(tiny_sources["parakeet"].read_bytes())
    if how == "no config":
        with tarfile.open(tiny_sources["parakeet"]) as src, tarfile.open(nemo, "w:") as dst:
            for m in src.getmembers():
                if not m.name.endswith("model_config.yaml"):
                    dst.addfile(m, src.extractfile(m) if m.isfile() else None)
    elif how == "empty":
        nemo.write_bytes(b"")
    else:
        damage(nemo, how)
    with pytest.raises(error):
        restore_from(nemo)
    with pytest.raises(error):
        nemo_archive.restore_nemo(nemo, "cpu")


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        nemo_archive.restore_nemo(tmp_path / "nowhere.nemo", "cpu")


# ---------------------------------------------------------------------------------------------------------------
# Pieces


def test_skip_weight_init_is_limited_to_its_thread_and_undone():
    from transformers.initialization import TORCH_INIT_FUNCTIONS  # what transformers' _init_weights calls

    original, hf_original = torch.nn.init.uniform_, TORCH_INIT_FUNCTIONS["normal_"]
    seen: dict[str, torch.Tensor] = {}

    def other_thread():
        seen["other"] = torch.nn.init.ones_(torch.zeros(3))
        seen["other hf"] = TORCH_INIT_FUNCTIONS["ones_"](torch.zeros(3))

    with skip_weight_init():
        here = torch.nn.init.ones_(torch.zeros(3))
        here_hf = TORCH_INIT_FUNCTIONS["ones_"](torch.zeros(3))
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        layer = torch.nn.Linear(4, 4, bias=False)  # built; its weight simply not written
    assert torch.equal(here, torch.zeros(3)) and torch.equal(here_hf, torch.zeros(3))
    assert torch.equal(seen["other"], torch.ones(3)) and torch.equal(seen["other hf"], torch.ones(3))
    assert torch.nn.init.uniform_ is original and TORCH_INIT_FUNCTIONS["normal_"] is hf_original
    assert layer.weight.shape == (4, 4)


def salm_from_pretrained(folder: Path, device: str = "cpu", dtype: torch.dtype = torch.float32):
    from nemo.collections.speechlm2.models import SALM

    return SALM.from_pretrained(str(folder), map_location="cpu").to(device=device, dtype=dtype).eval()


def salm_answer(model) -> list[int]:
    audio = torch.from_numpy((np.random.default_rng(0).standard_normal(2 * 16000) * 0.1).astype(np.float32))
    prompt = [{"role": "user", "content": f"Transcribe the following: {model.audio_locator_tag}"}]
    with torch.inference_mode():
        ids = model.generate(prompts=[prompt], audios=audio[None].to(model.device),
                             audio_lens=torch.tensor([audio.numel()], device=model.device), max_new_tokens=8)
    return ids[0].tolist()


def assert_same_salm(ref, fast) -> None:
    assert type(fast) is type(ref) and fast.training == ref.training
    assert_same_tensors(ref.state_dict(), fast.state_dict())
    assert_same_tensors(dict(ref.named_buffers()), dict(fast.named_buffers()))  # also buffers that are not saved
    assert fast.llm.lm_head.weight is fast.embed_tokens.weight  # still tied
    assert salm_answer(fast) == salm_answer(ref)


def test_the_store_s_canary_is_the_model_salm_from_pretrained_gives(tiny_sources, store):
    ref = salm_from_pretrained(tiny_sources["canary"])
    fast = store.load("canary").model  # no random init, weights copied in from the file
    assert_same_salm(ref, fast)


def test_canary_in_bfloat16_is_from_pretrained_s_model_cast(tiny_sources):
    """The path ``--half`` takes on a GPU (cast first, then the weights copied in), here on the CPU."""
    ref = salm_from_pretrained(tiny_sources["canary"], dtype=torch.bfloat16)
    fast = salm_checkpoint.restore_salm(tiny_sources["canary"], "cpu", torch.bfloat16)
    assert next(fast.parameters()).dtype == torch.bfloat16
    assert_same_salm(ref, fast)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_canary_goes_to_the_gpu_as_from_pretrained_s_model_would(tiny_sources, dtype):
    ref = salm_from_pretrained(tiny_sources["canary"], "cuda", dtype)
    fast = salm_checkpoint.restore_salm(tiny_sources["canary"], "cuda", dtype)
    assert next(fast.parameters()).device.type == "cuda"
    assert_same_salm(ref, fast)


@pytest.mark.parametrize("damage", ["missing", "unexpected", "misshapen"])
def test_a_salm_checkpoint_that_does_not_fit_is_refused_before_copying(tiny_sources, tmp_path, damage):
    import shutil

    from safetensors.torch import load_file, save_file

    folder = shutil.copytree(tiny_sources["canary"], tmp_path / "canary")
    weights = folder / "model.safetensors"
    state = load_file(str(weights))
    key = next(k for k in state if k.startswith("perception.encoder") and k.endswith("weight"))
    if damage == "missing":
        del state[key]
    elif damage == "unexpected":
        state["perception.extra.weight"] = torch.zeros(2)
    else:
        state[key] = torch.zeros(*state[key].shape, 2)
    save_file(state, str(weights), metadata={"format": "pt"})
    expected = {"missing": "model weights are not in the file", "unexpected": "fit nothing in the model",
                "misshapen": f"have another shape in the file (e.g. {key}"}[damage]
    with pytest.raises(salm_checkpoint.CheckpointMismatchError, match=re.escape(expected)):
        salm_checkpoint.restore_salm(folder, "cpu", torch.float32)


def test_byte_range_reads_only_its_window():
    data = bytes(range(100))
    window = nemo_archive._ByteRange(io.BytesIO(data), 10, 20)
    assert window.read() == data[10:30]
    assert window.seek(-5, io.SEEK_END) == 15 and window.read(100) == data[25:30]
    window.seek(3)
    buffer = bytearray(4)
    assert window.readinto(buffer) == 4 and bytes(buffer) == data[13:17]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fast_restore_on_the_gpu_matches_restore_from(tiny_sources):
    nemo = tiny_sources["parakeet"]
    fast = nemo_archive.restore_nemo(nemo, "cuda")
    assert all(t.is_cuda for t in fast.state_dict().values())
    assert_same_tensors(restore_from(nemo, "cuda").state_dict(), fast.state_dict())
