"""Parakeet-TDT live, by buffered chunks: the way NeMo's ``speech_to_text_streaming_infer_rnnt.py`` streams an
offline model.

Every step encodes ``left`` context + one new ``chunk`` + ``right`` context (the encoder sees a little of the
future), decodes only the chunk's encoder frames with the TDT decoder's state carried over from the step before,
and then decodes the right context from that state as a look-ahead that is shown but never kept. Phrases given to
the stream are boosted in it alone, through NeMo's per-stream biasing (``nemo_boosting.StreamBoost``). The audio kept
is bounded by the context, so every second of audio costs the same however long the stream runs.

Tokens become words with NeMo's own timestamp code (``decoding.compute_rnnt_timestamps``, as offline). A word is
committed when the next word has begun, or when ``SETTLE_S`` of decoded audio followed it with nothing new and the
look-ahead does not continue it; until then it is tentative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..errors import ModelLoadError
from ..types import Word
from . import nemo_boosting
from .base import StreamContext, StreamStep

SETTLE_S = 0.4  # decoded audio after a word with no new token before the word is final (unless the next one began)


class Token(NamedTuple):
    """One decoded token: its id, the encoder frame it was emitted at (from the stream's start) and its duration."""

    id: int
    frame: int
    duration: int


@dataclass(frozen=True)
class Frames:
    """The model's time grid: samples per encoder frame and seconds per frame."""

    samples: int  # audio samples per encoder frame (1280 at 16 kHz for FastConformer's x8 subsampling)
    seconds: float  # what NeMo multiplies frame offsets by for timestamps (window stride x subsampling)

    @classmethod
    def of(cls, model: Any) -> Frames:
        pre = model.cfg.preprocessor
        factor = int(model.encoder.subsampling_factor)
        hop = round(pre.sample_rate * pre.window_stride)
        return cls(hop * factor, float(pre.window_stride) * factor)

    def count(self, seconds: float) -> int:
        return max(0, round(seconds / self.seconds))


class TdtStream:
    """One live stream through a Parakeet-TDT model (see the module docstring); implements ``ChunkStream``."""

    def __init__(self, model: Any, context: StreamContext, phrases: Sequence[str] = (), weight: float = 1.0):
        _decoding_computer(model)  # fail at once, with a message, for a decoding that cannot stream
        boosted = nemo_boosting.spell(model.tokenizer, phrases).boosted if weight > 0 else ()
        self._boost = nemo_boosting.StreamBoost(model, boosted, weight) if boosted else None
        self.frames = Frames.of(model)
        self.chunk_f = max(1, self.frames.count(context.chunk_s))
        self.left_f, self.right_f = self.frames.count(context.left_s), self.frames.count(context.right_s)
        self.context = StreamContext(*(f * self.frames.seconds for f in (self.chunk_f, self.left_f, self.right_f)))
        self._settle_f = self.frames.count(SETTLE_S)
        self._audio = np.zeros(0, np.float32)  # samples from absolute index self._audio_at on
        self._audio_at = 0
        self._decoded = 0  # samples decoded for good (a whole number of chunks until the last step)
        self._state = None  # the TDT decoder's state after the last decoded chunk
        self._pending: list[Token] = []  # tokens of the word not yet committed

    # -- ChunkStream ----------------------------------------------------------------------------------------------

    def accept(self, audio: np.ndarray) -> None:
        self._audio = np.concatenate([self._audio, np.asarray(audio, np.float32).reshape(-1)])

    def ready(self) -> bool:
        return self._received - self._decoded >= (self.chunk_f + self.right_f) * self.frames.samples

    def step(self, model: Any) -> StreamStep:
        return self._step(model, last=False)

    def finish(self, model: Any) -> StreamStep:
        committed: list[Word] = []
        while self.ready():
            committed += self._step(model, last=False).committed
        result = self._step(model, last=True)
        if self._boost is not None:
            self._boost.close(model)
        return StreamStep(tuple(committed) + result.committed, (), result.decoded_s)

    # -- one step -------------------------------------------------------------------------------------------------

    @property
    def _received(self) -> int:
        return self._audio_at + len(self._audio)

    def _step(self, model: Any, last: bool) -> StreamStep:
        import torch

        fs = self.frames.samples
        start = max(0, self._decoded - self.left_f * fs)
        end = self._received if last else self._decoded + (self.chunk_f + self.right_f) * fs
        window = self._audio[start - self._audio_at : end - self._audio_at]
        left = (self._decoded - start) // fs
        tokens: list[Token] = []
        ahead: list[Token] = []
        if len(window) > (self._decoded - start):  # there is new audio (the last step may have none)
            device = next(model.parameters()).device
            model.eval()  # NeMo's transcribe() leaves encoder, decoder and joint in training mode (dropout, batch norm)
            with torch.inference_mode():
                signal = torch.from_numpy(np.ascontiguousarray(window)).to(device)[None]
                length = torch.tensor([signal.shape[1]], device=device)
                encoded, encoded_len = model(input_signal=signal, input_signal_length=length)
                encoded = encoded.transpose(1, 2)[:, left:]  # [1, frames, features] from the chunk on
                available = int(encoded_len[0]) - left
                chunk = available if last else min(self.chunk_f, available)
                biasing = {} if self._boost is None else {"multi_biasing_ids": self._boost.ids(model)}
                computer = _decoding_computer(model)
                hyps, state = computer(
                    x=encoded, out_len=torch.tensor([chunk], device=device), prev_batched_state=self._state, **biasing
                )
                tokens = _tokens(hyps)
                if not last and available > chunk:  # the look-ahead: decoded from the new state, then dropped
                    ahead_hyps, _ = computer(
                        x=encoded[:, chunk:available], out_len=torch.tensor([available - chunk], device=device),
                        prev_batched_state=state, **biasing,
                    )
                    ahead = _tokens(ahead_hyps)
            self._state = state
        self._decoded = self._received if last else self._decoded + self.chunk_f * fs
        self._drop_audio_before(self._decoded - self.left_f * fs)
        return self._words(model, tokens, ahead, last)

    def _drop_audio_before(self, index: int) -> None:
        if index > self._audio_at:
            self._audio = self._audio[index - self._audio_at :].copy()
            self._audio_at = index

    def _words(self, model: Any, tokens: list[Token], ahead: list[Token], last: bool) -> StreamStep:
        """Commit the words that are complete; the rest (and the look-ahead) is tentative."""
        decoding = model.decoding
        self._pending += tokens
        starts = [i for i, tok in enumerate(self._pending) if i > 0 and _starts_word(decoding, tok.id)]
        cut = len(self._pending) if last else (starts[-1] if starts else 0)
        if not last and not starts and self._pending:
            decoded_f = self._decoded // self.frames.samples
            end_f = self._pending[-1].frame + self._pending[-1].duration
            continued = bool(ahead) and not _starts_word(decoding, ahead[0].id)
            if decoded_f - end_f >= self._settle_f and not continued:
                cut = len(self._pending)
        done, self._pending = self._pending[:cut], self._pending[cut:]
        decoded_s = self._decoded / (self.frames.samples / self.frames.seconds)
        return StreamStep(self._to_words(decoding, done), self._to_words(decoding, self._pending + ahead), decoded_s)

    def _to_words(self, decoding: Any, tokens: list[Token]) -> tuple[Word, ...]:
        """Words with times in seconds, from NeMo's own timestamp code (the offline path's words)."""
        if not tokens:
            return ()
        from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis

        hyp = Hypothesis(
            score=0.0,
            y_sequence=[t.id for t in tokens],
            timestamp=[t.frame for t in tokens],
            token_duration=[t.duration for t in tokens],
        )
        words = decoding.compute_rnnt_timestamps(hyp, "word").timestamp["word"]
        s = self.frames.seconds
        return tuple(Word(w["word"], w["start_offset"] * s, w["end_offset"] * s) for w in words)


def _tokens(batched_hyps: Any) -> list[Token]:
    """The tokens of the first (only) hypothesis of a batch, with frames counted from the stream's start."""
    from nemo.collections.asr.parts.utils.rnnt_utils import batched_hyps_to_hypotheses

    hyp = batched_hyps_to_hypotheses(batched_hyps, batch_size=1)[0]
    durations = hyp.token_duration.tolist() if len(hyp.token_duration) else [1] * len(hyp.y_sequence)
    return [Token(*t) for t in zip(hyp.y_sequence.tolist(), hyp.timestamp.tolist(), durations, strict=True)]


def _starts_word(decoding: Any, token_id: int) -> bool:
    """NeMo's word-start rule for subword tokenizers: the piece carries the word marker and is not punctuation."""
    piece = decoding.decode_ids_to_tokens([token_id])[0]
    text = decoding.decode_ids_to_str([token_id])
    return piece != text and text not in (decoding.supported_punctuation or ())


def _decoding_computer(model: Any) -> Any:
    """The TDT label-looping decoder that carries its state between chunks, with token durations switched on.

    Durations (needed for word end times) are recorded only when the decoding computes timestamps; that is
    switched on the way ``model.transcribe(timestamps=True)`` does it, which the offline path does anyway.
    """
    from omegaconf import open_dict

    if model.cfg.decoding.get("compute_timestamps", None) is not True:
        with open_dict(model.cfg.decoding):
            model.cfg.decoding.compute_timestamps = True
        model.change_decoding_strategy(model.cfg.decoding, verbose=False)
    computer = getattr(model.decoding.decoding, "decoding_computer", None)
    if computer is None:
        strategy = model.cfg.decoding.get("strategy")
        raise ModelLoadError(
            f"This model's decoding ({strategy!r}) cannot stream: live transcription needs NeMo's greedy_batch "
            "decoding with label looping (Parakeet-TDT's default). Transcribe files instead."
        )
    return computer
