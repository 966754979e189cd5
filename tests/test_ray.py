"""The job on Ray (``--ray``, ``offline_transcribe.jobs.on_ray``) with a real local Ray instance (4 logical CPUs on
this 2-core machine, no dashboard), 2 CPU transcribers and the trained tiny TDT (``tests/data/tiny_words_tdt.nemo``)
on 24 clips in nested folders and a damaged file:

- the same files, byte for byte, as the local job, and a ledger that says all done (the damaged file failed);
- a transcriber's process killed mid-run: Ray restarts it, the job completes, no file is written twice;
- the driver (the command line, connected to the test's Ray by address) stopped with Ctrl-C, then killed: the
  ledger stays consistent and a rerun resumes;
- a models folder without the model: a clear failure naming the node and the setup command, nothing downloaded;
- a pool that does not fit the cluster: refused with a message (it would wait for CPUs forever);
- ``--ray`` without Ray installed: exit 2 with the install command.

One Ray instance for the file (started here: its start-up is paid once); each job starts its own transcribers.
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import synth_speech as ss
from app_process import ctrl_c_reaches_children
from conftest import install_parakeet
from offline_transcribe import ModelStore
from offline_transcribe.audio import write_wav
from offline_transcribe.jobs.job import JobOptions, run_job
from offline_transcribe.jobs.ledger import LEDGER_NAME
from offline_transcribe.jobs.on_ray.options import RayOptions
from offline_transcribe.jobs.sources import collect

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).resolve().parents[1]
WORDS_MODEL = Path(__file__).resolve().parent / "data" / "tiny_words_tdt.nemo"
FORMATS = ("txt", "srt", "vtt", "csv")  # not json: it records the processing time, which differs run to run
CLIPS = 24
RAY = RayOptions(actors=2, cpus_per_actor=1.0, batch_files=3)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return install_parakeet(tmp_path_factory.mktemp("ray_models") / "local_models", WORDS_MODEL)


@pytest.fixture(scope="module")
def store(models):
    """The driver's store: the Ray job never loads the model here, the local job (for comparison) does."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    store = ModelStore(models, device="cpu")
    yield store
    store.close()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """24 short clips (1-3 words) in nested folders, and a damaged file."""
    root = tmp_path_factory.mktemp("ray_tree") / "in"
    rng = np.random.default_rng(25)
    for i in range(CLIPS):
        folder = root / ("2024" if i % 3 == 0 else "2025/march" if i % 3 == 1 else "")
        folder.mkdir(parents=True, exist_ok=True)
        audio, _ = ss.make_utterance(ss.random_text(rng, 1 + i % 3), ss.HELDOUT_VOICES[int(rng.integers(2))],
                                     ss.HELDOUT_SPEED, ss.HELDOUT_PITCH, rng, lead_range=(0.05, 0.2),
                                     tail_range=(0.05, 0.2))
        write_wav(folder / f"clip{i:02d}.wav", audio)
    (root / "2025" / "damaged.wav").write_text("this is not audio\n" * 50)
    return root


