#!/usr/bin/env bash
# Create .venv and install the app into it: its pinned dependencies, then the package itself (editable, so the
# checkout is what runs). Idempotent; quick when already done.
# Usage: scripts/install.sh [requirements file]   (default: requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
req="${1:-requirements.txt}"
python3 -m venv .venv
. .venv/bin/activate
stamp=".venv/.installed-$(sha256sum "$req" requirements.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
python -m pip install --quiet --upgrade pip
# torch before NeMo, pinned, so pip does not pick another build while resolving nemo_toolkit.
python -m pip install --quiet "$(grep -E '^torch==' requirements.txt)"
python -m pip install --quiet -r "$req"
python -m pip install --quiet --no-deps -e .
touch "$stamp"
