#!/usr/bin/env bash
# GPU figures for soundmorph in at most 8 minutes: bench/results/gpu.json + gpu.md.
#
#   bench/gpu.sh              on a machine with a GPU (a fresh copy of the repository)
#   bench/gpu.sh --dry-run    tiny sizes on the CPU: checks the script end to end (1-5 min on 2 cores)
#
# The GPU machine may have no internet: it uses the first Python that already imports torch and
# soundmorph's dependencies ($PYTHON if set, ./.venv, then python3, python). Only when there is none does it try
# ./install.sh (which installs offline only from a local wheel cache), within 3 minutes. It never
# stops without writing gpu.json: a failure is recorded there with its reason.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
budget=480  # seconds, all included
dry=""
[ "${1:-}" = "--dry-run" ] && dry="--dry-run"
results=bench/results
mkdir -p "$results"
needs="import torch, numpy, soundfile, soxr, safetensors, tqdm, matplotlib"

fail() {
  echo "gpu.sh: $1" >&2
  printf '{"error": "%s", "date": "%s"}\n' "$1" "$(date -u '+%F %T UTC')" > "$results/gpu${dry:+-dry-run}.json"
  exit 1
}

command -v nvidia-smi >/dev/null 2>&1 && timeout 10 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
py=""
for candidate in ${PYTHON:-} .venv/bin/python python3 python; do
  if command -v "$candidate" >/dev/null 2>&1 && timeout 60 "$candidate" -c "$needs" 2>/dev/null; then
    py=$candidate
    break
  fi
done
if [ -z "$py" ]; then
  for candidate in python3 python; do  # torch without the rest: say which is missing
    command -v "$candidate" >/dev/null 2>&1 && timeout 60 "$candidate" -c "import torch" 2>/dev/null \
      && echo "gpu.sh: $candidate has torch but not all of: ${needs#import }" >&2
  done
  echo "gpu.sh: trying ./install.sh (offline: only a local wheel cache can satisfy it)" >&2
  if timeout 180 ./install.sh >&2 && .venv/bin/python -c "$needs" 2>/dev/null; then
    py=.venv/bin/python
  else
    fail "no Python with torch and soundmorph's dependencies, and ./install.sh could not install them"
  fi
fi
echo "gpu.sh: using $py ($($py -c 'import torch; print(torch.__version__, torch.cuda.is_available())'))"
left=$(( budget - ($(date +%s) - start) - 10 ))
[ "$left" -gt 30 ] || fail "no time left for the benchmark after the setup"
PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=$(( $(nproc) < 4 ? $(nproc) : 4 )) timeout "$left" "$py" -m bench.gpu $dry
status=$?
[ $status -eq 124 ] && fail "bench.gpu ran past the ${left}-s limit"
echo "gpu.sh: done in $(( $(date +%s) - start )) s (status $status)"
exit $status
