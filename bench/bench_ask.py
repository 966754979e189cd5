#!/usr/bin/env python
"""Benchmark Canary-Qwen's LLM mode (asking about a transcript) on the Canary-shaped SALM (random weights).

    python bench/bench_ask.py                    # quarter depth on the CPU (7 of Qwen3-1.7B's 28 layers)
    python bench/bench_ask.py --depth 1          # full depth (2.6 B parameters: a big machine)
    python bench/bench_ask.py --device cuda      # on a GPU, in bfloat16 (the app's default there)

The model is ``bench_canary.py``'s (built once into the same cache, installed with the real setup script): Qwen3-1.7B's
widths and vocabulary, LoRA r 128 on q/v, ``--depth N`` dividing the layer counts. In one fresh process, with the
store's model, it measures the app's LLM call (``SalmBackend.generate_text``: the speech adapter off, greedy, each
token streamed to a callback) on prompts of three lengths:

* 64 tokens and 64 new ones: the speed of writing an answer (tokens per second, after the first);
* 2,600 tokens: a 10-minute meeting as the LLM reads it (about 150 words a minute at about 1.3 Qwen3 tokens a
  word, a ``[mm:ss]`` time of 8 tokens per segment of about 15 words, and the instructions: an estimate, since the
  real tokenizer is not here); the time to the first token is what the user waits before the answer starts;
* 7,168 tokens: the longest prompt one pass takes (the 8,192-token budget less the 1,024 kept for the answer).

Prompts are random token ids (the tokenizer here is tiny), which costs the model exactly what text of that length
does. Each is also run as bare ``model.generate`` inside ``model.llm.disable_adapter()`` with the same prompt and
the same number of new tokens (what NVIDIA's model card shows), alternating with the app's call, to give what the
app adds as a ratio measured in the same run (the first pair of the run warms up and is not counted).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_canary import CanaryBench, _dtype, child_build
from bench_load_and_transcribe import GB, bench_arguments, gpu_peak, machine, run_bench, sync

PROMPTS = [(64, 64), (2600, 16), (7168, 16)]  # (prompt tokens, new tokens)
TEN_MINUTES = 2600


def _app_call(model: Any, prompt: list[int], new: int, device: str) -> dict:
    """The app's LLM call, timed: wall, time to the first token, time per token after it."""
    from offline_transcribe.backends import get_backend

    times: list[float] = []
    sync(device)
    started = time.perf_counter()
    out = get_backend("salm").generate_text(model, prompt, new, on_token=lambda _: times.append(time.perf_counter()))
    sync(device)
    return {"app": time.perf_counter() - started, "tokens": len(out.ids),
            "first": times[0] - started if times else None,
            "per_token": (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else None}


def _bare_call(model: Any, prompt: list[int], new: int, device: str) -> dict:
    """Bare ``generate`` with the adapter off and exactly ``new`` new tokens, timed."""
    import torch
    from transformers import GenerationConfig

    config = GenerationConfig(max_new_tokens=new, min_new_tokens=new, do_sample=False,
                              eos_token_id=model.text_eos_id, pad_token_id=model.text_pad_id)
    sync(device)
    started = time.perf_counter()
    with model.llm.disable_adapter(), torch.inference_mode():
        model.generate(prompts=torch.tensor([prompt], device=model.device), generation_config=config)
    sync(device)
    return {"bare": time.perf_counter() - started}


def child_llm(a: dict) -> dict:
    """The app's LLM call against bare ``generate`` (adapter off) on each prompt length, in pairs."""
    import torch

    import model_store  # noqa: F401  (the offline switches first, as in the app)
    from offline_transcribe import ModelStore

    model = ModelStore(a["models_dir"], device=a["device"]).load("canary").model
    vocab = len(model.tokenizer.tokenizer)
    rng = torch.Generator().manual_seed(0)
    rows = []
    for n, (prompt_len, new) in enumerate(a["prompts"]):
        prompt = torch.randint(3, vocab, (prompt_len,), generator=rng).tolist()  # no special tokens (0-2)
        pairs = []
        warm_up = n == 0  # the very first pair warms both paths up and is not counted
        for i in range(a["pairs"] + warm_up):
            pair: dict[str, Any] = {}
            for call in (_app_call, _bare_call) if i % 2 == 0 else (_bare_call, _app_call):
                pair.update(call(model, prompt, new, a["device"]))
            print(f"{prompt_len} tokens, pair {i}: app {pair['app']:.2f} s ({pair['tokens']} new), "
                  f"bare {pair['bare']:.2f} s", flush=True)
            if i or not warm_up:
                pairs.append(pair)
        rows.append({"prompt": prompt_len, "new": new, "pairs": pairs})
    return {"rows": rows, "dtype": _dtype(model), "threads": torch.get_num_threads(), "gpu_peak": gpu_peak(a["device"])}


CHILDREN = {"llm": child_llm, "build": child_build}


class AskBench(CanaryBench):
    script = Path(__file__).resolve()

    def run(self) -> dict:
        import shutil

        t0 = time.perf_counter()
        files = self.prepare_canary()
        models_dir = self.install_canary(files["folder"])
        try:
            print("Measuring (one fresh process)…", flush=True)
            r = self.run_child("llm", {"models_dir": str(models_dir), "device": self.device, "prompts": PROMPTS,
                                       "pairs": self.pairs}, "ask-llm", timeout=7200)
        finally:
            shutil.rmtree(models_dir.parent, ignore_errors=True)
        r.update(device=self.device, depth=self.depth, total_s=time.perf_counter() - t0, machine=machine())
        (self.logs / "ask-results.json").write_text(json.dumps(r, indent=1))
        return r


def _median(pairs: list[dict], key: str) -> float | None:
    values = [p[key] for p in pairs if p.get(key) is not None]
    return statistics.median(values) if values else None


def report(r: dict) -> str:
    """The results as a Markdown table."""
    lines = [
        f"Canary-shaped SALM, layers ÷ {r['depth']} of Canary-Qwen-2.5B's (random weights), on {r['device']} in "
        f"{r['dtype']}, {r['threads']} torch threads; the app's LLM call (adapter off, streamed) and bare "
        f"`generate` alternate in pairs after a warm-up pair; medians.",
        "",
        "| prompt tokens | new tokens | time to first token s | new tokens / s (after the first) | app s | bare "
        "`generate` s | app / bare |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        pairs = row["pairs"]
        first, per_token = _median(pairs, "first"), _median(pairs, "per_token")
        name = f"{row['prompt']:,}" + (" (10-min meeting)" if row["prompt"] == TEN_MINUTES else "")
        ratio = statistics.median(p["app"] / p["bare"] for p in pairs)
        lines.append(f"| {name} | {row['new']} | {first:.2f} | {1 / per_token:.2f} | {_median(pairs, 'app'):.2f} "
                     f"| {_median(pairs, 'bare'):.2f} | {ratio:.3f}× |")
    m = r["machine"]
    peak = f"; peak GPU memory {r['gpu_peak'] / GB:.2f} GB" if r.get("gpu_peak") else ""
    lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_bytes'] / 2**30:.0f} GiB RAM; load average "
              f"at the end {', '.join(f'{x:.1f}' for x in m['loadavg'])}{peak}. Whole run {r['total_s'] / 60:.1f} min."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--child``, one of its steps) and print the table."""
    p = bench_arguments(__doc__.split("\n\n")[0])
    p.add_argument("--depth", type=int, default=4, help="divide the encoder's and the LLM's layer counts by this")
    p.add_argument("--pairs", type=int, default=1, help="app/bare pairs measured after the warm-up pair")
    args = p.parse_args(argv)
    bench = AskBench(args.cache.expanduser(), args.device, args.depth, args.pairs)
    return run_bench(args, CHILDREN, bench.run, report)


if __name__ == "__main__":
    sys.exit(main())
