"""setup_local_models.py end to end: the real script in a subprocess, against a loopback fake Hugging Face hub.

The tiny models of ``tiny_sources`` are published on the fake hub under the registry's repo ids, with the
registry's pinned revisions as their commit ids, so the default (pinned) path runs unmodified. Each run gets
an environment without the offline switches the test process has, ``HF_ENDPOINT`` pointing at the fake hub (or
at a closed port, to prove a run needs no network) and a private ``HF_HOME``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

from fake_hub import FakeHub, hub_client_env
from offline_transcribe.models.files import check_local_models, read_manifest, sha256_file
from offline_transcribe.models.registry import MODELS
from offline_transcribe.setup.staging import human

PROJECT_DIR = Path(__file__).resolve().parent.parent
SCRIPT = "setup_local_models.py"
PARAKEET, CANARY, V3 = MODELS["parakeet"], MODELS["canary"], MODELS["parakeet-v3"]
RUN_TIMEOUT_S = 420  # the first run loads both models in child processes (NeMo import: tens of seconds)
CANARY_FILES = ("config.json", "model.safetensors")  # published in nvidia/canary-qwen-2.5b
QWEN_FILES = {  # published in Qwen/Qwen3-1.7B -> where they go in the SALM folder
    "tokenizer.json": "tokenizer.json",
    "tokenizer_config.json": "tokenizer_config.json",
    "config.json": "llm_backbone/config.json",
}


# ---------------------------------------------------------------------------------------------------------------
# Helpers (test_setup_faults.py uses them too)


@dataclass(frozen=True)
class Published:
    """What the fake hub serves: each repo's commit, and each installed file's published sha256 and origin."""

    parakeet: str
    canary: str
    qwen: str
    sha256: dict[str, str]  # path inside the models folder -> sha256 of the published content
    origin: dict[str, str]  # path inside the models folder -> "repo@commit:file"


def publish_tiny_models(hub: FakeHub, sources: dict[str, Path]) -> Published:
    """Publish the tiny models under the registry's repo ids, at the registry's pinned commits."""
    nemo, salm = sources["parakeet"], sources["canary"]
    parakeet = hub.commit(
        PARAKEET.repo_id, {PARAKEET.hub_filename: nemo, "README.md": b"# tiny parakeet\n"}, sha=PARAKEET.revision
    )
    canary = hub.commit(CANARY.repo_id, {name: salm / name for name in CANARY_FILES}, sha=CANARY.revision)
    qwen = hub.commit(
        CANARY.llm_repo_id, {name: salm / local for name, local in QWEN_FILES.items()}, sha=CANARY.llm_revision
    )
    sha256 = {PARAKEET.local_name: sha256_file(nemo)}
    origin = {PARAKEET.local_name: f"{PARAKEET.repo_id}@{parakeet}:{PARAKEET.hub_filename}"}
    for name in CANARY_FILES:
        sha256[f"canary/{name}"] = sha256_file(salm / name)
        origin[f"canary/{name}"] = f"{CANARY.repo_id}@{canary}:{name}"
    for name, local in QWEN_FILES.items():
        sha256[f"canary/{local}"] = sha256_file(salm / local)
        origin[f"canary/{local}"] = f"{CANARY.llm_repo_id}@{qwen}:{name}"
    return Published(parakeet, canary, qwen, sha256, origin)


def closed_endpoint() -> str:
    """An http endpoint on a loopback port nothing listens on: every connection is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class Setup:
    """Runs setup_local_models.py on one models folder, against one hub endpoint, with one HF_HOME."""

    models_dir: Path
    endpoint: str
    hf_home: Path

    def command(self, *args: str, python_code: str | None = None) -> list[str]:
        """The command line; ``python_code`` runs the script through a wrapper (``python -c CODE ARGS``)."""
        head = [sys.executable, "-c", python_code] if python_code else [sys.executable, SCRIPT]
        return [*head, "--models-dir", str(self.models_dir), *args]

    def start(self, *args: str, python_code: str | None = None, env: dict[str, str] | None = None,
              **popen: object) -> subprocess.Popen:
        """Start a run (stdout and stderr merged into one text pipe)."""
        return subprocess.Popen(
            self.command(*args, python_code=python_code),
            cwd=PROJECT_DIR,
            env={**hub_client_env(self.endpoint, self.hf_home), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            **popen,
        )

    def run(self, *args: str, expect: int = 0, check_load: bool = False, **kwargs: object) -> str:
        """Run to the end, assert the exit status, return the output."""
        if not check_load:
            args = (*args, "--no-check-load")
        proc = self.start(*args, **kwargs)
        output = proc.communicate(timeout=RUN_TIMEOUT_S)[0]
        assert proc.returncode == expect, f"exit status {proc.returncode}, expected {expect}:\n{output}"
        return output


def nemo_variant(source: Path, out: Path) -> Path:
    """A different but valid ``.nemo``: ``source`` with one more member (another size and sha256)."""
    shutil.copyfile(source, out)
    extra = out.with_name("NOTE.txt")
    extra.write_text("a variant of the tiny model\n")
    with tarfile.open(out, "a") as tar:
        tar.add(extra, arcname="./NOTE.txt")
    return out


def salm_variant(source: Path, out: Path) -> Path:
    """A different SALM folder: ``source`` with an extra key in config.json."""
    shutil.copytree(source, out)
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "variant_note": "a variant"}, indent=2))
    return out


