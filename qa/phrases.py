"""Phrases of the kind a question asks for: numbers, dates, people's names.

``expected_type`` reads the question ("how many" wants a number, "when" a
date, "who" a person); ``has_type`` says whether a sentence holds such a
phrase that the question does not already name; ``extract_short`` picks the
one that answers it.
"""

from __future__ import annotations

import re

from qa.text import MONTH, normalize, terms

SHORT_WINDOW = 50  # characters either side of a short-answer phrase in which question words count

_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion trillion dozen dozens"
).split()
_NUMBER = re.compile(
    r"(?:[$€£¥]\s?)?\b\d[\d,]*(?:\.\d+)?(?:\s?(?:%|percent|per cent|million|billion|trillion|thousand))?"
    r"|\b(?:" + "|".join(_NUMBER_WORDS) + r")(?:[- ](?:" + "|".join(_NUMBER_WORDS) + r"))*\b",
    re.I,
)
_DATE = re.compile(
    MONTH
    + r"\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}\b|"
    + MONTH
    + r"\s+\d{4}\b|"
    + MONTH
    + r"\s+\d{1,2}(?:st|nd|rd|th)?\b|\b\d{1,2}\s+"
    + MONTH
    + r"(?:,?\s+\d{4})?\b|"
    r"\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b(?:1[5-9]|20)\d\d\b"
)
YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_NAME = re.compile(r"\b[A-Z][\w’'-]+(?:\s+(?:of|de|van|von|the|al|bin)?\s*[A-Z][\w’'-]+)*")
_PERSON_NOUNS = (
    r"(?:person|people|man|woman|minister|president|leader|spokesman|spokeswoman|spokesperson|"
    r"official|executive|member|head|chief|director|ambassador|secretary|premier|king|queen|"
    r"author|founder|ceo|chairman|player|general|officer|politician|lawmaker|senator)"
)


def expected_type(question: str) -> str | None:
    """The kind of phrase the question asks for: number, date, person, or None."""
    q = question.lower()
    if re.search(
        r"\bhow (?:many|much|large|big|long|far|old)\b|\bwhat (?:(?:was|is|were|are) )?(?:the )?"
        r"(?:number|percentage|amount|share|value|size|total|cost|price)\b",
        q,
    ):
        return "number"
    if re.search(r"\bwhen\b|\b(?:what|which|on what) (?:date|day|year|month)\b|\bsince when\b", q):
        return "date"
    if re.search(r"\bwho(?:m|se)?\b", q) or re.search(
        r"\b(?:which|what)\s+(?:\w+\s+){0,3}" + _PERSON_NOUNS + r"s?\b", q
    ):
        return "person"
    return None


# Capitalised words that start, end or make up names of things other than people.
_NOT_NAME = frozenset(
    """
the a an in on at of for and but by from to as with this that these those it its he she they we i
foreign prime minister ministry president vice deputy general director secretary ambassador agency
corporation company corp inc ltd council committee party government federation republic kingdom union
united states department office house senate parliament cabinet university institute bank group plant
motors international national democratic liberal chamber public russian japanese american chinese
european western eastern northern southern north south east west central new old great first last mr
mrs ms dr sir king queen prince lord chief head senior junior former current state city county river
mount lake island islands sea ocean gulf bay street road january february march april may june july
august september october november december monday tuesday wednesday thursday friday saturday sunday
""".split()
)
_TITLES = frozenset(
    "minister president mr mrs ms dr sir king queen premier chancellor secretary general "
    "ambassador senator governor mayor spokesman director chairman".split()
)
_CAPS = re.compile(r"[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*)*")


def person_names(text: str) -> list[tuple[int, int]]:
    """Spans that look like people's names: two or more name words, or one after a title."""
    out = []
    for m in _CAPS.finditer(text):
        words = list(re.finditer(r"[A-Z][\w’'-]*", m.group()))
        i, j = 0, len(words)
        while i < j and _bare(words[i].group()) in _NOT_NAME:
            i += 1
        while j > i and _bare(words[j - 1].group()) in _NOT_NAME:
            j -= 1
        titled = i > 0 and words[i - 1].group().lower() in _TITLES
        if j - i >= 2 or (j - i == 1 and titled):
            out.append((m.start() + words[i].start(), m.start() + words[j - 1].end()))
    return out


def _bare(word: str) -> str:
    return re.sub(r"[’']s$", "", word.lower())


def has_type(text: str, kind: str | None, question: str) -> bool:
    """Whether ``text`` holds a phrase of the asked-for kind that the question does not already name."""
    if kind is None:
        return True
    q = normalize(question).lower()
    if kind == "number":
        return any(
            m.group().strip().lower() not in q for m in _NUMBER.finditer(text) if not YEAR.fullmatch(m.group().strip())
        )
    if kind == "date":
        return any(m.group().lower() not in q for m in _DATE.finditer(text))
    return any(text[s:e].lower() not in q for s, e in person_names(text))


def extract_short(
    question: str, sentences: list[str], entities: list[list[tuple[int, int]]] | None = None
) -> str | None:
    """The phrase of the answer that answers the question, when its kind is clear.

    ``entities`` gives, per sentence, the spans of the named entities of the kind the question asks
    for (found at index time); where a sentence has some, the short answer is one of them.
    """
    kind = expected_type(question)
    q = normalize(question).lower()
    q_terms = set(terms(question))
    for i, text in enumerate(sentences):
        if entities and entities[i]:
            spans = entities[i]
        elif kind == "number":
            spans = [(m.start(), m.end()) for m in _NUMBER.finditer(text)]
        elif kind == "date":
            spans = [(m.start(), m.end()) for m in _DATE.finditer(text)]
        elif kind == "person":
            spans = person_names(text)
        elif re.match(r"\s*(?:which|what)\b", q):
            spans = [(m.start(), m.end()) for m in _NAME.finditer(text) if m.start() > 0]
        else:
            continue
        anchors = [(m.start(), t) for m in re.finditer(r"\w+", text) for t in set(terms(m.group())) & q_terms]
        best, best_score = None, None
        for start, end in spans:
            phrase = text[start:end].strip(" ,.")
            if not phrase or phrase.lower() in q or (kind == "number" and YEAR.fullmatch(phrase)):
                continue
            if kind == "number" and re.search(MONTH + r"\s*$", text[max(0, start - 12) : start]):
                continue  # the day of a date, not a count
            if kind not in ("number", "date") and set(terms(phrase)) <= q_terms:
                continue
            # The phrase with the most question words around it; the nearest one breaks ties.
            near = {t for a, t in anchors if start - SHORT_WINDOW <= a <= end + SHORT_WINDOW}
            nearest = min((abs(start - a) for a, _ in anchors), default=0)
            score = len(near) - 0.001 * nearest
            if best_score is None or score > best_score:
                best, best_score = phrase, score
        if best:
            return best
    return None
