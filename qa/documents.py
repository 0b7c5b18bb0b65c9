"""Changing the collection's files: uploads saved into the corpus folder, removals kept in a trash folder.

Nothing here is lost. A removed or replaced file is moved, not deleted, into a
trash folder beside the index, one folder per removal, so two removals of the
same name never clash::

    index/trash/20260216T101502123456-3f2a/
      festival.md        the file as it was, under its path in the corpus folder
      .removed.json      {"name": "festival.md", "title": "...", "removed": "2026-02-16 10:15:02"}

Every change returns an ``Undo``: ``Assistant`` makes the change, refreshes the
index, and undoes the change when the refresh fails. ``BackgroundJob`` runs such
a change on a thread of its own, keeping its progress for whoever watches it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Generic, TypeVar

from qa.corpus import DOCUMENT_SUFFIXES, check_upload
from qa.errors import UploadError

log = logging.getLogger(__name__)

T = TypeVar("T")
Undo = Callable[[], None]

TRASH_RECORD = ".removed.json"  # a dot name: never a document (uploads refuse them, the corpus skips them)
BUILD_NICENESS = 10  # added to a background build's nice value, so that questions asked meanwhile come first
SHOWN_NAME_CHARS = 120  # a name longer than this is cut in messages
_TRASH_ID = re.compile(r"\d{8}T\d{12}-[0-9a-f]{4}")  # removal time to the microsecond, so ids sort by it


class DocumentExists(UploadError):
    """An upload has the name of a file already in the collection; nothing was written."""


@dataclass(frozen=True)
class TrashItem:
    """A removed or replaced file waiting in the trash."""

    id: str  # its folder in the trash, what ``restore`` takes
    name: str  # its path in the corpus folder, the document id it had
    title: str
    removed: str  # local time, "YYYY-MM-DD HH:MM:SS"


def shown_name(name: str) -> str:
    """``name`` as a message shows it: control characters as "?", cut when very long, never quoted."""
    clean = "".join("?" if unicodedata.category(c).startswith("C") else c for c in name)
    return clean if len(clean) <= SHOWN_NAME_CHARS else clean[: SHOWN_NAME_CHARS - 1] + "…"


def safe_name(name: str) -> str:
    """The bare file name of an upload; rejects path tricks instead of silently fixing them."""
    raw = name.replace("\\", "/")
    base = raw.rsplit("/", 1)[-1].strip()
    tricky = any(unicodedata.category(c).startswith("C") for c in base)
    if raw != base or not base or base.startswith(".") or tricky or len(base) > 200:
        raise UploadError(f"{shown_name(name)}: give a plain file name such as notes.txt (no folders, no leading dot)")
    return base


class DocumentFolder:
    """The corpus folder's document files, and the trash folder that keeps what is taken out of it."""

    def __init__(self, corpus: Path, trash: Path, max_bytes: int):
        self.corpus = Path(corpus)
        self.trash_dir = Path(trash)
        self.max_bytes = max_bytes

    # -- the corpus folder ----------------------------------------------------------------------

    def upload_target(self, name: str, data: bytes) -> Path:
        """Where an upload goes, once its name and content are checked (``UploadError`` says why not)."""
        safe = safe_name(name)
        check_upload(safe, data, self.max_bytes)
        target = self.corpus / safe
        if target.resolve().parent != self.corpus.resolve():
            raise UploadError(f"{shown_name(name)}: files can only be added to the corpus folder itself")
        return target

    def write(self, target: Path, data: bytes) -> Undo:
        """Write ``target`` whole (a temporary file renamed over it); the undo deletes it again."""
        tmp = target.parent / f".upload-{uuid.uuid4().hex[:8]}"
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return lambda: target.unlink(missing_ok=True)

    def file_of(self, doc: str) -> Path | None:
        """The file in the corpus folder that document ``doc`` was read from; None when it has none of its own
        (a record of a ``.jsonl`` file, or no such document)."""
        parts = Path(doc).parts
        if not parts or Path(doc).is_absolute() or any(p in ("..", ".") or p.startswith(".") for p in parts):
            return None
        path = self.corpus / doc
        if path.suffix.lower() not in DOCUMENT_SUFFIXES or not path.is_file():
            return None
        root = self.corpus.resolve()
        return path if root in path.resolve().parents else None

    # -- the trash --------------------------------------------------------------------------------

    def trash(self, path: Path, title: str) -> tuple[TrashItem, Undo]:
        """Move the corpus file ``path`` into a new trash folder; the undo moves it back."""
        name = path.relative_to(self.corpus).as_posix()
        now = datetime.now()
        item = TrashItem(f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:4]}", name, title, f"{now:%Y-%m-%d %H:%M:%S}")
        folder = self.trash_dir / item.id
        (folder / name).parent.mkdir(parents=True)
        (folder / TRASH_RECORD).write_text(json.dumps(asdict(item), ensure_ascii=False), encoding="utf-8")
        shutil.move(path, folder / name)
        log.info("moved %s to %s", name, folder)

        def undo() -> None:
            shutil.move(folder / name, path)
            shutil.rmtree(folder, ignore_errors=True)

        return item, undo

    def trashed(self) -> list[TrashItem]:
        """What the trash holds, most recently removed first."""
        if not self.trash_dir.is_dir():
            return []
        items = (self._item(p) for p in self.trash_dir.iterdir() if _TRASH_ID.fullmatch(p.name) and p.is_dir())
        return sorted((i for i in items if i is not None), key=lambda i: i.id, reverse=True)

    def restore(self, trash_id: str) -> tuple[TrashItem, Undo]:
        """Move a trashed file back to its place in the corpus folder; the undo moves it back into the trash."""
        folder = self.trash_dir / trash_id
        item = self._item(folder) if _TRASH_ID.fullmatch(trash_id or "") and folder.is_dir() else None
        if item is None:
            raise UploadError(f"{shown_name(trash_id or '')}: not in the trash (it may have been restored already)")
        target = self.corpus / item.name
        if target.exists():
            raise DocumentExists(
                f"{shown_name(item.name)}: a file of that name is in the collection again; "
                "remove it first to restore this one"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(folder / item.name, target)
        shutil.rmtree(folder, ignore_errors=True)
        log.info("restored %s from %s", item.name, folder)

        def undo() -> None:
            (folder / item.name).parent.mkdir(parents=True, exist_ok=True)
            (folder / TRASH_RECORD).write_text(json.dumps(asdict(item), ensure_ascii=False), encoding="utf-8")
            shutil.move(target, folder / item.name)

        return item, undo

    def _item(self, folder: Path) -> TrashItem | None:
        """The trash folder's record, or one made from the file it holds when the record is lost."""
        try:
            record = json.loads((folder / TRASH_RECORD).read_text(encoding="utf-8"))
            item = TrashItem(folder.name, str(record["name"]), str(record["title"]), str(record["removed"]))
            if (folder / item.name).is_file():
                return item
        except (OSError, ValueError, KeyError, TypeError):
            pass
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != TRASH_RECORD)
        if not files:
            return None
        name = files[0].relative_to(folder).as_posix()
        removed = datetime.strptime(folder.name[:15], "%Y%m%dT%H%M%S")
        return TrashItem(folder.name, name, Path(name).stem, f"{removed:%Y-%m-%d %H:%M:%S}")


