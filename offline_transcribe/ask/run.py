"""An LLM job in a thread of its own, read as a stream of events, that stops when its reader does.

The page, the API and the command line read the same stream: ``Status`` lines (waiting, loading, reading part 2 of
4), ``Delta`` pieces of the answer as the model writes them, and the end, ``Done`` with the whole result (or the
error, raised to the reader). The job starts when its reading starts (``for event in run`` in a thread, ``async for
event in run`` in an event loop, which it never blocks); it holds the server's job line and the model for its whole
length. A reader that goes away (a closed page, a client that hangs up, Ctrl-C) cancels it, and the model stops at
its next token.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Status:
    """What the job is doing now, for the user to read (not part of the answer)."""

    message: str


@dataclass(frozen=True)
class Delta:
    """The next piece of the answer's visible text."""

    text: str


@dataclass(frozen=True)
class Done(Generic[T]):
    """The job's result."""

    result: T


Event = Status | Delta | Done
Emit = Callable[[Status | Delta], None]


@dataclass(frozen=True)
class _Failed:
    error: BaseException


class Run(Generic[T]):
    """``work(emit, cancelled)`` run in a daemon thread once it is read; iterate to read its events (``for`` or
    ``async for``, once), ``cancel`` to stop it.

    The last event is ``Done(result)``; an exception in ``work`` is raised to the reader instead. Leaving the
    iteration early (``break``, ``close()``, an exception, a cancelled task) cancels the work.
    """

    def __init__(self, work: Callable[[Emit, threading.Event], T], name: str = "ask") -> None:
        self.cancelled = threading.Event()
        self._work, self._name = work, name
        self._thread: threading.Thread | None = None

    def _start(self, put: Callable[[Any], None]) -> None:
        if self._thread is not None:
            raise RuntimeError("a Run is read once")

        def main() -> None:
            try:
                put(Done(self._work(put, self.cancelled)))
            except BaseException as exc:  # handed to the reader, who decides what the user sees
                put(_Failed(exc))

        self._thread = threading.Thread(target=main, name=self._name, daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[Event]:
        events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._start(events.put)
        try:
            while True:
                event = events.get()
                if isinstance(event, _Failed):
                    raise event.error
                yield event
                if isinstance(event, Done):
                    return
        finally:
            self.cancel()

    async def __aiter__(self) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Any] = asyncio.Queue()

        def put(event: Any) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, event)
            except RuntimeError:  # the loop has closed: nobody reads any more
                self.cancel()

        self._start(put)
        try:
            while True:
                event = await events.get()
                if isinstance(event, _Failed):
                    raise event.error
                yield event
                if isinstance(event, Done):
                    return
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Ask the work to stop (the model stops at its next token)."""
        self.cancelled.set()

    def result(self) -> T:
        """Read to the end; the result (or the work's exception)."""
        for event in self:
            if isinstance(event, Done):
                return event.result
        raise RuntimeError("the job ended without a result")

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; whether it has (True also when it never started)."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True
