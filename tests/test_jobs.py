"""Jobs over folders and manifests (``offline_transcribe.jobs``) with the trained tiny TDT
(``tests/data/tiny_words_tdt.nemo``): batches give the same words and times as files alone, names mirror the
tree whatever subset runs, bad inputs become failed rows, a job killed with SIGKILL at random moments finishes on
rerun with byte-identical outputs and nothing done twice, and ``--watch`` takes files that arrive slowly.

Kills and the watched folder run in forked children of this process (the model loaded once, here), so the file
stays fast; torch runs on one thread, which makes forking safe.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import synth_speech as ss
from app_process import PROJECT_DIR, SCRIPT, app_env, ctrl_c_reaches_children
from conftest import install_parakeet
from offline_transcribe import ModelStore
from offline_transcribe.audio import write_wav
from offline_transcribe.errors import JobRefusedError
from offline_transcribe.jobs.job import JobOptions, run_job
from offline_transcribe.jobs.ledger import LEDGER_NAME
from offline_transcribe.jobs.sources import collect

pytestmark = pytest.mark.timeout(300)

WORDS_MODEL = Path(__file__).resolve().parent / "data" / "tiny_words_tdt.nemo"
FORMATS = ("txt", "srt", "vtt", "csv")  # not json: it records the processing time, which differs run to run
FRAME_S = 0.08


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The trained tiny TDT as Parakeet, loaded once, torch on one thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    models = install_parakeet(tmp_path_factory.mktemp("jobs_models") / "local_models", WORDS_MODEL)
    store = ModelStore(models, device="cpu")
    store.load("parakeet")
    yield store
    store.close()
    torch.set_num_threads(threads)


def utterance(rng: np.random.Generator, n_words: int) -> np.ndarray:
    words = ss.random_text(rng, n_words)
    audio, _ = ss.make_utterance(words, ss.HELDOUT_VOICES[int(rng.integers(2))], ss.HELDOUT_SPEED,
                                 ss.HELDOUT_PITCH, rng, lead_range=(0.05, 0.2), tail_range=(0.05, 0.2))
    return audio


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """30 short clips (1-3 words) in nested folders."""
    root = tmp_path_factory.mktemp("tree") / "in"
    rng = np.random.default_rng(24)
    for i in range(30):
        folder = root / ("2024" if i % 3 == 0 else "2025/march" if i % 3 == 1 else "")
        folder.mkdir(parents=True, exist_ok=True)
        write_wav(folder / f"clip{i:02d}.wav", utterance(rng, 1 + i % 3))
    return root


def opts(out: Path, **kw) -> JobOptions:
    return JobOptions("parakeet", out, FORMATS, **{"batch_seconds": 4.0, **kw})


def snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not p.name.startswith(LEDGER_NAME)}


def done_count(out: Path) -> int:
    """Rows done so far (0 while the ledger is being created)."""
    try:
        with contextlib.closing(sqlite3.connect(out / LEDGER_NAME)) as conn:  # closed: no connection across a fork
            return conn.execute("SELECT COUNT(*) FROM files WHERE state='done'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def rows(out: Path) -> dict[str, tuple[str, int]]:
    with contextlib.closing(sqlite3.connect(out / LEDGER_NAME)) as conn:
        return {k: (s, a) for k, s, a in conn.execute("SELECT key, state, attempts FROM files")}


# ------------------------------------------------------------------------------------------ batches


def test_batch_gives_the_words_and_times_of_single_files(store):
    """22 utterances of 1-7 words: one batch call against each file alone."""
    from offline_transcribe.backends import get_backend
    from offline_transcribe.config import LongAudioPolicy

    rng = np.random.default_rng(7)
    audios = [utterance(rng, 1 + i % 7) for i in range(22)]
    from offline_transcribe.backends.tdt_batch_fix import fixed

    backend = get_backend("nemo_tdt")
    with store.use("parakeet") as loaded:
        batch = backend.transcribe_batch(loaded.model, audios)
        assert fixed(loaded.model)  # the batch went through NeMo's batched decoder (durations kept apart)
        single = [backend.transcribe(loaded.model, a, LongAudioPolicy(), lambda f, m: None, []) for a in audios]
    assert sum(len(s) for s in single) >= 20
    for one, many in zip(single, batch, strict=True):
        w1 = [w for s in one for w in s.words]
        w2 = [w for s in many for w in s.words]
        assert [w.text for w in w1] == [w.text for w in w2]
        for a, b in zip(w1, w2, strict=True):
            assert abs(a.start - b.start) <= FRAME_S + 1e-6 and abs(a.end - b.end) <= FRAME_S + 1e-6


def test_the_page_s_files_share_model_calls_with_the_results_of_one_at_a_time(store, tree, tmp_path):
    """``transcribe_files_batched`` (the page's several files): the files, names, messages and bytes of
    ``transcribe_files``; progress per batch; a missing file fails alone; a cancel keeps what is finished."""
    from offline_transcribe.batch import transcribe_files
    from offline_transcribe.errors import CancelledError
    from offline_transcribe.jobs.files import transcribe_files_batched

    paths = [*sorted(tree.rglob("*.wav"))[:9], tmp_path / "gone.wav"]
    (tmp_path / "bad.wav").write_text("not audio\n" * 40)
    paths.insert(3, tmp_path / "bad.wav")
    names = [p.name for p in paths]
    single = transcribe_files(paths, "parakeet", tmp_path / "one", store=store, formats=FORMATS, names=names)
    said: list[str] = []
    batched = transcribe_files_batched(paths, "parakeet", tmp_path / "many", store=store, formats=FORMATS,
                                       names=names, progress=lambda f, m: said.append(m), seconds_per_batch=3.0)
    assert [(r.name, r.outcome, r.error) for r in batched] == [(r.name, r.outcome, r.error) for r in single]
    assert [r.outcome.value for r in batched].count("done") == 9
    assert snapshot(tmp_path / "many") == snapshot(tmp_path / "one")
    assert any("files together" in m for m in said) and said[-1].endswith(("done", "failed")), said

    assert sum("together" in m for m in said) >= 2, said
    begun: list[str] = []

    def cancel_after_first_batch(fraction: float, message: str) -> None:
        if "together" in message or message.endswith(": starting"):
            begun.append(message)
        if any("together" in m for m in begun[:-1]):  # the batch after the first shared one
            raise CancelledError("Cancelled: you stopped the run before this file was finished.")

    out = tmp_path / "cancelled"
    stopped = transcribe_files_batched(paths, "parakeet", out, store=store, formats=FORMATS, names=names,
                                       progress=cancel_after_first_batch, seconds_per_batch=3.0)
    kept = [r for r in stopped if r.ok]
    assert kept and len(kept) < 9
    assert {r.error for r in stopped if not r.ok} >= {"Not transcribed: the run was cancelled."}
    assert sorted(p.stem for p in out.glob("*.txt")) == sorted(Path(r.name).stem for r in kept)


# ------------------------------------------------------------------------------------------ names


def test_names_mirror_the_tree_and_never_depend_on_the_run(tree, tmp_path):
    out = tmp_path / "out"
    stems = {i.path.name: i.stem for i in collect([tree], out)}
    assert stems["clip00.wav"] == "2024/clip00" and stems["clip01.wav"] == "2025/march/clip01"
    assert stems["clip02.wav"] == "clip02"
    sub = {i.path.name: i.stem for i in collect([tree / "2025"], out)}
    assert sub["clip01.wav"] == "march/clip01"  # mirrored below the folder given
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(json.dumps({"audio_filepath": str(tree / "2024" / n), "duration": 1.0})
                                  for n in ("clip03.wav", "clip00.wav")))
    listed = tmp_path / "list.txt"
    listed.write_text(f"{tree / '2024' / 'clip00.wav'}\n")
    m1 = [i.stem for i in collect([manifest], out)]
    m2 = [i.stem for i in collect([listed], out)]
    assert m1[1] == m2[0] and m1[1].endswith("2024/clip00")  # the same file, the same name, whatever else runs
    side = tmp_path / "side"
    side.mkdir()
    shutil.copy(tree / "clip02.wav", side / "a.wav")
    shutil.copy(tree / "clip02.wav", side / "a.flac")
    assert sorted(i.stem for i in collect([side], out)) == ["a.flac", "a.wav"]  # siblings keep their extension
    loose = [i.stem for i in collect([side / "a.wav", tree / "clip02.wav"], out)]
    assert loose == ["a", "clip02"]  # loose files: today's names


def test_refused_before_start(tree, tmp_path, store):
    with pytest.raises(JobRefusedError, match="inside the input folder"):
        collect([tree], tree / "2024" / "out")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"audio_filepath": "a.wav"}\nnot json\n')
    with pytest.raises(JobRefusedError, match="Line 2 of the manifest"):
        collect([bad], tmp_path / "out")
    out = tmp_path / "out"
    run_job(collect([tree / "2025"], out)[:1], store, opts(out))
    with pytest.raises(JobRefusedError, match="holds a job made with model parakeet"):
        run_job(collect([tree / "2025"], out), store, JobOptions("parakeet", out, ("txt",)))


# ------------------------------------------------------------------------------------------ bad inputs


def test_bad_inputs_become_failed_rows_and_the_job_goes_on(tree, tmp_path, store, capsys):
    root = tmp_path / "bad"
    root.mkdir()
    shutil.copy(tree / "clip02.wav", root / "good.wav")
    (root / "corrupt.mp3").write_bytes(b"ID3" + os.urandom(3000))
    (root / "empty.wav").write_bytes(b"")
    (root / "text.wav").write_text("this is not audio\n" * 50)
    os.symlink("loop.wav", root / "loop.wav")
    (root / "dir").mkdir()
    os.symlink("..", root / "dir" / "up")  # a folder link back to an ancestor
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": "missing.wav"}) + "\n")
    out = tmp_path / "out"
    counts = run_job(collect([root, manifest], out), store, opts(out))
    assert (counts.done, counts.failed) == (1, 6)
    state = {Path(k.split("#")[0]).name: v for k, v in rows(out).items()}
    assert all(state[n][0] == "failed" for n in ("corrupt.mp3", "empty.wav", "text.wav", "loop.wav", "up",
                                                  "missing.wav"))
    printed = capsys.readouterr().out
    for said in ("is empty (0 bytes)", "symbolic link loop", "loop); it was not followed", "was not found",
                 "could not be read as audio"):
        assert said in printed, said
    # A rerun retries the failures (up to --retries), skips the done file
    counts = run_job(collect([root, manifest], out), store, opts(out, retries=0))
    assert (counts.done, counts.skipped, counts.failed) == (0, 1, 6)
    assert rows(out)[str(root / "good.wav")] == ("done", 1)


# ------------------------------------------------------------------------------------------ resume under SIGKILL


def _child(target, *args) -> multiprocessing.Process:
    proc = multiprocessing.get_context("fork").Process(target=target, args=args)
    proc.start()
    return proc


def _job(tree: Path, out: Path, store) -> None:
    import traceback

    try:
        with open(os.devnull, "w") as devnull:
            run_job(collect([tree], out), store, opts(out), out=devnull, err=devnull)
    except BaseException:
        (out.parent / "child-error.txt").write_text(traceback.format_exc())
        os._exit(1)
    os._exit(0)


def test_resume_after_sigkill_at_random_moments(tree, tmp_path, store):
    clean = tmp_path / "clean"
    run_job(collect([tree], clean), store, opts(clean))
    expected = snapshot(clean)
    assert len(expected) == 30 * len(FORMATS)
    out = tmp_path / "out"
    rng = np.random.default_rng(5)
    interrupted = 0
    for target in sorted(rng.choice(np.arange(1, 21), 5, replace=False)):
        proc = _child(_job, tree, out, store)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.is_alive():
            if done_count(out) >= target:
                break
            time.sleep(0.02)
        time.sleep(float(rng.uniform(0, 0.1)))
        proc.kill()  # SIGKILL (nothing when the job already ended)
        proc.join()
        error = tmp_path / "child-error.txt"
        assert proc.exitcode in (0, -signal.SIGKILL), error.read_text() if error.exists() else proc.exitcode
        interrupted += proc.exitcode == -signal.SIGKILL
    assert interrupted and sum(s == "done" for s, _ in rows(out).values()) < 30
    run_job(collect([tree], out), store, opts(out))
    assert snapshot(out) == expected
    assert not (out / ".transcribe-tmp").exists()
    assert set(rows(out).values()) == {("done", 1)}  # every file transcribed once, none again


# ------------------------------------------------------------------------------------------ watch


def test_watch_takes_files_once_they_settle_and_exits_0_on_ctrl_c(tree, tmp_path, store):
    """``transcribe_ui.py watch DIR`` as a person runs it in a terminal: what is there first, a file copied in
    slowly once it settles, a file in a new folder; Ctrl-C ends it with status 0."""
    folder, out = tmp_path / "drop", tmp_path / "out"
    folder.mkdir()
    shutil.copy(tree / "clip02.wav", folder / "first.wav")
    cmd = [sys.executable, str(SCRIPT), "watch", str(folder), "--models-dir", str(store.models_dir), "--only",
           "parakeet", "--format", ",".join(FORMATS), "--batch-seconds", "4", "--output-dir", str(out)]
    with ctrl_c_reaches_children():
        proc = subprocess.Popen(cmd, cwd=PROJECT_DIR, env=app_env(tmp_path), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    def wait_done(n: int) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / LEDGER_NAME).exists() and done_count(out) >= n:
                return
            time.sleep(0.1)
        proc.kill()
        raise AssertionError(f"{n} files not done: {rows(out) if (out / LEDGER_NAME).exists() else 'no ledger'}\n"
                             + "\n".join(proc.communicate()))

    try:
        wait_done(1)
        data = (tree / "clip05.wav").read_bytes()
        with open(folder / "slow.wav", "wb") as f:  # copied in slowly, in parts
            for i in range(0, len(data), len(data) // 4 + 1):
                f.write(data[i : i + len(data) // 4 + 1])
                f.flush()
                time.sleep(0.4)
        (folder / "sub").mkdir()
        shutil.copy(tree / "clip08.wav", folder / "sub" / "later.wav")
        wait_done(3)
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, stdout + stderr
    assert "Stopped watching" in stderr
    assert sorted(rows(out).values()) == [("done", 1)] * 3
    assert (out / "slow.txt").read_text() == (out / "slow.txt").read_text().strip() + "\n"
    assert (out / "sub" / "later.srt").exists()


# ------------------------------------------------------------------------------------------ command line


def test_command_line_folder_job_rerun_and_status(store, tree, tmp_path, capsys):
    """``--transcribe FOLDER`` runs a job (summary on stdout), a rerun skips it all, ``--status`` reports it."""
    import transcribe_ui

    models = str(store.models_dir)
    args = ["--models-dir", models, "--only", "parakeet", "--format", "txt", "--output-dir", str(tmp_path / "o"),
            "--batch-seconds", "8", "--transcribe", str(tree / "2024")]
    assert transcribe_ui.main(args) == 0
    out = capsys.readouterr().out
    assert "Job: 10 done, 0 no speech, 0 failed" in out
    assert transcribe_ui.main(args) == 0
    assert "Job: 0 done, 0 no speech, 0 failed, 10 already done before" in capsys.readouterr().out
    assert transcribe_ui.main(["--status", "--output-dir", str(tmp_path / "o")]) == 0
    assert "0 pending, 0 running, 10 done, 0 no speech, 0 failed" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "o").iterdir())[:2] == [".transcribe-job.sqlite", "clip00.txt"]


# ------------------------------------------------------------------------------------------ Canary


def test_canary_batches_windows_of_several_files_with_the_text_of_each_alone(tiny_sources, tmp_path):
    """The tiny SALM (LoRA weights non-zero, so it says something): windows of 6 files of varied length (several
    windows each, at most 2 s) in shared batches of 4 give each file's segments as the file alone."""
    import torch

    from offline_transcribe.backends import get_backend
    from offline_transcribe.config import LongAudioPolicy
    from offline_transcribe.loaders.salm_checkpoint import restore_salm
    from tiny_models import build_tiny_canary

    build_tiny_canary(tmp_path / "canary", tiny_sources["parakeet"], lora=True)
    model = restore_salm(tmp_path / "canary", "cpu", torch.float32)
    rng = np.random.default_rng(11)
    audios = [utterance(rng, 2 + 2 * (i % 3)) for i in range(6)]
    policy = LongAudioPolicy(canary_window_s=2.0, canary_batch_size=4)
    backend = get_backend("salm")
    notes: list[list[str]] = [[] for _ in audios]
    batch = backend.transcribe_batch(model, audios, policy, notes)
    alone_notes: list[list[str]] = [[] for _ in audios]
    single = [backend.transcribe(model, a, policy, lambda f, m: None, n)
              for a, n in zip(audios, alone_notes, strict=True)]
    assert sum(len(s) for s in single) > len(audios)  # several windows, with text
    assert batch == single
    assert notes == alone_notes
