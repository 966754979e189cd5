#!/usr/bin/env bash
# Install, set up the models once (re-using any copy you already have), and start the app.
# Extra arguments go to transcribe_ui.py, e.g. ./run.sh --preload --port 7861
set -euo pipefail
cd "$(dirname "$0")"
scripts/install.sh requirements.txt
. .venv/bin/activate
python setup_local_models.py
exec python transcribe_ui.py "$@"
