"""The transcriber and the backends with tiny real models: formats, long audio, stitching, Canary windows, errors."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

import offline_transcribe.transcribe as transcribe_module
from offline_transcribe import GpuOutOfMemoryError, LongAudioPolicy, ModelStore, Word
from offline_transcribe.audio import SAMPLE_RATE, write_wav
from offline_transcribe.backends.nemo_tdt import switch_attention
from offline_transcribe.backends.windows import plan_windows, quiet_cuts, stitch_windows, words_to_segments
from offline_transcribe.errors import AudioDecodeError
from offline_transcribe.transcribe import transcribe_audio, transcribe_file


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Bursts of harmonic tones separated by pauses: deterministic, not silent, compresses well."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 120 + 80 * np.sin(2 * np.pi * 0.3 * t)
    voice = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / SAMPLE_RATE) / k for k in range(1, 6))
    gate = (np.sin(2 * np.pi * 1.1 * t + rng.uniform(0, 6)) > -0.2).astype(np.float32)
    return (0.2 * voice * gate).astype(np.float32)


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("engine") / "clip.wav"
    write_wav(path, speechlike(6.0))
    return path


def test_parakeet_result_has_text_words_segments_and_costs(tiny_store, wav):
    result = transcribe_file(wav, "parakeet", store=tiny_store)
    assert result.model == "parakeet" and result.model_name == "Parakeet-TDT-0.6B-v2"
    assert result.audio_duration == pytest.approx(6.0, abs=0.01)
    assert result.device == "CPU" and result.timestamp_level == "word" and result.source == "clip.wav"
    assert result.processing_time > 0 and result.real_time_factor > 0
    assert result.text == " ".join(s.text for s in result.segments)
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= result.audio_duration + 0.1 for w in result.words)


@pytest.mark.parametrize("fmt", ["flac", "mp3", "m4a", "ogg", "webm"])
def test_each_container_gives_the_same_text_as_the_wav(tiny_store, wav, tmp_path, fmt):
    """Lossless formats must match exactly; lossy codecs may differ only slightly on a random model."""
    out = tmp_path / f"clip.{fmt}"
    codec = {
        "flac": [], "mp3": ["-b:a", "192k"], "m4a": ["-b:a", "192k"], "ogg": ["-q:a", "8"], "webm": ["-b:a", "128k"]
    }
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), *codec[fmt], str(out)], check=True)
    reference = transcribe_file(wav, "parakeet", store=tiny_store)
    result = transcribe_file(out, "parakeet", store=tiny_store)
    if fmt == "flac":
        assert result.text == reference.text
    else:
        assert result.audio_duration == pytest.approx(reference.audio_duration, abs=0.1)


def test_stereo_and_other_rates_are_converted(tiny_store, wav, tmp_path):
    stereo = tmp_path / "stereo44k.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-ac", "2", "-ar", "44100", str(stereo)], check=True)
    result = transcribe_file(stereo, "parakeet", store=tiny_store)
    assert result.audio_duration == pytest.approx(6.0, abs=0.02)


@pytest.mark.parametrize(
    ("content", "phrase"),
    [(b"", "is empty"), (b"\x00\x01garbage" * 100, "could not be read as audio"), ("missing", "was not found")],
)
def test_unreadable_inputs_give_a_clear_message(tiny_store, tmp_path, content, phrase):
    path = tmp_path / "bad.wav"
    if content != "missing":
        path.write_bytes(content)
    with pytest.raises(AudioDecodeError, match=phrase):
        transcribe_file(path, "parakeet", store=tiny_store)


def test_truncated_file_still_transcribes_what_it_has(tiny_store, wav, tmp_path):
    mp3 = tmp_path / "cut.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), str(mp3)], check=True)
    data = mp3.read_bytes()
    mp3.write_bytes(data[: len(data) // 2])
    result = transcribe_file(mp3, "parakeet", store=tiny_store)
    assert 1.0 < result.audio_duration < 5.0


def test_silence_needs_no_model_and_says_so(tmp_path):
    path = tmp_path / "silence.wav"
    write_wav(path, np.zeros(SAMPLE_RATE * 3, dtype=np.float32))
    result = transcribe_file(path, "parakeet", store=ModelStore(tmp_path / "no-models-needed"))
    assert result.text == "" and "silent" in result.notes[0]


def test_long_audio_path_runs_and_restores_the_attention_settings(tiny_store):
    model = tiny_store.load("parakeet").model
    before = (model.cfg.encoder.self_attention_model, list(model.cfg.encoder.att_context_size))
    policy = LongAudioPolicy(local_attention_above_s=5, window_above_s=15, window_s=8, overlap_s=2)
    result = transcribe_audio(speechlike(20.0), "parakeet", store=tiny_store, policy=policy)
    assert any("local attention" in n for n in result.notes) and any("windows" in n for n in result.notes)
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert (model.cfg.encoder.self_attention_model, list(model.cfg.encoder.att_context_size)) == before
    assert model.encoder.self_attention_model == before[0]


def _state_bytes(model) -> dict[str, bytes]:
    return {k: v.detach().contiguous().reshape(-1).numpy().tobytes() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    ("start", "target"),
    [("rel_pos", "rel_pos_local_attn"), ("rel_pos_local_attn", "rel_pos"), ("rel_pos", "abs_pos"),
     ("abs_pos", "rel_pos")],  # the last one adds parameters: switched the plain way
)
def test_switching_attention_gives_the_model_nemo_s_own_switch_gives(tiny_sources, start, target):
    import torch
    from nemo.collections.asr.models import ASRModel

    ref, fast = (ASRModel.restore_from(str(tiny_sources["parakeet"]), map_location="cpu") for _ in range(2))
    for model in (ref, fast):
        model.change_attention_model(start, [4, 4])
    torch.manual_seed(0)
    ref.change_attention_model(target, [4, 4])
    torch.manual_seed(0)
    switch_attention(fast, target, [4, 4])
    assert fast.cfg.encoder == ref.cfg.encoder
    assert [type(layer.self_attn) for layer in fast.encoder.layers] == [type(lr.self_attn) for lr in ref.encoder.layers]
    assert _state_bytes(fast) == _state_bytes(ref)


def test_attention_settings_are_restored_even_when_transcription_fails(tiny_store, monkeypatch):
    model = tiny_store.load("parakeet").model
    before = model.cfg.encoder.self_attention_model

    def boom(*args, **kwargs):
        assert model.cfg.encoder.self_attention_model == "rel_pos_local_attn"
        raise RuntimeError("simulated failure inside the model")

    monkeypatch.setattr(model, "transcribe", boom)
    policy = LongAudioPolicy(local_attention_above_s=1)
    with pytest.raises(RuntimeError, match="simulated"):
        transcribe_audio(speechlike(3.0), "parakeet", store=tiny_store, policy=policy)
    assert model.cfg.encoder.self_attention_model == before


def test_gpu_out_of_memory_is_a_readable_error_and_the_next_request_works(tiny_store, monkeypatch):
    import torch

    model = tiny_store.load("parakeet").model
    real = model.transcribe
    freed = []
    monkeypatch.setattr(transcribe_module, "free_accelerator_memory", lambda: freed.append(1))

    def oom_once(*args, **kwargs):
        monkeypatch.setattr(model, "transcribe", real)
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(model, "transcribe", oom_once)
    with pytest.raises(GpuOutOfMemoryError, match="ran out of memory") as info:
        transcribe_audio(speechlike(3.0), "parakeet", store=tiny_store, source="talk.wav")
    assert "talk.wav" in str(info.value) and freed == [1]
    assert transcribe_audio(speechlike(3.0), "parakeet", store=tiny_store).audio_duration == 3.0


def test_a_gpu_out_of_memory_lets_go_of_what_the_failed_pass_held_before_freeing_memory(tiny_store, monkeypatch):
    """The failed pass's locals (on a GPU: its tensors) are released before the cache is emptied, not when the
    error is finally dropped, so the memory really goes back (the GPU variant: tests/test_gpu.py)."""
    import weakref

    import torch

    model = tiny_store.load("parakeet").model
    real = model.transcribe
    refs = []
    alive_when_freed = []
    monkeypatch.setattr(transcribe_module, "free_accelerator_memory",
                        lambda: alive_when_freed.append(refs[0]() is not None))

    def oom_once(*args, **kwargs):
        monkeypatch.setattr(model, "transcribe", real)
        activations = torch.zeros(1000)  # what a pass holds when it runs out of memory
        refs.append(weakref.ref(activations))
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(model, "transcribe", oom_once)
    with pytest.raises(GpuOutOfMemoryError):
        transcribe_audio(speechlike(3.0), "parakeet", store=tiny_store)
    assert alive_when_freed == [False]


def test_canary_windows_are_bounded_cut_at_quiet_points_and_batched(tiny_store, monkeypatch):
    model = tiny_store.load("canary").model
    batches = []
    real = model.generate

    def spy(*args, **kwargs):
        batches.append(kwargs["audio_lens"].tolist())
        assert all(p[0]["content"] == "Transcribe the following: " + model.audio_locator_tag for p in kwargs["prompts"])
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "generate", spy)
    assert LongAudioPolicy().canary_window_s == 40.0  # the model's trained length
    policy = LongAudioPolicy(canary_window_s=10.0, borrow_word_times=False)  # short windows: a quick CPU test
    audio = speechlike(25.0)
    result = transcribe_audio(audio, "canary", store=tiny_store, policy=policy)
    lens = [n for b in batches for n in b]
    assert max(lens) <= 10 * SAMPLE_RATE and sum(lens) == 25 * SAMPLE_RATE
    assert len(lens) == len(quiet_cuts(audio, 10.0)) > 1
    assert [len(b) for b in batches] == [4] * (len(lens) // 4) + ([len(lens) % 4] if len(lens) % 4 else [])
    assert result.timestamp_level == "window" and any("per window" in n for n in result.notes)


def test_quiet_cuts_land_in_pauses():
    audio = speechlike(95.0)
    windows = quiet_cuts(audio, 40.0)
    assert windows[0][0] == 0 and windows[-1][1] == pytest.approx(95.0)
    for (_, end), (start, _) in zip(windows, windows[1:], strict=False):
        assert end == start
        i = int(end * SAMPLE_RATE)
        assert np.abs(audio[i - 800 : i + 800]).max() < 0.05  # a pause, not the middle of a tone burst
    assert all(e - s <= 40.0 for s, e in windows)


def test_plan_windows_cover_the_audio_with_the_overlap():
    policy = LongAudioPolicy(window_s=100, overlap_s=10)
    windows = plan_windows(250, policy)
    assert windows[0] == (0, 100) and windows[-1][1] == 250
    for (_, end), (start, _) in zip(windows, windows[1:], strict=False):
        assert end - start == 10


def words_every(start: float, end: float, step: float = 0.5, length: float = 0.3, label: str = "w") -> list[Word]:
    times = np.arange(start, end, step)
    return [Word(f"{label}{t:.1f}", float(t), float(t + length)) for t in times if t + length <= end]


def test_stitching_keeps_each_word_once_in_order_with_times_monotonic():
    truth = words_every(0.0, 60.0)
    windows = [(0.0, 25.0), (20.0, 45.0), (40.0, 60.0)]
    # Each window hears the words fully inside it, with small disagreements in timing.
    heard = [
        (s, e, [Word(w.text, w.start + 0.02 * i, w.end + 0.02 * i) for w in truth if s <= w.start and w.end <= e])
        for i, (s, e) in enumerate(windows)
    ]
    stitched = stitch_windows(heard)
    assert [w.text for w in stitched] == [w.text for w in truth]
    starts = [w.start for w in stitched]
    assert starts == sorted(starts)


def test_words_become_segments_at_sentence_ends_and_pauses():
    words = [Word("Hello", 0, 0.4), Word("there.", 0.5, 0.9), Word("New", 1.0, 1.2), Word("bit", 3.0, 3.2)]
    segments = words_to_segments(words)
    assert [s.text for s in segments] == ["Hello there.", "New", "bit"]
    assert segments[0].start == 0 and segments[0].end == 0.9
