"""The Ray side of a job before any work: connect, size the actor pool against the cluster's resources, and check
every node (the output folder is the driver's, shared and writable there; the model's files are in place).

Each failure is a ``ClusterError`` whose message names the node and the fix; nothing is downloaded, and a pool that
does not fit is refused here rather than left waiting for resources forever.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ray

from ...errors import JobRefusedError, LocalModelError
from ...models.files import validate_local_models
from ..outputs import TMP_DIR
from .options import RayOptions

log = logging.getLogger("transcribe.jobs")

DECODE_CPUS = 1.0  # logical CPUs left free for the read and decode tasks (a pool that takes them all hangs)
PROBE_TIMEOUT_S = 120.0


class ClusterError(JobRefusedError):
    """The cluster cannot run this job (unreachable, too small, a node without the model or the output folder)."""


@dataclass(frozen=True)
class Connection:
    """Where the driver is connected. ``local``: a local instance this job started; ``owned``: this job called
    ``ray.init`` (and ``ray.shutdown`` at its end: a local instance stops, a cluster's work for the job ends)."""

    address: str
    local: bool
    owned: bool
    dashboard: str | None


@dataclass(frozen=True)
class Pool:
    """The transcribers: how many, and the CPUs and GPUs each holds."""

    actors: int
    cpus: float
    gpus: float

    @property
    def device(self) -> str:
        """Where each transcriber runs its model."""
        return "cuda" if self.gpus else "cpu"

    def describe(self) -> str:
        """``2 transcribers × 1 CPU`` or ``4 transcribers × 1 GPU``."""
        each = f"1 GPU and {self.cpus:g} CPU" if self.gpus else f"{self.cpus:g} CPU"
        return f"{self.actors} transcriber{'s' if self.actors != 1 else ''} × {each}"


def local_cpus(options: RayOptions) -> int:
    """Logical CPUs of a local instance: this machine's, or more when the pool asked for needs them (Ray's CPUs are
    a count of slots, not cores: 2 actors × 1 CPU beside a decode task on 2 cores share them, as threads would)."""
    cores = os.cpu_count() or 1
    if options.actors is None:
        return cores
    return max(cores, math.ceil(options.actors * options.cpus_per_actor + DECODE_CPUS))


def connect(options: RayOptions) -> Connection:
    """The driver's connection: the Ray this process already runs (no address given), a local instance, or the
    cluster at ``options.address``."""
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if options.address in (None, "auto", current):
            return Connection(current, False, False, None)
        raise ClusterError(f"This process is already connected to the Ray cluster at {current}, not "
                           f"{options.address}.")
    kwargs = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if options.address is None:
            ctx = ray.init(num_cpus=local_cpus(options), **kwargs)
        else:
            ctx = ray.init(address=options.address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = "start a local Ray instance" if options.address is None else \
            f"connect to the Ray cluster at {options.address}"
        raise ClusterError(
            f"Could not {where}: {exc}\nStart a cluster with `ray start --head` (and `ray start --address HEAD:6379` "
            "on the other machines), then give --ray auto on one of them, or --ray ray://HEAD:10001 from "
            "elsewhere.") from exc
    dashboard = getattr(ctx, "dashboard_url", None) or None
    if dashboard and not dashboard.startswith("http"):
        dashboard = f"http://{dashboard}"
    return Connection(ray.get_runtime_context().gcs_address, options.address is None, True, dashboard)


def _nodes() -> list[dict]:
    return [n for n in ray.nodes() if n.get("Alive")]


def _node_name(node: dict) -> str:
    host, address = node.get("NodeManagerHostname", "?"), node.get("NodeManagerAddress", "?")
    return host if host == address else f"{host} ({address})"


def size_pool(options: RayOptions) -> Pool:
    """The actor pool for the cluster: one transcriber per GPU (or ``options.actors`` of them), or on a cluster
    without GPUs as many of ``cpus_per_actor`` as fit beside the decode tasks. Refuses a pool that cannot fit."""
    resources = ray.cluster_resources()
    cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
    cpa = options.cpus_per_actor
    if gpus >= 1:
        actors = options.actors or int(gpus)
        if actors > gpus:
            raise ClusterError(
                f"--ray-actors {actors}: the cluster has {gpus:g} GPU{'s' if gpus != 1 else ''}, and each "
                f"transcriber holds one. Ask for {int(gpus)} or fewer, or add GPU nodes.")
        pool = Pool(actors, cpa, 1.0)
    else:
        largest = max((n.get("Resources", {}).get("CPU", 0.0) for n in _nodes()), default=0.0)
        if cpa > largest:
            raise ClusterError(
                f"--ray-cpus-per-actor {cpa:g}: no node of the cluster has that many CPUs (the largest has "
                f"{largest:g}). Ask for fewer.")
        actors = options.actors or max(1, int((cpus - DECODE_CPUS) // cpa))
        pool = Pool(actors, cpa, 0.0)
    need = pool.actors * pool.cpus + DECODE_CPUS
    if need > cpus + 1e-9:
        raise ClusterError(
            f"The actor pool does not fit the cluster: {pool.describe()}, and {DECODE_CPUS:g} CPU for decoding, need "
            f"{need:g} CPUs; the cluster has {cpus:g}. Ask for fewer transcribers (--ray-actors) or fewer CPUs each "
            "(--ray-cpus-per-actor, fractions allowed), or add nodes.")
    return pool


def _probe(out_dir: str, models_dir: str | None, keys: Sequence[str], sample: str | None) -> dict:
    """Run on one node: can it write into the output folder (a file the driver then looks for), does it see the
    inputs, and (``models_dir`` given: a node that will hold transcribers) are the model's files in place."""
    found: dict = {"host": socket.gethostname(), "write": None, "name": None, "models": None, "input": True}
    try:
        tmp = Path(out_dir) / TMP_DIR
        tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"probe-{uuid.uuid4().hex}"
        fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        found["name"] = name
    except OSError as exc:
        found["write"] = exc.strerror or str(exc)
    if sample is not None:
        found["input"] = os.path.exists(sample)
    if models_dir is not None:
        try:
            validate_local_models(models_dir, list(keys))
        except LocalModelError as exc:
            found["models"] = str(exc)
    return found


def check_nodes(pool: Pool, out_dir: Path, models_dir: Path, keys: Sequence[str], sample: Path | None) -> int:
    """Probe every alive node (a zero-CPU task pinned to it); raise ``ClusterError`` listing each node that
    cannot write to the output folder, does not share it with the driver, does not see the inputs, or (among the
    nodes that will hold transcribers) lacks the model. Returns the number of nodes."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0, max_retries=0)(_probe)
    refs = []
    for node in _nodes():
        res = node.get("Resources", {})
        holds = res.get("GPU", 0.0) >= 1 if pool.gpus else res.get("CPU", 0.0) >= pool.cpus
        strategy = NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        refs.append((node, probe.options(scheduling_strategy=strategy).remote(
            str(out_dir.resolve()), str(models_dir) if holds else None, list(keys),
            None if sample is None else str(sample.resolve()))))
    problems = []
    try:
        answers = ray.get([ref for _, ref in refs], timeout=PROBE_TIMEOUT_S)
    except ray.exceptions.GetTimeoutError as exc:
        raise ClusterError(f"The cluster's nodes did not answer a check within {PROBE_TIMEOUT_S:g} s. See "
                           "`ray status`.") from exc
    for (node, _), found in zip(refs, answers, strict=True):
        name = _node_name(node)
        if found["write"] is not None:
            problems.append(f"Node {name} cannot write to the output folder {out_dir}: {found['write']}. Give an "
                            "--output-dir on a filesystem every node shares and can write.")
        elif not (out_dir / TMP_DIR / found["name"]).exists():
            problems.append(f"Node {name} writes to another folder {out_dir} than this machine: the output folder "
                            "must be on a filesystem every node shares (NFS, a cluster filesystem).")
        else:
            (out_dir / TMP_DIR / found["name"]).unlink(missing_ok=True)
        if not found["input"]:
            problems.append(f"Node {name} does not see the inputs ({sample} is not there): put them on a "
                            "filesystem every node shares, at the same path.")
        if found["models"] is not None:
            problems.append(f"Node {name} cannot hold a transcriber: its models folder is not ready. Nothing is "
                            f"downloaded; on that node run the setup command below, or give a --models-dir every "
                            f"node shares.\n{found['models']}")
    if problems:
        raise ClusterError("\n".join(problems))
    return len(refs)