@pytest.fixture(scope="module")
def expected(tree, store, tmp_path_factory) -> dict[str, bytes]:
    """What the local job writes for the tree."""
    out = tmp_path_factory.mktemp("ray_local") / "out"
    counts = run_job(collect([tree], out), store, opts(out, runner="local"), out=io.StringIO())
    assert (counts.done, counts.failed) == (CLIPS, 1)
    return snapshot(out)


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance for the file; yields its address (what --ray takes to join it)."""
    import ray

    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def opts(out: Path, **kw) -> JobOptions:
    return JobOptions("parakeet", out, FORMATS, **{"batch_seconds": 4.0, "runner": "ray", "runner_options": RAY,
                                                    **kw})


def snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not p.name.startswith(LEDGER_NAME)}


def rows(out: Path) -> dict[str, tuple[str, int]]:
    with sqlite3.connect(out / LEDGER_NAME) as conn:
        return {k: (s, a) for k, s, a in conn.execute("SELECT key, state, attempts FROM files")}


def done_count(out: Path) -> int:
    try:
        with sqlite3.connect(out / LEDGER_NAME) as conn:
            return conn.execute("SELECT COUNT(*) FROM files WHERE state='done'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def all_done(out: Path) -> None:
    """Every clip done once (attempts 1: none transcribed again), the damaged file failed."""
    found = rows(out)
    assert sorted(v for k, v in found.items() if not k.endswith("damaged.wav")) == [("done", 1)] * CLIPS
    assert [v[0] for k, v in found.items() if k.endswith("damaged.wav")] == ["failed"]


def wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(0.05)


def transcribers() -> list[int]:
    """Process ids of the Ray transcribers (actor processes of this test's Ray instance)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue

    def below_us(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    found = []
    for pid in parents:
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"MapWorker(MapBatches(Transcriber))" in title and below_us(pid):
            found.append(pid)
    return found


# ------------------------------------------------------------------------------------------ the same files


def test_same_files_as_the_local_job_and_a_ledger_all_done(cluster, tree, store, expected, tmp_path, capsys):
    out = tmp_path / "out"
    counts = run_job(collect([tree], out), store, opts(out), out=io.StringIO())
    assert (counts.done, counts.failed) == (CLIPS, 1)
    assert snapshot(out) == expected
    all_done(out)
    err = capsys.readouterr().err
    assert f"[ray] Ray at {cluster}: 1 node, 2 transcribers × 1 CPU" in err


# ------------------------------------------------------------------------------------------ faults


def test_a_transcriber_killed_mid_run_is_restarted_and_nothing_is_written_twice(cluster, tree, store, expected,
                                                                                  tmp_path):
    out = tmp_path / "out"
    killed: list[int] = []

    def kill_one() -> None:
        wait_for(lambda: done_count(out) >= 6, "6 files done")
        pids = transcribers()
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    lines = io.StringIO()
    counts = run_job(collect([tree], out), store, opts(out), out=lines, verbose=True)
    killer.join(5)
    assert killed, "no transcriber process was found to kill"
    assert (counts.done, counts.failed) == (CLIPS, 1)
    assert snapshot(out) == expected
    all_done(out)
    written = [line.split()[1] for line in lines.getvalue().splitlines() if line.startswith("OK")]
    assert len(written) == len(set(written)) == CLIPS  # each file recorded (and its files written) once


def _driver(models: Path, tree: Path, out: Path, address: str) -> subprocess.Popen:
    """The command line as a Ray job's driver, joined to the test's Ray instance (Ctrl-C reaches it as in a
    terminal)."""
    cmd = [sys.executable, str(ROOT / "transcribe_ui.py"), "--models-dir", str(models), "--only", "parakeet",
           "--format", ",".join(FORMATS), "--batch-seconds", "4", "--output-dir", str(out), "--transcribe", str(tree),
           "--ray", address, "--ray-actors", "2", "--ray-batch-files", "3"]
    with ctrl_c_reaches_children():
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)


def test_driver_stopped_then_killed_and_the_same_command_resumes(cluster, models, tree, expected, tmp_path,
                                                                 capsys):
    import transcribe_ui

    out = tmp_path / "out"
    proc = _driver(models, tree, out, cluster)
    wait_for(lambda: done_count(out) >= 3 or proc.poll() is not None, "3 files done")
    assert proc.poll() is None, "the job ended before it could be stopped:\n" + "\n".join(proc.communicate())
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert "Run the same command again" in stderr
    states = [s for s, _ in rows(out).values()]
    assert "running" not in states and 3 <= states.count("done") < CLIPS  # the ledger is consistent
    first = states.count("done")

    proc = _driver(models, tree, out, cluster)
    wait_for(lambda: done_count(out) >= first + 3 or proc.poll() is not None, "3 more files done")
    assert proc.poll() is None, "the job ended before it could be killed:\n" + "\n".join(proc.communicate())
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert done_count(out) < CLIPS

    args = ["--models-dir", str(models), "--only", "parakeet", "--format", ",".join(FORMATS), "--batch-seconds", "4",
            "--output-dir", str(out), "--transcribe", str(tree), "--ray", cluster, "--ray-actors", "2"]
    assert transcribe_ui.main(args) == 1  # the damaged file failed (again)
    summary = re.search(r"Job: (\d+) done, 0 no speech, 1 failed, (\d+) already done before", capsys.readouterr().out)
    assert summary and int(summary[1]) + int(summary[2]) == CLIPS and int(summary[2]) >= first + 3
    assert snapshot(out) == expected
    assert not (out / ".transcribe-tmp").exists()
    all_done(out)


# ------------------------------------------------------------------------------------------ refusals


def test_a_node_without_the_model_fails_naming_the_node_and_the_setup_command(cluster, tree, tmp_path):
    from offline_transcribe.jobs.on_ray.cluster import ClusterError

    empty = tmp_path / "models_elsewhere"
    empty.mkdir()
    out = tmp_path / "out"
    with pytest.raises(ClusterError) as refused:
        run_job(collect([tree], out), ModelStore(empty, device="cpu"), opts(out), out=io.StringIO())
    message = str(refused.value)
    assert f"Node {socket.gethostname()}" in message and "cannot hold a transcriber" in message
    assert "setup_local_models.py" in message and str(empty) in message and "Nothing is downloaded" in message
    assert set(rows(out).values()) <= {("pending", 0), ("failed", 1)}  # nothing left running
    assert not list(empty.iterdir())  # nothing was downloaded


def test_a_pool_that_does_not_fit_is_refused_not_left_waiting(cluster, tree, store, tmp_path):
    from offline_transcribe.jobs.on_ray.cluster import ClusterError

    out = tmp_path / "out"
    too_many = RayOptions(actors=4, cpus_per_actor=1.0)  # 4 CPUs, and 1 for decoding: 5 of the cluster's 4
    with pytest.raises(ClusterError, match=r"does not fit the cluster: 4 transcribers × 1 CPU.*need 5 CPUs; the "
                       r"cluster has 4"):
        run_job(collect([tree], out), store, opts(out, runner_options=too_many), out=io.StringIO())


def test_ray_not_installed_exits_2_with_the_install_command(tree, tmp_path):
    hide = ("import sys; sys.modules['ray'] = None; import transcribe_ui; "
            "sys.exit(transcribe_ui.main(sys.argv[1:]))")
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-c", hide, "--transcribe", str(tree), "--output-dir", str(out), "--ray"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 2, run.stderr
    assert "--ray needs Ray, which is not installed" in run.stderr and "pip install '.[ray]'" in run.stderr
    assert not out.exists()


def test_the_ray_options_apply_only_with_ray():
    from offline_transcribe.cli import parse_args

    with pytest.raises(SystemExit) as stopped:
        parse_args(["--transcribe", "x.wav", "--ray-actors", "2"])
    assert stopped.value.code == 2
    assert parse_args(["--transcribe", "x", "--ray", "auto", "--ray-actors", "3"]).ray_options == RayOptions(
        "auto", 3, 1.0, None)
    assert parse_args(["--transcribe", "x", "--ray"]).ray_options == RayOptions()

