#!/usr/bin/env python
"""What phrase boosting costs: transcription with 10 and 1,000 boosted phrases against none, and the boosting tree's
build time, with the model shaped exactly like Parakeet-TDT-0.6B-v2 (``bench_load_and_transcribe.py`` builds and
caches it) on the CPU (or a GPU), in one process, one run each.

    python bench/bench_vocabulary.py                  # 60 s and 10 min of audio
    python bench/bench_vocabulary.py --tiny                                       # a dry run with the tests' tiny model
    python bench/bench_vocabulary.py --device cuda --json out.json                # bench/gpu_check.sh's row

Every transcription goes through the app's own path for one request: ``VocabularyRun`` (the boosting tree switched
into the decoder with ``change_decoding_strategy``, then the normal decoding restored; the phrases written as
typed afterwards) around ``NemoTdtBackend.transcribe`` (local attention above 8 minutes, as the app does). The
phrases are pseudo-words of the model's own tokenizer corpus (every one spellable). The weights are random, so the
transcript is nonsense, but the encoder's and decoder's work per second of audio is the real model's; the boosting
tree adds its work at every decoder step.

On a CPU the app adds the tree to the decoder's fusion models without rebuilding the decoding, and has it remember
each state's row (``backends/nemo_boosting_rows.py``) instead of NeMo's walk at every step; ``--nemo-walk`` adds a
row with NeMo's walk for the largest list, in the same run, to compare. Every timed run builds its tree (the cost
of a request with a new list; the app keeps the trees of the last four lists, so a repeated list costs nothing).
Before the timed runs one short transcription warms the model up, and the decoding with and without phrases is
checked to be the same strategy (``greedy_batch``, label looping), so that the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_load_and_transcribe import (
    CACHE_ENV,
    DEFAULT_CACHE,
    MODEL_FORMAT,
    Stopwatch,
    _corpus,
    build_model,
    make_speech,
)

SAME_WORDS_WEIGHT = 1e-6  # boosts nothing measurable: the words stay those of the run without phrases


def phrases(n: int, seed: int = 0) -> list[str]:
    """``n`` different phrases of one to three pseudo-words from the tokenizer's corpus, capitalised like names."""
    rng = random.Random(seed)
    words = sorted({w for line in _corpus(2000, seed=0) for w in line.split()})
    out: dict[str, None] = {}
    while len(out) < n:
        out[" ".join(rng.choice(words).capitalize() for _ in range(rng.randint(1, 3)))] = None
    return list(out)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", default=None, help="audio lengths, comma-separated (default 60,600; --tiny: 20,60)")
    p.add_argument("--counts", default="10,1000", help="phrase counts, comma-separated (default 10,1000)")
    p.add_argument("--cache", type=Path, default=None, help=f"model and audio cache (default ${CACHE_ENV} or "
                   f"{DEFAULT_CACHE})")
    p.add_argument("--tiny", action="store_true", help="the tests' tiny model instead (a dry run)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda (bench/gpu_check.sh)")
    p.add_argument("--json", type=Path, help="also write the result here")
    p.add_argument("--repeats", type=int, default=1, help="rounds of every configuration, in turn (the median is "
                   "reported; default 1)")
    p.add_argument("--same-words", action="store_true", help=f"also the largest list at weight {SAME_WORDS_WEIGHT:g}: "
                   "the tree's whole work with the words (and the decoder's steps) of the run without phrases")
    p.add_argument("--nemo-walk", action="store_true", help="also the largest list with NeMo's own walk of the tree "
                   "at every step (the rows not remembered), in the same run")
    args = p.parse_args(argv)
    args.seconds = args.seconds or ("20,60" if args.tiny else "60,600")
    import os

    import soundfile
    import torch

    import model_store  # noqa: F401  (the hub libraries offline first)
    from offline_transcribe import LongAudioPolicy
    from offline_transcribe.backends import get_backend, nemo_boosting
    from offline_transcribe.backends.nemo_boosting import tree_config
    from offline_transcribe.loaders import nemo_archive
    from offline_transcribe.vocabulary import DEFAULT_WEIGHT, Vocabulary
    from offline_transcribe.vocabulary.apply import VocabularyRun

    cache = args.cache or Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
    shape = "tiny" if args.tiny else "v2-shaped"
    nemo = cache / f"parakeet-{shape}-{MODEL_FORMAT}" / f"parakeet_{shape.replace('-', '_')}.nemo"
    if not nemo.exists():
        nemo.parent.mkdir(parents=True, exist_ok=True)
        build_model(nemo, tiny=args.tiny)
    with Stopwatch() as load:
        model = nemo_archive.restore_nemo(nemo, args.device)
    backend, policy = get_backend("nemo_tdt"), LongAudioPolicy()
    counts = [int(c) for c in args.counts.split(",")]
    lists = {n: phrases(n) for n in counts}
    result: dict = {"model": shape, "device": args.device, "load_s": round(load.wall, 1),
                    "threads": torch.get_num_threads(), "weight": DEFAULT_WEIGHT, "tree": {}, "runs": {}}

    from nemo.collections.asr.parts.context_biasing import BoostingTreeModelConfig, GPUBoostingTreeModel
    from omegaconf import OmegaConf

    for n, listed in lists.items():
        cfg = OmegaConf.structured(BoostingTreeModelConfig(**tree_config(listed, args.device.startswith("cuda"))))
        with Stopwatch() as tree:
            GPUBoostingTreeModel.from_config(cfg, tokenizer=model.tokenizer)
        model.__dict__.pop("_vocabulary_trees", None)
        with Stopwatch() as switch, backend.boosting(model, listed, DEFAULT_WEIGHT):
            pass
        with Stopwatch() as again, backend.boosting(model, listed, DEFAULT_WEIGHT):
            pass
        result["tree"][n] = {"build_s": round(tree.wall, 3), "switch_in_and_out_s": round(switch.wall, 3),
                             "again_s": round(again.wall, 4)}
        print(f"tree of {n} phrases: built in {tree.wall:.3f} s; in and out of the decoder in {switch.wall:.3f} s "
              f"the first time (built), {again.wall:.4f} s again (kept)", flush=True)

    strategies = {model.cfg.decoding.strategy}
    with backend.boosting(model, lists[counts[-1]], DEFAULT_WEIGHT):
        strategies.add(model.cfg.decoding.strategy)
    assert strategies == {"greedy_batch"}, f"not like with like: {strategies}"
    warm, _ = soundfile.read(make_speech(cache / "audio" / "speech-20s.wav", 20), dtype="float32")
    with torch.inference_mode():
        backend.transcribe(model, warm, policy, lambda f, m: None, [])  # warm-up: not timed

    def walk(tree):  # NeMo's walk at every step: the rows not remembered
        return tree

    remember = nemo_boosting.remember_rows
    configs = [(str(n), n, remember, DEFAULT_WEIGHT) for n in [0, *counts]]
    if args.same_words:  # all of the tree's work, the words (and so the decoder's steps) as without phrases
        configs.append((f"{counts[-1]}_same_words", counts[-1], remember, SAME_WORDS_WEIGHT))
    if args.nemo_walk:
        configs.append((f"{counts[-1]}_nemo_walk", counts[-1], walk, DEFAULT_WEIGHT))
    for seconds in [float(s) for s in args.seconds.split(",")]:
        audio, _ = soundfile.read(make_speech(cache / "audio" / f"speech-{seconds:g}s.wav", seconds), dtype="float32")
        times: dict[str, list[float]] = {name: [] for name, *_ in configs}
        cpu: dict[str, list[float]] = {name: [] for name, *_ in configs}  # this process's CPU seconds: less moved
        # by the other work of a shared machine than the wall time
        for repeat in range(args.repeats):  # the configurations in turn, so that the machine's load hits all alike
            for name, n, rows, weight in configs:
                nemo_boosting.remember_rows = rows
                model.__dict__.pop("_vocabulary_trees", None)  # each run builds its tree: a first request's cost
                notes: list[str] = []
                run = VocabularyRun(backend, Vocabulary(tuple(lists.get(n, ())), weight=weight), "bench", notes)
                with torch.inference_mode(), Stopwatch() as watch:
                    with run.boosting(model):
                        segments = backend.transcribe(model, audio, policy, lambda f, m: None, notes)
                    run.finish(segments)
                nemo_boosting.remember_rows = remember
                times[name].append(round(watch.wall, 2))
                cpu[name].append(round(watch.cpu, 2))
                print(f"{seconds:g} s of audio, {name} phrases (round {repeat + 1}): {watch.wall:.1f} s, CPU "
                      f"{watch.cpu:.1f} s ({seconds / watch.wall:.1f}x real time; "
                      f"{sum(len(s.words) for s in segments)} words)", flush=True)
        row = {name: round(statistics.median(values), 2) for name, values in times.items()}
        cpu_row = {name: round(statistics.median(values), 2) for name, values in cpu.items()}
        result["runs"][f"{seconds:g}"] = {
            "seconds": row, "all": times, "cpu_seconds": cpu_row, "all_cpu": cpu,
            **{f"ratio_{name}": round(row[name] / row["0"], 3) for name in row if name != "0"},
            **{f"cpu_ratio_{name}": round(cpu_row[name] / cpu_row["0"], 3) for name in row if name != "0"},
        }
    print("BENCH_RESULT " + json.dumps(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
