#!/usr/bin/env python
"""Benchmark what the OpenAI-compatible API adds to a transcription: ``POST /v1/audio/transcriptions`` against
``transcribe_file`` on the same 60 s file, with the same model in memory, in one process.

    python bench/bench_api.py            # the Parakeet-TDT-0.6B-v2-shaped model of bench_load_and_transcribe.py
    python bench/bench_api.py --tiny     # the tests' trained tiny model instead: a smoke run of a minute

The server is the app's own (``server.app.build_server``: the page, the API and the access check) on a loopback
port, run by uvicorn in a thread of the measuring process and sharing its ``ModelStore``, so both sides use the one
loaded model; ``transcribe_file`` runs in a worker thread, as the server's jobs do. The API side is the whole
request as a client sees it (``httpx``, what the ``openai`` SDK uses): the multipart upload, the copy to a
temporary file, the job line, decoding, transcription and the JSON reply. Runs alternate in pairs (API then direct,
direct then API, …) so that a slow spell on a shared machine hits both; the ratio reported is the median of the
pairs' ratios. Because a busy machine makes single runs vary by far more than the API costs, each request is also
split into its job (``transcribe_file`` inside the server, timed by the job line's log) and the rest, the API's own
work, which stays steady. The model is built and cached as for ``bench_load_and_transcribe.py``
(``~/.cache/transcribe-bench/``) and installed with the real setup script.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load_and_transcribe import (
    CHILDREN,
    MODEL_FORMAT,
    PROJECT_DIR,
    Bench,
    Stopwatch,
    _import_nemo,
    bench_arguments,
    machine,
    make_speech,
    run_bench,
)

SECONDS = 60
TINY_NEMO = PROJECT_DIR / "tests" / "data" / "tiny_words_tdt.nemo"


def _serve(app: Any) -> tuple[Any, threading.Thread, str]:
    """``app`` on a free loopback port, in a daemon thread; returns the server, its thread and its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="bench-server", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


