"""Text helpers shared by the stages: normalisation, sentences, keyword terms."""

from __future__ import annotations

import re
import string
import unicodedata
from functools import lru_cache

import Stemmer

_QUOTES = str.maketrans(
    {"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-", "‑": "-", "−": "-"}
)
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, straight quotes and dashes, single spaces: what matching and models see."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).translate(_QUOTES)).strip()


MONTH_NAMES = "january february march april may june july august september october november december".split()
MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
BULLET = re.compile(r"\s*(?:[-*•·]|\d{1,2}[.)])\s+")  # a list bullet; use with .match()


# --- sentences -------------------------------------------------------------------------------

_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "sr",
    "jr",
    "st",
    "mt",
    "gen",
    "col",
    "lt",
    "sgt",
    "capt",
    "gov",
    "sen",
    "rep",
    "rev",
    "hon",
    "pres",
    "vs",
    "etc",
    "inc",
    "ltd",
    "co",
    "corp",
    "no",
    "nos",
    "vol",
    "fig",
    "approx",
    "dept",
    "est",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "u.s",
    "u.k",
    "e.g",
    "i.e",
    "a.m",
    "p.m",
    "al",
}
_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans (absolute offsets) inside ``text[start:end]``.

    Lines are always boundaries; inside a line a boundary is end punctuation
    followed by a capital, unless the word before is an abbreviation or an initial.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    pos = start
    for line in text[start:end].split("\n"):
        line_start, line_end = pos, pos + len(line)
        pos = line_end + 1
        cut = line_start
        for m in _BOUNDARY.finditer(text, line_start, line_end):
            before = text[cut : m.start()].rsplit(None, 1)
            last = before[-1].lower().rstrip(".") if before else ""
            if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
                continue
            stop = m.start() + len(m.group().rstrip())
            spans.append((cut, stop))
            cut = m.end()
        spans.append((cut, line_end))
    return [_trim(text, s, e) for s, e in spans if text[s:e].strip()]


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    """Drop surrounding white space and a leading list bullet from a sentence span."""
    while s < e and text[s].isspace():
        s += 1
    bullet = BULLET.match(text, s, e)
    if bullet and bullet.end() < e:
        s = bullet.end()
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


# --- keyword terms ---------------------------------------------------------------------------

STOPWORDS = frozenset(
    """
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves also according said says
""".split()
)
_TERM = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


# Irregular English forms the stemmer leaves apart from their base word.
_IRREGULAR = {
    "froze": "freeze",
    "frozen": "freeze",
    "took": "take",
    "taken": "take",
    "gave": "give",
    "given": "give",
    "led": "lead",
    "began": "begin",
    "begun": "begin",
    "sought": "seek",
    "brought": "bring",
    "bought": "buy",
    "caught": "catch",
    "chose": "choose",
    "chosen": "choose",
    "drew": "draw",
    "drawn": "draw",
    "fell": "fall",
    "fallen": "fall",
    "flew": "fly",
    "flown": "fly",
    "grew": "grow",
    "grown": "grow",
    "held": "hold",
    "kept": "keep",
    "knew": "know",
    "known": "know",
    "lost": "lose",
    "made": "make",
    "met": "meet",
    "paid": "pay",
    "ran": "run",
    "rose": "rise",
    "risen": "rise",
    "sent": "send",
    "sold": "sell",
    "spent": "spend",
    "spoke": "speak",
    "spoken": "speak",
    "stood": "stand",
    "struck": "strike",
    "thought": "think",
    "told": "tell",
    "won": "win",
    "wrote": "write",
    "written": "write",
    "became": "become",
    "went": "go",
    "gone": "go",
    "saw": "see",
    "seen": "see",
    "hit": "hit",
    "shot": "shoot",
    "fought": "fight",
    "built": "build",
    "sank": "sink",
    "sunk": "sink",
    "men": "man",
    "women": "woman",
    "people": "person",
    "children": "child",
}


# Words news writers use for the same office or thing, mapped to one spelling.
_SYNONYMS = {
    "premier": "prime minister",
    "premiership": "prime minister",
    "pm": "prime minister",
    "organisation": "organization",
    "organisations": "organizations",
    "kyiv": "kiev",
    "defence": "defense",
    "programme": "program",
}


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words of ``text`` (stop words dropped, irregular forms and
    common synonyms mapped to one form)."""
    words = []
    for w in _TERM.findall(normalize(text).lower().replace("'s ", " ")):
        if w in STOPWORDS:
            continue
        w = _IRREGULAR.get(w, w)
        words.extend(_SYNONYMS.get(w, w).split())
    return _stemmer().stemWords(words)


# --- answer normalisation (SQuAD's) ---------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | {"‘", "’", "“", "”", "–", "—"}


def squad_normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())