def leftovers(models_dir: Path) -> list[str]:
    """Hidden work files of setup still in the models folder (staging, trash, temporary manifests)."""
    return sorted(p.name for p in models_dir.glob(".*") if p.name not in (".setup.lock", ".verified.json"))


def flip_byte(path: Path, position: int | None = None) -> None:
    """Invert one byte of ``path`` in place (the middle one by default): same size, other content."""
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size // 2 if position is None else position)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))


def wait_for(condition: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` s or when ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the run ended before {what}:\n{proc.communicate()[0]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[FakeHub]:
    with FakeHub(tmp_path / "hub-storage") as running:
        yield running


@pytest.fixture
def published(hub: FakeHub, tiny_sources: dict[str, Path]) -> Published:
    return publish_tiny_models(hub, tiny_sources)


@pytest.fixture
def setup(tmp_path: Path, hub: FakeHub) -> Setup:
    """Setup runs on an empty ``local_models`` folder against the fake hub, with an empty HF_HOME."""
    return Setup(tmp_path / "local_models", hub.endpoint, tmp_path / "hf-home")


def manifest_models(models_dir: Path) -> dict[str, dict]:
    return read_manifest(models_dir)["models"]


def assert_matches_published(models_dir: Path, published: Published, key: str) -> dict:
    """The model's files and manifest entry are exactly what the hub published; returns the entry."""
    entry = manifest_models(models_dir)[key]
    files = entry["files"]
    expected = {rel for rel in published.sha256 if rel.startswith(MODELS[key].local_name)}
    assert set(files) == expected
    for rel, info in files.items():
        path = models_dir / rel
        assert info["sha256"] == published.sha256[rel] == sha256_file(path), rel
        assert info["size"] == path.stat().st_size, rel
        assert info["origin"] == published.origin[rel], rel
    assert entry["nemo_version"] == metadata.version("nemo_toolkit")
    assert check_local_models(models_dir, [key], deep=True) == []
    return entry


# ---------------------------------------------------------------------------------------------------------------
# Download at the pinned revision


def test_first_run_downloads_pinned_commits_and_second_run_downloads_nothing(
    setup: Setup, hub: FakeHub, published: Published
) -> None:
    output = setup.run(check_load=True)
    root = setup.models_dir
    assert "Every new model loaded successfully." in output
    assert f"revision {published.parakeet}" in output and f"revision {published.canary}" in output
    assert hub.file_downloads() == [
        f"/{PARAKEET.repo_id}/resolve/{PARAKEET.revision}/{PARAKEET.hub_filename}",
        *(f"/{CANARY.repo_id}/resolve/{published.canary}/{name}" for name in CANARY_FILES),
        *(f"/{CANARY.llm_repo_id}/resolve/{CANARY.llm_revision}/{name}" for name in QWEN_FILES),
    ]
    parakeet = assert_matches_published(root, published, "parakeet")
    canary = assert_matches_published(root, published, "canary")
    assert parakeet["revision"] == PARAKEET.revision == published.parakeet
    assert canary["revision"] == published.canary and len(canary["revision"]) == 40
    assert parakeet["source"] == f"downloaded from the Hugging Face hub ({PARAKEET.repo_id}@{published.parakeet})"
    assert canary["source"] == f"downloaded from the Hugging Face hub ({CANARY.repo_id}@{published.canary})"
    assert leftovers(root) == []

    hub.clear_log()
    again = setup.run(check_load=True)
    assert "parakeet: already set up" in again and "canary: already set up" in again
    assert again.count("nothing downloaded") == 2
    assert "loaded successfully" not in again  # nothing new to load
    assert hub.requests == []  # not even a metadata request
    assert manifest_models(root)["parakeet"] == parakeet


def test_new_commit_on_main_changes_nothing_for_a_pinned_setup(
    setup: Setup, hub: FakeHub, published: Published, tiny_sources: dict[str, Path], tmp_path: Path
) -> None:
    setup.run()
    newer_nemo = nemo_variant(tiny_sources["parakeet"], tmp_path / "newer.nemo")
    newer_salm = salm_variant(tiny_sources["canary"], tmp_path / "newer-salm")
    new_parakeet = hub.commit(PARAKEET.repo_id, {PARAKEET.hub_filename: newer_nemo})
    new_canary = hub.commit(CANARY.repo_id, {name: newer_salm / name for name in CANARY_FILES})
    assert hub.branch_head(PARAKEET.repo_id) == new_parakeet != published.parakeet
    hub.clear_log()

    output = setup.run()
    assert output.count("already set up") == 2 and hub.file_downloads() == []

    # --force fetches the pinned commits again, not main's.
    hub.clear_log()
    output = setup.run("--force")
    assert sorted(hub.file_downloads()) == sorted(
        [
            f"/{PARAKEET.repo_id}/resolve/{published.parakeet}/{PARAKEET.hub_filename}",
            *(f"/{CANARY.repo_id}/resolve/{published.canary}/{name}" for name in CANARY_FILES),
            *(f"/{CANARY.llm_repo_id}/resolve/{published.qwen}/{name}" for name in QWEN_FILES),
        ]
    )
    assert new_parakeet not in output and new_canary not in output
    assert assert_matches_published(setup.models_dir, published, "parakeet")["revision"] == published.parakeet
    assert assert_matches_published(setup.models_dir, published, "canary")["revision"] == published.canary


def requested_revisions(hub: FakeHub) -> set[str]:
    """Every revision the client named in its requests (``/api/models/R/revision/REV``, ``/R/resolve/REV/F``)."""
    seen = set()
    for _, path in hub.requests:
        parts = path.split("?")[0].strip("/").split("/")
        for marker in ("revision", "resolve", "tree"):
            if marker in parts[:-1]:
                seen.add(parts[parts.index(marker) + 1])
    return seen


def test_setup_asks_the_hub_for_the_pinned_commits_only_never_main(
    setup: Setup, hub: FakeHub, published: Published, tiny_sources: dict[str, Path]
) -> None:
    hub.commit(V3.repo_id, {V3.hub_filename: tiny_sources["parakeet"]}, sha=V3.revision)
    for spec in (CANARY, V3):
        hub.commit(spec.repo_id, {"README.md": b"a newer main\n"})  # main moves on: must not matter
    setup.run()
    output = setup.run("--only", "parakeet-v3")
    assert f"revision {V3.revision}" in output and "parakeet-v3: installed" in output
    assert requested_revisions(hub) == {PARAKEET.revision, CANARY.revision, V3.revision, CANARY.llm_revision}
    assert "main" not in requested_revisions(hub)
    assert hub.file_downloads()[-1] == f"/{V3.repo_id}/resolve/{V3.revision}/{V3.hub_filename}"
    assert manifest_models(setup.models_dir)["parakeet-v3"]["revision"] == V3.revision
    assert check_local_models(setup.models_dir, ["parakeet", "canary", "parakeet-v3"], deep=True) == []


def test_a_pinned_commit_the_hub_does_not_know_fails_setup_saying_so(
    tmp_path: Path, tiny_sources: dict[str, Path]
) -> None:
    with FakeHub(tmp_path / "hub-storage") as hub:
        salm = tiny_sources["canary"]
        other = hub.commit(CANARY.repo_id, {name: salm / name for name in CANARY_FILES})  # only another commit
        setup = Setup(tmp_path / "local_models", hub.endpoint, tmp_path / "hf-home")
        output = setup.run("--only", "canary", expect=1)
    assert "Canary-Qwen-2.5B: setup failed." in output
    assert f"{CANARY.repo_id} has no revision {CANARY.revision!r} on the hub" in output
    assert "the commit this app is pinned to" in output and "--from PATH" in output
    assert other not in output and hub.file_downloads() == []
    assert not (setup.models_dir / "canary").exists()


def test_revision_main_resolves_to_the_full_commit_sha(
    setup: Setup, hub: FakeHub, published: Published, tiny_sources: dict[str, Path], tmp_path: Path
) -> None:
    newer_nemo = nemo_variant(tiny_sources["parakeet"], tmp_path / "newer.nemo")
    head = hub.commit(PARAKEET.repo_id, {PARAKEET.hub_filename: newer_nemo})
    output = setup.run("--only", "parakeet", "--revision", "main")
    entry = manifest_models(setup.models_dir)["parakeet"]
    assert entry["revision"] == head and len(head) == 40 and head != PARAKEET.revision
    assert f"revision {head}" in output
    assert entry["files"][PARAKEET.local_name]["origin"] == f"{PARAKEET.repo_id}@{head}:{PARAKEET.hub_filename}"
    assert sha256_file(setup.models_dir / PARAKEET.local_name) == sha256_file(newer_nemo)
    assert hub.file_downloads() == [f"/{PARAKEET.repo_id}/resolve/{head}/{PARAKEET.hub_filename}"]


# ---------------------------------------------------------------------------------------------------------------
# Adoption of copies the user already has


def test_from_a_nemo_file_and_a_salm_folder_needs_no_network(
    setup: Setup, tiny_sources: dict[str, Path]
) -> None:
    setup.endpoint = closed_endpoint()
    for key, source in tiny_sources.items():
        output = setup.run("--from", str(source))
        assert f"{key}: installed" in output
        entry = manifest_models(setup.models_dir)[key]
        assert entry["source"] == f"adopted from {source}" and entry["revision"] is None
        assert check_local_models(setup.models_dir, [key], deep=True) == []
    assert sha256_file(setup.models_dir / "parakeet.nemo") == sha256_file(tiny_sources["parakeet"])
    for rel in ("config.json", "model.safetensors", "tokenizer.json", "llm_backbone/config.json"):
        assert sha256_file(setup.models_dir / "canary" / rel) == sha256_file(tiny_sources["canary"] / rel)
    assert leftovers(setup.models_dir) == []


def test_from_a_folder_without_tokenizer_takes_it_from_the_llm_repo(
    setup: Setup, hub: FakeHub, published: Published, tiny_sources: dict[str, Path], tmp_path: Path
) -> None:
    bare = tmp_path / "weights-only"
    bare.mkdir()
    for name in CANARY_FILES:
        shutil.copyfile(tiny_sources["canary"] / name, bare / name)
    output = setup.run("--from", str(bare))
    assert f"taking them from {CANARY.llm_repo_id}" in output
    assert hub.file_downloads() == [f"/{CANARY.llm_repo_id}/resolve/{published.qwen}/{name}" for name in QWEN_FILES]
    files = manifest_models(setup.models_dir)["canary"]["files"]
    for name, local in QWEN_FILES.items():
        assert files[f"canary/{local}"]["origin"] == f"{CANARY.llm_repo_id}@{published.qwen}:{name}"
        assert files[f"canary/{local}"]["sha256"] == published.sha256[f"canary/{local}"]
    assert files["canary/model.safetensors"]["origin"] == str(bare / "model.safetensors")
    assert check_local_models(setup.models_dir, ["canary"], deep=True) == []


HUB_CACHE_FILLER = """
import json, sys
from huggingface_hub import hf_hub_download
for repo, name, revision, cache_dir in json.loads(sys.argv[1]):
    hf_hub_download(repo, name, revision=revision, cache_dir=cache_dir)
"""


def test_copy_in_the_hub_cache_is_adopted_without_download(
    setup: Setup, hub: FakeHub, published: Published
) -> None:
    cache = str(setup.hf_home / "hub")
    wanted = [
        (PARAKEET.repo_id, PARAKEET.hub_filename, PARAKEET.revision, cache),
        *((CANARY.repo_id, name, CANARY.revision, cache) for name in CANARY_FILES),
        *((CANARY.llm_repo_id, name, CANARY.llm_revision, cache) for name in QWEN_FILES),
    ]
    subprocess.run(
        [sys.executable, "-c", HUB_CACHE_FILLER, json.dumps(wanted)],
        env=hub_client_env(hub.endpoint, setup.hf_home), check=True, timeout=RUN_TIMEOUT_S,
    )
    assert len(hub.file_downloads()) == len(wanted)
    hub.clear_log()

    output = setup.run()
    assert f"found {PARAKEET.repo_id}@{published.parakeet[:7]} in the Hugging Face cache" in output
    assert f"found {CANARY.repo_id}@{published.canary[:7]} and {CANARY.llm_repo_id}" in output
    assert hub.requests == []  # the cache is read without asking the hub anything
    entries = manifest_models(setup.models_dir)
    assert entries["parakeet"]["revision"] == published.parakeet and entries["canary"]["revision"] == published.canary
    assert entries["parakeet"]["source"].startswith("Hugging Face cache")
    for key in ("parakeet", "canary"):  # what a plain run sets up
        assert check_local_models(setup.models_dir, [key], deep=True) == []
    for rel, sha256 in published.sha256.items():
        assert sha256_file(setup.models_dir / rel) == sha256, rel


def test_file_placed_by_hand_is_checked_and_adopted(
    setup: Setup, hub: FakeHub, published: Published, tiny_sources: dict[str, Path]
) -> None:
    setup.models_dir.mkdir()
    shutil.copyfile(tiny_sources["parakeet"], setup.models_dir / "parakeet.nemo")
    output = setup.run("--only", "parakeet")
    assert "is already there but not recorded: checking it instead of downloading" in output
    assert hub.requests == []
    entry = manifest_models(setup.models_dir)["parakeet"]
    assert entry["source"] == f"adopted from {setup.models_dir / 'parakeet.nemo'}"
    assert entry["files"]["parakeet.nemo"]["sha256"] == published.sha256["parakeet.nemo"]
    assert "already set up" in setup.run("--only", "parakeet")


def test_unreadable_manifest_is_set_aside_and_the_files_are_recorded_again(
    setup: Setup, hub: FakeHub, published: Published
) -> None:
    setup.run()
    (setup.models_dir / "manifest.json").write_text("{ not json")
    hub.clear_log()
    output = setup.run()
    assert "cannot be read" in output and "Moved it aside" in output
    assert hub.file_downloads() == []  # the intact files are re-used
    assert check_local_models(setup.models_dir, deep=True) == []
    assert [p.name for p in setup.models_dir.glob("manifest.json.unreadable-*")]


# ---------------------------------------------------------------------------------------------------------------
# Failures: clear message, nothing half-made where the app looks


def test_damaged_download_is_rejected_and_nothing_is_put_in_place(
    setup: Setup, hub: FakeHub, published: Published
) -> None:
    hub.corrupt_files = {PARAKEET.hub_filename}
    output = setup.run("--only", "parakeet", expect=1)
    assert "Parakeet-TDT-0.6B-v2: setup failed." in output
    assert f"the hub published {published.sha256['parakeet.nemo']}" in output
    assert "The download was damaged and has been deleted; run setup again." in output
    assert not (setup.models_dir / "parakeet.nemo").exists()
    assert "parakeet" not in manifest_models(setup.models_dir)

    hub.corrupt_files = set()
    setup.run("--only", "parakeet")
    assert_matches_published(setup.models_dir, published, "parakeet")


def test_unreachable_hub_without_a_local_copy_says_what_to_do(setup: Setup) -> None:
    setup.endpoint = closed_endpoint()
    output = setup.run("--only", "parakeet", expect=1)
    assert f"Cannot reach the Hugging Face hub to look up {PARAKEET.repo_id}" in output
    assert "--from PATH" in output
    assert not (setup.models_dir / "parakeet.nemo").exists()


LOW_DISK_WRAPPER = """
import runpy, shutil, sys
real_disk_usage = shutil.disk_usage
def disk_usage(path):  # this disk has 20 MB free
    usage = real_disk_usage(path)
    return type(usage)(usage.total, usage.total - 20_000_000, 20_000_000)
shutil.disk_usage = disk_usage
sys.argv[0] = "setup_local_models.py"
runpy.run_path("setup_local_models.py", run_name="__main__")
"""


@pytest.mark.parametrize("size, shown", [
    (999, "999 B"), (1_484_800, "1.5 MB"), (256_000_000, "256.0 MB"), (2_470_000_000, "2.5 GB"),
])
def test_sizes_are_printed_in_the_units_they_say(size, shown):
    """Decimal megabytes and gigabytes, as disks and downloads count them (not binary values labelled MB)."""
    assert human(size) == shown


def test_not_enough_free_space_is_refused_before_downloading(setup: Setup, hub: FakeHub, published: Published) -> None:
    output = setup.run("--only", "parakeet", expect=1, python_code=LOW_DISK_WRAPPER)
    assert f"Not enough free disk space in {setup.models_dir}" in output
    assert "20.0 MB free" in output and "--models-dir DIR" in output
    assert hub.file_downloads() == []
    assert not (setup.models_dir / "parakeet.nemo").exists()


def test_partial_download_of_a_killed_run_is_discarded_and_not_counted_as_progress(
    setup: Setup, hub: FakeHub, published: Published, tiny_sources: dict[str, Path]
) -> None:
    """huggingface_hub never resumes another process's partial file: the next run deletes it and needs the whole
    file's space again."""
    hub.bytes_per_second = 300_000
    proc = setup.start("--only", "parakeet", "--no-check-load")
    try:
        wait_for(lambda: any(r.body_bytes > 100_000 for r in hub.records), 30, "the download to start", proc)
    finally:
        proc.kill()
        proc.communicate()
    partials = list((setup.models_dir / ".staging-parakeet" / "download" / ".cache").rglob("*.incomplete"))
    assert len(partials) == 1 and not (setup.models_dir / "parakeet.nemo").exists()
    with open(partials[0], "ab") as f:  # as far as a big file's whole 10 MiB chunks would have got
        f.write(bytes(1_000_000))
    hub.bytes_per_second = None

    output = setup.run("--only", "parakeet", expect=1, python_code=LOW_DISK_WRAPPER)
    assert f"{human(tiny_sources['parakeet'].stat().st_size)} needed" in output
    assert not partials[0].exists()
    setup.run("--only", "parakeet")
    assert_matches_published(setup.models_dir, published, "parakeet")


FILE_SIZE_LIMIT_WRAPPER = """
import resource, runpy, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))  # `ulimit -f 1024`: no file may grow past 1 MiB
sys.argv[0] = "setup_local_models.py"
runpy.run_path("setup_local_models.py", run_name="__main__")
"""


@pytest.mark.parametrize("source", ["hub", "from"])
def test_write_failure_leaves_nothing_partial_and_a_rerun_completes(
    setup: Setup, hub: FakeHub, published: Published, tiny_sources: dict[str, Path], source: str
) -> None:
    args = ("--only", "parakeet") if source == "hub" else ("--from", str(tiny_sources["parakeet"]))
    output = setup.run(*args, expect=1, python_code=FILE_SIZE_LIMIT_WRAPPER)  # the .nemo is ~1.4 MB
    assert "Parakeet-TDT-0.6B-v2: setup failed while writing files" in output
    assert "File too large" in output and "Nothing half-written was put in place" in output
    assert not (setup.models_dir / "parakeet.nemo").exists()
    assert "parakeet" not in manifest_models(setup.models_dir)

    setup.run(*args)
    assert check_local_models(setup.models_dir, ["parakeet"], deep=True) == []
    assert sha256_file(setup.models_dir / "parakeet.nemo") == published.sha256["parakeet.nemo"]


# ---------------------------------------------------------------------------------------------------------------
# Two runs at once


def test_second_run_waits_for_the_first_then_finds_everything_set_up(
    setup: Setup, hub: FakeHub, published: Published
) -> None:
    hub.bytes_per_second = 400_000  # the ~1.4 MB .nemo takes ~3.5 s
    procs: list[subprocess.Popen] = []
    try:
        first = setup.start("--only", "parakeet", "--no-check-load")
        procs.append(first)
        wait_for(lambda: any(r.body_bytes for r in hub.records), 30, "the first run to start downloading", first)
        waiting = setup.start("--only", "parakeet", "--no-check-load")
        procs.append(waiting)
        impatient = setup.start("--only", "parakeet", "--no-check-load", "--lock-timeout", "1")
        procs.append(impatient)
        impatient_output = impatient.communicate(timeout=RUN_TIMEOUT_S)[0]
        assert first.poll() is None, "the first run finished too early for this test"
        waiting_output = waiting.communicate(timeout=RUN_TIMEOUT_S)[0]
        first_output = first.communicate(timeout=RUN_TIMEOUT_S)[0]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert first.returncode == 0 and "parakeet: installed" in first_output
    assert impatient.returncode == 2, impatient_output
    assert f"Another setup_local_models.py is working on {setup.models_dir}; waiting" in impatient_output
    assert f"Gave up after 1 s: another setup still holds {setup.models_dir / '.setup.lock'}." in impatient_output
    assert waiting.returncode == 0, waiting_output
    lines = waiting_output.splitlines()
    wait_line = next(i for i, line in enumerate(lines) if "is working on" in line and "waiting" in line)
    done_line = next(i for i, line in enumerate(lines) if "parakeet: already set up" in line)
    assert wait_line < done_line and "nothing downloaded" in lines[done_line]
    assert len(hub.file_downloads()) == 1
    assert_matches_published(setup.models_dir, published, "parakeet")


# ---------------------------------------------------------------------------------------------------------------
# --verify


def test_verify_passes_on_good_files_and_names_a_damaged_one(setup: Setup, tiny_sources: dict[str, Path]) -> None:
    setup.endpoint = closed_endpoint()
    for source in tiny_sources.values():
        setup.run("--from", str(source))
    output = setup.run("--verify")
    count = sum(len(entry["files"]) for entry in manifest_models(setup.models_dir).values())
    assert f"All {count} files of parakeet, canary match the sha256 recorded in" in output

    damaged = setup.models_dir / "canary" / "model.safetensors"
    flip_byte(damaged)
    output = setup.run("--verify", expect=1)
    assert f"{damaged}: content differs from the sha256 recorded at setup: the file is corrupt" in output
    assert "--force" in output
    assert str(setup.models_dir / "parakeet.nemo") not in output
    assert "match the sha256" in setup.run("--verify", "--only", "parakeet")


def test_published_hashes_are_the_tiny_models(published: Published, tiny_sources: dict[str, Path]) -> None:
    """Guard for the helpers above: what the fake hub serves is byte-for-byte the tiny models."""
    nemo = tiny_sources["parakeet"].read_bytes()
    assert published.sha256["parakeet.nemo"] == hashlib.sha256(nemo).hexdigest()
    assert published.parakeet == PARAKEET.revision and published.qwen == CANARY.llm_revision
    assert published.canary == CANARY.revision
