"""Reading question sets, and finding their evidence in the corpus.

Formats (``../shared/docs/EVAL_FORMAT.md``), chosen by the file's suffix:

- ``.jsonl``: one question a line (``id``, ``question``, ``answers``, and
  ``evidence`` quotes and/or ``doc_ids``), or one conversation a line
  (``turns``: questions answered in order, each seeing the earlier ones).
- ``.json``: SQuAD's own layout (``data`` → ``paragraphs`` → ``qas``). A
  paragraph's document id is ``<title>#<paragraph number>``, the convention of
  the SQuAD ``corpus.jsonl``; unanswerable SQuAD 2.0 questions get no answers.
- ``.csv``: ``question`` and ``answers`` columns (answers separated by ``|``),
  optional ``id``, ``type`` and ``doc_ids`` (separated by ``|``); any other
  column is carried through.

A conversation's ``evidence`` locates the answer of its last turn, the
follow-up the conversation exists to test: that turn is scored against the
quotes. Its earlier turns are scored against the quoted documents as a whole
(as with ``doc_ids``), since the quote need not hold their answers. A turn's
own ``evidence`` or ``doc_ids`` take precedence over the conversation's.

A set can be narrowed to some articles (``QuestionSet.only_articles``), e.g.
one side of ``eval/squad-splits.json`` (``load_split("…/squad-splits.json:test")``,
a file mapping split names to article titles). A question's article is the
part before ``#`` of its first gold document (its first ``doc_ids`` entry), or
of its ``source_doc_id`` when it has none (unanswerable SQuAD 2.0 questions); a
conversation is kept or dropped whole, by its first turn.

Malformed input raises ``QuestionFileError`` with one line naming the file,
the line (or the JSON path) and what is wrong.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from qa.errors import QuestionFileError

_KNOWN = {"id", "question", "answers", "evidence", "doc_ids", "type", "turns"}


@dataclass(frozen=True)
class Evidence:
    """Where a question's answer is: a verbatim quote of a document, or (``quote`` None) the whole document."""

    doc: str
    quote: str | None = None


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]  # empty: the documents do not answer it
    evidence: tuple[Evidence, ...]
    type: str | None = None
    conversation: str | None = None  # id of the conversation this turn belongs to
    turn: int = 0  # 1, 2, ... within a conversation; 0 for a standalone question
    fields: dict = field(default_factory=dict)  # other gold fields, carried through untouched
    source: str = ""  # "file:line", for messages

    @property
    def answerable(self) -> bool:
        return bool(self.answers)

    @property
    def article(self) -> str | None:
        """The title of the question's article: its first gold document's id, or else its
        ``source_doc_id``, up to ``#``; None when it has neither."""
        doc = self.evidence[0].doc if self.evidence else self.fields.get("source_doc_id")
        return doc.partition("#")[0] if isinstance(doc, str) and doc else None


@dataclass(frozen=True)
class Split:
    """The articles of one side of a split file (``{"train": [titles], "test": [titles]}``)."""

    path: Path
    name: str
    titles: frozenset[str]

    @property
    def label(self) -> str:
        """What a run records: the file's name, the side, and a hash of its titles (so that a resume
        with another split, or an edited one, is refused wherever the file lies)."""
        return f"{self.path.name}:{self.name} ({_articles(self.titles)})"


def _articles(titles: Iterable[str]) -> str:
    """A set of titles in a few characters: how many, and a hash of them sorted."""
    titles = sorted(set(titles))
    digest = hashlib.sha256("\n".join(titles).encode()).hexdigest()[:12]
    return f"{len(titles)} article{'' if len(titles) == 1 else 's'}, {digest}"


