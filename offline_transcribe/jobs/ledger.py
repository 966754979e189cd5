"""The job ledger: one SQLite database per output folder (``.transcribe-job.sqlite``, WAL), one row per input.

A row holds the input's path, size, mtime and a content fingerprint, the model and the options fingerprint, its
state (pending, running, done, no_speech, failed), attempts, the last error, the outputs written and the timings.
Only the job's driver writes it. SQLite's own locks die with the process, and the job takes an advisory ``flock``
on the database file that the kernel drops when the process ends however it ends (kill -9 included): a ledger is
never left locked. Rows left ``running`` by a killed job are set back to ``pending`` (their attempt not counted).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import JobRefusedError
from .sources import LEDGER_NAME

STATES = ("pending", "running", "done", "no_speech", "failed")
FINISHED = ("done", "no_speech")
_FINGERPRINT_BYTES = 1 << 16

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    key TEXT PRIMARY KEY, path TEXT NOT NULL, stem TEXT NOT NULL, size INTEGER, mtime_ns INTEGER,
    fingerprint TEXT, model TEXT NOT NULL, options TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
    error TEXT, outputs TEXT, audio_s REAL, wall_s REAL, started REAL, finished REAL
);
"""


def fingerprint(path: Path, size: int) -> str:
    """A cheap content fingerprint: BLAKE2b of the size and the first and last 64 KiB (a file that was rewritten
    with other content of the same size and mtime is told apart without reading all of it)."""
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as f:
        digest.update(f.read(_FINGERPRINT_BYTES))
        if size > 2 * _FINGERPRINT_BYTES:
            f.seek(size - _FINGERPRINT_BYTES)
            digest.update(f.read(_FINGERPRINT_BYTES))
    return digest.hexdigest()


@dataclass(frozen=True)
class Row:
    """One input as the ledger knows it."""

    key: str
    path: str
    stem: str
    size: int | None
    mtime_ns: int | None
    fingerprint: str | None
    state: str
    attempts: int
    error: str | None
    outputs: dict[str, str]
    audio_s: float | None
    wall_s: float | None


def ledger_path(out_dir: Path) -> Path:
    """Where the ledger of ``out_dir`` lives."""
    return out_dir / LEDGER_NAME


