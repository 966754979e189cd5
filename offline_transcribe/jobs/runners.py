"""Where a job's batches run: a ``JobRunner`` turns the items to transcribe into ``Result`` objects, and the job
(``job.run_job``) records each one as it comes back. The runner decodes, batches and transcribes; it calls
``claim`` with the items it is about to start (the ledger marks them running), and never writes the ledger or the
exports itself.

Runners are registered by name in ``RUNNERS`` (``"local"``: this process; ``"ray"``: a Ray cluster, from
``jobs.on_ray``, imported only when asked for). ``JobOptions.runner`` names one, ``JobOptions.runner_options``
carries its own options.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, TextIO

from .batcher import batches, decode_ahead
from .runner import LocalRunner, Result
from .sources import Item

if TYPE_CHECKING:
    from ..models.store import ModelStore
    from .job import JobOptions

Claim = Callable[[Sequence[Item]], None]


class JobRunner(Protocol):
    """Runs a job's items somewhere and hands back their results, in any order, one per item."""

    def results(self, todo: Sequence[Item], claim: Claim) -> Iterator[Result]:
        """The result of each item of ``todo``; ``claim`` is called with items before they are started."""
        ...

    def close(self) -> None:
        """Release what the runner holds (threads, a cluster connection); called once, however the job ended."""
        ...


class LocalJobRunner:
    """This process: files decoded ahead in threads, batched by duration, transcribed by ``LocalRunner``."""

    def __init__(self, store: ModelStore, opts: JobOptions, err: TextIO | None = None) -> None:
        from .job import default_batch_seconds  # the job's measured batch sizes (job imports this module)

        self.opts = opts
        self.runner = LocalRunner(store, opts.model_key, opts.policy, opts.speakers)
        self.batch_s = opts.batch_seconds or default_batch_seconds(store)
        self.alone_above = self.runner.policy.local_attention_above_s if self.runner.batches else 0.0

    def results(self, todo: Sequence[Item], claim: Claim) -> Iterator[Result]:
        """Decode ahead, batch, claim each batch, transcribe it here."""
        workers = self.opts.decode_workers or (1 if (os.cpu_count() or 1) <= 2 else 2)  # leave the cores to torch
        for batch in batches(decode_ahead(todo, workers), self.batch_s, self.alone_above):
            claim([d.item for d in batch])
            yield from self.runner.run(batch)

    def close(self) -> None:
        """Nothing held beyond the store's model (the store keeps it)."""


def _ray_runner(store: ModelStore, opts: JobOptions, err: TextIO | None) -> JobRunner:
    from .on_ray.runner import RayJobRunner  # Ray is optional: imported only for a Ray job

    return RayJobRunner(store, opts, err)


RUNNERS: dict[str, Callable[[ModelStore, JobOptions, TextIO | None], JobRunner]] = {
    "local": LocalJobRunner,
    "ray": _ray_runner,
}


def make_runner(store: ModelStore, opts: JobOptions, err: TextIO | None = None) -> JobRunner:
    """The runner ``opts.runner`` names."""
    try:
        factory = RUNNERS[opts.runner]
    except KeyError:
        raise ValueError(f"unknown job runner {opts.runner!r}; choose from {', '.join(RUNNERS)}") from None
    return factory(store, opts, err)
