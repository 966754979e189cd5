"""Live decoding for one caller at a time per server (per job line): a page tab's recording or a Realtime client.

Live decoding must keep up with speech, so two live streams never share the model's job line. The page's tab and
the Realtime API's connection claim the one slot of their server's ``JobQueue``; a holder that sent no audio for
``IDLE_S`` is stale and the next claim takes the slot over (its session is stopped).
"""

from __future__ import annotations

import threading
import weakref
from typing import Protocol

from .jobs import JobQueue

IDLE_S = 30.0  # a holder that sent no audio for this long no longer holds live decoding


class Holder(Protocol):
    """Whoever decodes live: how long since it sent audio, and how to stop it when it is taken over."""

    @property
    def idle_s(self) -> float: ...

    def preempt(self) -> None: ...


class LiveSlot:
    """The one live stream of a server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: Holder | None = None

    def claim(self, holder: Holder) -> bool:
        """Take the slot for ``holder``: True when it was free, already ``holder``'s, or held by a stale holder."""
        with self._lock:
            current = self._holder
            if current is not None and current is not holder and current.idle_s < IDLE_S:
                return False
            self._holder = holder
        if current is not None and current is not holder:
            current.preempt()
        return True

    def release(self, holder: Holder) -> None:
        """Give the slot back (nothing happens when ``holder`` does not hold it)."""
        with self._lock:
            if self._holder is holder:
                self._holder = None

    def holds(self, holder: Holder) -> bool:
        with self._lock:
            return self._holder is holder


_SLOTS: weakref.WeakKeyDictionary[JobQueue, LiveSlot] = weakref.WeakKeyDictionary()
_SLOTS_LOCK = threading.Lock()


def slot_for(jobs: JobQueue) -> LiveSlot:
    """The live slot of the server whose job line is ``jobs`` (the page and the API share it)."""
    with _SLOTS_LOCK:
        if (slot := _SLOTS.get(jobs)) is None:
            slot = _SLOTS[jobs] = LiveSlot()
        return slot
