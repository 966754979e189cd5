"""Tests of the loopback fake hub, driven by the real huggingface_hub client running in subprocesses."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_hub import FakeHub, git_blob_sha1, hub_client_env, lfs_pointer

REPO = "acme/tiny-asr"
CLIENT_TIMEOUT_S = 60
# Every client script starts with these imports; `A` holds the keyword arguments given to `run_client`.
CLIENT_PRELUDE = """
import json, os, sys
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
A = json.loads(sys.argv[1])
"""


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def client_command(code: str, args: dict) -> list[str]:
    return [sys.executable, "-c", CLIENT_PRELUDE + textwrap.dedent(code), json.dumps(args)]


def run_client(hub: FakeHub, hf_home: Path, code: str, **args: object) -> object:
    """Run `code` with huggingface_hub pointed at `hub` in a fresh process; return the JSON it printed last."""
    proc = subprocess.run(
        client_command(code, args),
        env=hub_client_env(hub.endpoint, hf_home),
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S,
    )
    assert proc.returncode == 0, f"client failed:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[FakeHub]:
    with FakeHub(tmp_path / "hub-storage") as running:
        yield running


@pytest.fixture
def repo_files(tmp_path: Path) -> dict[str, bytes]:
    """A small model repo: regular files, a nested folder and LFS files (one given as a path on disk)."""
    files = {
        "config.json": b'{"model": "tiny"}\n',
        "README.md": b"# tiny asr\n",
        "model.nemo": os.urandom(300_000),
        "tokenizer/vocab.txt": b"a\nb\nc\n",
        "tokenizer/spm/tokenizer.model": b"\x00spm\x01",
        "weights/extra.safetensors": os.urandom(5_000),
    }
    return files


def commit_repo(hub: FakeHub, tmp_path: Path, files: dict[str, bytes], repo_id: str = REPO) -> str:
    """Write `files` to a folder on disk and commit that folder (the way tests hand over model folders)."""
    folder = tmp_path / "src"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return hub.commit_folder(repo_id, folder)


def test_resolve_headers_ranges_and_git_oids(hub: FakeHub, tmp_path: Path, repo_files: dict[str, bytes]) -> None:
    """Raw HTTP: HEAD/GET headers of regular and LFS files, Range answers, and blob oids equal to git's own."""
    sha = commit_repo(hub, tmp_path, repo_files)
    nemo, config = repo_files["model.nemo"], repo_files["config.json"]
    conn = http.client.HTTPConnection("127.0.0.1", int(hub.endpoint.rsplit(":", 1)[1]), timeout=10)

    def ask(method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.headers), resp.read()

    status, headers, body = ask("HEAD", f"/{REPO}/resolve/main/model.nemo")
    assert (status, body) == (200, b"")
    assert headers["X-Repo-Commit"] == sha
    assert headers["ETag"] == headers["X-Linked-Etag"] == f'"{hashlib.sha256(nemo).hexdigest()}"'
    assert headers["X-Linked-Size"] == headers["Content-Length"] == str(len(nemo))
    assert headers["Accept-Ranges"] == "bytes"
    assert not [h for h in headers if h.lower().startswith("x-xet")]

    status, headers, body = ask("GET", f"/{REPO}/resolve/{sha}/config.json")
    assert (status, body) == (200, config)
    assert headers["ETag"] == f'"{git_blob_sha1(config)}"' and "X-Linked-Etag" not in headers

    for range_header, expected in [("bytes=1000-", nemo[1000:]), ("bytes=10-19", nemo[10:20]), ("bytes=-7", nemo[-7:])]:
        status, headers, body = ask("GET", f"/{REPO}/resolve/main/model.nemo", {"Range": range_header})
        assert (status, body) == (206, expected), range_header
        assert headers["Content-Range"].endswith(f"/{len(nemo)}")
    status, headers, _ = ask("GET", f"/{REPO}/resolve/main/model.nemo", {"Range": f"bytes={len(nemo)}-"})
    assert (status, headers["Content-Range"]) == (416, f"bytes */{len(nemo)}")

    status, headers, _ = ask("HEAD", f"/{REPO}/resolve/main/missing.txt")
    assert (status, headers["X-Error-Code"], headers["X-Repo-Commit"]) == (404, "EntryNotFound", sha)
    conn.close()
    # The oids the hub reports are the ones git computes (content for regular files, the pointer for LFS ones).
    for data in (config, lfs_pointer(hashlib.sha256(nemo).hexdigest(), len(nemo))):
        git = subprocess.run(["git", "hash-object", "--stdin"], input=data, capture_output=True, check=True)
        assert git.stdout.decode().strip() == git_blob_sha1(data)
    assert hub.file_downloads() == [f"/{REPO}/resolve/{sha}/config.json"] + 3 * [f"/{REPO}/resolve/main/model.nemo"]


