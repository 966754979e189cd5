#!/usr/bin/env python
"""The GPU check's results in one JSON and one Markdown file, and a short table on the terminal.

    python bench/gpu_summary.py --work /tmp/gpu-check --results "$OUT" [--dry-run]

Reads what ``bench/gpu_check.sh`` left in ``--work`` (``steps.jsonl``, ``environment.json``, ``gpu_tests.xml``,
``parakeet.json``, ``canary.json``, ``live.json``, ``batch.json``) and writes ``gpu_check.json`` (all of it) and
``gpu_check.md`` (the benchmarks' tables, as ``docs/benchmarks.md`` shows them) into ``--results``. Exit status 0
when every step succeeded and no test failed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TIMED_OUT = (124, 137)


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def read_steps(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_tests(path: Path) -> dict | None:
    """Counts and the failures of a pytest JUnit XML report."""
    if not path.exists():
        return None
    cases = ET.parse(path).getroot().iter("testcase")
    out: dict = {"passed": [], "failed": {}, "skipped": {}}
    for case in cases:
        name = f"{case.get('classname', '').rpartition('.')[2]}::{case.get('name')}"
        failure = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            out["failed"][name] = (failure.get("message") or "")[:2000]
        elif skipped is not None:
            out["skipped"][name] = skipped.get("message") or ""
        else:
            out["passed"].append(name)
    return out


def headline(parakeet: dict | None, canary: dict | None) -> list[str]:
    """The figures the targets are about, one line each."""
    lines = []
    if parakeet:
        from bench_load_and_transcribe import _median_run

        floor = _median_run(parakeet["floor"])["load_s"]
        store = max(parakeet["store_first"]["load_s"], _median_run(parakeet["store_warm"])["load_s"])
        lines.append(f"Parakeet load to {parakeet['device']}: store {store:.2f} s = {store / floor:.2f}× the "
                     f"torch.load floor ({floor:.2f} s); restore_from {parakeet['restore_from']['load_s']:.2f} s")
        for row in parakeet.get("gpu_rtfx", {}).get("rows", []):
            peak = row["peak_gpu_mb"]
            lines.append(f"transcribe_file {row['seconds'] / 60:.0f} min {row['dtype']}: RTFx "
                         f"{row['seconds'] / row['wall_s']:.0f}, peak GPU {'—' if peak is None else f'{peak:.0f} MB'}")
        for row in parakeet.get("gpu_rtfx", {}).get("batch", []):
            lines.append(f"batch of {row['files']} ({row['audio_s'] / 60:.0f} min) {row['dtype']}: RTFx "
                         f"{row['audio_s'] / row['wall_s']:.0f}")
        for row in parakeet["transcribe"]["rows"]:
            ratio = statistics.median(p["engine"] / p["bare"] for p in row["pairs"])
            lines.append(f"engine / bare transcribe() at {row['seconds'] / 60:.0f} min: {ratio:.3f}×")
    if canary:
        from bench_load_and_transcribe import _median_run

        floor = _median_run(canary["floor"])["load_s"]
        for runs in canary["store"].values():
            m = _median_run(runs)
            added = m["after_load"]["peak"] - m["before"]["rss"]
            lines.append(f"Canary store load ({m['dtype']}): {m['load_s']:.2f} s = {m['load_s'] / floor:.2f}× the "
                         f"floor; host RSS +{added / 1e9:.2f} GB ({added / canary['weights_bytes']:.2f}× the bf16 "
                         f"file); peak GPU {(m.get('gpu_peak') or 0) / 1e9:.2f} GB")
        for t in canary["transcribe"].values():
            p = t["pairs"][0]
            lines.append(f"Canary {t['dtype']}: {p['tokens']} tokens, encoder {p['encoder']:.3f} s, decoder "
                         f"{p['bare'] - p['encoder']:.2f} s ({p['tokens'] / (p['bare'] - p['encoder']):.0f} tokens/s)")
    return lines


def live_headline(live: dict | None) -> list[str]:
    """The live default context's latency and compute, one line."""
    rt = (live or {}).get("realtime")
    if not rt:
        return []
    lat = sorted(rt["latencies"]) or [float("nan")]
    return [f"live, chunk {rt['context'][0]:g} s / left {rt['context'][1]:g} s / right {rt['context'][2]:g} s: "
            f"latency median {statistics.median(lat):.2f} s, max {lat[-1]:.2f} s; {rt['words']} words; "
            f"{rt['after_end_s']:.2f} s after the last audio{'; ' + rt['error'] if rt.get('error') else ''}"]


