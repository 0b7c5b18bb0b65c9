"""Is a question written in a language the model reads? A cheap script and stop-word check.

The embedding model, the verifier and the corpus are English. A question in
another language still gets a nearest neighbour, and so a confident-looking
answer to a question nobody asked. ``unsupported_language`` declines it instead,
with one line that says which language is read.

Two checks, no model:

* **Script.** Letters are counted per Unicode script. Text whose words are
  mostly in a non-Latin script (Japanese, Chinese, Russian, Arabic, ...) is
  declined. An English question naming something in another script ("Who is
  岩屋毅?") is kept: its Latin words outnumber the others.
* **Stop words.** Latin-script text in French, German, Spanish, Italian,
  Portuguese, Dutch or Polish is declined when at least ``MIN_FOREIGN_HITS``
  function words of one of those languages appear, and more of them than English
  function words. The lists leave out words that are also English ("die",
  "was", "son", "come") and name particles ("de", "la", "von", "der", "van",
  "el", "da"), so a keyword query such as "Iwaya ban 2025" or "Ursula von der
  Leyen" is never declined: a single hit never is.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["unsupported_language"]

MESSAGE = "This assistant reads English questions only; please ask in English (this looks like {language})."

# Two function words of one language, and more than the English ones, make a Latin-script question foreign:
# one alone is a name or a loan word ("Est", "Chi", "Como"). Checked on the SQuAD v1.1 dev questions
# (10,570 English questions, many naming people and places abroad): none is declined (tests/test_language.py).
MIN_FOREIGN_HITS = 2
# Only the start of a question is looked at: enough to tell the language, and a 100 KB paste costs no more.
MAX_CHARS = 2000
# Scripts written without spaces: a run of n characters counts as n / CHARS_PER_WORD words.
CHARS_PER_WORD = 2

_ENGLISH = frozenset(
    """a about after all also an and any are as at be been before being but by can could did do does
    during for from had has have he her his how i if in into is it its many more most much not of on or our
    she should so than that the their them there these they this those to was we were what when where which
    while who whom whose why will with would you your""".split()
)
_LATIN_STOP_WORDS = {
    "French": """qui que quoi quel quelle quels quelles est sont était ont avait les des une et pour dans avec
        sur pas ne il elle ils elles cette ces comment pourquoi quand où qu aux au été fait leur nous vous""",
    "German": """wer wie wann warum wo welche welcher welches ist sind hat haben wurde wurden werden und
        nicht mit für auf über ein eine einen einem einer dem des im vom zum zur sich auch nach bei wird""",
    "Spanish": """qué quién quiénes cuál cuáles cuándo dónde cómo que quien cual cuando donde es fue fueron
        está están ha los las una por para sobre entre pero también hay muy sus esta este""",
    "Italian": """chi che cosa quale quali quando dove perché è sono era stato stata ha il gli una della
        dello delle degli nel nella sul sulla anche molto questo questa""",
    "Portuguese": """quem que qual quais quando onde porque por é são foi foram está estão há uma pelo pela
        também então muito isso esse essa""",
    "Dutch": """wat wie wanneer waarom hoe welke het een niet zijn werd heeft hebben ook naar bij voor
        deze dit""",
    "Polish": """kto co jak gdzie kiedy dlaczego czy jest są był była został została nie się oraz który
        która które jego jej""",
}
_STOP_WORDS = {language: frozenset(words.split()) for language, words in _LATIN_STOP_WORDS.items()}
_ANY_STOP_WORD = frozenset().union(*_STOP_WORDS.values())
# Letters that name a language when two candidates tie on stop words.
_LETTERS = {
    "French": set("éèêàâçœùûîôë"),
    "German": set("äöüß"),
    "Spanish": set("ñáíóú¿¡"),
    "Italian": set("èàìòù"),
    "Portuguese": set("ãõçáâêôú"),
    "Polish": set("łąężźśćń"),
}

# Scripts whose text has no spaces between words.
_UNSPACED = {"Han", "Hiragana", "Katakana", "Thai", "Lao", "Khmer", "Myanmar"}
# Unicode character-name prefixes -> script; anything alphabetic and unnamed here is named by its first word.
_NAME_PREFIXES = (
    ("CJK", "Han"),
    ("HIRAGANA", "Hiragana"),
    ("KATAKANA", "Katakana"),
    ("HALFWIDTH KATAKANA", "Katakana"),
    ("HANGUL", "Hangul"),
    ("LATIN", "Latin"),
    ("FULLWIDTH LATIN", "Latin"),
)
_LANGUAGE_OF_SCRIPT = {
    "Han": "Chinese",
    "Hangul": "Korean",
    "Greek": "Greek",
    "Hebrew": "Hebrew",
    "Thai": "Thai",
    "Arabic": "Arabic",
    "Armenian": "Armenian",
    "Georgian": "Georgian",
}
_UKRAINIAN = set("іїєґІЇЄҐ")
_SERBIAN = set("ђћџљњјЂЋЏЉЊЈ")
_PERSIAN = set("پچژگ")
_URDU = set("ٹڈڑںے")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def unsupported_language(question: str) -> str | None:
    """None for a question the model can read (English), else a one-line message naming the language."""
    latin_words: list[str] = []
    foreign_words: dict[str, float] = {}
    foreign_letters: dict[str, str] = {}
    for word in _WORD.findall(question[:MAX_CHARS]):
        for script, run in _script_runs(word):
            if script == "Latin":
                latin_words.append(run.lower())
            else:
                size = len(run) / CHARS_PER_WORD if script in _UNSPACED else 1.0
                foreign_words[script] = foreign_words.get(script, 0.0) + max(size, 1.0)
                foreign_letters[script] = foreign_letters.get(script, "") + run
    english_hits = sum(word in _ENGLISH for word in latin_words)
    foreign_total = sum(foreign_words.values())
    if foreign_total and (foreign_total > len(latin_words) or foreign_total == len(latin_words) and not english_hits):
        return MESSAGE.format(language=_name_script(foreign_words, foreign_letters))
    hits = _foreign_hits(latin_words)
    if hits >= MIN_FOREIGN_HITS and hits > english_hits:
        return MESSAGE.format(language=_name_latin_language(latin_words))
    return None


def _script_runs(word: str) -> list[tuple[str, str]]:
    """Split one word into runs of a single script ("Iwayaは" -> Latin "Iwaya", Hiragana "は")."""
    runs: list[tuple[str, str]] = []
    for char in word:
        script = _script(char)
        if runs and runs[-1][0] == script:
            runs[-1] = (script, runs[-1][1] + char)
        else:
            runs.append((script, char))
    return runs


def _script(char: str) -> str:
    if char.isascii():
        return "Latin"
    name = unicodedata.name(char, "")
    for prefix, script in _NAME_PREFIXES:
        if name.startswith(prefix):
            return script
    return name.split()[0].title() if name else "Latin"  # an unnamed letter goes with the text around it


def _name_script(words: dict[str, float], letters: dict[str, str]) -> str:
    if "Hiragana" in words or "Katakana" in words:
        return "Japanese"  # kana appear only in Japanese; Japanese also uses Han characters
    script = max(words, key=words.__getitem__)
    text = set(letters[script])
    if script == "Cyrillic":
        return "Ukrainian" if text & _UKRAINIAN else "Serbian" if text & _SERBIAN else "Russian"
    if script == "Arabic":
        return "Urdu" if text & _URDU else "Persian" if text & _PERSIAN else "Arabic"
    return _LANGUAGE_OF_SCRIPT.get(script, f"{script} script")


def _foreign_hits(words: list[str]) -> int:
    """Function words of the other languages, and, once there is one, words with letters English lacks."""
    stop = {word for word in words if word in _ANY_STOP_WORD}
    if not stop:
        return 0  # accents alone are names: "Lech Wałęsa", "Nguyễn Phú Trọng"
    return len(stop) + sum(not word.isascii() for word in set(words) - stop)


def _name_latin_language(words: list[str]) -> str:
    def score(language: str) -> tuple[int, int]:
        letters = _LETTERS.get(language, set())
        return sum(word in _STOP_WORDS[language] for word in words), sum(bool(letters & set(w)) for w in words)

    return max(_STOP_WORDS, key=score)
