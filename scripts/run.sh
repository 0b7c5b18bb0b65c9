#!/usr/bin/env bash
# Set up (first time) and start the chat app on the bundled corpus (`qa serve`, the same as `python app.py`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
export HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
exec .venv/bin/qa serve "$@"
