"""The CUDA path, run for real: transcripts, live transcription, the long-audio switch, out-of-memory recovery, the
store's state and peak-memory figures, and Canary in bfloat16, on a GPU.

Skipped without a CUDA GPU (``bench/gpu_check.sh`` runs them on a lent CUDA machine). Its dry run
(``bench/gpu_prepare.sh``) sets ``TRANSCRIBE_GPU_TEST_DEVICE=cpu`` to run the same bodies on the CPU first, so that
a typo or a missing package shows before the one GPU call; what only a GPU can show (memory figures, a real CUDA
out-of-memory error) is then left out.

Speech: the trained tiny model (``tests/data/tiny_words_tdt.nemo``) hears 30 s of held-out espeak-ng speech, made
here with ``synth_speech`` or, where espeak-ng is missing (the CUDA machine), read from
``$TRANSCRIBE_GPU_TEST_SPEECH`` (the same audio, written by ``bench/gpu_prepare.sh``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from offline_transcribe import GpuOutOfMemoryError, LongAudioPolicy, ModelStore
from offline_transcribe.transcribe import transcribe_audio

DEVICE = os.environ.get("TRANSCRIBE_GPU_TEST_DEVICE", "cuda")
ON_GPU = DEVICE.startswith("cuda")
WORDS_MODEL = Path(__file__).resolve().parent / "data" / "tiny_words_tdt.nemo"
SPEECH_ENV = "TRANSCRIBE_GPU_TEST_SPEECH"
FRAME_S = 0.08  # one encoder frame (×8 subsampling of 10 ms features)

pytestmark = pytest.mark.skipif(ON_GPU and not torch.cuda.is_available(), reason="needs a CUDA GPU")


def heldout_speech() -> np.ndarray:
    """30 s of held-out espeak-ng speech (voices and speed the tiny model never heard), 16 kHz mono float32."""
    import synth_speech as ss

    audio, _ = ss.make_long_file(np.random.default_rng(777), minutes=0.5)
    return audio.astype(np.float32)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    path = os.environ.get(SPEECH_ENV)
    if path:
        import soundfile

        audio, rate = soundfile.read(path, dtype="float32")
        assert rate == 16000, f"{path}: {rate} Hz"
        return audio
    if shutil.which("espeak-ng") is None:
        pytest.skip(f"needs espeak-ng, or ${SPEECH_ENV} naming the speech bench/gpu_prepare.sh wrote")
    return heldout_speech()


@pytest.fixture(scope="module")
def words_dir(tmp_path_factory) -> Path:
    """A models folder with the trained tiny model adopted as ``parakeet`` (as ``setup_local_models.py --from``)."""
    from conftest import install_parakeet

    return install_parakeet(tmp_path_factory.mktemp("gpu") / "local_models", WORDS_MODEL)


@pytest.fixture
def gpu_store(words_dir):
    store = ModelStore(words_dir, device=DEVICE)
    yield store
    store.close()


def on_device(model) -> bool:
    """Every parameter and buffer is on ``DEVICE``."""
    kind = torch.device(DEVICE).type
    return all(t.device.type == kind for t in [*model.parameters(), *model.buffers()])


def weights_mb(model) -> float:
    return sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6


def test_the_gpu_transcript_is_the_cpu_transcript(words_dir, gpu_store, speech):
    cpu_store = ModelStore(words_dir, device="cpu")
    try:
        ref = transcribe_audio(speech, "parakeet", store=cpu_store)
    finally:
        cpu_store.close()
    got = transcribe_audio(speech, "parakeet", store=gpu_store)
    assert len(ref.words) >= 20, ref.text  # the trained model hears words here
    assert got.text == ref.text
    assert [w.text for w in got.words] == [w.text for w in ref.words]
    shift = max(max(abs(a.start - b.start), abs(a.end - b.end)) for a, b in zip(got.words, ref.words, strict=True))
    assert shift <= FRAME_S, f"word times differ by up to {shift:.3f} s"
    assert got.device.startswith("GPU (") if ON_GPU else got.device == "CPU"


def test_live_on_the_gpu_commits_what_it_commits_on_the_cpu(words_dir, gpu_store, speech):
    """A live session with the GPU's default context (the TDT decoder's state carried between chunks on the GPU)
    commits the words the same session commits on the CPU, word times within one encoder frame (12 s of the
    speech: the CPU's steps at this context are many)."""
    from offline_transcribe.backends import get_backend
    from offline_transcribe.config import LiveOptions
    from offline_transcribe.live.session import LiveSession

    context = get_backend("nemo_tdt").stream_context("cuda")
    options = LiveOptions(context.chunk_s, context.left_s, context.right_s)

    def words(store: ModelStore) -> tuple[list, str]:
        session = LiveSession(store, "parakeet", options)
        for at in range(0, 12 * 16000, 4000):  # 0.25 s pieces
            session.feed(speech[at : at + 4000])
        view = session.close()
        assert not view.error, view.error
        return [w for segment in view.segments for w in segment.words], view.device

    cpu_store = ModelStore(words_dir, device="cpu")
    try:
        ref, _ = words(cpu_store)
    finally:
        cpu_store.close()
    got, device = words(gpu_store)
    assert len(ref) >= 6 and [w.text for w in got] == [w.text for w in ref]
    shift = max(max(abs(a.start - b.start), abs(a.end - b.end)) for a, b in zip(got, ref, strict=True))
    assert shift <= FRAME_S, f"word times differ by up to {shift:.3f} s"
    assert device.startswith("GPU (") if ON_GPU else device == "CPU"


def test_long_audio_on_the_gpu_switches_and_restores_the_settings(gpu_store, speech):
    model = gpu_store.load("parakeet").model
    enc = model.cfg.encoder
    settings = lambda: (enc.self_attention_model, list(enc.att_context_size),  # noqa: E731
                        enc.get("subsampling_conv_chunking_factor", 1))
    before, short_before = settings(), transcribe_audio(speech, "parakeet", store=gpu_store).text
    policy = LongAudioPolicy(local_attention_above_s=20.0, window_above_s=50.0, window_s=40.0, overlap_s=5.0)
    long = transcribe_audio(np.tile(speech, 2), "parakeet", store=gpu_store, policy=policy)
    assert any("local attention" in n for n in long.notes) and any("windows" in n for n in long.notes)
    assert len(long.words) >= 1.5 * len(short_before.split())
    assert settings() == before
    assert on_device(model)  # the attention modules the switch built are on the GPU too
    assert transcribe_audio(speech, "parakeet", store=gpu_store).text == short_before


def test_a_gpu_out_of_memory_frees_the_cache_and_the_next_request_works(gpu_store, speech, monkeypatch):
    model = gpu_store.load("parakeet").model
    expected = transcribe_audio(speech, "parakeet", store=gpu_store).text
    real_forward = model.encoder.forward
    reserved = {}

    def forward_out_of_memory(*args, **kwargs):
        monkeypatch.setattr(model.encoder, "forward", real_forward)  # once
        ballast = torch.empty(1 << 30, dtype=torch.uint8, device=DEVICE)  # held by this frame when it fails
        if not ON_GPU:  # the dry run on a CPU: what CUDA raises
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 64.00 TiB")
        reserved["at_failure"] = torch.cuda.memory_reserved(DEVICE)
        torch.empty(1 << 46, dtype=torch.uint8, device=DEVICE)  # 64 TiB: CUDA's own out-of-memory error
        return ballast

    monkeypatch.setattr(model.encoder, "forward", forward_out_of_memory)
    with pytest.raises(GpuOutOfMemoryError, match="ran out of memory"):
        transcribe_audio(speech, "parakeet", store=gpu_store, source="talk.wav")
    if ON_GPU:  # the failed request's memory went back to the driver, not only to PyTorch's cache
        assert torch.cuda.memory_reserved(DEVICE) <= reserved["at_failure"] - (1 << 30)
    assert transcribe_audio(speech, "parakeet", store=gpu_store).text == expected


@pytest.mark.parametrize("device", [DEVICE, f"{DEVICE}:0"] if ON_GPU else [DEVICE])
def test_the_store_and_the_transcript_give_real_gpu_figures(words_dir, speech, device):
    store = ModelStore(words_dir, device=device)
    try:
        loaded = store.load("parakeet")
        status = str(store.status("parakeet"))
        transcript = transcribe_audio(speech, "parakeet", store=store)
    finally:
        store.close()
    assert transcript.device == loaded.device_label
    if ON_GPU:
        name = torch.cuda.get_device_name(torch.device(device))
        assert status == f"ready on GPU ({name})" and loaded.device_label == f"GPU ({name})"
        total_mb = torch.cuda.get_device_properties(torch.device(device)).total_memory / 1e6
        assert weights_mb(loaded.model) < transcript.peak_gpu_memory_mb < total_mb
    else:
        assert status == "ready on CPU" and transcript.peak_gpu_memory_mb is None


def test_canary_in_bfloat16_on_the_gpu(tiny_models_dir, speech):
    store = ModelStore(tiny_models_dir, device=DEVICE, precision="half")  # what --half asks for
    try:
        loaded = store.load("canary")
        transcript = transcribe_audio(speech[: 20 * 16000], "canary", store=store)
    finally:
        store.close()
    dtype = torch.bfloat16 if ON_GPU else torch.float32  # half precision applies on a GPU only
    assert loaded.dtype == str(dtype).removeprefix("torch.")
    assert all(p.dtype == dtype for p in loaded.model.parameters()) and on_device(loaded.model)
    assert transcript.model == "canary" and transcript.audio_duration == pytest.approx(20.0)
    if ON_GPU:
        assert weights_mb(loaded.model) < transcript.peak_gpu_memory_mb
