#!/usr/bin/env bash
# Prepare the GPU check here, where there is a package index and no GPU, then dry-run it:
#
#   bench/gpu_prepare.sh               # .whl/ for the CUDA machine, then bench/gpu_check.sh --dry-run (a few minutes)
#   bench/gpu_prepare.sh --no-dry-run  # .whl/ only
#
# 1. Downloads bench/gpu_wheels.txt for the CUDA machine (CPython 3.12, x86-64 manylinux) into a cache, with the
#    workplace's recipe (`pip download --no-deps --only-binary=:all: --python-version 3.12 --platform …`); a
#    package published only as source (antlr4-python3-runtime, pure Python) is built into a py3-none-any wheel.
# 2. Checks that every wheel's tags admit cp312-manylinux x86_64 and that each name comes in one version, and has
#    pip itself install the set for CPython 3.12 (`--python-version 3.12 --platform …`) into an empty folder.
# 3. Writes .whl/ (ignored by git, ≤ 60 MB): wheels.tar.xz (the wheels; see bench/gpu_env.py for why packed),
#    wheels.txt (what is inside), heldout-speech.flac (30 s of espeak-ng speech for tests/test_gpu.py: that
#    machine has no espeak-ng).
# 4. The dry run: the same wheels built for this Python (binary ones downloaded again for CPython 3.11) installed
#    with the GPU check's own pip command into an empty folder, in a virtualenv that holds only the CUDA machine's
#    packages (bench/gpu_machine.txt), and bench/gpu_check.sh --dry-run there: every step on the CPU, tiny sizes.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-$([[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3)}
CACHE=${GPU_PREPARE_CACHE:-$HOME/.cache/transcribe-gpu-prepare}
MAX_BYTES=60000000
DL=$CACHE/wheels-cp312
mkdir -p "$DL" .whl
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
  manylinux2014_x86_64 manylinux_2_5_x86_64 manylinux1_x86_64; do PLATFORMS+=(--platform "$p"); done

echo "== 1. wheels for CPython 3.12 x86-64 into $DL"
mapfile -t PINS < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' bench/gpu_wheels.txt | grep -v '^$')
for pin in "${PINS[@]}"; do
  name=${pin%%==*} version=${pin##*==}
  stem=$(echo "$name" | tr 'A-Z.-' 'a-z__')
  if compgen -G "$DL/*.whl" >/dev/null && ls "$DL" | tr 'A-Z.-' 'a-z__' | grep -q "^${stem}_${version//./_}_"; then
    continue
  fi
  if ! "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${PLATFORMS[@]}" -d "$DL" "$pin"; then
    echo "   $pin has no wheel: building one from its source (it must come out py3-none-any)"
    "$PY" -m pip wheel -q --no-deps --no-binary=:all: -w "$DL" "$pin"
  fi
done
# Keep only what the list names (one version of each).
"$PY" - "$DL" <<'EOF'
import re, sys
from pathlib import Path
from packaging.utils import parse_wheel_filename
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
pins = {norm(l.split("==")[0]) + "==" + l.split("==")[1].strip()
        for l in (x.split("#")[0].strip() for x in open("bench/gpu_wheels.txt")) if l}
for w in Path(sys.argv[1]).glob("*.whl"):
    name, version, *_ = parse_wheel_filename(w.name)
    if f"{norm(str(name))}=={version}" not in pins:
        print(f"   removing {w.name} (not in bench/gpu_wheels.txt)")
        w.unlink()
EOF

echo "== 2. tags, one version each, and pip's own install for CPython 3.12"
"$PY" bench/gpu_env.py check-wheels "$DL"
CHECK312=$(mktemp -d)
trap 'rm -rf "$CHECK312"' EXIT
"$PY" -m pip install -q --no-index --no-deps --no-compile --only-binary=:all: --python-version 3.12 \
  --implementation cp --abi cp312 "${PLATFORMS[@]}" --platform manylinux_2_34_x86_64 --platform manylinux_2_39_x86_64 \
  --target "$CHECK312/site" "$DL"/*.whl
echo "   pip installed all $(ls "$DL"/*.whl | wc -l) wheels for CPython 3.12 into an empty folder"

echo "== 3. .whl/"
LISTING=$(cd "$DL" && ls -l --time-style=+ *.whl | awk '{print $5, $6}')
if [[ ! -f .whl/wheels.tar.xz || "$(cat .whl/wheels.txt 2>/dev/null)" != "$LISTING" ]]; then
  echo "   packing (xz, a few minutes)…"
  "$PY" bench/gpu_env.py pack "$DL" .whl/wheels.tar.xz
  echo "$LISTING" >.whl/wheels.txt
fi
"$PY" bench/gpu_env.py unpack .whl/wheels.tar.xz "$CHECK312/unpacked"
diff <(cd "$DL" && ls *.whl) <(cd "$CHECK312/unpacked" && ls *.whl) >/dev/null ||
  { echo "wheels.tar.xz does not hold the wheels of $DL"; exit 1; }
if [[ ! -f .whl/heldout-speech.flac ]]; then
  "$PY" -c "
import sys; sys.path[:0] = ['.', 'tests']
import soundfile, test_gpu
soundfile.write('.whl/heldout-speech.flac', test_gpu.heldout_speech(), 16000)"
fi
BYTES=$(du -cb .whl/* | tail -1 | cut -f1)
TREE=$( (git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | grep total$ |
  awk '{s += $1} END {print s}') || echo 0)
ls -l .whl
echo "   .whl/: $((BYTES / 1000000)) MB (limit $((MAX_BYTES / 1000000)) MB); with the rest of the working tree" \
  "$(((BYTES + TREE) / 1048576)) MiB of the 64 MiB that may travel"
((BYTES <= MAX_BYTES)) || { echo ".whl/ is over $MAX_BYTES bytes"; exit 1; }
((BYTES + TREE <= 64 * 1048576)) || { echo "the working tree with .whl/ is over 64 MiB"; exit 1; }

[[ "${1:-}" == "--no-dry-run" ]] && exit 0
echo "== 4. dry run"
TWINS=$CACHE/wheels-here
"$PY" bench/gpu_env.py twins "$DL" "$TWINS"
"$PY" bench/gpu_env.py stand-in "$CACHE/stand-in"
PATH=$CACHE/stand-in/bin:$PATH GPU_CHECK_WHEELS=$TWINS GPU_CHECK_SITE=$CACHE/site GPU_CHECK_WORK=$CACHE/dry-run \
  GPU_CHECK_BUDGET_S=${GPU_CHECK_BUDGET_S:-1500} \
  bench/gpu_check.sh --dry-run
