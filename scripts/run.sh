#!/usr/bin/env bash
# Set up (first time) and start the product on the bundled corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
export HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
if [ -f app.py ]; then
  exec .venv/bin/python app.py "$@"
fi
exec .venv/bin/qa ask "Which Japanese foreign minister did Russia ban from entering the country in 2025?"
