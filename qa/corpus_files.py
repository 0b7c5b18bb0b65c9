"""The files of a corpus folder, walked and read without ever leaving it.

``corpus_files`` lists what may be read (links out of the folder are skipped and
named); ``read_corpus_file`` opens one with ``O_NOFOLLOW`` and checks that it is
still the file that was listed. ``qa.corpus`` loads what they read; the
evaluator's cache key (``qa.eval.run.corpus_key``) hashes it.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG


@dataclass(frozen=True)
class CorpusFile:
    """A file of the corpus folder that may be read: its ``name`` in the corpus, the ``path`` to open (the
    file itself, or the target of a link that stays inside the folder) and the identity it had when found."""

    name: str
    path: Path
    identity: tuple[int, int]  # (st_dev, st_ino), checked again when the file is opened


def corpus_files(root: Path | str) -> tuple[list[CorpusFile], list[tuple[str, str]]]:
    """Every regular file under the folder ``root`` that may be read, in name order, and what was skipped.

    Hidden files and folders (a name starting with ".") are ignored. The folder is
    walked without following symbolic links, so nothing outside it is ever read:

    * a link whose target resolves outside the folder, or nowhere, is skipped and named;
    * a link to a file inside the folder is read under the link's name, unless that
      file is already read under its own name (or another link's): it is indexed once;
    * a link to a folder is not followed (a folder inside is walked where it is).
    """
    root = Path(root)
    base = root.resolve()
    files: list[CorpusFile] = []
    links: list[tuple[str, Path]] = []
    skipped: list[tuple[str, str]] = []

    def walk(folder: Path, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            skipped.append((prefix or ".", f"folder cannot be read ({exc.strerror})"))
            return
        for entry in entries:
            name = prefix + entry.name
            if entry.name.startswith("."):
                continue
            if entry.is_symlink():
                links.append((name, Path(entry.path)))
            elif entry.is_dir(follow_symlinks=False):
                walk(Path(entry.path), name + "/")
            elif entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                files.append(CorpusFile(name, Path(entry.path), (st.st_dev, st.st_ino)))

    walk(root, "")
    read = {f.identity: f.name for f in files}
    for name, link in links:
        try:
            target = link.resolve(strict=True)
            st = target.stat()
        except (OSError, RuntimeError):
            skipped.append((name, "broken or looping symbolic link: not read"))
            continue
        if target != base and base not in target.parents:
            skipped.append((name, "symbolic link to a place outside the corpus folder: not read"))
        elif target.is_dir():
            skipped.append((name, "symbolic link to a folder: links to folders are not followed"))
        elif not target.is_file():
            skipped.append((name, "symbolic link to something that is not a regular file: not read"))
        elif (st.st_dev, st.st_ino) in read:
            skipped.append((name, f"symbolic link to {read[(st.st_dev, st.st_ino)]}, which is read under that name"))
        else:
            read[(st.st_dev, st.st_ino)] = name
            files.append(CorpusFile(name, target, (st.st_dev, st.st_ino)))
    files.sort(key=lambda f: f.name.split("/"))
    return files, skipped


def read_corpus_file(file: CorpusFile, max_bytes: int) -> bytes:
    """The bytes of ``file``; ``ValueError`` when it is larger than ``max_bytes`` or is no longer the file that
    ``corpus_files`` found (replaced by a link, a pipe or another file since), ``OSError`` when it cannot be read."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(file.path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError("replaced by a symbolic link while the corpus was read: not read") from None
        raise
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if (st.st_dev, st.st_ino) != file.identity or not S_ISREG(st.st_mode):
            raise ValueError("replaced while the corpus was read: not read")
        if st.st_size > max_bytes:
            raise ValueError(too_large(st.st_size, max_bytes))
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(too_large(len(data), max_bytes))
    return data


def too_large(size: int, max_bytes: int) -> str:
    return f"larger than the {max_bytes // 1_000_000} MB limit ({size:,} bytes)"