def test_model_info_list_repo_tree_and_file_exists(hub: FakeHub, tmp_path: Path, repo_files: dict[str, bytes]) -> None:
    first = commit_repo(hub, tmp_path, repo_files)
    second = hub.commit(REPO, {**repo_files, "config.json": b"{}"}, title="Update config")
    out = run_client(
        hub,
        tmp_path / "hf",
        """
        api = HfApi()
        info = api.model_info(A["repo"], revision=A["sha"], files_metadata=True)
        bare = api.model_info(A["repo"])
        only_sha = api.model_info(A["repo"], expand=["sha"])
        def entry(e):
            lfs = getattr(e, "lfs", None)
            lfs = lfs and {"sha256": lfs.sha256, "size": lfs.size, "pointer_size": lfs.pointer_size}
            return {"path": e.path, "kind": type(e).__name__, "size": getattr(e, "size", None),
                    "oid": getattr(e, "blob_id", None) or e.tree_id, "lfs": lfs,
                    "last_commit": e.last_commit and e.last_commit.oid}
        print(json.dumps({
            "sha": info.sha, "id": info.id, "private": info.private, "last_modified": str(info.last_modified),
            "siblings": {s.rfilename: [s.size, s.blob_id, s.lfs and dict(s.lfs)] for s in info.siblings},
            "bare_sha": bare.sha, "bare_sizes": sorted({str(s.size) for s in bare.siblings}),
            "only_sha": [only_sha.sha, only_sha.siblings],
            "tree": [entry(e) for e in api.list_repo_tree(A["repo"], recursive=True, revision=A["sha"])],
            "top": [entry(e) for e in api.list_repo_tree(A["repo"], expand=True)],
            "sub": [entry(e) for e in api.list_repo_tree(A["repo"], "tokenizer/spm", revision=A["sha"])],
            "exists": [api.file_exists(A["repo"], "tokenizer/vocab.txt"),
                       api.file_exists(A["repo"], "model.nemo", revision=A["sha"]),
                       api.file_exists(A["repo"], "nope.txt"),
                       api.file_exists("acme/nothing", "config.json"),
                       api.file_exists(A["repo"], "config.json", revision="no-such-branch")],
        }))
        """,
        repo=REPO,
        sha=first,
    )
    assert (out["sha"], out["id"], out["private"], out["bare_sha"]) == (first, REPO, False, second)
    assert out["last_modified"].startswith("2025-")
    assert out["bare_sizes"] == ["None"]  # without files_metadata the hub only lists file names
    assert out["only_sha"] == [second, None]
    nemo = repo_files["model.nemo"]
    nemo_lfs = {"sha256": hashlib.sha256(nemo).hexdigest(), "size": len(nemo)}
    pointer_oid = git_blob_sha1(lfs_pointer(nemo_lfs["sha256"], len(nemo)))
    assert out["siblings"]["model.nemo"] == [
        len(nemo),
        pointer_oid,
        {**nemo_lfs, "pointer_size": len(lfs_pointer(nemo_lfs["sha256"], len(nemo)))},
    ]
    assert out["siblings"]["config.json"] == [18, git_blob_sha1(repo_files["config.json"]), None]
    assert set(out["siblings"]) == set(repo_files)

    tree = {e["path"]: e for e in out["tree"]}
    assert set(tree) == set(repo_files) | {"tokenizer", "tokenizer/spm", "weights"}
    assert tree["tokenizer/spm"]["kind"] == "RepoFolder" and tree["tokenizer/vocab.txt"]["kind"] == "RepoFile"
    assert tree["model.nemo"]["oid"] == pointer_oid and tree["model.nemo"]["lfs"]["sha256"] == nemo_lfs["sha256"]
    assert tree["weights/extra.safetensors"]["lfs"]["size"] == 5_000
    assert tree["README.md"]["lfs"] is None and tree["README.md"]["size"] == len(repo_files["README.md"])

    top = {e["path"]: e["last_commit"] for e in out["top"]}
    assert top == {"README.md": first, "config.json": second, "model.nemo": first, "tokenizer": first, "weights": first}
    assert [e["path"] for e in out["sub"]] == ["tokenizer/spm/tokenizer.model"]
    assert out["exists"] == [True, True, False, False, False]