def load_split(spec: str | Path) -> Split:
    """Read ``FILE:NAME``: the list ``NAME`` of the JSON object in ``FILE``."""
    path_text, colon, name = str(spec).rpartition(":")
    if not colon or not path_text or not name:
        raise QuestionFileError(f"{spec}: give a split as FILE:NAME, e.g. eval/squad-splits.json:test")
    path = Path(path_text)
    if not path.is_file():
        raise QuestionFileError(f"{path}: no such split file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise QuestionFileError(f"{path}: not a JSON split file ({exc})") from None
    sides = [k for k, v in data.items() if isinstance(v, list)] if isinstance(data, dict) else []
    if name not in sides:
        raise QuestionFileError(f"{path}: no split {name!r} (it has {', '.join(map(repr, sides)) or 'none'})")
    titles = data[name]
    if not all(isinstance(t, str) and t for t in titles):
        raise QuestionFileError(f"{path}: split {name!r} must be a list of article titles")
    return Split(path, name, frozenset(titles))


@dataclass(frozen=True)
class QuestionSet:
    path: Path
    sha256: str
    groups: tuple[tuple[Question, ...], ...]  # a conversation's turns, or one standalone question
    split: str | None = None  # which articles were kept (``only_articles``); None: the whole file

    @property
    def questions(self) -> list[Question]:
        return [q for group in self.groups for q in group]

    def only_articles(self, titles: Iterable[str], label: str | None = None) -> QuestionSet:
        """The questions about these articles (``Question.article``), a conversation by its first
        turn. ``label`` names the selection (default: the number and a hash of the titles); it
        becomes ``split``, which a run records in its settings."""
        keep = set(titles)
        label = label or _articles(keep)
        groups = tuple(g for g in self.groups if g[0].article in keep)
        if not groups:
            raise QuestionFileError(f"{self.path}: no question is about the articles selected ({label})")
        return replace(self, groups=groups, split=label if self.split is None else f"{self.split}; {label}")

    def only_split(self, split: Split | str) -> QuestionSet:
        """The questions about the articles of ``split`` (a ``Split``, or ``FILE:NAME`` for ``load_split``)."""
        split = split if isinstance(split, Split) else load_split(split)
        return self.only_articles(split.titles, split.label)


def load_questions(path: Path | str, split: Split | str | None = None) -> QuestionSet:
    """Read a question set; with ``split`` (a ``Split``, or ``FILE:NAME`` for ``load_split``), only
    the questions about its articles."""
    questions = _load(Path(path))
    return questions if split is None else questions.only_split(split)


def _load(path: Path) -> QuestionSet:
    if not path.is_file():
        raise QuestionFileError(f"{path}: no such question file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise QuestionFileError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    readers = {".jsonl": _read_jsonl, ".json": _read_squad, ".csv": _read_csv}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise QuestionFileError(
            f"{path}: unknown question file type {path.suffix!r}: use .jsonl, .json (SQuAD) or .csv"
        )
    groups = tuple(reader(path, text))
    if not groups:
        raise QuestionFileError(f"{path}: no questions in the file")
    seen: dict[str, str] = {}
    for q in (q for g in groups for q in g):
        if q.id in seen:
            raise QuestionFileError(f"{q.source}: duplicate id {q.id!r} (first at {seen[q.id]})")
        seen[q.id] = q.source
    return QuestionSet(path, hashlib.sha256(raw).hexdigest(), groups)


# -- JSON Lines ------------------------------------------------------------------------------


def _read_jsonl(path: Path, text: str) -> Iterator[tuple[Question, ...]]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionFileError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(record, dict):
            raise QuestionFileError(f"{where}: expected a JSON object, got {type(record).__name__}")
        qid = _id(record.get("id"), f"line-{number}", where)
        evidence = _evidence(record, where)
        if "turns" in record:
            yield _conversation(record, qid, evidence, where)
        else:
            yield (_question(record, qid, evidence, where),)


def _question(
    record: dict,
    qid: str,
    evidence: tuple[Evidence, ...],
    where: str,
    conversation: str | None = None,
    turn: int = 0,
    default_type: str | None = None,
) -> Question:
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise QuestionFileError(f"{where}: missing or empty 'question'")
    if "answers" not in record:
        raise QuestionFileError(f"{where}: missing 'answers' (use [] for a question the documents do not answer)")
    answers = _strings(record["answers"], "answers", where)
    kind = record.get("type", default_type)
    if kind is not None and not isinstance(kind, str):
        raise QuestionFileError(f"{where}: 'type' must be a string")
    extra = {k: v for k, v in record.items() if k not in _KNOWN}
    return Question(qid, question, answers, evidence, kind, conversation, turn, extra, where)


def _conversation(record: dict, cid: str, evidence: tuple[Evidence, ...], where: str) -> tuple[Question, ...]:
    turns = record["turns"]
    if not isinstance(turns, list) or not turns:
        raise QuestionFileError(f'{where}: \'turns\' must be a non-empty list of {{"question", "answers"}}')
    documents = tuple(dict.fromkeys(Evidence(e.doc) for e in evidence))
    shared = {k: v for k, v in record.items() if k not in _KNOWN}
    out = []
    for n, turn in enumerate(turns, 1):
        at = f"{where} (turn {n})"
        if not isinstance(turn, dict):
            raise QuestionFileError(f"{at}: expected a JSON object")
        own = _evidence(turn, at)
        inherited = evidence if n == len(turns) else documents
        q = _question(turn, f"{cid}#{n}", own or inherited, at, cid, n, record.get("type", "conversation"))
        out.append(replace(q, fields={**shared, **q.fields}))
    return tuple(out)


def _evidence(record: dict, where: str) -> tuple[Evidence, ...]:
    items: list[Evidence] = []
    evidence = record.get("evidence", [])
    if not isinstance(evidence, list):
        raise QuestionFileError(f'{where}: \'evidence\' must be a list of {{"doc", "quote"}}')
    for i, e in enumerate(evidence):
        if not (
            isinstance(e, dict)
            and isinstance(e.get("doc"), str)
            and e["doc"]
            and isinstance(e.get("quote"), str)
            and e["quote"].strip()
        ):
            raise QuestionFileError(f'{where}: evidence[{i}] must be {{"doc": file name, "quote": text}}')
        items.append(Evidence(e["doc"], e["quote"]))
    if not items:  # quotes are the more precise gold; doc_ids count when there are none
        items = [Evidence(d) for d in _strings(record.get("doc_ids", []), "doc_ids", where)]
    return tuple(items)


def _strings(value: object, name: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QuestionFileError(f"{where}: {name!r} must be a list of strings")
    return tuple(v for v in value if v.strip())


def _id(value: object, default: str, where: str) -> str:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise QuestionFileError(f"{where}: 'id' must be a non-empty string or number")
    return str(value)


# -- SQuAD JSON ------------------------------------------------------------------------------


def _read_squad(path: Path, text: str) -> Iterator[tuple[Question, ...]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise QuestionFileError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise QuestionFileError(f"{path}: expected SQuAD JSON, an object with a 'data' list of articles")
    for a, article in enumerate(data["data"]):
        at = f"{path}: data[{a}]"
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise QuestionFileError(f'{at}: expected {{"title", "paragraphs": [...]}}')
        title = str(article.get("title", a))
        for p, paragraph in enumerate(article["paragraphs"]):
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                raise QuestionFileError(f'{at}.paragraphs[{p}]: expected {{"context", "qas": [...]}}')
            for i, qa in enumerate(paragraph["qas"]):
                where = f"{at}.paragraphs[{p}].qas[{i}]"
                if not isinstance(qa, dict):
                    raise QuestionFileError(f'{where}: expected {{"id", "question", "answers"}}')
                answers = qa.get("answers", [])
                if not isinstance(answers, list) or not all(
                    isinstance(x, dict) and isinstance(x.get("text"), str) for x in answers
                ):
                    raise QuestionFileError(f'{where}: \'answers\' must be a list of {{"text", "answer_start"}}')
                texts = [] if qa.get("is_impossible") else list(dict.fromkeys(x["text"] for x in answers))
                record = {"question": qa.get("question"), "answers": texts}
                qid = _id(qa.get("id"), f"{title}#{p}.{i}", where)
                yield (_question(record, qid, (Evidence(f"{title}#{p}"),), where),)


# -- CSV -------------------------------------------------------------------------------------


def _read_csv(path: Path, text: str) -> Iterator[tuple[Question, ...]]:
    reader = csv.DictReader(text.splitlines())
    columns = reader.fieldnames or []
    missing = [c for c in ("question", "answers") if c not in columns]
    if missing:
        raise QuestionFileError(f"{path}:1: missing column {missing[0]!r} (the header must name question,answers)")
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if None in row:
            raise QuestionFileError(f"{where}: more fields than the {len(columns)} columns of the header")
        if any(v is None for v in row.values()):
            raise QuestionFileError(f"{where}: fewer fields than the {len(columns)} columns of the header")
        record = {k: v for k, v in row.items() if k not in ("answers", "doc_ids")}
        record["answers"] = _split_bar(row["answers"])
        record["doc_ids"] = _split_bar(row.get("doc_ids", ""))
        record["type"] = row.get("type") or None
        qid = _id(row.get("id") or None, f"line-{reader.line_num}", where)
        yield (_question(record, qid, _evidence(record, where), where),)


def _split_bar(value: str) -> list[str]:
    return [v.strip() for v in value.split("|") if v.strip()]


# -- finding the evidence --------------------------------------------------------------------

Span = tuple[int, int]


def find_quote(text: str, quote: str) -> tuple[Span, ...]:
    """Every place ``quote`` occurs in ``text`` once both are NFKC-normalised with white
    space collapsed, as (start, end) offsets into the original ``text``."""
    haystack, starts, ends = _normalised(text)
    needle = _normalised(quote)[0].strip()
    if not needle:
        return ()
    spans = []
    at = haystack.find(needle)
    while at >= 0:
        spans.append((starts[at], ends[at + len(needle) - 1]))
        at = haystack.find(needle, at + 1)
    return tuple(spans)


@lru_cache(maxsize=64)
def _normalised(text: str) -> tuple[str, list[int], list[int]]:
    """NFKC with white space collapsed, and for each output character the original span it came from.

    Characters are normalised cluster by cluster (a base character with its
    combining marks), so each output character maps back to whole input characters.
    """
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for start, end in _clusters(text):
        for ch in unicodedata.normalize("NFKC", text[start:end]):
            if ch.isspace():
                if out and out[-1] == " ":
                    ends[-1] = end
                    continue
                ch = " "
            out.append(ch)
            starts.append(start)
            ends.append(end)
    return "".join(out), starts, ends


def _clusters(text: str) -> Iterator[Span]:
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or not unicodedata.combining(text[i]):
            yield start, i
            start = i


@dataclass(frozen=True)
class GoldSpan:
    """A resolved evidence item: the document, and where its quote is (None: the whole document;
    empty: not found in the corpus)."""

    doc: str
    quote: str | None
    spans: tuple[Span, ...] | None

    def to_dict(self) -> dict:
        return {
            "doc": self.doc,
            "quote": self.quote,
            "spans": None if self.spans is None else [list(s) for s in self.spans],
        }


def resolve(question: Question, text_of: Callable[[str], str | None]) -> tuple[tuple[GoldSpan, ...], tuple[str, ...]]:
    """Locate a question's evidence in the corpus: (one item per evidence, problems).

    ``text_of(doc)`` gives a document's original text, or None when the corpus
    has no such document. An item that cannot be found keeps no spans (``()``)
    and adds a problem, one line saying which item failed.
    """
    gold: list[GoldSpan] = []
    problems: list[str] = []
    for e in question.evidence:
        text = text_of(e.doc)
        spans = None if text is None or e.quote is None else find_quote(text, e.quote)
        if text is None:
            problems.append(f"document {e.doc!r} is not in the corpus")
            spans = ()
        elif spans == ():
            problems.append(f"quote not found in {e.doc}: {_clip(e.quote)!r}")
        gold.append(GoldSpan(e.doc, e.quote, spans))
    return tuple(gold), tuple(problems)


def _clip(text: str, n: int = 80) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= n else text[: n - 1] + "…"
