"""The Hugging Face side of setup: the local cache (no network), and downloads of exactly one commit.

Only this module imports huggingface_hub, and only when setup needs it; the setup command turns the hub's
offline switches off before that (``offline.allow_hub_downloads``).

A hub token (for repositories that need a login or accepted terms) comes from ``--token`` or ``HF_TOKEN``. It is
only ever handed to the hub client in memory: never written to a file, the
manifest or the output. A refusal (401/403) says which model page to open and how to give the token.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..config import GUIDE
from ..errors import SetupError
from .staging import StagedFile


def find_in_hub_cache(repo_id: str, filename: str, revision: str | None) -> tuple[Path, str] | None:
    """A cached copy of ``filename`` from ``repo_id`` (the pinned revision first, else the newest), no network."""
    from huggingface_hub import scan_cache_dir, try_to_load_from_cache
    from huggingface_hub.errors import CacheNotFound

    if revision:
        hit = try_to_load_from_cache(repo_id, filename, revision=revision)
        if isinstance(hit, str):
            return Path(hit), revision
    try:
        cache = scan_cache_dir()
    except CacheNotFound:
        return None
    for repo in cache.repos:
        if repo.repo_id != repo_id or repo.repo_type != "model":
            continue
        for rev in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True):
            for f in rev.files:
                if f.file_name == filename and f.file_path.relative_to(rev.snapshot_path).as_posix() == filename:
                    return f.file_path, rev.commit_hash
    return None


def refused_status(exc: BaseException) -> int | None:
    """401 or 403 when the hub refused access (no token, a wrong one, or terms not accepted), else None."""
    from huggingface_hub.errors import GatedRepoError

    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status in (401, 403):
        return int(status)
    return 403 if isinstance(exc, GatedRepoError) else None


def refused_message(repo_id: str, status: int, setup_command: str) -> str:
    """What to do when the hub refuses ``repo_id``: the model page, a token, the command again, or ``--from``."""
    from huggingface_hub import constants

    page = f"{constants.ENDPOINT.rstrip('/')}/{repo_id}"
    return (
        f"The Hugging Face hub refused access to {repo_id} ({status}): it wants you logged in, or the model's terms\n"
        f"accepted, before it hands out the files. Nothing was downloaded.\n"
        f"  1. Open the model page {page} while logged in, and accept its terms if it asks.\n"
        f"  2. Create a read token at https://huggingface.co/settings/tokens.\n"
        f"  3. Run setup again with it: HF_TOKEN=<your token> {setup_command}\n"
        f"     (or add --token <your token>; the token is used for this run only and never saved).\n"
        f"Or download the files from {page} yourself and adopt them with --from PATH (see {GUIDE})."
    )


def resolve_revision(api, repo_id: str, revision: str, pinned: bool = False, setup_command: str = ""):
    """The hub's model info at ``revision``, with file metadata (sizes, LFS sha256).

    ``pinned``: ``revision`` is the commit the registry pins (the message for an unknown one says so).
    ``setup_command``: the command a refusal (401/403) tells the user to run again with a token.
    """
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        return api.model_info(repo_id, revision=revision, files_metadata=True)
    except RevisionNotFoundError as exc:
        why = (
            ": it is the commit this app is pinned to, so the repository's history has been rewritten or the pin "
            "is wrong" if pinned else ""
        )
        raise SetupError(
            f"{repo_id} has no revision {revision!r} on the hub{why}.\n"
            f"Nothing was downloaded. Give a copy you already have with --from PATH, or name a revision the hub "
            f"has with --revision (see {GUIDE})."
        ) from exc
    except Exception as exc:
        if (status := refused_status(exc)) is not None:
            raise SetupError(refused_message(repo_id, status, setup_command or "python setup_local_models.py")) from exc
        if isinstance(exc, RepositoryNotFoundError):
            raise SetupError(f"{repo_id} was not found on the hub (or needs a login).") from exc
        raise SetupError(
            f"Cannot reach the Hugging Face hub to look up {repo_id} ({type(exc).__name__}: {exc}).\n"
            f"Connect to the internet and run setup again, or give a copy you already have with --from PATH\n"
            f"(see {GUIDE}, 'Setting up without internet')."
        ) from exc


def download_files(
    api, repo_id: str, info, names: list[str], into: Path, setup_command: str = ""
) -> list[tuple[str, Path, object]]:
    """Download ``names`` from the exact commit ``info.sha`` into ``into`` (resumable; progress bars), with the
    client's token."""
    from huggingface_hub import hf_hub_download

    siblings = {s.rfilename: s for s in info.siblings or []}
    out = []
    for name in names:
        sibling = siblings[name]
        try:
            path = hf_hub_download(repo_id, name, revision=info.sha, local_dir=into, token=api.token)
        except Exception as exc:
            if (status := refused_status(exc)) is None:
                raise
            raise SetupError(refused_message(repo_id, status, setup_command or "python setup_local_models.py")) from exc
        out.append((name, Path(path), sibling))
    return out


def staged_from_download(rel: str, path: Path, sibling, origin: str) -> StagedFile:
    """A downloaded file with the checksum the hub published for it."""
    lfs = getattr(sibling, "lfs", None)
    sha256 = getattr(lfs, "sha256", None) if lfs is not None else None
    git_sha1 = None if sha256 else getattr(sibling, "blob_id", None)
    return StagedFile(rel, path, origin, expected_sha256=sha256, expected_git_sha1=git_sha1)


def remaining_bytes(download_dir: Path, siblings: list) -> int:
    """Bytes still to fetch: every file not already complete in the download folder."""
    total = 0
    for s in siblings:
        size = s.size or 0
        done = download_dir / s.rfilename
        total += 0 if done.is_file() and done.stat().st_size == size else size
    return total


def discard_partial_downloads(download_dir: Path) -> None:
    """Delete the partial files of interrupted runs: huggingface_hub names them per process and never resumes
    them in a later one, so each would only hold disk space (up to a whole model) until setup completes."""
    for partial in (download_dir / ".cache").rglob("*.incomplete"):
        partial.unlink(missing_ok=True)


def hub_api(token: str | None = None):
    """A hub client (imported late: only setup ever talks to the network) with ``token``, else ``$HF_TOKEN``.

    The token is passed explicitly: the app's offline switches turn huggingface_hub's implicit token (a saved login)
    off, so only a token given for this run is ever sent.
    """
    from huggingface_hub import HfApi

    return HfApi(token=token or os.environ.get("HF_TOKEN") or None)
