#!/usr/bin/env bash
# Set up ./.venv with soundmorph in it.   ./install.sh        the tool
#                                          ./install.sh test   the tool + test and lint tools
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || python3 -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)
if ! command -v nvidia-smi >/dev/null 2>&1 && ! .venv/bin/python -c "import torch" 2>/dev/null; then
  # No GPU: take PyTorch's CPU build. A plain `torch` requirement would pull a multi-GB CUDA build.
  # Where pip's index holds only CUDA builds, point TORCH_INDEX_URL at PyTorch's CPU wheel index.
  "${pip[@]}" "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi
if [ "${1:-}" = test ]; then
  "${pip[@]}" -e ".[test,bench]"
else
  "${pip[@]}" -e .
fi
echo "soundmorph is installed in $(pwd)/.venv"
