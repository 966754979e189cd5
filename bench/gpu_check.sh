#!/usr/bin/env bash
# The GPU path, run for real, in one command on a CUDA machine (H100/H200 class: about 5 min, never over 8):
#
#   bench/gpu_check.sh             # on the CUDA machine, with .whl/ made by bench/gpu_prepare.sh
#   bench/gpu_check.sh --dry-run   # what needs no CUDA, on this CPU, with tiny sizes (bench/gpu_prepare.sh runs it)
#
# That machine has PyTorch, transformers, peft, … but no NeMo and no package index: the wheels in .whl/ are
# installed into /tmp/site first, and the versions found are printed. Then, each step under `timeout` and all of
# them within $GPU_CHECK_BUDGET_S seconds (default 480):
#   1. the GPU tests: tests/test_gpu.py and the GPU cases of tests/test_fast_load.py and tests/test_model_store.py;
#   2. the Parakeet benchmark's CUDA rows: host→GPU load (store, restore_from, torch.load floor), RTFx of
#      transcribe_file on 10- and 60-minute files in float32 and bf16, a batch of 64 one-minute files, the engine
#      against bare transcribe() (bench/bench_load_and_transcribe.py --device cuda --check);
#   3. the Canary-shaped SALM in bfloat16: load against the floor, peak GPU memory and host RSS, encoder and decoder
#      time, tokens per second (bench/bench_canary.py --device cuda --check);
#   4. live transcription on the Parakeet-shaped model: compute per step of the GPU's candidate contexts, and the
#      GPU default fed at real-time speed for 20 s, latency of every committed word (bench/bench_live.py --check);
#   5. phrase boosting on the Parakeet-shaped model: 10 and 1,000 phrases against none on 60 s and 10 min of audio,
#      and the boosting tree's build time (bench/bench_vocabulary.py);
#   6. a job of 64 one-minute files through the job path (decode ahead, batches by duration, ledger, exports) on the
#      Parakeet-shaped model: RTFx against the targets of 3,000 (H100) and 5,000 (H200)
#      (bench/bench_batch.py --job-only; the dry run: 4 files, tiny model).
# The benchmark models (random weights) and their audio are built on that machine while step 1 runs.
# Results: gpu_check.json (every step's status and figures), gpu_check.md (the tables), gpu_check.log (all output)
# and bench_logs.tar.gz, in $OUT when it is set, else in bench/gpu-results/ (bench/gpu-results/dry-run/).
set -uo pipefail
cd "$(dirname "$0")/.."

DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY=1; fi
PY=${PYTHON:-python3}
# The limits are the CUDA machine's (16 cores, a GPU); the dry run proves the steps on a 2-core CPU, so its limits
# are SCALE times longer (the timing that matters is the GPU run's).
SCALE=$( ((DRY)) && echo "${GPU_CHECK_DRY_SCALE:-4}" || echo 1)
BUDGET=${GPU_CHECK_BUDGET_S:-$((480 * SCALE))}
WORK=${GPU_CHECK_WORK:-/tmp/gpu-check}
SITE=${GPU_CHECK_SITE:-/tmp/site}
if ((DRY)); then
  RESULTS=${OUT:-$PWD/bench/gpu-results/dry-run}
  DEVICE=cpu SIZE=--tiny
  export TRANSCRIBE_GPU_TEST_DEVICE=cpu  # tests/test_gpu.py's bodies on the CPU
else
  RESULTS=${OUT:-$PWD/bench/gpu-results}
  DEVICE=cuda SIZE=
