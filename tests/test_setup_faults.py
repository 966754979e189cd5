"""Fault trials: setup_local_models.py is SIGKILLed at random moments; the models folder must stay consistent.

Each trial starts a setup run (a throttled download from the fake hub, a ``--force`` re-download, or a ``--from``
adoption of the tiny models or of variants of them) and kills it. Then, for each model, the fast check either finds
nothing wrong, and the deep ``--verify`` check passes, or reports the model missing: never a partial or damaged
file where the app looks, never a manifest that disagrees with the files. Trials run in a few models folders one
after another, so each run also starts from what the killed one before it left behind. At the end a normal run
completes in every folder and ``--verify`` passes.

Copying, renaming and writing the manifest take microseconds with tiny models, so a kill at a random time would
almost never land between them. The trials therefore run the real script in "slow motion": a wrapper adds an
audit hook (``sys.addaudithook``) that, before every file write, copy, rename or removal inside the models folder,
appends the operation to a trace file and pauses briefly. The script's own steps and their order are unchanged;
each gap between two of them lasts long enough to be hit, and the trace says where each kill landed.

A second test sweeps the riskiest path systematically: replacing an installed model with a different copy is
killed once before each of its file operations (the moments a random kill would rarely hit).

Summary lines are printed (``pytest -s``) and written to ``$TEST_ARTIFACTS_DIR/setup_faults.json`` when set.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_setup import (
    PROJECT_DIR,
    RUN_TIMEOUT_S,
    Setup,
    closed_endpoint,
    nemo_variant,
    publish_tiny_models,
    salm_variant,
)

from fake_hub import FakeHub
from offline_transcribe.models.files import check_local_models, sha256_file
from offline_transcribe.models.registry import MODELS, required_keys

REQUIRED = required_keys()  # the models a plain run sets up

pytestmark = pytest.mark.slow

SEED = 20250601
TRIALS = 24
LANES = 3  # models folders; trials take turns on them, each starting from what the last kill left
PAUSE_S = 0.05  # the pause before each traced operation of setup itself
HUB_BYTES_PER_SECOND = 1_500_000  # each tiny model (~1.5 MB) downloads in about a second
START_SECONDS, ADOPT_SECONDS, DOWNLOAD_SECONDS = 0.4, 0.6, 1.6  # roughly: start-up; one adoption; one download
STEPS = ("download", "copy", "staging-rename", "swap-into-place", "manifest", "verified-stamp", "clean-up")

# Runs setup_local_models.py with an audit hook that logs each write, copy, rename and removal inside the models
# folder, and pauses before each of setup's own (huggingface_hub's bookkeeping under .cache/ is logged only).
TRACED_SETUP = r"""
import os, runpy, sys, time