def test_hf_hub_download_cache_dir_and_second_run_downloads_nothing(
    hub: FakeHub, tmp_path: Path, repo_files: dict[str, bytes]
) -> None:
    sha = commit_repo(hub, tmp_path, repo_files)
    code = """
    pinned = hf_hub_download(A["repo"], "model.nemo", revision=A["sha"], cache_dir=A["cache"])
    by_branch = hf_hub_download(A["repo"], "tokenizer/vocab.txt", cache_dir=A["cache"])
    print(json.dumps([pinned, by_branch]))
    """
    cache = tmp_path / "cache"
    pinned, by_branch = run_client(hub, tmp_path / "hf", code, repo=REPO, sha=sha, cache=str(cache))
    assert sha256_of(pinned) == hashlib.sha256(repo_files["model.nemo"]).hexdigest()
    assert Path(by_branch).read_bytes() == repo_files["tokenizer/vocab.txt"]
    # Cache layout: snapshots/<commit>/<path> -> blobs/<sha256> for LFS files, blobs/<git sha1> otherwise.
    storage = cache / "models--acme--tiny-asr"
    assert Path(pinned) == storage / "snapshots" / sha / "model.nemo"
    assert Path(pinned).resolve().name == hashlib.sha256(repo_files["model.nemo"]).hexdigest()
    assert Path(by_branch).resolve().name == git_blob_sha1(repo_files["tokenizer/vocab.txt"])
    assert (storage / "refs" / "main").read_text() == sha
    assert hub.requests == [
        ("HEAD", f"/{REPO}/resolve/{sha}/model.nemo"),
        ("GET", f"/{REPO}/resolve/{sha}/model.nemo"),
        ("HEAD", f"/{REPO}/resolve/main/tokenizer/vocab.txt"),
        ("GET", f"/{REPO}/resolve/main/tokenizer/vocab.txt"),  # the client GETs the URL it HEADed
    ]

    hub.clear_log()
    assert run_client(hub, tmp_path / "hf", code, repo=REPO, sha=sha, cache=str(cache)) == [pinned, by_branch]
    assert hub.file_downloads() == []
    # A pinned sha already in the cache needs no request at all; a branch costs one HEAD.
    assert hub.requests == [("HEAD", f"/{REPO}/resolve/main/tokenizer/vocab.txt")]


def test_hf_hub_download_local_dir(hub: FakeHub, tmp_path: Path, repo_files: dict[str, bytes]) -> None:
    sha = commit_repo(hub, tmp_path, repo_files)
    code = """
    print(json.dumps([hf_hub_download(A["repo"], name, revision=A["sha"], local_dir=A["dir"])
                      for name in ("model.nemo", "tokenizer/vocab.txt")]))
    """
    local = tmp_path / "local"
    paths = run_client(hub, tmp_path / "hf", code, repo=REPO, sha=sha, dir=str(local))
    assert paths == [str(local / "model.nemo"), str(local / "tokenizer" / "vocab.txt")]
    assert not Path(paths[0]).is_symlink() and Path(paths[0]).read_bytes() == repo_files["model.nemo"]
    # local_dir bookkeeping: .cache/huggingface/download/<path>.metadata = commit, etag, timestamp.
    meta = local / ".cache" / "huggingface" / "download"
    nemo_meta = (meta / "model.nemo.metadata").read_text().split("\n")
    vocab_meta = (meta / "tokenizer" / "vocab.txt.metadata").read_text().split("\n")
    assert nemo_meta[:2] == [sha, hashlib.sha256(repo_files["model.nemo"]).hexdigest()]
    assert vocab_meta[:2] == [sha, git_blob_sha1(repo_files["tokenizer/vocab.txt"])]
    assert not (tmp_path / "hf" / "hub").exists()  # nothing went to the shared cache
    assert len(hub.file_downloads()) == 2

    hub.clear_log()
    assert run_client(hub, tmp_path / "hf", code, repo=REPO, sha=sha, dir=str(local)) == paths
    assert hub.requests == []  # same commit + metadata present => no request at all


