#!/usr/bin/env python
"""How much boosting helps, and at what weight: key-phrase recall and precision (as NeMo's
``compute_key_words_fscore`` counts them) and the other words' WER on held-out clips, with the trained tiny TDT
(``tests/data/tiny_words_tdt.nemo``), for a range of weights (NeMo's ``boosting_tree_alpha``) at the app's
``CONTEXT_SCORE``.

    python bench/bench_vocabulary_recall.py                     # seeds 13 and 17, 8 clips per target each
    python bench/bench_vocabulary_recall.py --weights 0.5,1,2 --per-target 4

The clips are ``tests/vocabulary_clips.py``'s: held-out voices and speed, one target word among three others, white
noise at 3 dB SNR over the whole clip; the targets are the words the model got right least often on clips of
another seed. Decoding is the app's (``nemo_boosting.boosted_decoding`` around ``model.transcribe``), batched.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT_DIR), str(PROJECT_DIR / "tests")]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default="0.5,1,1.5,2,3")
    p.add_argument("--seeds", default="13,17")
    p.add_argument("--per-target", type=int, default=8)
    args = p.parse_args(argv)
    import torch

    import model_store  # noqa: F401  (the hub libraries offline first)
    import vocabulary_clips as vc
    from offline_transcribe.backends import nemo_boosting
    from offline_transcribe.loaders import nemo_archive

    torch.set_num_threads(1)
    model = nemo_archive.restore_nemo(PROJECT_DIR / "tests/data/tiny_words_tdt.nemo", "cpu")
    clips = []
    with tempfile.TemporaryDirectory() as cache:
        for seed in [int(s) for s in args.seeds.split(",")]:
            clips += vc.make_clips(seed, args.per_target, cache_dir=Path(cache))
    refs = [words for words, _ in clips]

    def texts() -> list[str]:
        with torch.inference_mode():
            hyps = model.transcribe([a for _, a in clips], batch_size=16, verbose=False)
        return [h.text if hasattr(h, "text") else h for h in hyps]

    rows = {"none": vc.score(refs, texts())}
    for weight in [float(w) for w in args.weights.split(",")]:
        with nemo_boosting.boosted_decoding(model, vc.TARGETS, weight):
            rows[f"{weight:g}"] = vc.score(refs, texts())
    print(f"{len(clips)} clips, {rows['none'].targets} target words ({', '.join(vc.TARGETS)}), "
          f"context score {nemo_boosting.CONTEXT_SCORE:g}")
    print("| Weight | Recall | Precision | Other words' WER |")
    print("|---|---|---|---|")
    for name, s in rows.items():
        print(f"| {name} | {s.recall:.0%} ({s.hits}/{s.targets}) | {s.precision:.0%} "
              f"({s.hits}/{s.hits + s.false_positives}) | {s.other_wer:.1%} ({s.other_errors}/{s.other_words}) |")
    result = {n: {"recall": s.recall, "precision": s.precision, "other_wer": s.other_wer} for n, s in rows.items()}
    print("BENCH_RESULT " + json.dumps(result))
    return result


if __name__ == "__main__":
    main()
