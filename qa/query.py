"""Query policy: what a question asks for and how to search for it, decided once per question.

Everything that reads the question's wording or the conversation before it
lives here: whether it is a follow-up ("How many people were on that list?"),
what the search looks for, what kind of phrase would answer it, which years
it names, and whether it asks about now. The retriever, the scorers and the
answerer read the resulting ``Query``; none of them parses the question again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from qa.entities import wanted_labels
from qa.phrases import YEAR, expected_type
from qa.records import Document, Turn
from qa.text import terms

_FOLLOW_UP = re.compile(
    r"\b(?:that|this|those|these|it|its|they|them|their|she|her|he|his|him|there|then|"
    r"same|such|former|latter)\b|^(?:and|but|so|also|what about|how about)\b",
    re.I,
)
_NOW = re.compile(r"\bwho\s+(?:is|are)\b|\b(?:current(?:ly)?|now|today|at present|these days)\b", re.I)
FOLLOW_UP_MAX_TERMS = 2  # a question this short only makes sense with the one before it
CONTEXT_TURNS = 2  # earlier questions whose words a follow-up borrows
SIDE_WORDS = 3  # words either side of "or" that name what is compared
_COMPARISON = re.compile(
    r"\bwhich of the (?:two|both)\b|\b(?:compare[ds]?|comparison|difference between)\b|"
    r"\b(?:more|less|fewer|larger|smaller|bigger|higher|lower|longer|shorter|greater|older|newer|earlier|later)"
    r"\b.*\bthan\b",
    re.I,
)
_BETWEEN = re.compile(r"\bbetween\s+(.+?)\s+and\s+(.+)$", re.I)
DATED_SHARE = 0.5  # a collection is dated when at least this share of its documents have dates
NEWEST_PASSAGES = 2  # a question about now also searches this many passages of the newest articles


@dataclass(frozen=True)
class Query:
    """A question, read once: what to search for and what an answer must hold."""

    question: str  # white space collapsed
    search: str  # what retrieval looks for: a follow-up carries the previous question along
    context: str = ""  # earlier questions of the conversation whose words a follow-up borrows
    context_docs: frozenset[str] = frozenset()  # documents the previous answer cited
    kind: str | None = None  # the kind of phrase asked for: number, date, person, or None
    years: frozenset[str] = frozenset()  # years the question names
    labels: frozenset[str] = frozenset()  # entity labels an answer would name (qa.entities.wanted_labels)
    sides: tuple[frozenset[str], ...] = ()  # a comparison's sides, as terms ("A or B", "between A and B")
    comparison: bool = False  # weighs two things against each other: each side needs its own evidence
    about_now: bool = False  # asks about the present, of a collection of dated articles


class Timeline:
    """When each document was written, as far as can be told: its date's year, else the latest year it
    mentions. A collection is dated (news, not an encyclopaedia) when at least half its documents have dates.

    An undated document's text is searched for years when its year is first asked for (a start over
    100,000 undated passages would spend a third of a second on it)."""

    def __init__(self, documents: Mapping[str, Document]):
        self._documents = documents
        self._years: dict[str, int | None] = {d: int(doc.date[:4]) for d, doc in documents.items() if doc.date}
        self.dated = len(self._years) >= DATED_SHARE * len(documents)
        self._newest: frozenset[str] | None = None

    @classmethod
    def of(cls, documents: Iterable[Document]) -> Timeline:
        return cls({d.doc: d for d in documents})

    def year(self, doc: str) -> int | None:
        if doc not in self._years:
            found = self._documents.get(doc)
            self._years[doc] = None if found is None else _anchor_year(found.date, found.text)
        return self._years[doc]

    @property
    def newest(self) -> frozenset[str]:
        """The documents of the latest year in the collection."""
        if self._newest is None:
            years = {d: self.year(d) for d in self._documents}
            latest = max((y for y in years.values() if y), default=None)
            self._newest = frozenset(d for d, y in years.items() if y == latest)
        return self._newest


def _anchor_year(date: str | None, text: str) -> int | None:
    if date:
        return int(date[:4])
    years = [int(y) for y in YEAR.findall(text)]
    return max(years) if years else None


def is_follow_up(question: str) -> bool:
    """Whether a question leans on the one before it: a pronoun, a leading "and", or very few words."""
    return bool(_FOLLOW_UP.search(question)) or len(terms(question)) <= FOLLOW_UP_MAX_TERMS


def asks_about_now(question: str, dated: bool) -> bool:
    """A question about the present ("Who is ...", "current") that names no year, asked of a
    collection of dated articles (news, not an encyclopaedia)."""
    return dated and bool(_NOW.search(question)) and not YEAR.search(question)


def is_comparison(question: str) -> bool:
    """Whether a question weighs two things: "which of the two ...", "A or B?", "more/larger than", "compare"."""
    return bool(_COMPARISON.search(question)) or len(comparison_sides(question)) == 2


def comparison_sides(question: str) -> tuple[frozenset[str], ...]:
    """The two things a question compares, as terms: "... A or B?" and "between A and B"."""
    q = " ".join(question.split()).rstrip("?. ")
    m = _BETWEEN.search(q)
    if m:
        a, b = m.group(1), m.group(2)
    elif " or " in q and re.match(r"\s*(?:which|who|what|whose|is|was|are|were|did|does|do)\b", q, re.I):
        before, _, after = q.partition(" or ")
        a, b = " ".join(before.split()[-SIDE_WORDS:]), " ".join(after.split()[:SIDE_WORDS])
    else:
        return ()
    a_terms, b_terms = frozenset(terms(a)), frozenset(terms(b))
    sides = (a_terms - b_terms, b_terms - a_terms)  # what tells the sides apart
    return sides if all(sides) else ()


def search_text(question: str, history: Sequence[Turn] = ()) -> str:
    """What retrieval looks for: a follow-up question carries the previous question along."""
    question = " ".join(question.split())
    if history and is_follow_up(question):
        return f"{question} {history[-1].question}"
    return question


def read_query(question: str, history: Sequence[Turn] = (), dated: bool = False) -> Query:
    """The ``Query`` for ``question`` asked after ``history``, of a collection that is ``dated`` or not."""
    question = " ".join(question.split())
    context, context_docs = "", frozenset()
    if history and is_follow_up(question):
        context = " ".join(t.question for t in history[-CONTEXT_TURNS:])
        last = history[-1].answer
        if last is not None and not last.abstained:
            context_docs = frozenset(c.doc for c in last.citations)
    return Query(
        question=question,
        search=search_text(question, history),
        context=context,
        context_docs=context_docs,
        kind=expected_type(question),
        years=frozenset(YEAR.findall(question)),
        labels=wanted_labels(question),
        sides=comparison_sides(question),
        comparison=is_comparison(question),
        about_now=asks_about_now(question, dated),
    )
