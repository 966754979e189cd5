"""The compute device: which one to use, its name for people, its memory, and out-of-memory detection."""

from __future__ import annotations

import contextlib
import ctypes
import gc


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


def release_freed_memory() -> None:
    """Give memory freed after loading back to the OS (glibc keeps it otherwise)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


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

            self.result["mb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
