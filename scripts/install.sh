#!/usr/bin/env bash
# Create .venv and install the app into it: its pinned dependencies, then the package itself (editable, so the
# checkout is what runs). Idempotent; quick when already done.
# Usage: scripts/install.sh [requirements file]   (default: requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
req="${1:-requirements.txt}"
if ! command -v python3 >/dev/null; then
  echo "python3 was not found. Install Python 3.11 or newer (Debian/Ubuntu: sudo apt install python3 python3-venv)." >&2
  exit 1
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "This app needs Python 3.11 or newer, but python3 is $(python3 -V 2>&1)." >&2
  echo "Install a newer Python (Debian/Ubuntu: sudo apt install python3.11 python3.11-venv) and put it first on PATH" >&2
  echo "as python3, then run this again." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ] && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "$(python3 -V 2>&1) cannot create virtual environments: its venv/ensurepip module is missing." >&2
  echo "Install it (Debian/Ubuntu: sudo apt install python3-venv, or python3.X-venv for your version), then run this again." >&2
  exit 1
fi
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
