"""Run the real app (``qa.app.build_app`` + ``qa.app.serve``) on a free loopback port for a test module."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from qa import Assistant, MiniLMEmbedder
from qa.app import build_app, serve

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


@dataclass(frozen=True)
class RunningApp:
    url: str
    assistant: Assistant
    corpus: Path
    feedback: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(base: Path, embedder: MiniLMEmbedder) -> Iterator[RunningApp]:
    """A copy of the bundled corpus, a fresh index and the app serving them, closed on exit."""
    corpus = base / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    assistant = Assistant(corpus, base / "index", embedder=embedder).load()
    feedback = base / "feedback.jsonl"
    demo = build_app(assistant, feedback, runs_dir=base / "runs")
    _, url, _ = serve(
        demo, "127.0.0.1", free_port(), max_file_size=assistant.max_upload_bytes, prevent_thread_lock=True, quiet=True
    )
    try:
        yield RunningApp(url.rstrip("/"), assistant, corpus, feedback)
    finally:
        demo.close()
