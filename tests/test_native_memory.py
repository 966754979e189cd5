"""The server's limit on C heaps (``native_memory.limit_malloc_arenas``); its effect on memory is measured by
``test_reliability.py::test_burst_of_8_clients``."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from offline_transcribe.native_memory import limit_malloc_arenas


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_the_limit_is_set_with_glibc_unless_the_environment_sets_it():
    code = "from offline_transcribe.native_memory import limit_malloc_arenas as f; print(f())"
    run = lambda env: subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)  # noqa: E731
    assert run({"PATH": "/usr/bin:/bin"}).stdout.strip() == "True"
    assert run({"PATH": "/usr/bin:/bin", "MALLOC_ARENA_MAX": "4"}).stdout.strip() == "False"


def test_it_never_raises():
    assert limit_malloc_arenas() in (True, False)
