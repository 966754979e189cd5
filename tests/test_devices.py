"""What a GPU user is told: setup's GPU check (read from the driver and PyTorch's build, without importing PyTorch),
the page's CPU notice, and the precision Canary runs in."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from offline_transcribe.backends.salm import SalmBackend
from offline_transcribe.devices import cuda_usable, gpu_check, nvidia_driver, torch_build

CUDA_BUILD = ("2.13.0", "13.0")
CPU_BUILD = ("2.13.0+cpu", None)


OPEN_MODULE = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {}  Release Build  (dvs-builder@U16)\n"
PROPRIETARY = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  {}  Sat Aug 19 01:15:15 UTC 2023\n"


def fake_driver(root: Path, version: str, models: list[str], line: str = OPEN_MODULE) -> Path:
    """A /proc/driver/nvidia as the NVIDIA kernel driver writes it."""
    (root / "gpus").mkdir(parents=True)
    (root / "version").write_text(line.format(version) + "GCC version:  gcc version 12.2.0\n")
    for i, model in enumerate(models):
        (root / "gpus" / f"0000:0{i}:00.0").mkdir()
        (root / "gpus" / f"0000:0{i}:00.0" / "information").write_text(f"Model: \t\t {model}\nIRQ:   \t\t 35\n")
    return root


def test_the_driver_and_its_gpus_are_read_from_proc(tmp_path):
    proc = fake_driver(tmp_path / "nvidia", "580.65.06", ["NVIDIA H100 80GB HBM3"])
    assert nvidia_driver(proc) == ("580.65.06", ["NVIDIA H100 80GB HBM3"])
    assert nvidia_driver(fake_driver(tmp_path / "old", "535.104.05", [], PROPRIETARY)) == ("535.104.05", [])
    assert nvidia_driver(tmp_path / "absent") is None


def test_the_torch_build_is_read_without_importing_it():
    version, cuda = torch_build()
    assert version == torch.__version__ and cuda == torch.version.cuda


@pytest.mark.parametrize("build, driver, said, usable", [
    (CUDA_BUILD, ("580.65.06", ["NVIDIA H100 80GB HBM3"]), "GPU: NVIDIA H100 80GB HBM3 (driver 580.65.06; PyTorch "
     "2.13.0 for CUDA 13.0): the models will run on it, Canary in bfloat16", True),
    (CUDA_BUILD, ("535.104.05", ["NVIDIA A10"]), "which needs driver 580 or newer: PyTorch will not use this GPU",
     False),
    (CPU_BUILD, ("580.65.06", []), "PyTorch 2.13.0+cpu is a CPU-only build: the models would run on the CPU", False),
    (CUDA_BUILD, None, "GPU: none visible (no NVIDIA driver is loaded). The models will run on the CPU", False),
])
def test_setup_says_whether_a_gpu_will_be_used_and_what_that_means(build, driver, said, usable):
    assert said in gpu_check(build, driver)
    assert cuda_usable(build, driver, env={}) is usable


def test_hidden_gpus_are_not_usable():
    assert not cuda_usable(CUDA_BUILD, ("580.65.06", ["NVIDIA L4"]), env={"CUDA_VISIBLE_DEVICES": ""})


@pytest.mark.parametrize("precision, bf16, expected", [
    ("auto", True, torch.bfloat16),  # the default on a GPU with bfloat16: the checkpoint's own precision
    ("auto", False, torch.float32),  # never float16 unless asked
    ("float32", True, torch.float32),  # --float32
    ("half", False, torch.float16),  # the old --half on an older GPU
])
def test_canary_runs_in_bfloat16_on_gpus_that_support_it(monkeypatch, precision, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)  # no GPU here: its capability
    assert SalmBackend().dtype(precision, "cuda") == expected
    assert SalmBackend().dtype(precision, "cpu") == torch.float32  # on the CPU always float32
