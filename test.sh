#!/usr/bin/env bash
# Install everything the tests need, lint, and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/system_deps.sh
scripts/install.sh requirements-dev.txt
. .venv/bin/activate
ruff check .
python -m pytest -n "${TEST_WORKERS:-2}" --dist loadfile "$@"  # one test file per worker: module-scoped servers stay whole
