#!/usr/bin/env bash
# Create (or reuse) .venv and install the project into it: `setup.sh run` for the
# product, `setup.sh dev` for the product and its test tools. A stamp holding a
# hash of pyproject.toml skips the install when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PY" --version)"
  "$PY" -m venv .venv
fi
hash=$(sha256sum pyproject.toml | cut -c1-16)
stamp=.venv/.qa-installed
installed=$(cat "$stamp" 2>/dev/null || true)
if [ "$installed" = "$hash-dev" ] || [ "$installed" = "$hash-$mode" ]; then
  exit 0
fi
echo "setup: installing into .venv (the first time takes a few minutes)"
# The CPU build of torch first: it lies on this machine's disk. Letting another
# package pull plain torch would fetch a multi-GB CUDA build instead.
.venv/bin/python -m pip install -q "torch==2.13.0"
if [ "$mode" = dev ]; then
  .venv/bin/python -m pip install -q -e ".[dev]"
else
  .venv/bin/python -m pip install -q -e .
fi
echo "$hash-$mode" > "$stamp"
