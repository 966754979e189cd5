"""``setup_local_models.py --only diarizer``: the speaker model at its pinned commit, from the hub, the HF cache or a
copy, and a hub token for repositories that need one (given, never kept).

The real script runs in a subprocess against the loopback fake hub (``fake_hub.py``), which serves the trained tiny
Streaming Sortformer (``tests/data/tiny_sortformer.nemo``) under the registry's repo id and pinned revision.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_setup import HUB_CACHE_FILLER, RUN_TIMEOUT_S, Setup, leftovers

from fake_hub import FakeHub, hub_client_env
from offline_transcribe.models.files import check_local_models, read_manifest, sha256_file
from offline_transcribe.models.registry import DIARIZER, MODELS

SPEC = MODELS[DIARIZER]
TINY_SORTFORMER = Path(__file__).parent / "data" / "tiny_sortformer.nemo"
TOKEN = "hf_TestTokenNeverToBeWritten0123456789"

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def hub(tmp_path: Path):
    with FakeHub(tmp_path / "hub-storage") as running:
        running.commit(SPEC.repo_id, {SPEC.hub_filename: TINY_SORTFORMER, "README.md": b"# tiny\n"}, sha=SPEC.revision)
        yield running


def new_setup(tmp_path: Path, hub: FakeHub, name: str) -> Setup:
    return Setup(tmp_path / name / "local_models", hub.endpoint, tmp_path / name / "hf-home")


def test_only_diarizer_downloads_the_pinned_nemo_and_nothing_else(tmp_path, hub):
    setup = new_setup(tmp_path, hub, "download")
    output = setup.run("--only", DIARIZER)
    assert f"revision {SPEC.revision}" in output and "diarizer: installed" in output
    assert hub.file_downloads() == [f"/{SPEC.repo_id}/resolve/{SPEC.revision}/{SPEC.hub_filename}"]
    entry = read_manifest(setup.models_dir)["models"][DIARIZER]
    assert entry["revision"] == SPEC.revision
    assert entry["files"]["diarizer.nemo"]["sha256"] == sha256_file(TINY_SORTFORMER)
    assert check_local_models(setup.models_dir, [DIARIZER], deep=True) == [] and leftovers(setup.models_dir) == []
    assert set(read_manifest(setup.models_dir)["models"]) == {DIARIZER}  # nothing else was set up
    hub.clear_log()
    assert "already set up" in setup.run("--only", DIARIZER) and hub.requests == []


def test_a_copy_in_the_hub_cache_is_adopted_without_asking_the_hub(tmp_path, hub):
    setup = new_setup(tmp_path, hub, "cache")
    wanted = [(SPEC.repo_id, SPEC.hub_filename, SPEC.revision, str(setup.hf_home / "hub"))]
    subprocess.run([sys.executable, "-c", HUB_CACHE_FILLER, json.dumps(wanted)],
                   env=hub_client_env(hub.endpoint, setup.hf_home), check=True, timeout=RUN_TIMEOUT_S)  # fmt: skip
    hub.clear_log()
    output = setup.run("--only", DIARIZER)
    assert f"found {SPEC.repo_id}@{SPEC.revision[:7]} in the Hugging Face cache" in output and hub.requests == []
    assert read_manifest(setup.models_dir)["models"][DIARIZER]["revision"] == SPEC.revision


def test_a_gated_repo_is_explained_and_a_token_from_the_environment_or_the_option_is_used_but_never_kept(
    tmp_path, hub
):
    hub.gated[SPEC.repo_id] = TOKEN
    setup = new_setup(tmp_path, hub, "gated")
    refused = setup.run("--only", DIARIZER, expect=1)
    assert "refused access to nvidia/diar_streaming_sortformer_4spk-v2 (401)" in refused
    assert f"{hub.endpoint}/{SPEC.repo_id}" in refused  # the model page to open
    assert "HF_TOKEN=<your token> python setup_local_models.py --only diarizer" in refused
    assert "--token" in refused and "--from PATH" in refused and hub.file_downloads() == []
    assert not (setup.models_dir / SPEC.local_name).exists()

    wrong = setup.run("--only", DIARIZER, "--token", "hf_wrong", expect=1)
    assert "refused access" in wrong and "(401)" in wrong

    from_env = setup.run("--only", DIARIZER, env={"HF_TOKEN": TOKEN})
    assert "diarizer: installed" in from_env
    other = new_setup(tmp_path, hub, "option")
    from_option = other.run("--only", DIARIZER, "--token", TOKEN)
    assert "diarizer: installed" in from_option
    assert all(r.authorized for r in hub.records if r.served_file)
    for text in (refused, wrong, from_env, from_option):
        assert TOKEN not in text
    for folder in (setup.models_dir, setup.hf_home, other.models_dir, other.hf_home):
        for path in (p for p in folder.rglob("*") if p.is_file()):
            assert TOKEN.encode() not in path.read_bytes(), f"the token was written to {path}"
