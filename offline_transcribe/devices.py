"""The compute device: which one to use, its name for people, its memory, out-of-memory detection, and the GPU
check that setup prints before anything is downloaded."""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path

NVIDIA_PROC = Path("/proc/driver/nvidia")  # present when the NVIDIA kernel driver is loaded
# The oldest driver each CUDA major version runs on (NVIDIA's "CUDA minor version compatibility" table,
# docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html).
MIN_DRIVER = {"13": 580, "12": 525, "11": 450}
CPU_COST = (
    "that works, but is many times slower than on a GPU: on a 2-core CPU Parakeet takes about 10 s per minute of "
    "audio, and Canary is slower than real time"
)


def default_device() -> str:
    """``cuda`` when a CUDA GPU is usable, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_label(device: str) -> str:
    """A short human name for a device: ``GPU (NVIDIA H100 80GB HBM3)`` or ``CPU``."""
    if device.startswith("cuda"):
        import torch

        return f"GPU ({torch.cuda.get_device_name(torch.device(device))})"
    return "CPU"


def free_accelerator_memory() -> None:
    """Return cached GPU memory to the driver (after an out-of-memory error or an unload)."""
    gc.collect()
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA's out-of-memory error (also when a library re-raised it as a plain ``RuntimeError``)."""
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "CUDA out of memory" in str(exc)


class gpu_memory_watch:
    """Record the peak GPU memory of a block (``{"mb": float}``), on CUDA devices only."""

    def __init__(self, device: str):
        self.device, self.result = device, {}

    def __enter__(self) -> dict:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)  # that GPU's, not the current one's ("cuda:1")
        return self.result

    def __exit__(self, *exc) -> None:
        if self.device.startswith("cuda"):
            import torch

            self.result["mb"] = torch.cuda.max_memory_allocated(self.device) / 1e6  # MB (10^6 bytes), as printed


def torch_build() -> tuple[str, str | None] | None:
    """(PyTorch version, the CUDA version it was built for or None for a CPU-only build), or None without PyTorch.

    Read from ``torch/version.py`` on its own, without importing PyTorch (which takes seconds).
    """
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return None
    version_file = Path(spec.origin).with_name("version.py")
    probe = importlib.util.spec_from_file_location("_torch_version_probe", version_file)
    if probe is None or probe.loader is None:
        return None
    module = importlib.util.module_from_spec(probe)
    try:
        probe.loader.exec_module(module)
    except (OSError, SyntaxError):
        return None
    return str(module.__version__), getattr(module, "cuda", None)


def nvidia_driver(proc: Path = NVIDIA_PROC) -> tuple[str, list[str]] | None:
    """(driver version, GPU models) from the loaded NVIDIA kernel driver, or None when none is loaded."""
    try:
        text = (proc / "version").read_text()
    except OSError:
        return None
    # "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  …" or "… Open Kernel Module for x86_64  580.65.06 …"
    match = re.search(r"NVRM version:.*?\s(\d{3,}\.\d+(?:\.\d+)*)\s", text)
    models = []
    for info in sorted((proc / "gpus").glob("*/information")):
        with contextlib.suppress(OSError):
            models += re.findall(r"^Model:\s*(.+)$", info.read_text(), flags=re.MULTILINE)
    return (match.group(1) if match else "unknown"), [m.strip() for m in models]


def driver_too_old(cuda: str, driver_version: str) -> int | None:
    """The driver version PyTorch's CUDA build needs when ``driver_version`` is older than that, else None."""
    needed = MIN_DRIVER.get(cuda.split(".")[0])
    major = driver_version.split(".")[0]
    return needed if needed is not None and major.isdigit() and int(major) < needed else None


def cuda_usable(
    build: tuple[str, str | None] | None, driver: tuple[str, list[str]] | None, env: Mapping[str, str] = os.environ
) -> bool:
    """Whether PyTorch will find a CUDA GPU, judged without importing it: a CUDA build, a loaded driver new enough
    for it, and ``CUDA_VISIBLE_DEVICES`` not hiding every GPU (once a model is loaded, its device says for sure)."""
    if build is None or build[1] is None or driver is None:
        return False
    if env.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    return driver_too_old(build[1], driver[0]) is None


def gpu_check(build: tuple[str, str | None] | None, driver: tuple[str, list[str]] | None) -> str:
    """What setup says before it downloads: is a CUDA GPU usable by this PyTorch, and what that means."""
    if build is None:
        return "GPU check skipped: PyTorch is not installed (run scripts/install.sh first)."
    torch_version, cuda = build
    if driver is None:
        return (f"GPU: none visible (no NVIDIA driver is loaded). The models will run on the CPU; {CPU_COST}. "
                "For an NVIDIA GPU, install its driver first (see README.md, 'GPU').")
    version, models = driver
    gpus = ", ".join(models) or "an NVIDIA GPU"
    if cuda is None:
        return (f"GPU: {gpus} with driver {version}, but PyTorch {torch_version} is a CPU-only build: the models would "
                f"run on the CPU ({CPU_COST}). Install PyPI's CUDA build (see README.md, 'GPU').")
    if (needed := driver_too_old(cuda, version)) is not None:
        return (f"GPU: {gpus}, driver {version}. PyTorch {torch_version} is built for CUDA {cuda}, which needs driver "
                f"{needed} or newer: PyTorch will not use this GPU and the models would run on the CPU. Update the "
                "driver (see README.md, 'GPU').")
    return (f"GPU: {gpus} (driver {version}; PyTorch {torch_version} for CUDA {cuda}): the models will run on it, "
            "Canary in bfloat16 where the GPU supports it.")
