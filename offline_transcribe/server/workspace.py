"""One private folder per running server for everything it writes: Gradio's cache of uploads and results, the API's
uploads, the page's downloads and the live recordings.

Layout, under the system's temporary folder (``$TMPDIR``, else ``/tmp``)::

    offline-transcribe-<uid>/              0700, this user's servers
        server-<pid>-<random>/             0700, one running server (removed when it stops)
            gradio/                        Gradio's cache (GRADIO_TEMP_DIR): uploads and returned files
            api/                           /v1 uploads, for the length of one request
            exports/                       the page's downloads and live recordings before Gradio copies them
        server-<pid>-<random>.lock         held (flock) by that server for as long as it runs

Folders are 0700 and the server runs with umask 077, so every file in them is 0600: no other user of the machine
can read an upload or a transcript. A server that stopped cleanly removes its folder. One that was killed
(``kill -9``, a crash, a power cut) cannot: the next server to start removes every ``server-*`` folder whose lock
no process holds any more. A running server's lock is held, so two servers on two ports never touch each other's
files; nothing outside ``offline-transcribe-<uid>/`` is ever removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger("transcribe.workspace")

PRIVATE_UMASK = 0o077  # files 0600, folders 0700
_PREFIX = "server-"


def user_root(base: Path | None = None) -> Path:
    """``<tmp>/offline-transcribe-<uid>``, created 0700; refuses a folder that another user owns or that is a link.

    Raises ``PermissionError`` with the path when the folder cannot be made private (someone else created it).
    """
    root = (base or Path(tempfile.gettempdir())) / f"offline-transcribe-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o700)
    info = root.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"{root} is not a folder of this user (it is a link, a file, or another user's): "
                              "remove it, or set TMPDIR to a private folder, and start again.")
    if stat.S_IMODE(info.st_mode) != 0o700:
        root.chmod(0o700)
    return root


def remove_dead(root: Path) -> list[Path]:
    """Remove the folders of this app's servers under ``root`` whose process is gone (their lock is free).

    Returns the folders removed. A server still running holds its lock, so its folder is left alone.
    """
    removed = []
    for lock_path in sorted(root.glob(f"{_PREFIX}*.lock")):
        lock = FileLock(lock_path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue  # a running server
        try:
            folder = lock_path.with_suffix("")
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
            lock_path.unlink(missing_ok=True)
        finally:
            lock.release()
    # A folder without its lock file: left by a server killed between the two steps of ``create`` (or the lock was
    # deleted by hand). It belongs to no running server, since a server makes its lock first.
    for folder in sorted(root.glob(f"{_PREFIX}*")):
        if folder.is_dir() and not folder.with_name(folder.name + ".lock").exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@dataclass
class Workspace:
    """A running server's private folder and the lock that marks it as in use."""

    root: Path
    _lock: FileLock | None = field(default=None, repr=False)

    @property
    def gradio(self) -> Path:
        """Gradio's cache: uploads from the page and the files it serves."""
        return self.root / "gradio"

    @property
    def api_uploads(self) -> Path:
        """Uploads to /v1, each kept for its request only."""
        return self.root / "api"

    @property
    def exports(self) -> Path:
        """The page's downloads and live recordings, before Gradio copies them into its cache."""
        return self.root / "exports"

    @property
    def input_roots(self) -> tuple[Path, ...]:
        """The only folders an input file may come from: what was uploaded to this server, and its own recordings."""
        return (self.gradio, self.exports)

    @classmethod
    def create(cls, base: Path | None = None) -> Workspace:
        """A new private folder for this server, after removing what dead servers of this user left behind."""
        root = user_root(base)
        for folder in remove_dead(root):
            log.info("Removed %s, left by a server of this app that is no longer running", folder)
        # The lock first, then the folder: a folder whose lock is held is never taken for a dead server's.
        fd, lock_name = tempfile.mkstemp(prefix=_PREFIX + f"{os.getpid()}-", suffix=".lock", dir=root)
        os.close(fd)
        lock = FileLock(lock_name)
        lock.acquire(timeout=0)
        folder = Path(lock_name).with_suffix("")
        folder.mkdir(mode=0o700)
        for sub in ("gradio", "api", "exports"):
            (folder / sub).mkdir(mode=0o700)
        return cls(folder, lock)

    def is_input(self, path: str | os.PathLike) -> bool:
        """Whether ``path`` (after following links) is a file inside this server's upload or recording folders."""
        return is_file_within(path, self.input_roots)

    def remove(self) -> None:
        """Delete the folder and free the lock (at a clean stop)."""
        shutil.rmtree(self.root, ignore_errors=True)
        if self._lock is not None:
            Path(self._lock.lock_file).unlink(missing_ok=True)
            self._lock.release()
            self._lock = None


def is_file_within(path: str | os.PathLike, roots: tuple[Path, ...] | list[Path]) -> bool:
    """Whether ``path``, after following every link, is an existing file inside one of ``roots``."""
    try:
        real = Path(path).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a link loop, a NUL in the name
        return False
    return real.is_file() and any(real.is_relative_to(root.resolve()) for root in roots)


def use_private_files() -> int:
    """Make every file this process creates from now on readable by its user alone (umask 077); returns the old
    umask."""
    return os.umask(PRIVATE_UMASK)
