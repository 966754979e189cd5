"""Loopback stand-in for the Hugging Face hub, for tests that run ``huggingface_hub`` clients offline.

Start a :class:`FakeHub`, make commits into it, and point a client at it with ``HF_ENDPOINT=hub.endpoint``
(huggingface_hub reads that variable at import time, so the client normally runs in a subprocess)::

    with FakeHub(tmp_path / "hub") as hub:
        sha = hub.commit("org/model", {"config.json": b"{}", "model.nemo": Path("big.nemo")})
        subprocess.run([...], env={**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf")})
        assert hub.file_downloads() == [f"/org/model/resolve/{sha}/model.nemo", ...]

It speaks the subset of the hub's HTTP API that huggingface_hub 2.4 uses for downloads (stdlib only):

* ``GET /api/models/{repo_id}[/revision/{revision}]``: model_info / repo_info (``?blobs=true`` adds file
  metadata to ``siblings``; ``expand=...`` restricts the returned properties);
* ``GET /api/models/{repo_id}/tree/{revision}[/{path}]``: list_repo_tree (``recursive``, ``expand``), no pagination;
* ``HEAD|GET /{repo_id}/resolve/{revision}/{filename}``: file metadata and content, with ``Range`` support (206).

Files with an LFS suffix are presented as Git LFS files: ``ETag`` and ``X-Linked-Etag`` are the sha256 of the
content, ``X-Linked-Size`` its size, and model_info/tree report ``lfs: {sha256|oid, size, pointerSize}`` with
``oid``/``blobId`` the git sha1 of the LFS pointer. Other files get the git blob sha1 of their content as ETag.
No Xet headers are ever sent, so clients download over plain HTTP. Errors carry the ``X-Error-Code`` header the
client maps to exception types: ``RepoNotFound`` (401), ``RevisionNotFound`` (404), ``EntryNotFound`` (404).
Unknown routes get a plain 404 (visible in ``records``). Revisions are branch names or full commit shas.

Test hooks: ``requests`` / ``records`` / ``file_downloads()`` / ``clear_log()`` to see what a client asked for;
``bytes_per_second`` throttles file bodies (read per chunk, so it can be changed mid-transfer);
``fail_next_download_after = N`` cuts the next file body after N bytes (the client then retries with ``Range``);
``corrupt_files`` (paths inside a repo) are served with one byte flipped while the published hashes stay those of
the true content. ``commit(..., sha=...)`` gives a commit a chosen id (e.g. a revision a registry pins).
``gated[repo_id] = token`` makes a repo answer only requests that carry ``Authorization: Bearer <token>``, as a
gated repo does: without a token 401 ``GatedRepo``, with another token 401 "Invalid credentials" (the hub's own
answers); ``RequestRecord.authorized`` tells whether a request carried the right token (the token is not logged).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

CHUNK_SIZE = 64 * 1024
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_TRUE_VALUES = {"1", "true", "True"}


@dataclass(frozen=True)
class HubFile:
    """One file of a commit: where its content lives and the hashes the hub reports for it."""

    blob_path: Path
    size: int
    sha256: str
    git_oid: str  # git blob sha1 of the content, or of the LFS pointer for LFS files
    pointer_size: int | None  # size of the LFS pointer; None for regular (non-LFS) files

    @property
    def is_lfs(self) -> bool:
        return self.pointer_size is not None

    @property
    def etag(self) -> str:
        """What the hub sends as ETag: sha256 for LFS files, git blob sha1 otherwise."""
        return self.sha256 if self.is_lfs else self.git_oid


@dataclass(frozen=True)
class HubCommit:
    sha: str
    parent: str | None
    files: dict[str, HubFile]
    date: str  # "%Y-%m-%dT%H:%M:%S.000Z", as the hub formats dates
    title: str


@dataclass
class HubRepo:
    created_at: str
    commits: dict[str, HubCommit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)


@dataclass
class RequestRecord:
    """One request the hub received; `status` and `body_bytes` are filled in while it is answered."""

    method: str
    path: str  # raw (still URL-encoded) path, without the query string
    query: str
    range: str | None
    status: int = 0
    body_bytes: int = 0
    served_file: bool = False  # True once file content (resolve GET, 200 or 206) started being sent
    authorized: bool = False  # it carried the token of a gated repo


class HubError(Exception):
    """An error answer: HTTP status plus the hub's X-Error-Code / X-Error-Message headers."""

    def __init__(self, status: int, code: str | None, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def git_blob_sha1(data: bytes) -> str:
    """Git's object id for a blob with this content (`git hash-object`)."""
    return _git_blob_hasher(len(data), data).hexdigest()


def _git_blob_hasher(size: int, data: bytes = b"") -> hashlib._Hash:
    """A sha1 primed with git's blob header for `size` bytes of content; feed it the content."""
    return hashlib.sha1(f"blob {size}\0".encode() + data)


def _chunks(content: Path | bytes) -> Iterator[bytes]:
    if isinstance(content, bytes):
        yield content
        return
    with Path(content).open("rb") as src:
        while chunk := src.read(1024 * 1024):
            yield chunk


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The Git LFS pointer file that git stores in place of an LFS file's content."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _hub_date(index: int) -> str:
    return (_EPOCH + timedelta(minutes=index)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def hub_client_env(endpoint: str, hf_home: Path) -> dict[str, str]:
    """The environment of a process whose hub is ``endpoint``: a private HF_HOME and none of the offline switches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "TRANSFORMERS_"))}
    env.pop("LOCAL_MODELS_DIR", None)
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HOME=str(hf_home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        NO_PROXY="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    return env


class FakeHub:
    """Loopback stand-in for the Hugging Face hub: serves repos with commits, for huggingface_hub clients."""

    def __init__(self, storage_dir: Path) -> None:
        self.storage_dir = Path(storage_dir)
        (self.storage_dir / "blobs").mkdir(parents=True, exist_ok=True)
        self.endpoint = ""
        self.bytes_per_second: float | None = None  # throttle for file bodies
        # One-shot fault: the next file body sent is cut (connection closed) after this many bytes.
        self.fail_next_download_after: int | None = None
        # Files (paths inside their repo) served with the byte in the middle flipped; metadata stays true.
        self.corrupt_files: set[str] = set()
        self.gated: dict[str, str] = {}  # repo id -> the token it needs
        self._repos: dict[str, HubRepo] = {}
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._counter = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # ----- content -----

    def commit(
        self,
        repo_id: str,
        files: dict[str, Path | bytes],
        branch: str = "main",
        lfs_suffixes: tuple[str, ...] = (".nemo", ".safetensors", ".bin"),
        title: str | None = None,
        sha: str | None = None,
    ) -> str:
        """Make a new commit whose tree is exactly `files` (path inside repo -> content); moves `branch` to it;
        returns the 40-hex commit sha (deterministic-looking, unique), or `sha` when given (40 lowercase hex, new
        to the repo: e.g. the revision a registry pins, so a pinned client finds it)."""
        if sha is not None and (len(sha) != 40 or any(c not in "0123456789abcdef" for c in sha)):
            raise ValueError(f"commit sha must be 40 lowercase hex digits: {sha!r}")
        tree = {path: self._store(content, path.endswith(tuple(lfs_suffixes))) for path, content in files.items()}
        for path in tree:
            _check_repo_path(path)
            if any(other.startswith(path + "/") for other in tree):
                raise ValueError(f"{path!r} is both a file and a folder")
        with self._lock:
            self._counter += 1
            repo = self._repos.setdefault(repo_id, HubRepo(created_at=_hub_date(self._counter)))
            parent = repo.branches.get(branch)
            listing = "".join(f"{path}\0{f.git_oid}\n" for path, f in sorted(tree.items()))
            if sha is None:
                sha = hashlib.sha1(f"fake-hub\0{repo_id}\0{parent}\0{self._counter}\0{listing}".encode()).hexdigest()
            elif sha in repo.commits:
                raise ValueError(f"{repo_id} already has a commit {sha}")
            repo.commits[sha] = HubCommit(
                sha=sha, parent=parent, files=tree, date=_hub_date(self._counter), title=title or f"Commit {sha[:7]}"
            )
            repo.branches[branch] = sha
        return sha

    def commit_folder(
        self,
        repo_id: str,
        folder: Path,
        branch: str = "main",
        lfs_suffixes: tuple[str, ...] = (".nemo", ".safetensors", ".bin"),
    ) -> str:
        """Commit every file under `folder` (recursively, paths relative to it); returns the commit sha."""
        files: dict[str, Path | bytes] = {
            p.relative_to(folder).as_posix(): p for p in sorted(Path(folder).rglob("*")) if p.is_file()
        }
        return self.commit(repo_id, files, branch=branch, lfs_suffixes=lfs_suffixes)

    def _store(self, content: Path | bytes, lfs: bool) -> HubFile:
        """Copy `content` into the content-addressed blob store (streaming), hashing it on the way."""
        size = len(content) if isinstance(content, bytes) else Path(content).stat().st_size
        sha256, sha1 = hashlib.sha256(), _git_blob_hasher(size)
        tmp = self.storage_dir / "blobs" / f"tmp-{uuid.uuid4().hex}"
        with tmp.open("wb") as out:
            for chunk in _chunks(content):
                sha256.update(chunk)
                sha1.update(chunk)
                out.write(chunk)
        blob_path = self.storage_dir / "blobs" / sha256.hexdigest()
        os.replace(tmp, blob_path)
        if not lfs:
            return HubFile(blob_path, size, sha256.hexdigest(), sha1.hexdigest(), None)
        pointer = lfs_pointer(sha256.hexdigest(), size)
        return HubFile(blob_path, size, sha256.hexdigest(), git_blob_sha1(pointer), len(pointer))

    def branch_head(self, repo_id: str, branch: str = "main") -> str:
        """Commit sha `branch` points to."""
        with self._lock:
            return self._repos[repo_id].branches[branch]

    # ----- request log -----

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, raw path) of every request received so far, in arrival order (a snapshot copy)."""
        with self._lock:
            return [(r.method, r.path) for r in self._records]

    @property
    def records(self) -> list[RequestRecord]:
        """Every request received so far with its query, Range header, status and body size (a snapshot copy)."""
        with self._lock:
            return list(self._records)

    def file_downloads(self) -> list[str]:
        """Paths of the GET requests that returned file content (resolve URLs, full or ranged)."""
        with self._lock:
            return [r.path for r in self._records if r.served_file]

    def clear_log(self) -> None:
        with self._lock:
            self._records.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    # ----- server lifecycle -----

    def start(self) -> FakeHub:
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.hub = self
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-hub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # lets throttled transfers bail out
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ----- lookups used by the handler -----

    def _resolve(self, repo_id: str, revision: str) -> HubCommit:
        """The commit `revision` (branch name or full sha) names in `repo_id`, or the hub's error."""
        with self._lock:
            repo = self._repos.get(repo_id)
            if repo is None:
                raise HubError(401, "RepoNotFound", "Repository not found")
            sha = repo.branches.get(revision, revision)
            if sha not in repo.commits:
                raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return repo.commits[sha]

    def _created_at(self, repo_id: str) -> str:
        with self._lock:
            return self._repos[repo_id].created_at

    def _last_commit_touching(self, repo_id: str, commit: HubCommit, prefix: str) -> HubCommit:
        """Oldest commit in `commit`'s unbroken ancestry where `prefix` (file or folder) has its current content."""

        def snapshot(c: HubCommit) -> dict[str, str]:
            return {p: f.git_oid for p, f in c.files.items() if p == prefix or p.startswith(prefix + "/")}

        with self._lock:
            commits = self._repos[repo_id].commits
            current, wanted = commit, snapshot(commit)
            while current.parent is not None and snapshot(commits[current.parent]) == wanted:
                current = commits[current.parent]
            return current


def _check_repo_path(path: str) -> None:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid path in repo: {path!r}")


def _split_repo(segments: list[str], actions: tuple[str, ...]) -> tuple[str, str | None, list[str]]:
    """Split raw path segments into (repo_id, action, rest); repo ids are `namespace/name` or a bare `name`."""
    for n in (2, 1):
        if len(segments) > n and segments[n] in actions:
            return "/".join(unquote(s) for s in segments[:n]), segments[n], segments[n + 1 :]
    if 1 <= len(segments) <= 2 and all(segments):
        return "/".join(unquote(s) for s in segments), None, []
    raise HubError(404, None, "Not Found")


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte positions of a single `bytes=` range, None to send the whole file; HubError(416)."""
    if not header or not header.strip().startswith("bytes=") or "," in header:
        return None
    first, _, last = header.strip()[len("bytes=") :].partition("-")
    try:
        if first.strip() == "":  # suffix range: the last N bytes
            start, end = max(size - int(last), 0), size - 1
        else:
            start, end = int(first), min(int(last), size - 1) if last.strip() else size - 1
    except ValueError:
        return None
    if start >= size or start > end:
        raise HubError(416, None, "Range Not Satisfiable", {"Content-Range": f"bytes */{size}"})
    return start, end


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: FakeHub

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that goes away mid-answer (e.g. a test killed it) is expected; other errors are printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1.0"
    timeout = 30  # idle keep-alive connections end after this
    server: _Server
    record: RequestRecord  # the log entry of the request being answered

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._handle(head=False)

    def do_HEAD(self) -> None:
        self._handle(head=True)

    # ----- dispatch -----

    def _handle(self, head: bool) -> None:
        hub = self.server.hub
        url = urlsplit(self.path)
        self.record = RequestRecord(self.command, url.path, url.query, self.headers.get("Range"))
        hub._record(self.record)
        query = parse_qs(url.query, keep_blank_values=True)
        segments = url.path.split("/")[1:]
        try:
            self._check_token(hub, segments)
            if segments[:2] == ["api", "models"]:
                self._api(hub, segments[2:], query, head)
            else:
                repo_id, action, rest = _split_repo(segments, ("resolve",))
                if action != "resolve" or len(rest) < 2:
                    raise HubError(404, None, "Not Found")
                self._resolve_file(hub, repo_id, unquote(rest[0]), unquote("/".join(rest[1:])), head)
        except HubError as err:
            self._send_json(err.status, {"error": err.message}, head, _error_headers(err))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as err:  # a bug in the fake hub: answer 500 so the client fails loudly
            if self.record.status:  # headers already sent: all we can do is cut the connection
                self.close_connection = True
                raise
            self._send_json(500, {"error": f"fake hub error: {err!r}"}, head)

    def _check_token(self, hub: FakeHub, segments: list[str]) -> None:
        """A gated repo's answer to a request without its token (see ``FakeHub.gated``)."""
        parts = segments[2:] if segments[:2] == ["api", "models"] else segments
        repo_id = "/".join(unquote(p) for p in parts[:2])
        needed = hub.gated.get(repo_id)
        if needed is None:
            return
        given = self.headers.get("Authorization", "")
        if given == f"Bearer {needed}":
            self.record.authorized = True
            return
        if not given:
            raise HubError(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have access to it "
                           "and be authenticated to access it. Please log in.")  # fmt: skip
        raise HubError(401, None, "Invalid credentials in Authorization header")

    def _api(self, hub: FakeHub, segments: list[str], query: dict[str, list[str]], head: bool) -> None:
        repo_id, action, rest = _split_repo(segments, ("revision", "tree"))
        if action is None:
            self._send_json(200, _model_info(hub, repo_id, hub._resolve(repo_id, "main"), query), head)
        elif action == "revision" and len(rest) == 1:
            self._send_json(200, _model_info(hub, repo_id, hub._resolve(repo_id, unquote(rest[0])), query), head)
        elif action == "tree" and rest:
            commit = hub._resolve(repo_id, unquote(rest[0]))
            path = unquote("/".join(rest[1:])).strip("/")
            recursive = query.get("recursive", ["false"])[-1] in _TRUE_VALUES
            expand = query.get("expand", ["false"])[-1] in _TRUE_VALUES
            self._send_json(200, _tree(hub, repo_id, commit, path, recursive, expand), head)
        else:
            raise HubError(404, None, "Not Found")

    # ----- file content -----

    def _resolve_file(self, hub: FakeHub, repo_id: str, revision: str, filename: str, head: bool) -> None:
        commit = hub._resolve(repo_id, revision)
        entry = commit.files.get(filename)
        if entry is None:
            raise HubError(
                404, "EntryNotFound", f'{filename} does not exist on "{revision}"', {"X-Repo-Commit": commit.sha}
            )
        span = _parse_range(self.headers.get("Range"), entry.size)
        start, end = span if span is not None else (0, entry.size - 1)
        headers = {
            "X-Repo-Commit": commit.sha,
            "ETag": f'"{entry.etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
            "Content-Length": str(end - start + 1),
        }
        if entry.is_lfs:
            headers |= {"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)}
        if span is not None:
            headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
        self._send_head(206 if span is not None else 200, headers)
        if not head:
            self.record.served_file = True
            flip_at = entry.size // 2 if filename in hub.corrupt_files else None
            self._send_body(hub, entry.blob_path, start, end - start + 1, flip_at)

    def _send_body(self, hub: FakeHub, blob_path: Path, offset: int, length: int, flip_at: int | None = None) -> None:
        """Stream `length` bytes of `blob_path` from `offset`, honouring the throttle and the one-shot fault;
        the byte at file position `flip_at` (if any) is sent inverted."""
        with hub._lock:
            cut_after, hub.fail_next_download_after = hub.fail_next_download_after, None
        if cut_after is not None:
            length = min(length, cut_after)
            self.close_connection = True
        with blob_path.open("rb") as src:
            src.seek(offset)
            while length > 0 and not hub._stopping.is_set():
                rate = hub.bytes_per_second
                chunk = src.read(min(length, CHUNK_SIZE if not rate else max(1024, min(CHUNK_SIZE, int(rate / 20)))))
                if not chunk:
                    break
                if flip_at is not None and offset <= flip_at < offset + len(chunk):
                    i = flip_at - offset
                    chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1 :]
                offset += len(chunk)
                self.wfile.write(chunk)
                self.wfile.flush()
                self.record.body_bytes += len(chunk)
                length -= len(chunk)
                if rate:
                    time.sleep(len(chunk) / rate)
        if length > 0:
            self.close_connection = True  # body cut short: the client must see a premature end

    # ----- plumbing -----

    def _send_head(self, status: int, headers: dict[str, str]) -> None:
        self.record.status = status
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _send_json(self, status: int, payload: object, head: bool, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self._send_head(
            status,
            {**(headers or {}), "Content-Type": "application/json; charset=utf-8", "Content-Length": str(len(body))},
        )
        if not head:
            self.wfile.write(body)


def _error_headers(err: HubError) -> dict[str, str]:
    headers = {"X-Error-Message": err.message, **err.headers}
    if err.code is not None:
        headers["X-Error-Code"] = err.code
    return headers


def _model_info(hub: FakeHub, repo_id: str, commit: HubCommit, query: dict[str, list[str]]) -> dict:
    """The /api/models payload; `?blobs=true` adds size/blobId/lfs to siblings, `expand` selects properties."""
    with_blobs = query.get("blobs", ["false"])[-1] in _TRUE_VALUES
    siblings = []
    for path, f in sorted(commit.files.items()):
        sibling: dict = {"rfilename": path}
        if with_blobs:
            sibling |= {"size": f.size, "blobId": f.git_oid}
            if f.is_lfs:
                sibling["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": f.pointer_size}
        siblings.append(sibling)
    info = {
        "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
        "id": repo_id,
        "modelId": repo_id,
        "author": repo_id.split("/")[0] if "/" in repo_id else None,
        "sha": commit.sha,
        "lastModified": commit.date,
        "createdAt": hub._created_at(repo_id),
        "private": False,
        "gated": False,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": siblings,
        "spaces": [],
        "usedStorage": sum(f.size for f in commit.files.values()),
    }
    expand = query.get("expand", []) + query.get("expand[]", [])
    if expand:
        info = {k: v for k, v in info.items() if k in ("_id", "id", *expand)}
    return info


def _tree(hub: FakeHub, repo_id: str, commit: HubCommit, path: str, recursive: bool, expand: bool) -> list[dict]:
    """The /tree payload: files and folders under `path` (direct children, or all descendants if recursive)."""
    prefix = f"{path}/" if path else ""
    below = {p: f for p, f in commit.files.items() if p.startswith(prefix)}
    if path and not below:
        raise HubError(404, "EntryNotFound", f'{path} does not exist on "{commit.sha}"')
    folders: set[str] = set()
    for p in below:
        parts = p[len(prefix) :].split("/")[:-1]
        folders |= {prefix + "/".join(parts[: i + 1]) for i in range(len(parts))}
    entries: list[dict] = []
    for p in sorted(folders | set(below)):
        if not recursive and "/" in p[len(prefix) :]:
            continue
        if p in folders:
            listing = "".join(f"{q}\0{f.git_oid}\n" for q, f in sorted(below.items()) if q.startswith(p + "/"))
            entry: dict = {"type": "directory", "oid": hashlib.sha1(listing.encode()).hexdigest(), "size": 0, "path": p}
        else:
            f = below[p]
            entry = {"type": "file", "oid": f.git_oid, "size": f.size, "path": p}
            if f.is_lfs:
                entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": f.pointer_size}
            if expand:
                entry["securityFileStatus"] = {
                    "status": "safe",
                    "avScan": {"virusFound": False, "virusNames": None},
                    "pickleImportScan": None,
                }
        if expand:
            last = hub._last_commit_touching(repo_id, commit, p)
            entry["lastCommit"] = {"id": last.sha, "title": last.title, "date": last.date}
        entries.append(entry)
    return entries


__all__ = ["FakeHub", "HubError", "RequestRecord", "git_blob_sha1", "lfs_pointer"]