fi
rm -rf "$WORK/logs" "$WORK/steps.jsonl" "$WORK"/*.json "$WORK"/*.xml
mkdir -p "$RESULTS" "$WORK/logs"
exec > >(tee "$RESULTS/gpu_check.log") 2>&1
START=$SECONDS
export PYTHONUNBUFFERED=1 TRANSCRIBE_BENCH_CACHE=$WORK/bench-cache
# tests/test_gpu.py's speech, made by bench/gpu_prepare.sh (the CUDA machine has no espeak-ng to make it)
if [[ -f .whl/heldout-speech.flac ]]; then export TRANSCRIBE_GPU_TEST_SPEECH=$PWD/.whl/heldout-speech.flac; fi

record() {  # NAME STATUS SECONDS LIMIT: one line of steps.jsonl
  printf '{"step": "%s", "status": %s, "seconds": %s, "limit_s": %s}\n' "$1" "$2" "$3" "$4" >>"$WORK/steps.jsonl"
}

step() {  # NAME LIMIT_S COMMAND…: run COMMAND under timeout, never past the budget (20 s kept for the summary)
  local name=$1 limit=$(($2 * SCALE))
  shift 2
  local left=$((BUDGET - (SECONDS - START) - 20))
  ((left < limit)) && limit=$left
  if ((limit < 5)); then
    echo "== $name: not run, the ${BUDGET} s budget is spent"
    record "$name" '"not run"' 0 0
    return 1
  fi
  echo "== $name (at most ${limit} s, at $((SECONDS - START)) s): $*"
  local began=$SECONDS rc
  timeout --kill-after=10 "$limit" "$@"
  rc=$?
  record "$name" "$rc" "$((SECONDS - began))" "$limit"
  if ((rc == 124 || rc == 137)); then
    echo "== $name: TIMED OUT after $((SECONDS - began)) s"
  else
    echo "== $name: exit status $rc after $((SECONDS - began)) s"
  fi
  return "$rc"
}

summary() {  # outside the budget: it takes a second or two
  timeout 60 "$PY" bench/gpu_summary.py --work "$WORK" --results "$RESULTS" $( ((DRY)) && echo --dry-run)
  local rc=$?
  tar -czf "$RESULTS/bench_logs.tar.gz" -C "$WORK" logs $( [[ -d $WORK/bench-cache/logs ]] && echo bench-cache/logs) \
    2>/dev/null
  exit "$rc"
}

echo "GPU check $( ((DRY)) && echo '(dry run on the CPU)') on $(uname -n), $(date -u +%FT%TZ); results in $RESULTS"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" --version

# 0. The wheels (the dry run installs bench/gpu_prepare.sh's CPython 3.11 builds of the same set).
if ((DRY)); then
  WHEELS=${GPU_CHECK_WHEELS:?the dry run needs GPU_CHECK_WHEELS: run it through bench/gpu_prepare.sh}
else
  WHEELS=$WORK/wheels
  rm -rf "$WHEELS"
  step unpack 60 "$PY" bench/gpu_env.py unpack .whl/wheels.tar.xz "$WHEELS" || summary
fi
rm -rf "$SITE"
step install 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$SITE" "$WHEELS"/*.whl || summary
export PYTHONPATH=$SITE
step versions 60 "$PY" -m pip show torch transformers peft accelerate safetensors sentencepiece lightning \
  huggingface_hub tokenizers numpy nemo_toolkit
step environment 90 "$PY" bench/gpu_env.py report --json "$WORK/environment.json" || summary

# 1. The GPU tests, while the benchmark models are built in the background.
step prepare_parakeet 300 "$PY" bench/bench_load_and_transcribe.py --device "$DEVICE" --check $SIZE --prepare-only \
  >"$WORK/logs/prepare_parakeet.log" 2>&1 &
PREPARE_PARAKEET=$!
step prepare_canary 300 "$PY" bench/bench_canary.py --device "$DEVICE" --check $SIZE --prepare-only \
  >"$WORK/logs/prepare_canary.log" 2>&1 &
PREPARE_CANARY=$!
step gpu_tests 200 "$PY" -m pytest -q -p no:cacheprovider --basetemp="$WORK/pytest" --junitxml="$WORK/gpu_tests.xml" \
  tests/test_gpu.py \
  tests/test_fast_load.py::test_fast_restore_on_the_gpu_matches_restore_from \
  tests/test_fast_load.py::test_canary_goes_to_the_gpu_as_from_pretrained_s_model_would \
  tests/test_model_store.py::test_unload_returns_the_gpu_memory

# 2. and 3. The benchmarks.
wait "$PREPARE_PARAKEET"
PARAKEET_READY=$?
tail -n 5 "$WORK/logs/prepare_parakeet.log"
((PARAKEET_READY == 0)) &&
  step parakeet 200 "$PY" bench/bench_load_and_transcribe.py --device "$DEVICE" --check $SIZE --json "$WORK/parakeet.json"
wait "$PREPARE_CANARY"
CANARY_READY=$?
tail -n 5 "$WORK/logs/prepare_canary.log"
((CANARY_READY == 0)) &&
  step canary 150 "$PY" bench/bench_canary.py --device "$DEVICE" --check $SIZE --json "$WORK/canary.json"
((PARAKEET_READY == 0)) &&
  step live 120 "$PY" bench/bench_live.py --device "$DEVICE" --check $SIZE --json "$WORK/live.json"
((PARAKEET_READY == 0)) &&
  step vocabulary 120 "$PY" bench/bench_vocabulary.py --device "$DEVICE" $SIZE --json "$WORK/vocabulary.json"
BATCH_FILES=$( ((DRY)) && echo 4 || echo 64)
((PARAKEET_READY == 0)) &&
  step batch 120 "$PY" bench/bench_batch.py --device "$DEVICE" --job-only --clips "$BATCH_FILES" --seconds 60 60 \
    $SIZE --json "$WORK/batch.json"
summary
