"""``--watch DIR``: a drop folder. What is in DIR is transcribed first (as a job over the folder), then every new
or changed media file once it has stopped growing (same size and mtime for ``SETTLE_S``), until Ctrl-C or SIGTERM
(exit status 0). File events come from ``watchfiles``; the job and its ledger are the folder job's, so each file
is transcribed once, and a restart picks up where it stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

from ..errors import AppError
from ..models.store import ModelStore
from .command import EXIT_FAILED, EXIT_OK
from .job import JobOptions, run_job
from .progress import summary
from .sources import Item, check_output_outside, collect, is_media, mirrored_stem

SETTLE_S = 2.0  # a file is complete once its size and mtime stayed the same this long
TICK_MS = 500


def watch(store: ModelStore, folder: Path, opts: JobOptions, verbose: bool = False, out: TextIO | None = None,
          settle_s: float = SETTLE_S) -> int:
    """Transcribe ``folder`` now and each file that arrives later, until interrupted; returns the exit status."""
    import watchfiles

    out = out or sys.stdout
    if not folder.is_dir():
        print(f"--watch: {folder} is not a folder. Give the folder that new recordings are put into.", file=out)
        return EXIT_FAILED
    previous = signal.signal(signal.SIGTERM, _interrupt)  # systemd stops a service with SIGTERM
    try:
        check_output_outside(folder, opts.out_dir)
        store.validate([opts.model_key])
        _run(store, collect([folder], opts.out_dir), opts, verbose, out)
        print(f"Watching {folder} for new files (Ctrl-C to stop).", file=sys.stderr, flush=True)
        seen: dict[Path, tuple[int, int, float]] = {}  # path -> (size, mtime_ns, since)
        for changes in watchfiles.watch(folder, yield_on_timeout=True, rust_timeout=TICK_MS, raise_interrupt=False,
                                        debounce=TICK_MS, step=50):
            for _change, raw in changes:
                path = Path(raw)
                rel = path.relative_to(folder)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if path.is_dir():  # a new folder: files put in before its watch began raise no event
                    for file in path.rglob("*"):
                        if is_media(file) and not any(p.startswith(".") for p in file.relative_to(folder).parts):
                            seen.setdefault(file, (-1, -1, time.monotonic()))
                elif is_media(path):
                    seen.setdefault(path, (-1, -1, time.monotonic()))
            ready = _settled(seen, settle_s)
            if ready:
                items = [Item(p, mirrored_stem(p.relative_to(folder), p)) for p in sorted(ready)]
                _run(store, items, opts, verbose, out)
    except AppError as exc:  # refused, or the model missing
        print(str(exc), file=out)
        return EXIT_FAILED
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    print("Stopped watching. Files that were being transcribed are done on the next start.", file=sys.stderr,
          flush=True)
    return EXIT_OK


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _settled(seen: dict[Path, tuple[int, int, float]], settle_s: float) -> list[Path]:
    """Files whose size and mtime have not changed for ``settle_s`` (taken out of ``seen``); gone files dropped."""
    now, ready = time.monotonic(), []
    for path, (size, mtime, since) in list(seen.items()):
        try:
            st = os.stat(path)
        except OSError:
            del seen[path]
            continue
        if (st.st_size, st.st_mtime_ns) != (size, mtime):
            seen[path] = (st.st_size, st.st_mtime_ns, now)
        elif now - since >= settle_s and st.st_size > 0:
            ready.append(path)
            del seen[path]
    return ready


def _run(store: ModelStore, items: list[Item], opts: JobOptions, verbose: bool, out: TextIO) -> None:
    counts = run_job(items, store, opts, out=out, verbose=verbose)
    if counts.finished:
        print(summary(counts, opts.out_dir), file=out, flush=True)
    with contextlib.suppress(Exception):
        out.flush()
