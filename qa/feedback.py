"""Feedback on answers: one JSON line per thumbs up / down, appended to a local file.

The file is JSON Lines so it can be read back with one ``json.loads`` per line
and appended to safely from several threads. Each record is the rating and its
time followed by the answer exactly as ``qa ask --json`` prints it
(``Answer.to_dict``): the question, the answer text and its citations with
their exact spans, which ``Citation.from_dict`` reads back.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qa.assistant import PROJECT
from qa.errors import FeedbackError
from qa.records import Answer

DEFAULT_FEEDBACK = PROJECT / "feedback.jsonl"
RATINGS = ("up", "down")
SUFFIX = ".jsonl"

_append_lock = threading.Lock()


def feedback_record(rating: str, answer: Answer, **context: Any) -> dict[str, Any]:
    """The record written for ``rating`` of ``answer``; ``context`` adds fields (settings, earlier questions)."""
    if rating not in RATINGS:
        raise FeedbackError(f"unknown rating {rating!r}: use one of {', '.join(RATINGS)}")
    return {"time": datetime.now(UTC).isoformat(timespec="seconds"), "rating": rating, **answer.to_dict(), **context}


def append_feedback(path: Path | str, rating: str, answer: Answer, **context: Any) -> dict[str, Any]:
    """Append one feedback line to the JSON Lines file at ``path`` and return the record.

    Raises ``FeedbackError`` with a one-line reason when the path is not a
    writable ``.jsonl`` file in an existing folder (or holds a control
    character, such as a NUL); nothing is written then.
    """
    if any(ord(c) < 32 for c in str(path)):  # a NUL makes every file call raise ValueError, not OSError
        raise FeedbackError(f"{str(path)!r}: a file name cannot hold control characters: type a plain name")
    path = Path(path).expanduser()
    if path.suffix.lower() != SUFFIX:
        raise FeedbackError(f"{path}: the feedback file must end in {SUFFIX}")
    if not path.parent.is_dir():
        raise FeedbackError(f"{path.parent}: no such folder for the feedback file")
    if path.exists() and not path.is_file():
        raise FeedbackError(f"{path}: not a file")
    record = feedback_record(rating, answer, **context)
    line = json.dumps(record, ensure_ascii=False) + "\n"
    try:
        with _append_lock, path.open("a", encoding="utf-8") as f:
            f.write(line)
    except OSError as exc:
        raise FeedbackError(f"{path}: cannot be written ({exc.strerror or exc}): choose another file") from None
    return record


def read_feedback(path: Path | str) -> list[dict[str, Any]]:
    """Every record of a feedback file, oldest first (an absent file has none)."""
    path = Path(path).expanduser()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