def _lower_priority() -> None:
    """Let questions come first: the calling thread, and only it, runs at a lower CPU priority.

    On Linux a thread has its own nice value (``setpriority`` with its thread id);
    a build's embedding and tagging run on this thread, one torch thread wide.
    Elsewhere, or where it is refused, nothing changes.
    """
    try:
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + BUILD_NICENESS))
    except (AttributeError, OSError):
        pass


class BackgroundJob(Generic[T]):
    """``work(progress)`` run on a thread of its own, its latest ``(stage, done, total)`` kept for watchers.

    The work goes on to its end whether or not anyone watches (a browser tab closed
    during an upload does not cut an upload short); ``wait`` says when it has ended.
    """

    def __init__(self, work: Callable[[Callable[[str, int, int], None]], T], name: str = "qa-documents"):
        self.stage, self.done, self.total = "waiting for the index", 0, 0
        self._result: T | None = None
        self._error: BaseException | None = None
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self._thread.start()

    def _progress(self, stage: str, done: int, total: int) -> None:
        self.stage, self.done, self.total = stage, done, total

    def _run(self, work: Callable[[Callable[[str, int, int], None]], T]) -> None:
        _lower_priority()
        try:
            self._result = work(self._progress)
        except BaseException as exc:  # handed to whoever asks for the result
            self._error = exc
        finally:
            self._ended.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the work has ended (waiting at most ``timeout`` seconds)."""
        return self._ended.wait(timeout)

    def result(self) -> T:
        """What the work returned, or the exception it raised; waits for its end."""
        self._ended.wait()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]

    def describe(self) -> str:
        """Where the work is, in words: "embedding 120 of 480 (25%)"."""
        if not self.total:
            return self.stage
        return f"{self.stage} {self.done:,} of {self.total:,} ({100 * self.done // self.total}%)"
