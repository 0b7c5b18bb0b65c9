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

With ``--upload`` the script runs the upload phase instead (questions during indexing)::

    .venv/bin/python benchmarks/load.py --upload [--upload-clients 10] [--upload-seconds 30]

The app serves a temporary copy of the corpus folder and a fresh temporary index
(the repo's corpus and index are never touched). First every dev question is
asked once (the reference answers), then ``--upload-clients`` clients ask the dev
questions in a loop for ``--upload-seconds`` (latency without an upload), then
they ask again in a loop from the moment a ~200 KB English text file (SQuAD dev
paragraphs from eval/squad-v1.1-dev/corpus.jsonl, under a new name each run) is
sent to the Documents tab's upload event, exactly as the page sends it, until
the event ends with its status line ("Added ...") - the upload is capped at
``UPLOAD_TIMEOUT_S``. Last, every question is asked once more (the answers from
the new index). Prints p50/p95 of both loops, p95(during) / p95(without) against
the issue's target of at most 2, how long the upload took to index, the errors,
and whether answers during the upload equal the reference: an answer that
differs but equals the answer from the new index came after the new index was
swapped in and is reported apart; any other difference, an error or a failed
upload exits with status 1 (the ratio is reported, not enforced).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
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
SQUAD_CORPUS = ROOT / "eval" / "squad-v1.1-dev" / "corpus.jsonl"
UPLOAD_BYTES = 200_000  # size of the uploaded file (the issue measured a 200 KB upload)
UPLOAD_TIMEOUT_S = 900.0  # the upload phase gives up waiting for the indexing after this long
QUESTION_TIMEOUT_S = 120.0  # a question of the upload phase not answered by then counts as an error
TARGET_UPLOAD_RATIO = 2.0  # p95 during an upload / p95 without one


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
    outcome: object = None  # what ran meanwhile returned (the upload phase)

    def ask(self, lock: threading.Lock, question: str, call: Callable[[str], str]) -> None:
        """Time ``call(question)`` (one question through the app) and keep its answer, or the error it raised."""
        began = time.perf_counter()
        try:
            answer = call(question)
        except Exception as exc:  # counted and shown, never ends the run
            with lock:
                self.errors.append(f"{question[:60]}: {type(exc).__name__}: {exc}"[:200])
            return
        took = time.perf_counter() - began
        with lock:
            self.latencies.append(took)
            self.answers.append((question, answer))

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
            level.ask(lock, q, lambda question: client.predict(question, api_name="/ask"))

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


# -- the upload phase: questions while a document is indexed ------------------------------------


@dataclass
class Upload:
    """What the upload of one file through the Documents tab saw."""

    name: str
    size: int  # bytes
    seconds: float = 0.0  # from sending the file until the event ended
    status: str = ""  # the status line it ended with (tags stripped)
    added: bool = False
    updates: int = 0  # progress lines received meanwhile
    stages: list[tuple[float, str]] = field(default_factory=list)  # (seconds in, stage) as each stage began
    error: str = ""


def upload_text(limit: int = UPLOAD_BYTES) -> tuple[str, int]:
    """About ``limit`` bytes of plain English: SQuAD dev paragraphs joined with blank lines, under a title line;
    returns the text and how many paragraphs it holds."""
    parts = ["SQuAD v1.1 dev paragraphs"]
    size = len(parts[0].encode())
    for line in SQUAD_CORPUS.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        text = " ".join(json.loads(line)["text"].split())
        size += len(text.encode()) + 2
        if size > limit:
            break
        parts.append(text)
    return "\n\n".join(parts) + "\n", len(parts) - 1


def _plain(markup: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", markup).split())


def _first_output(message: dict) -> str:
    """The first output (the status line) of a queue message, as text, whether sent whole or as a diff."""
    data = (message.get("output") or {}).get("data") or [None]
    first = data[0]
    if isinstance(first, str):
        return _plain(first)
    strings = re.findall(r'"((?:[^"\\]|\\.)*)"', json.dumps(first)) if first is not None else []
    strings = [json.loads(f'"{s}"') for s in strings if "<" in s or " " in s]
    return _plain(strings[-1]) if strings else ""


def upload_event(config: dict) -> int:
    """The index of the upload event of the Documents tab's file box (``qa-upload``), as the page sends it; it is
    private (hidden from gradio_client), so it is called over Gradio's queue routes like the page does."""
    box = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "qa-upload")
    return next(d["id"] for d in config["dependencies"] if [box, "upload"] in d["targets"])


def upload_and_wait(url: str, path: Path) -> Upload:
    """Send ``path`` to the app's upload event as the page does (``/gradio_api/upload``, then the event on the
    queue) and follow the event until it ends or ``UPLOAD_TIMEOUT_S`` passes."""
    outcome = Upload(path.name, path.stat().st_size)
    began = time.perf_counter()
    try:
        with httpx.Client(base_url=url, timeout=httpx.Timeout(60, read=120)) as http:
            fn_index = upload_event(http.get("config").json())
            began = time.perf_counter()
            with path.open("rb") as fh:
                sent = http.post("gradio_api/upload", files={"files": (path.name, fh, "text/plain")})
            sent.raise_for_status()
            file = {"path": sent.json()[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}
            session = uuid.uuid4().hex
            body = {"data": [[file]], "fn_index": fn_index, "session_hash": session, "event_data": None}
            http.post("gradio_api/queue/join", json=body).raise_for_status()
            with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as stream:
                for line in stream.iter_lines():
                    if time.perf_counter() - began > UPLOAD_TIMEOUT_S:
                        outcome.error = f"not indexed within {UPLOAD_TIMEOUT_S:.0f} s"
                        break
                    if not line.startswith("data:"):
                        continue
                    message = json.loads(line[5:])
                    if message.get("msg") == "process_generating":
                        outcome.updates += 1
                        line = _first_output(message)
                        stage = re.sub(r"[\d,]+ of [\d,]+ \(\d+%\)", "", line.split(". ")[0]).strip()
                        if line.startswith("Indexing") and (not outcome.stages or outcome.stages[-1][1] != stage):
                            outcome.stages.append((time.perf_counter() - began, stage))
                    elif message.get("msg") == "process_completed":
                        outcome.status = _first_output(message)
                        if not message.get("success", False):
                            outcome.error = f"the upload event failed: {json.dumps(message)[:300]}"
                        break
    except (httpx.HTTPError, OSError, ValueError, StopIteration) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"[:300]
    outcome.seconds = time.perf_counter() - began
    outcome.added = not outcome.error and outcome.status.startswith(f"Added {path.name}")
    if not outcome.error and not outcome.added:
        outcome.error = f"the status line does not say it was added: {outcome.status[:200]}"
    return outcome


def ask_while(sessions: list[Client], server_pid: int, questions: list[str], during: Callable[[], object]) -> Level:
    """Every session asks ``questions`` in a loop (each from its own place in the list), all starting together,
    until ``during()`` (run meanwhile on this thread) returns; questions in flight then are finished and kept."""
    level = Level(len(sessions))
    lock = threading.Lock()
    stop = threading.Event()
    start = threading.Barrier(len(sessions) + 1)
    limit = time.perf_counter() + UPLOAD_TIMEOUT_S + QUESTION_TIMEOUT_S  # the loops end even if ``during`` hangs

    def ask_loop(n: int, client: Client) -> None:
        start.wait()
        j = n * len(questions) // len(sessions)
        while not stop.is_set() and time.perf_counter() < limit:
            q = questions[j % len(questions)]
            j += 1
            level.ask(lock, q, lambda question: client.submit(question, api_name="/ask").result(QUESTION_TIMEOUT_S))

    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        futures = [pool.submit(ask_loop, n, c) for n, c in enumerate(sessions)]
        start.wait()
        began, server, me = time.perf_counter(), cpu_seconds(server_pid), os.times()
        try:
            level.outcome = during()
        finally:
            stop.set()
            for f in futures:
                f.result()
        level.seconds = time.perf_counter() - began
        level.server_cpu = cpu_seconds(server_pid) - server
        level.client_cpu = sum(os.times()[:2]) - sum(me[:2])
    return level


def one_by_one(client: Client, questions: list[str]) -> dict[str, str]:
    """Every question once, one at a time: the answers the index gives when nothing else happens."""
    return {q: client.submit(q, api_name="/ask").result(timeout=QUESTION_TIMEOUT_S) for q in questions}


def upload_phase(args: argparse.Namespace, questions: list[str]) -> int:
    """The ``--upload`` run (see the module's docstring); returns the exit status."""
    extra = ["--concurrency", str(args.concurrency)] if args.concurrency else []
    text, paragraphs = upload_text()
    with tempfile.TemporaryDirectory(prefix="qa-load-upload-") as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(args.corpus, corpus, symlinks=True)
        upload_file = Path(tmp) / f"squad-dev-{uuid.uuid4().hex[:8]}.txt"
        upload_file.write_text(text, encoding="utf-8")
        process, url = start_app(corpus, Path(tmp) / "index", Path(tmp) / "feedback.jsonl", free_port(), extra)
        sessions: list[Client] = []
        try:
            sessions = [Client(url, verbose=False, ssl_verify=args.verify_ssl) for _ in range(args.upload_clients)]
            before = one_by_one(sessions[0], questions)  # also warms up the server's paths
            without = ask_while(sessions, process.pid, questions, lambda: time.sleep(args.upload_seconds))
            during = ask_while(sessions, process.pid, questions, lambda: upload_and_wait(url, upload_file))
            after = one_by_one(sessions[0], questions)
            added = (corpus / upload_file.name).is_file()
        finally:
            for client in sessions:
                client.close()
            process.terminate()
            process.wait(timeout=30)

    upload: Upload = during.outcome
    without.changed = [q for q, a in without.answers if a != before[q]]
    swapped = [q for q, a in during.answers if a != before[q] and a == after[q]]
    during.changed = [q for q, a in during.answers if a != before[q] and a != after[q]]
    print(
        f"upload phase: {args.upload_clients} clients asking the {len(questions)} dev questions in a loop; "
        f"{os.cpu_count()} cores, shared with other jobs (read the times as such)"
    )
    print(f"{'phase':<15} {HEADER}")
    print(f"{'without upload':<15} {without.line()}")
    print(f"{'during upload':<15} {during.line()}")
    p95_without = percentile(sorted(without.latencies), 95) if without.latencies else float("nan")
    p95_during = percentile(sorted(during.latencies), 95) if during.latencies else float("nan")
    ratio = p95_during / p95_without
    print(
        f"p50 without / during upload: {percentile(sorted(without.latencies), 50) * 1000:.0f} / "
        f"{percentile(sorted(during.latencies), 50) * 1000:.0f} ms; p95 without / during upload: "
        f"{p95_without * 1000:.0f} / {p95_during * 1000:.0f} ms"
    )
    print(
        f"p95 during / p95 without upload: {ratio:.2f} "
        f"({'met' if ratio <= TARGET_UPLOAD_RATIO else 'MISSED'} <= {TARGET_UPLOAD_RATIO:.0f})"
    )
    print(
        f"upload: {upload.name}, {upload.size:,} bytes ({paragraphs} SQuAD dev paragraphs), indexed in "
        f"{upload.seconds:.1f} s with {upload.updates} progress updates; "
        f"status: {upload.status or '-'}; file in the corpus copy: {'yes' if added else 'NO'}"
    )
    print("  stages began at: " + "; ".join(f"{at:.1f} s {stage}" for at, stage in upload.stages))
    if upload.error:
        print(f"  upload FAILED: {upload.error}")
    print(
        f"answers during the upload: {len(during.answers)}; equal to the answers without it: "
        f"{len(during.answers) - len(swapped) - len(during.changed)}; changed as the new index answers "
        f"(after the swap): {len(swapped)}; changed otherwise: {len(during.changed)}"
    )
    differs = [q for q in questions if after[q] != before[q]]
    print(f"questions the new document changed (asked one by one before and after it): {len(differs)}")
    for q in differs[:10]:
        print(f"  new answer: {q[:70]} -> {after[q][:100]!r} (was {before[q][:100]!r})")
    for name, level in (("without upload", without), ("during upload", during)):
        for problem in level.errors[:5] + [f"changed answer: {q}" for q in sorted(set(level.changed))[:5]]:
            print(f"  {name}: {problem}")
    if args.json:
        figures = {
            "clients": args.upload_clients,
            "upload_bytes": upload.size,
            "upload_seconds": upload.seconds,
            "upload_added": upload.added,
            "phases": {
                name: {
                    "questions": lv.asked,
                    "qps": lv.asked / lv.seconds,
                    "p50_ms": percentile(sorted(lv.latencies), 50) * 1000 if lv.latencies else None,
                    "p95_ms": percentile(sorted(lv.latencies), 95) * 1000 if lv.latencies else None,
                    "max_ms": max(lv.latencies) * 1000 if lv.latencies else None,
                    "errors": len(lv.errors),
                    "changed": len(lv.changed),
                }
                for name, lv in (("without", without), ("during", during))
            },
            "p95_ratio": ratio,
            "changed_after_swap": len(swapped),
            "changed_by_new_document": len(differs),
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    failed = upload.error or not added or any(lv.errors or lv.changed for lv in (without, during))
    return 1 if failed else 0


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
    parser.add_argument(
        "--upload", action="store_true", help="Run the upload phase instead: questions while a file is indexed."
    )
    parser.add_argument("--upload-clients", type=int, default=10, help="Clients asking in the upload phase.")
    parser.add_argument(
        "--upload-seconds", type=float, default=30.0, help="How long they ask without an upload, first."
    )
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    if args.upload:
        if args.index:
            parser.error("--upload indexes into a fresh temporary index: leave out --index")
        if not args.corpus.is_dir():
            parser.error("--upload needs a corpus folder (the upload is saved into a copy of it)")
        if args.upload_clients < 1 or not 0 < args.upload_seconds <= UPLOAD_TIMEOUT_S:
            parser.error(f"--upload-clients must be >= 1 and --upload-seconds in (0, {UPLOAD_TIMEOUT_S:.0f}]")
        sys.exit(upload_phase(args, questions))
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
