"""Feedback on answers: one JSON line per thumbs up / down, appended to a local file.

The file is JSON Lines so it can be read back with one ``json.loads`` per line
and appended to safely from several threads. Each record carries what is needed
to judge the answer later: the question, the answer text and its citations with
their exact spans.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qa.records import Answer, Citation

RATINGS = ("up", "down")
SUFFIX = ".jsonl"

_append_lock = threading.Lock()


def feedback_record(rating: str, answer: Answer, **context: Any) -> dict[str, Any]:
    """The record written for ``rating`` of ``answer``; ``context`` adds fields (settings, earlier questions)."""
    if rating not in RATINGS:
        raise ValueError(f"unknown rating {rating!r}: use one of {', '.join(RATINGS)}")
    return {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "rating": rating,
        "question": answer.question,
        "answer": answer.answer,
        "short_answer": answer.short_answer,
        "abstained": answer.abstained,
        "confidence": round(answer.confidence, 4),
        "citations": [_citation(c) for c in answer.citations],
        "closest": [_citation(c) for c in answer.closest],
        "retrieved": [h.to_dict() for h in answer.retrieved],
        **context,
    }


def append_feedback(path: Path | str, rating: str, answer: Answer, **context: Any) -> dict[str, Any]:
    """Append one feedback line to the JSON Lines file at ``path`` and return the record.

    Raises ``ValueError`` with a one-line reason when the path is not a ``.jsonl``
    file in an existing folder; nothing is written then.
    """
    path = Path(path).expanduser()
    if path.suffix.lower() != SUFFIX:
        raise ValueError(f"{path}: the feedback file must end in {SUFFIX}")
    if not path.parent.is_dir():
        raise ValueError(f"{path.parent}: no such folder for the feedback file")
    if path.exists() and not path.is_file():
        raise ValueError(f"{path}: not a file")
    record = feedback_record(rating, answer, **context)
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with _append_lock, path.open("a", encoding="utf-8") as f:
        f.write(line)
    return record


def read_feedback(path: Path | str) -> list[dict[str, Any]]:
    """Every record of a feedback file, oldest first (an absent file has none)."""
    path = Path(path).expanduser()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _citation(c: Citation) -> dict[str, Any]:
    return {"n": c.n, "doc": c.doc, "title": c.title, "date": c.date, "chunk_id": c.chunk_id,
            "start": c.start, "end": c.end, "sentence": c.sentence}
