"""The command line's Ray options (``--ray [ADDRESS]``, ``--ray-actors``, ``--ray-cpus-per-actor``) and the
install command printed when Ray is missing."""

from __future__ import annotations

import argparse
import importlib.util
from dataclasses import dataclass

INSTALL_COMMAND = "pip install '.[ray]'   (from the checkout; or: pip install -r requirements-ray.txt)"
LOCAL = "local"  # --ray without an address: a local Ray instance, as ray.init() starts one


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide a Ray job runs.

    ``address``: None for a local instance started here (or the Ray this process is already connected to),
    ``"auto"``, ``"host:port"`` or ``"ray://host:port"`` for an existing cluster. ``actors``: transcribers in the
    pool (None: one per GPU, or as many as the CPUs allow). ``cpus_per_actor``: CPUs (and torch threads) of each
    actor on a CPU-only cluster. ``batch_files``: files handed to a transcriber at a time (it groups them by
    ``--batch-seconds`` for the model; a transcriber that dies reruns the files it held)."""

    address: str | None = None
    actors: int | None = None
    cpus_per_actor: float = 1.0
    batch_files: int | None = None  # files per transcriber call (None: 8 on CPUs, 64 on GPUs)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The Ray options, in their own group."""
    group = parser.add_argument_group("many machines (Ray)")
    group.add_argument("--ray", nargs="?", const=LOCAL, metavar="ADDRESS",
                       help="run the --transcribe job on Ray: without ADDRESS a local Ray instance; auto, "
                       "host:port or ray://host:port an existing cluster (needs pip install '.[ray]')")
    group.add_argument("--ray-actors", type=int, metavar="N",
                       help="transcribers in the pool (default: one per GPU of the cluster, or as many as its CPUs "
                       "allow beside one for decoding)")
    group.add_argument("--ray-cpus-per-actor", type=float, default=1.0, metavar="C",
                       help="CPUs (and torch threads) per transcriber on a cluster without GPUs (default: 1)")
    group.add_argument("--ray-batch-files", type=int, metavar="N",
                       help="files handed to a transcriber at a time (default: 8 on CPUs, 64 on GPUs)")


def ray_installed() -> bool:
    """True when ``import ray`` would work (without importing it)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # sys.modules["ray"] = None, or a half-installed package
        return False


def from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> RayOptions | None:
    """The Ray options the command line asks for (None without ``--ray``); usage errors exit 2 through
    ``parser.error``, Ray missing too (with the install command)."""
    if args.ray is None:
        if args.ray_actors is not None or args.ray_cpus_per_actor != 1.0 or args.ray_batch_files is not None:
            parser.error("--ray-actors, --ray-cpus-per-actor and --ray-batch-files apply only with --ray")
        return None
    if not args.transcribe or args.watch or args.status or args.ask:
        parser.error("--ray runs a --transcribe job (files, folders or manifests); not with --watch, --status or "
                     "--ask")
    if args.ray_actors is not None and args.ray_actors < 1:
        parser.error("--ray-actors: give 1 or more")
    if args.ray_batch_files is not None and args.ray_batch_files < 1:
        parser.error("--ray-batch-files: give 1 or more")
    if args.ray_cpus_per_actor <= 0:
        parser.error("--ray-cpus-per-actor: give a number of CPUs above 0 (fractions are allowed)")
    if not ray_installed():
        parser.error(f"--ray needs Ray, which is not installed here. Install it with:\n  {INSTALL_COMMAND}")
    return RayOptions(None if args.ray == LOCAL else args.ray, args.ray_actors, args.ray_cpus_per_actor,
                      args.ray_batch_files)