class JobSpans(logging.Handler):
    """Collects the job line's ``job N start t=… / end t=…`` records (``time.monotonic()``) as (start, end)."""

    LINE = re.compile(r"job (\d+) (start|end) t=([0-9.]+)")

    def __init__(self) -> None:
        super().__init__()
        self.times: dict[int, list[float]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if match := self.LINE.match(record.getMessage()):
            self.times.setdefault(int(match[1]), [0.0, 0.0])[match[2] == "end"] = float(match[3])

    def last_seconds(self) -> float:
        """How long the last finished job took."""
        start, end = self.times[max(self.times)]
        return end - start


def child_api(a: dict) -> dict:
    """Pairs of (API request, ``transcribe_file``) on the same file with one loaded model."""
    _import_nemo()
    import httpx

    from offline_transcribe import ModelStore, Settings, transcribe_file
    from offline_transcribe.server.app import build_server

    store = ModelStore(a["models_dir"], device=a["device"])
    store.load("parakeet")
    jobs = JobSpans()
    logging.getLogger("transcribe.jobs").addHandler(jobs)
    logging.getLogger("transcribe.jobs").setLevel(logging.INFO)
    server, thread, url = _serve(build_server(Settings(models_dir=Path(a["models_dir"])), store))
    wav = Path(a["wav"])
    data = wav.read_bytes()

    def direct() -> tuple[Stopwatch, str]:
        with Stopwatch() as watch:
            text = worker.submit(transcribe_file, wav, "parakeet", store=store).result().text
        return watch, text

    def api(client: httpx.Client) -> tuple[Stopwatch, str]:
        with Stopwatch() as watch:
            response = client.post(f"{url}/v1/audio/transcriptions", files={"file": (wav.name, data, "audio/wav")},
                                   data={"model": "parakeet"})
            response.raise_for_status()
        return watch, response.json()["text"]

    pairs, same = [], True
    # The direct side runs in a worker thread of its own, as the server runs each job (in the process's main
    # thread, torch's OpenMP threads are several times slower on a machine whose cores are busy elsewhere).
    with httpx.Client(timeout=3600) as client, ThreadPoolExecutor(max_workers=1) as worker:
        direct(), api(client)  # warm-up, both paths
        for i in range(a["pairs"]):
            pair: dict[str, float] = {}
            texts = {}
            for step in ("api", "direct") if i % 2 == 0 else ("direct", "api"):
                watch, texts[step] = api(client) if step == "api" else direct()
                pair[step], pair[f"{step}_cpu"] = watch.wall, watch.cpu
                if step == "api":
                    pair["api_job"] = jobs.last_seconds()
                print(f"{step}: {watch.wall:.2f} s wall, {watch.cpu:.2f} s CPU", flush=True)
            same = same and texts["api"] == texts["direct"]
            pairs.append(pair)
    server.should_exit = True
    thread.join(30)
    return {"pairs": pairs, "same_text": same, "bytes": len(data)}


class ApiBench(Bench):
    """Prepares the model (the Parakeet-shaped one, or the tiny one) and the audio, then runs ``child_api``."""

    script = Path(__file__).resolve()

    def __init__(self, cache: Path, device: str, tiny: bool, pairs: int):
        super().__init__(cache, device, quick=False)
        self.tiny, self.pairs = tiny, pairs

    def run(self) -> dict:
        t0 = time.perf_counter()
        if self.tiny:
            nemo = TINY_NEMO
        else:
            nemo = self.cache / f"parakeet-v2-shaped-{MODEL_FORMAT}" / "parakeet_v2_shaped.nemo"
            if not nemo.exists():
                print(f"Building the Parakeet-TDT-0.6B-v2-shaped model once into {nemo} (a few minutes)…", flush=True)
                nemo.parent.mkdir(parents=True, exist_ok=True)
                self.run_child("build", {"out": str(nemo)}, timeout=7200)
        canary = self.cache / "tiny-canary-placeholder"
        if not canary.exists():
            self.run_child("build_canary", {"out": str(canary)})
        (self.cache / "audio").mkdir(exist_ok=True)
        wav = make_speech(self.cache / "audio" / f"speech-{SECONDS}s.wav", SECONDS)
        models_dir = self.install(nemo, canary)
        try:
            args = {"models_dir": str(models_dir), "device": self.device, "wav": str(wav), "pairs": self.pairs}
            result = self.run_child("api", args, f"api-{'tiny' if self.tiny else 'parakeet'}")
        finally:
            shutil.rmtree(models_dir.parent, ignore_errors=True)
        model = "tests' trained tiny TDT (1.7 M parameters)" if self.tiny else "Parakeet-TDT-0.6B-v2-shaped (618 M)"
        return {**result, "model": model, "device": self.device, "seconds": SECONDS, "machine": machine(),
                "total_s": time.perf_counter() - t0}


def report(r: dict) -> str:
    """The pairs' medians and the ratio as a Markdown table."""
    pairs = r["pairs"]
    direct = statistics.median(p["direct"] for p in pairs)
    api = statistics.median(p["api"] for p in pairs)
    ratio = statistics.median(p["api"] / p["direct"] for p in pairs)
    cpu_ratio = statistics.median(p["api_cpu"] / p["direct_cpu"] for p in pairs)
    own = statistics.median(p["api"] - p["api_job"] for p in pairs)
    steady = 1 + own / direct
    m = r["machine"]
    each = ", ".join(f"({p['api']:.2f}, {p['direct']:.2f})" for p in pairs)
    return "\n".join([
        f"#### API overhead ({r['model']}, {r['device']}, {r['seconds']} s of audio, a {r['bytes'] / 2**20:.1f} MB "
        f"WAV; {len(pairs)} pairs, medians)",
        "",
        "| `transcribe_file` s | `POST /v1/audio/transcriptions` s | API / direct, wall | API / direct, CPU "
        "| API's own work s (request − its job) | 1 + own work / direct | same text | target ≤ 1.05× |",
        "|---|---|---|---|---|---|---|---|",
        f"| {direct:.2f} | {api:.2f} | {ratio:.3f}× | {cpu_ratio:.3f}× | {own:.3f} | {steady:.4f}× "
        f"| {'yes' if r['same_text'] else 'NO'} | {'met' if max(ratio, steady) <= 1.05 else 'not met'} |",
        "",
        f"Pairs (API, direct s): {each}. "
        f"Machine: {m['cpu']}, {m['cores']} cores; load average at the end "
        f"{', '.join(f'{x:.1f}' for x in m['loadavg'])}. Whole run {r['total_s'] / 60:.1f} min.",
    ])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--child``, one of its steps) and print the table."""
    p = bench_arguments(__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="the tests' trained tiny model: a smoke run")
    p.add_argument("--pairs", type=int, default=5, help="how many (API, direct) pairs (default: 5)")
    args = p.parse_args(argv)
    children = {**CHILDREN, "api": child_api}
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    return run_bench(args, children, lambda: ApiBench(args.cache.expanduser(), args.device, args.tiny,
                                                      args.pairs).run(), report)


if __name__ == "__main__":
    sys.exit(main())