BATCH_TARGETS = {"H100": 3000.0, "H200": 5000.0}  # issue #24: RTFx of the job path, 64 one-minute files


def batch_headline(batch: dict | None) -> list[str]:
    """The job path's RTFx on the 64 one-minute files, against the targets, one line."""
    if not batch:
        return []
    targets = ", ".join(f"≥ {v:,.0f} on an {k}" for k, v in BATCH_TARGETS.items())
    return [f"job path, {batch['clips']} files of {batch['clip_seconds'][0]:g} s, batch {batch['batch_seconds']:g} s: "
            f"RTFx {batch['job_rtfx']:,.0f} (target {targets}), peak RSS {batch['job_peak_rss_mb']:.0f} MB"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--results", type=Path, required=True)
    p.add_argument("--dry-run", action="store_true")
    a = p.parse_args(argv)
    steps = read_steps(a.work / "steps.jsonl")
    tests = read_tests(a.work / "gpu_tests.xml")
    parakeet, canary = read_json(a.work / "parakeet.json"), read_json(a.work / "canary.json")
    live = read_json(a.work / "live.json")
    batch = read_json(a.work / "batch.json")
    environment = read_json(a.work / "environment.json")
    summary = {"dry_run": a.dry_run, "steps": steps, "environment": environment, "tests": tests,
               "headline": [], "parakeet": parakeet, "canary": canary, "live": live,
               "batch": batch}
    tables = [f"# GPU check{' (dry run on the CPU)' if a.dry_run else ''}", ""]
    try:
        summary["headline"] = headline(parakeet, canary) + live_headline(live) + batch_headline(batch)
        if parakeet:
            from bench_load_and_transcribe import report

            tables += ["## Parakeet-TDT-0.6B-v2-shaped model", "", report(parakeet), ""]
        if canary:
            from bench_canary import report as canary_report

            tables += ["## Canary-Qwen-2.5B-shaped SALM", "", canary_report(canary), ""]
        if live:
            from bench_live import report as live_report

            tables += ["## Live transcription (Parakeet-shaped model)", "", live_report(live), ""]
        if batch:
            from bench_batch import report as batch_report

            tables += ["## A job of one-minute files (Parakeet-shaped model)", "", batch_report(batch), ""]
    except Exception as exc:  # the raw figures are in the JSON all the same
        summary["report_error"] = f"{type(exc).__name__}: {exc}"
    (a.results / "gpu_check.json").write_text(json.dumps(summary, indent=1))
    (a.results / "gpu_check.md").write_text("\n".join(tables))

    print("\n" + "=" * 100)
    print(f"GPU check{' (DRY RUN on the CPU)' if a.dry_run else ''}: steps")
    for s in steps:
        status = s["status"]
        said = "TIMED OUT" if status in TIMED_OUT else ("ok" if status == 0 else f"FAILED ({status})")
        print(f"  {s['step']:18} {said:12} {s['seconds']:>4} s (limit {s['limit_s']} s)")
    if tests is not None:
        counts = {k: len(tests[k]) for k in ("passed", "failed", "skipped")}
        print(f"GPU tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
        for name, message in tests["failed"].items():
            print(f"  FAILED {name}: {message.splitlines()[0] if message else ''}")
        for name, reason in tests["skipped"].items():
            print(f"  skipped {name}: {reason}")
    if environment and environment.get("import_failures"):
        print(f"MISSING on this machine: {', '.join(environment['import_failures'])}")
    for line in summary["headline"]:
        print(f"  {line}")
    if "report_error" in summary:
        print(f"(tables not rendered: {summary['report_error']})")
    print(f"Written: {a.results / 'gpu_check.json'}, {a.results / 'gpu_check.md'}")
    ok = bool(steps) and all(s["status"] == 0 for s in steps if s["step"] != "versions") and not (
        tests is None or tests["failed"])
    print("GPU CHECK PASSED" if ok else "GPU CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
