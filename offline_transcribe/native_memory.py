"""Keep a long-running process's memory from creeping up: fewer C heaps (glibc malloc arenas), and freed memory
handed back to the system after a model load.

glibc gives threads up to 8 heaps per core. The server answers requests from a pool of threads, each of which may get a
heap of its own; memory freed in one of them is rarely handed back to the system, so the resident size steps up with
each burst of requests although nothing is kept (five bursts of eight clients at once, as in
``tests/test_reliability.py::test_burst_of_8_clients``, on a 2-core machine: +219 MB with glibc's default, +59 MB with
two heaps set by ``limit_malloc_arenas`` at start). Two heaps are plenty for one transcription at a time.
``MALLOC_ARENA_MAX`` in the environment, when set, wins.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os

log = logging.getLogger("transcribe")

M_ARENA_MAX = -8  # mallopt's parameter number for the arena limit (glibc's malloc.h)
ARENAS = 2


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (it has ``mallopt`` and ``malloc_trim``); None elsewhere (musl, macOS). Looked
    up among the symbols this process has already loaded (no ``find_library``, which runs ``ldconfig``)."""
    try:
        libc = ctypes.CDLL(None)
        return libc if libc.mallopt and libc.malloc_trim else None
    except (OSError, AttributeError):
        return None


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Limit glibc's malloc to ``arenas`` heaps for the threads started from now on; whether the limit was set (not
    on other C libraries, nor when ``MALLOC_ARENA_MAX`` is set, which glibc has already read)."""
    if os.environ.get("MALLOC_ARENA_MAX") or (libc := _glibc()) is None:
        return False
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = libc.mallopt(M_ARENA_MAX, arenas) == 1
    if not ok:
        log.debug("mallopt(M_ARENA_MAX, %d) was refused", arenas)
    return ok


def release_freed_memory() -> None:
    """Give memory freed after loading back to the OS (glibc keeps it otherwise)."""
    if (libc := _glibc()) is not None:
        libc.malloc_trim(0)