class Ledger:
    """The job's rows in ``out_dir``; open with ``Ledger.open`` (takes the folder's job lock) or ``Ledger.read``
    (status only, no lock)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock_fd: int | None) -> None:
        self.path, self.conn, self._lock_fd = path, conn, lock_fd

    @classmethod
    def open(cls, out_dir: Path, model: str, options: dict) -> Ledger:
        """The ledger of ``out_dir`` for a job with ``model`` and ``options`` (created when there is none).

        Refuses (``JobRefusedError``) a ledger made with another model or options, and a folder whose job another
        process is running now."""
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = ledger_path(out_dir)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise JobRefusedError(
                f"Another job is running on the output folder {out_dir} now (its ledger {path} is in use). Wait for "
                "it to finish, or stop it, or choose another --output-dir."
            ) from exc
        conn = cls._connect(path)
        ledger = cls(path, conn, fd)
        try:
            ledger._check_meta(model, options, out_dir)
        except BaseException:
            ledger.close()
            raise
        ledger.model, ledger.options = model, options_fingerprint(options)
        return ledger

    @classmethod
    def read(cls, out_dir: Path) -> Ledger | None:
        """The ledger of ``out_dir`` for reading, or None when the folder has none."""
        path = ledger_path(out_dir)
        if not path.is_file() or path.stat().st_size == 0:
            return None
        return cls(path, cls._connect(path), None)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.chmod(f"{path}{suffix}", 0o600)
        return conn

    def _check_meta(self, model: str, options: dict, out_dir: Path) -> None:
        meta = dict(self.conn.execute("SELECT key, value FROM meta"))
        wanted = {"model": model, "options": json.dumps(options, sort_keys=True)}
        if not meta:
            with self.transaction():
                self.conn.executemany("INSERT INTO meta VALUES (?, ?)", wanted.items())
            return
        if meta.get("model") != model or meta.get("options") != wanted["options"]:
            raise JobRefusedError(
                f"The output folder {out_dir} holds a job made with model {meta.get('model')} and options "
                f"{meta.get('options')}; this run asks for model {model} and options {wanted['options']}. "
                f"Choose another --output-dir, run again with the same model and options, or delete "
                f"{self.path} to start this folder's job over."
            )

    @contextlib.contextmanager
    def transaction(self):
        """One write transaction (committed at the end, rolled back on an error)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def recover(self) -> int:
        """Rows a killed job left running go back to pending, their attempt not counted; returns how many."""
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE files SET state='pending', attempts=MAX(attempts-1, 0) WHERE state='running'")
        return cur.rowcount

    def rows(self) -> dict[str, Row]:
        """Every row, by key (one query: checking a done row is a dictionary look-up)."""
        cur = self.conn.execute(
            "SELECT key, path, stem, size, mtime_ns, fingerprint, state, attempts, error, outputs, audio_s, wall_s "
            "FROM files")
        return {r[0]: Row(*r[:9], json.loads(r[9] or "{}"), r[10], r[11]) for r in cur}

    def claim(self, entries: list[tuple[str, str, str, int | None, int | None, str | None]]) -> None:
        """(key, path, stem, size, mtime_ns, fingerprint) rows become running, their attempts counted."""
        now = time.time()
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO files (key, path, stem, size, mtime_ns, fingerprint, model, options, state, attempts, "
                "started) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', 1, ?) ON CONFLICT(key) DO UPDATE SET "
                "path=excluded.path, stem=excluded.stem, size=excluded.size, mtime_ns=excluded.mtime_ns, "
                "fingerprint=excluded.fingerprint, state='running', attempts=files.attempts+1, error=NULL, "
                "started=excluded.started",
                [(*e, self.model, self.options, now) for e in entries],
            )

    def finish(self, key: str, state: str, outputs: dict[str, str] | None = None, error: str | None = None,
               audio_s: float | None = None, wall_s: float | None = None) -> None:
        """A claimed row ended: done, no_speech or failed."""
        assert state in ("done", "no_speech", "failed")
        with self.transaction():
            self.conn.execute(
                "UPDATE files SET state=?, outputs=?, error=?, audio_s=?, wall_s=?, finished=? WHERE key=?",
                (state, json.dumps(outputs or {}), error, audio_s, wall_s, time.time(), key))

    def touch(self, key: str, mtime_ns: int) -> None:
        """A finished file whose mtime changed but whose content did not: remember the new mtime."""
        with self.transaction():
            self.conn.execute("UPDATE files SET mtime_ns=? WHERE key=?", (mtime_ns, key))

    def counts(self) -> dict[str, int]:
        """Rows per state."""
        found = dict(self.conn.execute("SELECT state, COUNT(*) FROM files GROUP BY state"))
        return {state: found.get(state, 0) for state in STATES}

    def failures(self) -> list[tuple[str, int, str]]:
        """(path, attempts, error) of every failed row."""
        return list(self.conn.execute("SELECT path, attempts, error FROM files WHERE state='failed' ORDER BY path"))

    def close(self) -> None:
        """Close the database and drop the folder's job lock."""
        self.conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def options_fingerprint(options: dict) -> str:
    """A short hash of the options that change what is written."""
    return hashlib.blake2b(json.dumps(options, sort_keys=True).encode(), digest_size=8).hexdigest()


def status_report(out_dir: Path) -> str:
    """What ``--status`` prints: the counts by state and each failure with its message."""
    ledger = Ledger.read(out_dir)
    if ledger is None:
        return f"No job in {out_dir}: there is no {LEDGER_NAME} there (run --transcribe with this --output-dir)."
    try:
        meta = dict(ledger.conn.execute("SELECT key, value FROM meta"))
        counts = ledger.counts()
        failures = ledger.failures()
        audio = ledger.conn.execute("SELECT COALESCE(SUM(audio_s), 0) FROM files WHERE state='done'").fetchone()[0]
    finally:
        ledger.close()
    lines = [
        f"Job in {out_dir} (model {meta.get('model')}, options {meta.get('options')}):",
        "  " + ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in counts.items()) + f"; {audio / 3600:.2f} h "
        "of audio transcribed",
    ]
    if failures:
        lines.append(f"Failed ({len(failures)}):")
        lines += [f"  {path} (attempts {attempts}): {' '.join((error or '').split())}" for path, attempts, error in
                  failures]
    return "\n".join(lines)
