"""Where a model's files come from, in the order setup tries them: a copy the user names (``--from``), files
already in place but not recorded, the Hugging Face cache, and a download of the pinned commit.

Each source stages the files (``staging.Staged``) without touching the model's place in the models folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import SetupError
from ..models.files import check_nemo_archive, model_files_on_disk, models_dir_option
from ..models.registry import ModelSpec
from .hub import (
    discard_partial_downloads,
    download_files,
    find_in_hub_cache,
    hub_api,
    remaining_bytes,
    resolve_revision,
    staged_from_download,
)
from .staging import Staged, StagedFile, copy_into, ensure_space, say, staging_dir

SALM_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")


def stage_from_path(spec: ModelSpec, source: Path, root: Path, api=None) -> Staged:
    """Copy a model the user already has (a ``.nemo`` file, or a SALM folder) into staging."""
    source = source.expanduser().resolve()
    if not source.exists():
        raise SetupError(f"--from {source}: no such file or folder.")
    stage = staging_dir(root, spec)
    staged = Staged(spec, revision=None, source=f"adopted from {source}")
    if not spec.is_folder:
        if source.is_dir():
            raise SetupError(f"--from {source}: {spec.display_name} is a single .nemo file, not a folder.")
        reason = check_nemo_archive(source)
        if reason:
            raise SetupError(f"--from {source}: {reason}.")
        ensure_space(root, source.stat().st_size)
        staged.files.append(copy_into(source, stage / spec.local_name, spec.local_name, str(source)))
        return staged
    if not source.is_dir():
        raise SetupError(f"--from {source}: {spec.display_name} is a folder (config.json, model.safetensors, …).")
    for name in ("config.json", "model.safetensors"):
        if not (source / name).is_file():
            raise SetupError(f"--from {source}: {name} is missing; this is not a SALM checkpoint folder.")
    ensure_space(root, sum(p.stat().st_size for p in source.rglob("*") if p.is_file()))
    for name in ("config.json", "model.safetensors", *SALM_TOKENIZER_FILES, "llm_backbone/config.json"):
        if (source / name).is_file():
            rel = f"{spec.local_name}/{name}"
            staged.files.append(copy_into(source / name, stage / rel, rel, str(source / name)))
    have = {f.rel.split("/", 1)[1] for f in staged.files}
    if not {"tokenizer.json", "tokenizer_config.json", "llm_backbone/config.json"} <= have:
        say(f"  {source} has no LLM tokenizer/config beside the weights; taking them from {spec.llm_repo_id}.")
        staged.files = [f for f in staged.files if f.rel.split("/", 1)[1] in ("config.json", "model.safetensors")]
        staged.files += stage_llm_artifacts(spec, stage, api)
    return staged


def stage_existing(spec: ModelSpec, root: Path) -> Staged | None:
    """Files already at the final place but not recorded (an interrupted run, or a copy the user made)."""
    final = spec.path(root)
    if not final.exists():
        return None
    if not spec.is_folder:
        if final.is_dir() or check_nemo_archive(final):
            return None
    elif not all((root / rel).is_file() for rel in spec.required_files()):
        return None
    say(f"  {final} is already there but not recorded: checking it instead of downloading")
    stage = staging_dir(root, spec)
    stage.mkdir(parents=True, exist_ok=True)
    staged = Staged(spec, revision=None, source=f"adopted from {final}")
    rels = model_files_on_disk(spec, root)
    for rel in rels:
        dst = stage / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, dst)
        staged.files.append(StagedFile(rel, dst, str(root / rel)))
    return staged


def stage_from_hub_cache(spec: ModelSpec, root: Path) -> Staged | None:
    """Copy a model already in the Hugging Face cache into staging, or None if it is not all there."""
    stage = staging_dir(root, spec)
    if not spec.is_folder:
        hit = find_in_hub_cache(spec.repo_id, spec.hub_filename, spec.revision)
        if hit is None:
            return None
        path, revision = hit
        ensure_space(root, path.stat().st_size)
        say(f"  found {spec.repo_id}@{revision[:7]} in the Hugging Face cache")
        staged = Staged(spec, revision, source=f"Hugging Face cache ({path})")
        staged.files.append(copy_into(path, stage / spec.local_name, spec.local_name, f"{spec.repo_id}@{revision}"))
        return staged
    hits = {name: find_in_hub_cache(spec.repo_id, name, spec.revision) for name in ("config.json", "model.safetensors")}
    if None in hits.values() or hits["config.json"][1] != hits["model.safetensors"][1]:
        return None
    llm_files = llm_artifacts_from_hub_cache(spec, stage)  # [] (nothing copied) unless all of them are cached
    if not llm_files:
        return None
    revision = hits["model.safetensors"][1]
    say(f"  found {spec.repo_id}@{revision[:7]} and {spec.llm_repo_id} in the Hugging Face cache")
    ensure_space(root, sum(p.stat().st_size for p, _ in hits.values()))
    staged = Staged(spec, revision, source="Hugging Face cache")
    for name, (path, rev) in hits.items():
        rel = f"{spec.local_name}/{name}"
        staged.files.append(copy_into(path, stage / rel, rel, f"{spec.repo_id}@{rev}:{name}"))
    staged.files += llm_files
    return staged


def stage_download(spec: ModelSpec, root: Path, api, revision: str) -> Staged:
    """Download exactly ``revision`` (the pinned commit, unless the user named another) into staging."""
    stage = staging_dir(root, spec)
    again = spec.setup_command() + models_dir_option(root)  # what a refusal (401/403) says to run with a token
    info = resolve_revision(api, spec.repo_id, revision, pinned=revision == spec.revision, setup_command=again)
    siblings = {s.rfilename: s for s in info.siblings or []}
    say(f"  {spec.repo_id}: revision {info.sha}")
    staged = Staged(spec, info.sha, source=f"downloaded from the Hugging Face hub ({spec.repo_id}@{info.sha})")
    if not spec.is_folder:
        if spec.hub_filename not in siblings:
            raise SetupError(f"{spec.repo_id}@{info.sha} has no {spec.hub_filename}.")
        discard_partial_downloads(stage / "download")
        ensure_space(root, remaining_bytes(stage / "download", [siblings[spec.hub_filename]]))
        downloads = download_files(api, spec.repo_id, info, [spec.hub_filename], stage / "download", again)
        for name, path, sibling in downloads:
            origin = f"{spec.repo_id}@{info.sha}:{name}"
            staged.files.append(staged_from_download(spec.local_name, path, sibling, origin))
        return staged
    names = [n for n in ("config.json", "model.safetensors") if n in siblings]
    if len(names) < 2:
        raise SetupError(f"{spec.repo_id}@{info.sha} has no config.json/model.safetensors: not a SALM checkpoint.")
    discard_partial_downloads(stage / "download")
    ensure_space(root, remaining_bytes(stage / "download", [siblings[n] for n in names]))
    for name, path, sibling in download_files(api, spec.repo_id, info, names, stage / "download", again):
        staged.files.append(
            staged_from_download(f"{spec.local_name}/{name}", path, sibling, f"{spec.repo_id}@{info.sha}:{name}")
        )
    staged.files += stage_llm_artifacts(spec, stage, api)
    return staged


def stage_llm_artifacts(spec: ModelSpec, stage: Path, api) -> list[StagedFile]:
    """The LLM tokenizer files and config a SALM folder needs to load offline (from the LLM's repo)."""
    cached = llm_artifacts_from_hub_cache(spec, stage)
    if cached:
        return cached
    if api is None:
        api = hub_api()
    info = resolve_revision(api, spec.llm_repo_id, spec.llm_revision, pinned=True)
    present = {s.rfilename for s in info.siblings or []}
    names = [n for n in (*SALM_TOKENIZER_FILES, "config.json") if n in present]
    missing = {"tokenizer.json", "tokenizer_config.json", "config.json"} - set(names)
    if missing:
        raise SetupError(f"{spec.llm_repo_id}@{info.sha} lacks {', '.join(sorted(missing))}.")
    files = []
    discard_partial_downloads(stage / "llm-download")
    for name, path, sibling in download_files(api, spec.llm_repo_id, info, names, stage / "llm-download"):
        rel = f"{spec.local_name}/llm_backbone/config.json" if name == "config.json" else f"{spec.local_name}/{name}"
        files.append(staged_from_download(rel, path, sibling, f"{spec.llm_repo_id}@{info.sha}:{name}"))
    return files


def llm_artifacts_from_hub_cache(spec: ModelSpec, stage: Path) -> list[StagedFile]:
    """The LLM tokenizer and config from the Hugging Face cache (no network), or [] if any is missing there."""
    hits = {name: find_in_hub_cache(spec.llm_repo_id, name, spec.llm_revision)
            for name in (*SALM_TOKENIZER_FILES, "config.json")}
    if any(hits[name] is None for name in ("tokenizer.json", "tokenizer_config.json", "config.json")):
        return []
    say(f"  found {spec.llm_repo_id}'s tokenizer and config in the Hugging Face cache")
    files = []
    for name, hit in hits.items():
        if hit is None:
            continue
        path, rev = hit
        rel = f"{spec.local_name}/llm_backbone/config.json" if name == "config.json" else f"{spec.local_name}/{name}"
        files.append(copy_into(path, stage / rel, rel, f"{spec.llm_repo_id}@{rev}:{name}"))
    return files