def test_snapshot_download_allow_patterns_local_dir(hub: FakeHub, tmp_path: Path, repo_files: dict[str, bytes]) -> None:
    sha = commit_repo(hub, tmp_path, repo_files)
    code = """
    print(json.dumps(snapshot_download(A["repo"], revision="main", allow_patterns=["*.json", "tokenizer/*"],
                                       local_dir=A["dir"])))
    """
    local = tmp_path / "snap"
    assert run_client(hub, tmp_path / "hf", code, repo=REPO, dir=str(local)) == str(local)
    got = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file() and ".cache" not in p.parts}
    wanted = {"config.json", "tokenizer/vocab.txt", "tokenizer/spm/tokenizer.model"}  # fnmatch's * crosses "/"
    assert got == wanted
    assert all((local / name).read_bytes() == repo_files[name] for name in wanted)
    assert (local / ".cache" / "huggingface" / "trees" / f"{sha}.json").is_file()  # the cached tree listing
    assert sorted(hub.file_downloads()) == sorted(f"/{REPO}/resolve/{sha}/{name}" for name in wanted)
    api_calls = [(m, p) for m, p in hub.requests if p.startswith("/api/")]
    assert api_calls == [("GET", f"/api/models/{REPO}/revision/main"), ("GET", f"/api/models/{REPO}/tree/{sha}")]
    tree_call = next(r for r in hub.records if "/tree/" in r.path)
    assert "recursive=true" in tree_call.query

    hub.clear_log()
    run_client(hub, tmp_path / "hf", code, repo=REPO, dir=str(local))
    assert hub.file_downloads() == []
    assert hub.requests == [("GET", f"/api/models/{REPO}/revision/main")]


def test_moving_main_does_not_change_pinned_download(
    hub: FakeHub, tmp_path: Path, repo_files: dict[str, bytes]
) -> None:
    old = commit_repo(hub, tmp_path, repo_files)
    code = """
    print(json.dumps({"pinned": hf_hub_download(A["repo"], "model.nemo", revision=A["old"], cache_dir=A["cache"]),
                      "main": hf_hub_download(A["repo"], "model.nemo", cache_dir=A["cache"]),
                      "main_sha": HfApi().model_info(A["repo"]).sha}))
    """
    cache = str(tmp_path / "cache")
    before = run_client(hub, tmp_path / "hf", code, repo=REPO, old=old, cache=cache)
    new_nemo = os.urandom(1000)
    new = hub.commit(REPO, {**repo_files, "model.nemo": new_nemo})
    assert new != old and hub.branch_head(REPO) == new

    for cache_dir in (cache, str(tmp_path / "fresh-cache")):
        after = run_client(hub, tmp_path / "hf", code, repo=REPO, old=old, cache=cache_dir)
        assert Path(after["pinned"]).read_bytes() == repo_files["model.nemo"]
        assert Path(after["main"]).read_bytes() == new_nemo
        assert after["main_sha"] == new
    assert Path(before["main"]).read_bytes() == repo_files["model.nemo"]  # the old snapshot is untouched


