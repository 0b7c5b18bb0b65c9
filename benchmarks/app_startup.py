"""Benchmark the app's start: from `python app.py` to ready to answer, with a built index (a script, not a test).

Builds an index of a copy of the bundled corpus once, then starts the app on it
``--repeat`` times and prints, per start, the seconds until the page is served
(the app loads the index and the model before it serves) and until the first
answer comes back through the ``/ask`` API.

    .venv/bin/python benchmarks/app_startup.py [--repeat 3]

Target from the chat issue: ready within 15 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from gradio_client import Client  # noqa: E402

from qa import Assistant  # noqa: E402
from qa.assistant import DEFAULT_CORPUS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Which Japanese foreign minister did Russia ban in 2025?"
TARGET_S = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_served(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the app exited with code {process.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the app did not serve {url} within {timeout:.0f} s")


def one_start(corpus: Path, index: Path, timeout: float) -> tuple[float, float]:
    """Seconds from launch to the page being served, and to the first answer."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    options = ["--corpus", str(corpus), "--index", str(index), "--port", str(port)]
    command = [sys.executable, str(ROOT / "app.py"), *options]  # the same as `qa serve`
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_served(url, process, timeout)
        served = time.perf_counter() - started
        answer = Client(url, verbose=False).predict(QUESTION, api_name="/ask")
        answered = time.perf_counter() - started
        if "Iwaya" not in answer:
            raise SystemExit(f"unexpected answer: {answer!r}")
        return served, answered
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description="Time the app's start with a built index.")
    parser.add_argument("--repeat", type=int, default=3, help="Number of starts to time.")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--timeout", type=float, default=120, help="Give up on a start after this many seconds.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        shutil.copytree(args.corpus, corpus)
        Assistant(corpus, index).refresh()  # the index is built before any timed start
        runs = [one_start(corpus, index, args.timeout) for _ in range(args.repeat)]
    for i, (served, answered) in enumerate(runs, 1):
        print(f"start {i}: ready (serving) {served:5.1f} s, first answer {answered:5.1f} s")
    ready = statistics.median(s for s, _ in runs)
    verdict = "within" if ready <= TARGET_S else "OVER"
    print(f"median ready {ready:.1f} s on {os.cpu_count()} cores: {verdict} the {TARGET_S:.0f} s target")


if __name__ == "__main__":
    main()
