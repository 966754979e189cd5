"""``scripts/install.sh`` says what to install when Python is too old or cannot make a virtual environment, before
it creates anything (a fake ``python3`` first on PATH plays the machine's Python)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from app_process import PROJECT_DIR

OLD_PYTHON = """#!/bin/sh
case "$*" in -V|--version) echo "Python 3.9.2" ;; *version_info*) exit 1 ;; *) exit 0 ;; esac
"""
NO_VENV = """#!/bin/sh
case "$*" in -V|--version) echo "Python 3.11.2" ;; *ensurepip*) exit 1 ;; *) exit 0 ;; esac
"""


@pytest.mark.parametrize("python3, said", [
    (OLD_PYTHON, "This app needs Python 3.11 or newer, but python3 is Python 3.9.2."),
    (NO_VENV, "Python 3.11.2 cannot create virtual environments: its venv/ensurepip module is missing."),
])
def test_install_script_says_what_python_is_missing(tmp_path: Path, python3: str, said: str) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(PROJECT_DIR / "scripts" / "install.sh", checkout / "scripts" / "install.sh")
    fake = tmp_path / "bin" / "python3"
    fake.parent.mkdir()
    fake.write_text(python3)
    fake.chmod(0o755)
    result = subprocess.run(["bash", "scripts/install.sh"], cwd=checkout, capture_output=True, text=True,
                            env={"PATH": f"{fake.parent}:/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 1 and said in result.stderr, result.stderr
    assert "sudo apt install" in result.stderr
    assert not (checkout / ".venv").exists()
