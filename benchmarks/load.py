"""Benchmark the app under a crowd: many clients asking at once through the API (a script, not a test).

Starts the real app (``qa serve``: the bundled model, the corpus given, an index
in a temporary folder unless ``--index`` names one) on a loopback port, then
asks the dev questions through gradio_client's ``/ask`` endpoint: first with
one client (every question once: the reference answers), then with each crowd
size of ``--clients``, every client asking ``--questions`` questions as fast as
it gets answers. Prints per level the throughput, p50/p95/max latency, the
errors and the answers that differ from the one-client answer, the CPU time the
server and the clients spent per question, and beside them the library's own
time per question on this machine (``Assistant.ask`` in this process), so the
app's overhead reads as a ratio on a shared machine.

    .venv/bin/python benchmarks/load.py [--clients 20 50] [--questions 5] [--concurrency N] [--verify-ssl]

The clients share the machine with the server, so their own cost counts
against it. gradio_client builds new HTTP clients for every call and, with
certificate checks on (its default), loads the CA bundle each time: about 45 ms
of client CPU a question here, more than the server spends answering it. The
app is served over plain HTTP on loopback, where there is nothing to verify, so
the clients run with ``ssl_verify=False`` unless ``--verify-ssl`` is given.

Targets from the crowds issue, on 2 cores: >= 20 questions/s through the app,
p95 <= 3 s at 50 clients, 0 errors and 0 changed answers. Exits with status 1
when an answer failed or changed (the timing targets are reported, not enforced).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import httpx  # noqa: E402
from gradio_client import Client  # noqa: E402

from qa import Assistant  # noqa: E402
from qa.assistant import DEFAULT_CORPUS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "eval" / "dev_questions.jsonl"
HOST = "127.0.0.1"  # loopback only: this drives a crowd at the app, never at another machine
TARGET_QPS = 20.0
TARGET_P95_S = 3.0
START_TIMEOUT_S = 600.0  # a fresh index is built before the app serves


@dataclass
class Level:
    """What one crowd size saw."""

    clients: int
    latencies: list[float] = field(default_factory=list)  # seconds, one per answered question
    answers: list[tuple[str, str]] = field(default_factory=list)  # (question, answer) as they came back
    server_cpu: float = 0.0  # seconds of CPU the app's process used meanwhile
    client_cpu: float = 0.0  # seconds of CPU this process (the clients) used meanwhile
    errors: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # questions answered otherwise than with one client
    seconds: float = 0.0

    @property
    def asked(self) -> int:
        return len(self.latencies) + len(self.errors)

    def line(self) -> str:
        lat = sorted(self.latencies) or [float("nan")]
        return (
            f"{self.clients:>7} {self.asked:>9} {self.asked / self.seconds:>7.1f} "
            f"{percentile(lat, 50) * 1000:>8.0f} {percentile(lat, 95) * 1000:>8.0f} {lat[-1] * 1000:>8.0f} "
            f"{len(self.errors):>6} {len(self.changed):>7} "
            f"{self.server_cpu / self.asked * 1000:>9.1f} {self.client_cpu / self.asked * 1000:>9.1f}"
        )


HEADER = (
    f"{'clients':>7} {'questions':>9} {'q/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'errors':>6} "
    f"{'changed':>7} {'server ms':>9} {'client ms':>9}   (CPU ms a question)"
)


def percentile(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def start_app(corpus: Path, index: Path, feedback: Path, port: int, extra: list[str]) -> tuple[subprocess.Popen, str]:
    """``qa serve`` in its own process (so the crowd's clients do not share its interpreter); returns it and its URL
    once it prints "Ready"."""
    command = [sys.executable, "-m", "qa.cli", "serve", "--corpus", str(corpus), "--index", str(index)]
    command += ["--host", HOST, "--port", str(port), "--feedback", str(feedback), "--no-progress", *extra]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    ready: list[str] = []
    reader = threading.Thread(target=lambda: ready.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT_S)
    if not ready or not ready[0].startswith("Ready:"):
        process.terminate()
        raise SystemExit(f"the app did not get ready within {START_TIMEOUT_S:.0f} s: {ready[:1]}")
    print(ready[0].strip(), file=sys.stderr)
    return process, f"http://{HOST}:{port}/"


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def library_seconds(corpus: Path, index: Path, questions: list[str], repeat: int = 3) -> list[float]:
    """``Assistant.ask`` per question in this process, on the index the app serves: the floor the app adds to."""
    assistant = Assistant(corpus, index, auto_refresh=False).load()
    out = []
    for _ in range(repeat):
        for q in questions:
            started = time.perf_counter()
            assistant.ask(q)
            out.append(time.perf_counter() - started)
    return sorted(out)


def plain_http_seconds(url: str, questions: list[str]) -> list[float]:
    """One client asking through Gradio's REST route (``/gradio_api/call/ask``) on one kept-alive connection:
    the app's own time, without gradio_client's wait between looks for the result (50 ms)."""
    out = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for q in questions:
            started = time.perf_counter()
            event = http.post("gradio_api/call/ask", json={"data": [q, 5, "hybrid"]}).json()["event_id"]
            reply = http.get(f"gradio_api/call/ask/{event}").text
            out.append(time.perf_counter() - started)
            if "event: complete" not in reply:
                raise SystemExit(f"plain HTTP call failed: {reply[:200]}")
    return sorted(out)


def crowd(url: str, server_pid: int, clients: int, plan: list[list[str]], verify: bool) -> Level:
    """``clients`` sessions, each asking its list of questions back to back, all starting together."""
    level = Level(clients)
    lock = threading.Lock()
    sessions = [Client(url, verbose=False, ssl_verify=verify) for _ in range(clients)]
    start = threading.Barrier(clients + 1)

    def ask_all(client: Client, questions: list[str]) -> None:
        start.wait()
        for q in questions:
            began = time.perf_counter()
            try:
                answer = client.predict(q, api_name="/ask")
            except Exception as exc:  # counted and shown, never ends the run
                with lock:
                    level.errors.append(f"{q[:60]}: {type(exc).__name__}: {exc}"[:200])
                continue
            took = time.perf_counter() - began
            with lock:
                level.latencies.append(took)
                level.answers.append((q, answer))

    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(ask_all, c, qs) for c, qs in zip(sessions, plan)]
        start.wait()
        began, server, me = time.perf_counter(), cpu_seconds(server_pid), os.times()
        for f in futures:
            f.result()
        level.seconds = time.perf_counter() - began
        level.server_cpu = cpu_seconds(server_pid) - server
        level.client_cpu = sum(os.times()[:2]) - sum(me[:2])
    for client in sessions:
        client.close()
    return level


def main() -> None:
    parser = argparse.ArgumentParser(description="Drive the real app with crowds of API clients.")
    parser.add_argument("--clients", type=int, nargs="+", default=[20, 50], help="Crowd sizes after the one client.")
    parser.add_argument("--questions", type=int, default=5, help="Questions each client of a crowd asks.")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="Corpus the app serves.")
    parser.add_argument("--index", type=Path, help="Index folder (default: a fresh one in a temporary folder).")
    parser.add_argument("--concurrency", type=int, help="Passed to `qa serve --concurrency` (default: its own).")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    parser.add_argument(
        "--verify-ssl", action="store_true", help="Clients check certificates as gradio_client does by default."
    )
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    extra = ["--concurrency", str(args.concurrency)] if args.concurrency else []

    with tempfile.TemporaryDirectory() as tmp:
        index = args.index or Path(tmp) / "index"
        process, url = start_app(args.corpus, index, Path(tmp) / "feedback.jsonl", free_port(), extra)
        try:
            library = library_seconds(args.corpus, index, questions)
            Client(url, verbose=False).predict(questions[0], api_name="/ask")  # warm up the server's paths
            plain = plain_http_seconds(url, questions)
            levels = [crowd(url, process.pid, 1, [questions], args.verify_ssl)]
            for n in args.clients:
                plan = [
                    [questions[(c * args.questions + j) % len(questions)] for j in range(args.questions)]
                    for c in range(n)
                ]
                levels.append(crowd(url, process.pid, n, plan, args.verify_ssl))
        finally:
            process.terminate()
            process.wait(timeout=30)

    reference = dict(levels[0].answers)
    for level in levels:
        level.changed = [q for q, answer in level.answers if answer != reference.get(q)]
    lib_p50 = percentile(library, 50)
    print(
        f"library (Assistant.ask in one thread): p50 {lib_p50 * 1000:.0f} ms, p95 "
        f"{percentile(library, 95) * 1000:.0f} ms over {len(library)} questions"
    )
    print(HEADER)
    for level in levels:
        print(level.line())
    one, http_p50 = percentile(sorted(levels[0].latencies), 50), percentile(plain, 50)
    print(
        f"one question, p50: library {lib_p50 * 1000:.0f} ms; app over plain HTTP {http_p50 * 1000:.0f} ms "
        f"({http_p50 / lib_p50:.1f}x); app through gradio_client {one * 1000:.0f} ms ({one / lib_p50:.1f}x)"
    )
    for level in levels:
        for problem in level.errors[:5] + [f"changed answer: {q}" for q in level.changed[:5]]:
            print(f"  {level.clients} clients: {problem}")
    biggest = levels[-1]
    best_qps = max(lv.asked / lv.seconds for lv in levels)
    p95 = percentile(sorted(biggest.latencies), 95) if biggest.latencies else float("inf")
    print(
        f"targets on {os.cpu_count()} cores (a shared machine reads slower): {best_qps:.1f} q/s "
        f"({'met' if best_qps >= TARGET_QPS else 'MISSED'} >= {TARGET_QPS:.0f}); p95 {p95:.2f} s at "
        f"{biggest.clients} clients ({'met' if p95 <= TARGET_P95_S else 'MISSED'} <= {TARGET_P95_S:.0f} s)"
    )
    if args.json:
        figures = {
            "library_p50_ms": lib_p50 * 1000,
            "plain_http_p50_ms": http_p50 * 1000,
            "levels": [
                {
                    "clients": lv.clients,
                    "questions": lv.asked,
                    "qps": lv.asked / lv.seconds,
                    "p50_ms": percentile(sorted(lv.latencies), 50) * 1000 if lv.latencies else None,
                    "p95_ms": percentile(sorted(lv.latencies), 95) * 1000 if lv.latencies else None,
                    "errors": len(lv.errors),
                    "changed": len(lv.changed),
                    "server_cpu_ms": lv.server_cpu / lv.asked * 1000,
                    "client_cpu_ms": lv.client_cpu / lv.asked * 1000,
                }
                for lv in levels
            ],
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if any(lv.errors or lv.changed for lv in levels):
        sys.exit(1)


if __name__ == "__main__":
    main()
