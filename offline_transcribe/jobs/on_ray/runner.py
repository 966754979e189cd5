"""``RayJobRunner``: the job's items as a Ray Data pipeline, the results streamed back to the driver.

    pending items -> decode (CPU tasks) -> map_batches(Transcriber, actor pool) -> iter_rows on the driver

The driver claims the items in the ledger before the pipeline starts and records each result as it arrives (the
job's own ``_record``: the exports written by the same code, atomically, and the ledger row). A transcriber whose
process dies is restarted by Ray (``max_restarts``) and its batch runs again; a result that arrives twice for one
item (a batch re-run after its first answer got through) is dropped, so nothing is written twice. A failed batch
(an error of the model itself) stops the job with the message; a bad file is a failed row, as in the local job.
"""

from __future__ import annotations

import functools
import logging
import math
import pickle
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TextIO

import ray

from ...models.registry import DIARIZER
from ..batcher import Decoded
from ..runner import Result
from ..runners import Claim
from ..sources import Item
from .cluster import ClusterError, Connection, Pool, check_nodes, connect, size_pool
from .options import RayOptions
from .transcriber import Transcriber, decode_row

if TYPE_CHECKING:
    from ...models.store import ModelStore
    from ..job import JobOptions

log = logging.getLogger("transcribe.jobs")

BATCH_FILES = {"cpu": 8, "cuda": 64}  # files per transcriber call (each call groups them by --batch-seconds)
MAX_RESTARTS = 4  # a transcriber's process may die this many times (its batches rerun each time)


class RayJobRunner:
    """Runs a job's batches on a Ray cluster (``JobRunner``)."""

    def __init__(self, store: ModelStore, opts: JobOptions, err: TextIO | None = None) -> None:
        self.store, self.opts, self.err = store, opts, err or sys.stderr
        self.options = opts.runner_options if isinstance(opts.runner_options, RayOptions) else RayOptions()
        self.connection: Connection | None = None

    def results(self, todo: Sequence[Item], claim: Claim) -> Iterator[Result]:
        """Connect, size the pool, check the nodes, then stream each item's result back."""
        from ..job import BATCH_SECONDS

        self.connection = connect(self.options)
        pool = size_pool(self.options)
        keys = [self.opts.model_key, *([DIARIZER] if self.opts.speakers is not None else [])]
        nodes = check_nodes(pool, self.opts.out_dir, self.store.models_dir, keys, todo[0].path if todo else None)
        where = "a local Ray instance" if self.connection.local else f"Ray at {self.connection.address}"
        line = f"[ray] {where}: {nodes} node{'s' if nodes != 1 else ''}, {pool.describe()}"
        if self.connection.dashboard:
            line += f"; dashboard {self.connection.dashboard}"
        print(line, file=self.err, flush=True)
        by_key = {item.key: item for item in todo}
        claim(todo)
        seen: set[str] = set()
        rows = iter(self._dataset(todo, pool, BATCH_SECONDS).iter_rows())  # a generator: it can be closed
        try:
            for row in rows:
                key = row["key"]
                if key in seen or key not in by_key:
                    continue  # a batch that ran again after its results got through: written once only
                seen.add(key)
                transcript, error = pickle.loads(row["result"])
                yield Result(Decoded(by_key[key], None, error, 0.0), transcript, error)
        except ray.exceptions.RayError as exc:
            raise ClusterError(_ray_message(exc)) from exc
        finally:
            rows.close()  # a pipeline left early (an error, Ctrl-C, a consumer that stopped) is told to stop now
        for key in by_key.keys() - seen:  # never answered (not expected): failed, so the ledger stays consistent
            yield Result(Decoded(by_key[key], None, None, 0.0), None,
                         "The Ray cluster returned no result for this file; run the job again to retry it.")

    def _dataset(self, todo: Sequence[Item], pool: Pool, batch_seconds: dict[str, float]) -> ray.data.Dataset:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        ctx.max_consecutive_actor_init_deaths = 0  # a node without the model fails the job at once
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        files = self.options.batch_files or BATCH_FILES[pool.device]
        rows = [{"item": pickle.dumps(item)} for item in todo]
        blocks = max(1, math.ceil(len(rows) / files))
        ds = ray.data.from_items(rows, override_num_blocks=blocks)
        ds = ds.map(decode_row)
        keys = [self.opts.model_key, *([DIARIZER] if self.opts.speakers is not None else [])]
        return ds.map_batches(
            Transcriber,
            fn_constructor_kwargs={
                "models_dir": str(self.store.models_dir), "model_key": self.opts.model_key, "keys": keys,
                "device": pool.device, "threads": max(1, int(pool.cpus)),
                "batch_seconds": self.opts.batch_seconds or batch_seconds[pool.device],
                "policy": self.opts.policy, "speakers": self.opts.speakers},
            batch_size=files, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=min(pool.actors, blocks)),
            num_cpus=pool.cpus, num_gpus=pool.gpus or None,
            ray_remote_args_fn=functools.partial(dict, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS))

    def close(self) -> None:
        """Stop the local instance this job started, or leave the cluster (its work for this job stops)."""
        if self.connection is not None and self.connection.owned:
            _wait_for_datasets()
            ray.shutdown()
        self.connection = None


DATASET_STOP_S = 30.0  # how long a stopped pipeline may take to end before Ray is shut down under it


def _wait_for_datasets(timeout: float = DATASET_STOP_S) -> None:
    """Let Ray Data's pipelines end before this process leaves Ray. A pipeline runs in a thread of its own; when the
    iteration is broken off (Ctrl-C), Ray Data asks it to stop and waits only 2 s. Shutting Ray down while it still
    runs makes Ray end the whole process at its next call ("The core worker has already been shutdown"), exit status
    1, before the job could say it stopped (seen on a loaded 2-core machine)."""
    try:  # Ray Data's own class for a running pipeline (ray is pinned in requirements; any other: no wait)
        from ray.data._internal.execution.streaming_executor import StreamingExecutor
    except ImportError:
        return
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if isinstance(thread, StreamingExecutor) and thread.is_alive():
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("A Ray Data pipeline had not ended %.0f s after the job stopped", timeout)


def _ray_message(exc: BaseException) -> str:
    """The user's part of a Ray error: the last lines of the worker's error (ours say what to do)."""
    text = str(exc)
    marker = "NodeSetupError: "
    if marker in text:
        return text[text.rindex(marker) + len(marker):].strip()
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "The job stopped on the Ray cluster: " + "\n".join(lines[-6:])