def test_error_types(hub: FakeHub, tmp_path: Path, repo_files: dict[str, bytes]) -> None:
    sha = commit_repo(hub, tmp_path, repo_files)
    out = run_client(
        hub,
        tmp_path / "hf",
        """
        api, C = HfApi(), A["cache"]
        cases = {
            "download/repo": lambda: hf_hub_download("acme/nothing", "config.json", cache_dir=C),
            "download/revision": lambda: hf_hub_download(A["repo"], "config.json", revision="v9", cache_dir=C),
            "download/sha": lambda: hf_hub_download(A["repo"], "config.json", revision="0" * 40, cache_dir=C),
            "download/file": lambda: hf_hub_download(A["repo"], "nope.txt", revision=A["sha"], cache_dir=C),
            "download_local/file": lambda: hf_hub_download(A["repo"], "nope.txt", local_dir=C + "/local"),
            "info/repo": lambda: api.model_info("acme/nothing"),
            "info/revision": lambda: api.model_info(A["repo"], revision="v9", files_metadata=True),
            "tree/revision": lambda: list(api.list_repo_tree(A["repo"], revision="v9")),
            "tree/path": lambda: list(api.list_repo_tree(A["repo"], "nope")),
            "snapshot/repo": lambda: snapshot_download("acme/nothing", cache_dir=C),
            "snapshot/revision": lambda: snapshot_download(A["repo"], revision="v9", local_dir=C + "/snap"),
        }
        result = {}
        for name, call in cases.items():
            try:
                call()
                result[name] = "no error"
            except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as e:
                result[name] = [c.__name__ for c in (RepositoryNotFoundError, RevisionNotFoundError,
                                                     EntryNotFoundError) if isinstance(e, c)]
        print(json.dumps(result))
        """,
        repo=REPO,
        sha=sha,
        cache=str(tmp_path / "cache"),
    )
    kind = {
        "repo": ["RepositoryNotFoundError"],
        "revision": ["RevisionNotFoundError"],
        "sha": ["RevisionNotFoundError"],
        "file": ["EntryNotFoundError"],
        "path": ["EntryNotFoundError"],
    }
    assert out == {name: kind[name.split("/")[1]] for name in out}
    # The client remembers missing files per commit, from the X-Repo-Commit header of the 404.
    assert (tmp_path / "cache" / "models--acme--tiny-asr" / ".no_exist" / sha / "nope.txt").is_file()


def test_in_process_resume_uses_range_after_dropped_connection(hub: FakeHub, tmp_path: Path) -> None:
    """The client resumes a cut download with `Range: bytes=N-` (huggingface_hub retries inside one process).

    It only writes whole 10 MiB chunks (`constants.DOWNLOAD_CHUNK_SIZE`) to disk, so the resume point is the last
    10 MiB boundary reached; a cut inside the first 10 MiB restarts from zero without a Range header.
    """
    chunk = 10 * 1024 * 1024
    big = os.urandom(chunk + 1_000_000)
    sha = hub.commit(REPO, {"model.nemo": big})
    hub.fail_next_download_after = chunk + 300_000
    path = run_client(
        hub,
        tmp_path / "hf",
        'print(json.dumps(hf_hub_download(A["repo"], "model.nemo", revision=A["sha"], local_dir=A["dir"])))',
        repo=REPO,
        sha=sha,
        dir=str(tmp_path / "local"),
    )
    assert Path(path).read_bytes() == big
    gets = [(r.range, r.status, r.body_bytes) for r in hub.records if r.method == "GET"]
    assert gets == [(None, 200, chunk + 300_000), (f"bytes={chunk}-", 206, 1_000_000)]


def test_killed_download_is_redone_and_leaves_no_partial_file(hub: FakeHub, tmp_path: Path) -> None:
    """SIGKILL mid-download, then re-run: the result is complete and correct.

    huggingface_hub 2.4 downloads into a process-unique `<...>.<8 hex>.incomplete` file, so a new process never
    resumes a killed one: the second run GETs the whole file again without a Range header, and the killed run's
    partial file stays behind under `.cache/huggingface/download/`. The final path never holds a partial file.
    """
    big = os.urandom(3_000_000)
    sha = hub.commit(REPO, {"model.nemo": big})
    hub.bytes_per_second = 1_000_000
    local = tmp_path / "local"
    code = 'print(json.dumps(hf_hub_download(A["repo"], "model.nemo", revision=A["sha"], local_dir=A["dir"])))'
    args = {"repo": REPO, "sha": sha, "dir": str(local)}
    proc = subprocess.Popen(client_command(code, args), env=hub_client_env(hub.endpoint, tmp_path / "hf"))
    try:
        deadline = time.monotonic() + 20
        while sum(r.body_bytes for r in hub.records) < 200_000:
            assert proc.poll() is None and time.monotonic() < deadline, "download did not start"
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()
    assert not (local / "model.nemo").exists()
    partial = list((local / ".cache" / "huggingface" / "download").glob("*.incomplete"))
    assert len(partial) == 1 and partial[0].stat().st_size < len(big)  # whole 10 MiB chunks only: here empty

    hub.bytes_per_second = None
    hub.clear_log()
    assert run_client(hub, tmp_path / "hf", code, **args) == str(local / "model.nemo")
    assert (local / "model.nemo").read_bytes() == big
    assert [(r.range, r.status) for r in hub.records if r.method == "GET"] == [(None, 200)]
    assert partial[0].exists()  # not cleaned up by the client