root = os.environ["SETUP_TRACE_ROOT"].rstrip(os.sep) + os.sep
pause = float(os.environ["SETUP_TRACE_PAUSE"])
trace = os.open(os.environ["SETUP_TRACE_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def inside(path):
    try:
        path = os.path.abspath(os.fsdecode(path))
    except TypeError:  # a file descriptor
        return None
    return path[len(root):] if path.startswith(root) else None


def hook(event, args):
    if event == "open":
        path, mode, flags = args
        writes = any(c in mode for c in "wax+") if mode else bool(flags & (os.O_WRONLY | os.O_RDWR))
        paths = [path] if writes else []
    elif event in ("os.rename", "shutil.copyfile"):
        paths = list(args[:2])
    elif event in ("os.remove", "shutil.rmtree"):
        paths = [args[0]]
    else:
        return
    names = [inside(p) for p in paths]
    if any(names):
        os.write(trace, f"{time.monotonic():.4f} {event} {' '.join(str(n) for n in names)}\n".encode())
        if not any(n and (".cache/huggingface" in n or n == ".setup.lock") for n in names):
            time.sleep(pause)


sys.addaudithook(hook)
sys.argv[0] = "setup_local_models.py"
runpy.run_path("setup_local_models.py", run_name="__main__")
"""

Event = tuple[float, str, list[str]]  # (time.monotonic() when logged, audit event, paths inside the models folder)


def paused(event: Event) -> bool:
    """Whether the traced run paused before this operation (setup's own, not huggingface_hub's bookkeeping)."""
    return not any(".cache/huggingface" in name or name == ".setup.lock" for name in event[2])


def phase_of(event: Event | None) -> str:
    """Which step of setup a traced operation belongs to."""
    if event is None:
        return "start-up"
    _, name, paths = event
    joined = " ".join(paths)
    if joined == ".setup.lock":
        return "start-up"
    if "manifest.json" in joined:
        return "manifest"
    if ".verified.json" in joined:
        return "verified-stamp"
    if (name == "os.rename" and "/ready/" in paths[1]) or (name == "shutil.rmtree" and joined.endswith("/ready")):
        return "staging-rename"  # laying out the final shape inside staging
    if "/download" in joined or "/llm-download" in joined:
        return "download"
    if name == "shutil.copyfile" or (name == "open" and joined.startswith(".staging-")):
        return "copy"
    if name == "os.rename":
        return "swap-into-place"
    if name in ("shutil.rmtree", "os.remove"):
        return "clean-up"
    return "other"


@dataclass
class Lane:
    """One models folder that trials take turns on."""

    setup: Setup
    trace: Path
    complete: set[str] = field(default_factory=set)  # models found complete after the last trial

    def start(self, *args: str) -> subprocess.Popen:
        """Start a traced setup run (no load check)."""
        self.trace.parent.mkdir(parents=True, exist_ok=True)
        self.trace.write_text("")
        env = {
            "SETUP_TRACE_ROOT": str(self.setup.models_dir.resolve()),
            "SETUP_TRACE_PAUSE": str(PAUSE_S),
            "SETUP_TRACE_FILE": str(self.trace),
        }
        return self.setup.start(*args, "--no-check-load", python_code=TRACED_SETUP, env=env)

    def events(self) -> list[Event]:
        """The traced operations of the last run, in order."""
        out = []
        for line in self.trace.read_text().splitlines():
            stamp, event, *names = line.split(" ")
            out.append((float(stamp), event, names))
        return out


@dataclass(frozen=True)
class Plan:
    """When one trial kills its run: ``delay`` s after it starts ("timed"), or ``delay`` s after the ``nth``
    traced operation of ``step`` ("at-step"), or the ``nth`` paused operation of any step ("at-op"), is logged:
    within the pause before that operation runs."""

    kind: str  # download | force | adopt
    args: tuple[str, ...]
    mode: str
    delay: float
    step: str = ""
    nth: int = 1


def plan_trial(
    rng: random.Random, lane: Lane, sources: dict[str, list[Path]], step: str | None, nth: int = 1
) -> Plan:
    """A random trial for ``lane``: killed at a random time, or (``step`` given) just before the ``nth``
    operation of that step."""
    mode = "at-step" if step else "timed"
    step = step or ""
    if step == "copy":
        kind = "adopt"
    elif step == "download":
        kind = rng.choice(("download", "force"))
    else:
        kind = rng.choice(("download", "force", "adopt"))
    key = rng.choice(sorted(REQUIRED))
    keys = [key] if kind == "adopt" else rng.choice(([key], REQUIRED))  # one model, or both (Parakeet first)
    if kind == "download" and set(keys) <= lane.complete:
        kind = "force"  # a plain run would have nothing to do
    if kind == "adopt":
        args: tuple[str, ...] = ("--from", str(pick_source(rng, lane, key, sources[key])))
    else:
        only = ("--only", key) if len(keys) == 1 else ()
        args = (*only, "--force") if kind == "force" else only
    if mode == "timed":  # anywhere in the run: estimate how long it takes
        to_fetch = [k for k in keys if kind == "force" or k not in lane.complete]
        seconds = START_SECONDS + (ADOPT_SECONDS if kind == "adopt" else DOWNLOAD_SECONDS * len(to_fetch))
        return Plan(kind, args, mode, rng.uniform(0.1, seconds))
    delay = rng.uniform(0, 0.8) if step == "download" else rng.uniform(0, PAUSE_S / 2)
    return Plan(kind, args, mode, delay, step, nth)


def pick_source(rng: random.Random, lane: Lane, key: str, candidates: list[Path]) -> Path:
    """A copy to adopt: one that differs from the installed model if there is one (a real replacement)."""
    if key in lane.complete:
        name = "config.json" if MODELS[key].is_folder else ""
        installed = sha256_file(MODELS[key].path(lane.setup.models_dir) / name)
        others = [c for c in candidates if sha256_file(c / name) != installed]
        if others:
            return rng.choice(others)
    return rng.choice(candidates)


def run_and_kill(lane: Lane, plan: Plan) -> tuple[str, float, str]:
    """Start the run, SIGKILL it as planned; (step it was killed in, or "finished", seconds, output)."""
    proc = lane.start(*plan.args)
    t0 = time.monotonic()
    try:
        while proc.poll() is None and time.monotonic() - t0 < RUN_TIMEOUT_S:
            if plan.mode == "timed" and time.monotonic() - t0 >= plan.delay:
                break
            if plan.mode == "at-step" and sum(phase_of(e) == plan.step for e in lane.events()) >= plan.nth:
                time.sleep(plan.delay)
                break
            if plan.mode == "at-op" and sum(paused(e) for e in lane.events()) >= plan.nth:
                time.sleep(plan.delay)
                break
            time.sleep(0.005)
        killed_at = time.monotonic()
        was_running = proc.poll() is None
    finally:
        proc.kill()
        output = proc.communicate(timeout=RUN_TIMEOUT_S)[0]
    if not (was_running and proc.returncode == -signal.SIGKILL):
        assert proc.returncode == 0, f"{plan} failed on its own:\n{output}"
        return "finished", killed_at - t0, output
    events = [e for e in lane.events() if e[0] <= killed_at]
    return phase_of(events[-1] if events else None), killed_at - t0, output


def classify(models_dir: Path, key: str, known_sha256: dict[str, set[str]]) -> tuple[str, str]:
    """(complete | missing | damaged, why) for one model: the app's fast check first, then the deep one."""
    problems = check_local_models(models_dir, [key])
    if not problems:
        deep = check_local_models(models_dir, [key], deep=True)
        return ("complete", "") if not deep else ("damaged", "; ".join(f"{p.path}: {p.message}" for p in deep))
    wrong = [p for p in problems if not p.missing]
    if wrong:
        return "damaged", "; ".join(f"{p.path}: {p.message}" for p in wrong)
    # Missing, or there but not recorded yet: whatever is at the final place must be a whole, known file.
    for rel in MODELS[key].required_files():
        path = models_dir / rel
        if path.is_file() and sha256_file(path) not in known_sha256.get(rel, set()):
            return "damaged", f"{path} is at the final place but is not a whole copy of any published file"
    return "missing", problems[0].message


def work_folders(lane: Lane) -> list[str]:
    """Setup's staging and trash folders left in the models folder (by a killed run)."""
    return sorted(p.name for pattern in (".staging-*", ".trash-*") for p in lane.setup.models_dir.glob(pattern))


def verify_with_script(lane: Lane, keys: list[str]) -> None:
    """The script's own ``--verify`` deep check passes for ``keys``."""
    only = [arg for key in keys for arg in ("--only", key)]
    assert "match the sha256 recorded" in lane.setup.run("--verify", *only)


@dataclass
class Tally:
    """What the trials did and found."""

    trials: int = 0
    kinds: Counter = field(default_factory=Counter)
    killed_during: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)  # per model and trial: complete / missing / damaged
    failures: list[str] = field(default_factory=list)

    @property
    def killed(self) -> int:
        return self.trials - self.killed_during["finished"]

    def summary(self) -> dict:
        return {
            "seed": SEED,
            "trials": self.trials,
            "killed": self.killed,
            "finished_before_the_kill": self.killed_during["finished"],
            "kinds": dict(sorted(self.kinds.items())),
            "killed_during": dict(sorted(self.killed_during.items())),
            "model_outcomes": {k: self.outcomes[k] for k in ("complete", "missing", "damaged")},
            "data_lost": self.outcomes["damaged"],
        }


def report(section: str, summary: dict) -> None:
    """Print the summary line, and merge it into ``$TEST_ARTIFACTS_DIR/setup_faults.json`` when that is set."""
    print(f"\nsetup fault trials ({section}): {json.dumps(summary)}")
    folder = os.environ.get("TEST_ARTIFACTS_DIR")
    if not folder:
        return
    out = Path(folder) if Path(folder).is_absolute() else PROJECT_DIR / folder
    out.mkdir(parents=True, exist_ok=True)
    path = out / "setup_faults.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    path.write_text(json.dumps({**data, section: summary}, indent=2) + "\n")


@dataclass(frozen=True)
class Sources:
    """Two different copies of each model to adopt (the tiny one and a variant), and every whole file's sha256."""

    candidates: dict[str, list[Path]]  # key -> [tiny, variant]
    known_sha256: dict[str, set[str]]  # path inside the models folder -> sha256 of each whole version


@pytest.fixture(scope="module")
def sources(tiny_sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Sources:
    folder = tmp_path_factory.mktemp("variants")
    variants = {
        "parakeet": nemo_variant(tiny_sources["parakeet"], folder / "variant.nemo"),
        "canary": salm_variant(tiny_sources["canary"], folder / "variant-salm"),
    }
    known: dict[str, set[str]] = {}
    for key in REQUIRED:
        spec = MODELS[key]
        for source in (tiny_sources[key], variants[key]):
            for rel in spec.required_files():
                inner = rel.split("/", 1)[1] if spec.is_folder else ""
                known.setdefault(rel, set()).add(sha256_file(source / inner))
    return Sources({key: [tiny_sources[key], variants[key]] for key in REQUIRED}, known)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[FakeHub]:
    with FakeHub(tmp_path / "hub-storage") as running:
        yield running


def test_killed_setup_never_leaves_a_partial_model(
    hub: FakeHub, tiny_sources: dict[str, Path], sources: Sources, tmp_path: Path
) -> None:
    """Random kills of download, --force and --from runs, each run starting from what the last kill left."""
    published = publish_tiny_models(hub, tiny_sources)
    assert all(published.sha256[rel] in sha256s for rel, sha256s in sources.known_sha256.items())
    hub.bytes_per_second = HUB_BYTES_PER_SECOND
    known = sources.known_sha256
    lanes = [
        Lane(Setup(tmp_path / f"lane{i}" / "local_models", hub.endpoint, tmp_path / f"lane{i}" / "hf-home"),
             tmp_path / f"lane{i}" / "trace.txt")
        for i in range(LANES)
    ]
    rng = random.Random(SEED)
    # Odd trials are killed at a step: every step in turn (its first operation), then again in a random order.
    steps = [(step, 1) for step in STEPS] + [(step, rng.choice((1, 2))) for step in rng.sample(STEPS, len(STEPS))]
    tally = Tally()
    started = time.monotonic()

    for trial in range(TRIALS):
        lane = lanes[trial % LANES]
        plan = plan_trial(rng, lane, sources.candidates, *(steps.pop(0) if trial % 2 else (None,)))
        phase, seconds, _ = run_and_kill(lane, plan)
        tally.trials += 1
        tally.kinds[plan.kind] += 1
        tally.killed_during[phase] += 1
        lane.complete, outcomes = set(), []
        for key in REQUIRED:
            outcome, why = classify(lane.setup.models_dir, key, known)
            tally.outcomes[outcome] += 1
            outcomes.append(f"{key}={outcome}")
            if outcome == "damaged":
                tally.failures.append(f"trial {trial} ({plan}) killed during {phase}: {key}: {why}")
            elif outcome == "complete":
                lane.complete.add(key)
        print(f"trial {trial:2d} lane {trial % LANES} {' '.join(plan.args)[-28:]:28s} {plan.mode:7s} {plan.step:15s} "
              f"{'killed' if phase != 'finished' else 'ended'} at {seconds:4.2f} s in {phase:15s} {' '.join(outcomes)}")
        if lane.complete and not tally.failures:
            verify_with_script(lane, sorted(lane.complete))

    summary = {**tally.summary(), "seconds": round(time.monotonic() - started, 1), "failures": tally.failures}
    report("random", summary)
    assert not tally.failures, "\n".join(tally.failures)
    assert tally.killed >= 20, summary
    assert len(set(STEPS) & set(tally.killed_during)) >= len(STEPS) - 2, summary  # kills spread over the steps
    for lane in lanes:  # a normal run repairs whatever the last kill left, and the result verifies
        assert "Done." in lane.setup.run()
        verify_with_script(lane, REQUIRED)
        assert not work_folders(lane)


def installed_version(lane: Lane, key: str, candidates: list[Path]) -> int | None:
    """Which of ``candidates`` is the complete, recorded model in ``lane`` (None: none is)."""
    if check_local_models(lane.setup.models_dir, [key]):
        return None
    name = "config.json" if MODELS[key].is_folder else ""
    installed = sha256_file(MODELS[key].path(lane.setup.models_dir) / name)
    return next(i for i, c in enumerate(candidates) if sha256_file(c / name) == installed)


def test_kill_before_every_step_of_replacing_a_model(sources: Sources, tmp_path: Path) -> None:
    """Replacing an installed model with another copy (``--from``) is killed once before each of its file
    operations after the copies into staging: the old model, the new one, or a model reported missing; never a
    mix, never a manifest describing other files than those in place."""
    rng = random.Random(SEED + 1)
    tally = Tally()
    started, on_target = time.monotonic(), 0
    for key in REQUIRED:
        candidates = sources.candidates[key]
        lane = Lane(Setup(tmp_path / key / "local_models", closed_endpoint(), tmp_path / key / "hf-home"),
                    tmp_path / key / "trace.txt")
        lane.setup.run("--from", str(candidates[0]))
        proc = lane.start("--from", str(candidates[1]))  # once to the end, to list the operations
        assert proc.communicate(timeout=RUN_TIMEOUT_S)[0] and proc.returncode == 0
        ops = [e for e in lane.events() if paused(e)]
        first = 1 + max(i for i, e in enumerate(ops) if phase_of(e) == "copy")
        for index in range(first, len(ops)):
            installed = installed_version(lane, key, candidates)
            if installed is None:  # the last kill left it missing: put one back first
                lane.setup.run("--from", str(candidates[0]))
                installed = 0
            elif work_folders(lane):  # clear a killed run's staging or trash, so that the next run does
                lane.setup.run("--only", key)  # the same operations as the listed one
            plan = Plan("adopt", ("--from", str(candidates[1 - installed])), "at-op", rng.uniform(0, PAUSE_S / 2),
                        nth=index + 1)
            phase, seconds, _ = run_and_kill(lane, plan)
            on_target += phase == phase_of(ops[index])  # else a slow poll let the operation run first
            tally.trials += 1
            tally.kinds[f"replace {key}"] += 1
            tally.killed_during[phase] += 1
            outcome, why = classify(lane.setup.models_dir, key, sources.known_sha256)
            tally.outcomes[outcome] += 1
            if outcome == "damaged":
                tally.failures.append(f"{key}: killed before {ops[index][1]} {' '.join(ops[index][2])}: {why}")
            print(f"replace {key:8s} killed before op {index:2d} {ops[index][1]:15s} {' '.join(ops[index][2])[:60]:60s}"
                  f" -> {outcome}")
        assert not tally.failures, "\n".join(tally.failures)
        assert "Done." in lane.setup.run("--only", key)
        assert "match the sha256 recorded" in lane.setup.run("--verify", "--only", key)
        assert not work_folders(lane)

    summary = {**tally.summary(), "killed_before_the_planned_operation": on_target,
               "seconds": round(time.monotonic() - started, 1), "failures": tally.failures}
    del summary["seed"]
    report("replacement sweep", summary)
    assert not tally.failures, "\n".join(tally.failures)
    assert on_target >= 0.8 * tally.trials, summary
