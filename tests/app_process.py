"""Run ``transcribe_ui.py`` as a real server in a subprocess for tests: free port, wait until it answers, stop it.

    with running_app(models_dir, tmp_path) as app:
        client = gradio_client.Client(app.url, ...)

Every app subprocess runs under ``tests/netguard`` (an audit hook that refuses and logs any connection to
anything but loopback): ``AppProcess.network_attempts()`` lists what it tried.

Also ``speech_wav``: a short spoken clip made with espeak-ng, for inputs the tiny models can chew on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
SCRIPT = PROJECT_DIR / "transcribe_ui.py"
NETGUARD_DIR = Path(__file__).resolve().parent / "netguard"
HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_listening(port: int, host: str = HOST) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


@contextlib.contextmanager
def ctrl_c_reaches_children() -> Iterator[None]:
    """Processes started inside this block get Ctrl-C (SIGINT) as from a terminal. pytest-xdist's workers ignore
    SIGINT, a child inherits an ignored signal through exec, and Python then never raises KeyboardInterrupt in it:
    a test's Ctrl-C would reach no one (a fresh-clone run saw ``watch`` and a Ray driver go on after it)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # exec resets a handler to the default
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def app_env(tmp_dir: Path, netguard_log: Path | None = None) -> dict[str, str]:
    """The environment for an app subprocess: unbuffered output, its temporary files (its private folder with
    Gradio's cache) under ``tmp_dir``, and the network guard logging to ``netguard_log`` (default
    ``tmp_dir/netguard.log``)."""
    env = {k: v for k, v in os.environ.items() if k != "LOCAL_MODELS_DIR"}
    python_path = [str(NETGUARD_DIR), *filter(None, [env.get("PYTHONPATH")])]
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(python_path),
        NETGUARD_LOG=str(netguard_log or tmp_dir / "netguard.log"),
        GRADIO_ANALYTICS_ENABLED="False",
        TMPDIR=str(tmp_dir),
    )
    return env


@dataclass
class AppProcess:
    """A running app: its process, address and log file."""

    proc: subprocess.Popen
    port: int
    log_path: Path
    netguard_log: Path
    tmp_dir: Path | None = None  # its TMPDIR

    @property
    def private_dir(self) -> Path:
        """The server's private folder (``server/workspace.py``): ``$TMPDIR/offline-transcribe-<uid>/server-<pid>-*``
        (the process's id is the server's: the app runs in the process started here)."""
        assert self.tmp_dir is not None
        pattern = f"offline-transcribe-{os.getuid()}/server-{self.proc.pid}-*"
        found = [p for p in self.tmp_dir.glob(pattern) if p.is_dir()]
        assert len(found) == 1, found
        return found[0]

    @property
    def gradio_dir(self) -> Path:
        """Gradio's cache of this server: its uploads and the files it serves."""
        return self.private_dir / "gradio"

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://{HOST}:{self.port}/"

    def log(self) -> str:
        """Everything the process printed so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def network_attempts(self) -> list[str]:
        """Connections to anything but loopback that the app tried (and the guard refused)."""
        return self.netguard_log.read_text().splitlines() if self.netguard_log.exists() else []

    def stop(self, timeout: float = 20) -> int | None:
        """Ask the app to stop (Ctrl-C), then insist; returns its exit status."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        return self.proc.poll()


def run_app_command(args: list[str], tmp_dir: Path, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run ``transcribe_ui.py ARGS`` to completion (for start-up checks and ``--transcribe``)."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=PROJECT_DIR, env=app_env(tmp_dir), capture_output=True,
        text=True, timeout=timeout, **kwargs,
    )


def start_app(
    models_dir: Path, tmp_dir: Path, *args: str, timeout: float = 180, env: dict[str, str] | None = None
) -> AppProcess:
    """Start the page on a free loopback port and wait until it serves its config; raise with the log if not.

    ``args`` come after ``--host 127.0.0.1 --port N`` (so ``--host`` in them wins); ``env`` is added to the app's
    environment.
    """
    tmp_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = tmp_dir / f"app-{port}.log"
    netguard_log = tmp_dir / f"netguard-{port}.log"
    cmd = [sys.executable, str(SCRIPT), "--models-dir", str(models_dir), "--host", HOST, "--port", str(port), *args]
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(
            cmd, cwd=PROJECT_DIR, env={**app_env(tmp_dir, netguard_log), **(env or {})}, stdout=log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    app = AppProcess(proc, port, log_path, netguard_log, tmp_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with status {proc.returncode}:\n{app.log()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{app.url}config", timeout=2) as response:
                if response.status == 200:
                    return app
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # up, and asking for its key
                return app
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    app.stop()
    raise TimeoutError(f"the app did not answer within {timeout:.0f} s:\n{app.log()[-4000:]}")


@contextlib.contextmanager
def running_app(
    models_dir: Path, tmp_dir: Path, *args: str, timeout: float = 180, env: dict[str, str] | None = None
) -> Iterator[AppProcess]:
    """``start_app`` as a context manager that always stops the process."""
    app = start_app(models_dir, tmp_dir, *args, timeout=timeout, env=env)
    try:
        yield app
    finally:
        app.stop()


def speech_wav(path: Path, text: str = "hello world this is a test", speed: int = 150) -> Path:
    """A spoken clip of ``text`` made with espeak-ng (22.05 kHz mono WAV)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["espeak-ng", "-s", str(speed), "-w", str(path), text], check=True, capture_output=True)
    return path
