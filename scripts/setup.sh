#!/usr/bin/env bash
# Create (or reuse) .venv and install the project into it. Idempotent: a stamp
# of pyproject.toml skips the install when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.qa-installed
want="$(sha256sum pyproject.toml | cut -c1-16)-${1:-run}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] && ! { [ "${1:-run}" = run ] && grep -q "^$(sha256sum pyproject.toml | cut -c1-16)-dev$" "$stamp" 2>/dev/null; }; then
  echo "setup: installing dependencies (first run takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  # The CPU build of torch first: it lies on this machine's disk. Asking for
  # plain torch through another package would pull a multi-GB CUDA build.
  .venv/bin/python -m pip install -q "torch==2.13.0"
  if [ "${1:-run}" = dev ]; then
    .venv/bin/python -m pip install -q -e ".[dev]"
  else
    .venv/bin/python -m pip install -q -e .
  fi
  echo "$want" > "$stamp"
fi
