#!/usr/bin/env python
"""What word confidence costs in TDT decoding: the same audio transcribed with the app's Parakeet path
(``NemoTdtBackend.transcribe``, word timestamps on) without and with NeMo's confidence (``confidence_cfg``:
frame, token and word confidence kept, entropy method), with the model shaped exactly like Parakeet-TDT-0.6B-v2
(``bench_load_and_transcribe.py`` builds and caches it) on the CPU, in one process.

    python bench/bench_confidence.py            # 60 s of audio: off/on three times
    python bench/bench_confidence.py --tiny                                 # a dry run with the tests' tiny model

The weights are random, so the transcript is nonsense, but the encoder's and decoder's work per second of audio is
the real model's; the confidence adds its work at every decoder step and per word.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_load_and_transcribe import CACHE_ENV, DEFAULT_CACHE, MODEL_FORMAT, Stopwatch, build_model, make_speech

CONFIDENCE = {
    "preserve_frame_confidence": True, "preserve_token_confidence": True, "preserve_word_confidence": True,
    "exclude_blank": True, "aggregation": "min",
    "method_cfg": {"name": "entropy", "entropy_type": "tsallis", "alpha": 0.5, "entropy_norm": "exp"},
}  # fmt: skip


def with_confidence(model, on: bool) -> None:
    """Switch NeMo's confidence in the model's decoding on or off (``change_decoding_strategy``)."""
    from omegaconf import open_dict

    cfg = copy.deepcopy(model.cfg.decoding)
    with open_dict(cfg):
        cfg.confidence_cfg = CONFIDENCE if on else {"preserve_frame_confidence": False,
                                                    "preserve_token_confidence": False,
                                                    "preserve_word_confidence": False}  # fmt: skip
    model.change_decoding_strategy(cfg, verbose=False)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0, help="audio length (default 60)")
    p.add_argument("--cache", type=Path, default=None, help=f"model and audio cache (default ${CACHE_ENV} or "
                   f"{DEFAULT_CACHE})")
    p.add_argument("--pairs", type=int, default=3, help="runs without and with confidence, alternating (default 3)")
    p.add_argument("--tiny", action="store_true", help="the tests' tiny model instead (a dry run)")
    p.add_argument("--json", type=Path, help="also write the result here")
    args = p.parse_args(argv)
    import os

    import soundfile
    import torch

    import model_store  # noqa: F401  (the hub libraries offline first)
    from offline_transcribe import LongAudioPolicy
    from offline_transcribe.backends import get_backend
    from offline_transcribe.loaders import nemo_archive

    cache = args.cache or Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
    shape = "tiny" if args.tiny else "v2-shaped"
    nemo = cache / f"parakeet-{shape}-{MODEL_FORMAT}" / f"parakeet_{shape.replace('-', '_')}.nemo"
    if not nemo.exists():
        nemo.parent.mkdir(parents=True, exist_ok=True)
        build_model(nemo, tiny=args.tiny)
    with Stopwatch() as load:
        model = nemo_archive.restore_nemo(nemo, "cpu")
    backend, policy = get_backend("nemo_tdt"), LongAudioPolicy()
    audio, _ = soundfile.read(make_speech(cache / "audio" / f"speech-{args.seconds:g}s.wav", args.seconds),
                              dtype="float32")  # fmt: skip
    result: dict = {"model": shape, "device": "cpu", "load_s": round(load.wall, 1), "threads": torch.get_num_threads(),
                    "audio_s": args.seconds, "confidence_cfg": CONFIDENCE, "runs": []}  # fmt: skip
    with torch.inference_mode():  # a warm-up, not timed
        backend.transcribe(model, audio[: 16000 * 5], policy, lambda f, m: None, [])
    for on in (False, True) * args.pairs:
        with_confidence(model, on)
        with torch.inference_mode(), Stopwatch() as watch:
            backend.transcribe(model, audio, policy, lambda f, m: None, [])
        row = {"confidence": on, "seconds": round(watch.wall, 2)}
        if on and not any(r["confidence"] for r in result["runs"]):  # the confidence is there: a number a word
            with torch.inference_mode():
                hyp = model.transcribe([audio], batch_size=1, timestamps=True, verbose=False)[0]
            hyp = hyp[0] if isinstance(hyp, list) else hyp
            row["words"] = len(hyp.timestamp.get("word", []))
            row["word_confidence"] = len(hyp.word_confidence or [])
        result["runs"].append(row)
        print(f"{args.seconds:g} s of audio, confidence {'on' if on else 'off'}: {watch.wall:.2f} s", flush=True)
    off = statistics.median(r["seconds"] for r in result["runs"] if not r["confidence"])
    on_s = statistics.median(r["seconds"] for r in result["runs"] if r["confidence"])
    result["median_off_s"], result["median_on_s"] = off, on_s
    result["cost_ratio"] = round(on_s / off, 3)  # median with / median without
    print("BENCH_RESULT " + json.dumps(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
