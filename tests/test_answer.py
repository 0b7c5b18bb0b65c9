"""Answer building and query policy, on hand-made scored sentences (no model, no index)."""

from __future__ import annotations

import re

from qa.answer import NOT_IN_DOCUMENTS, ExtractiveAnswerer
from qa.query import Timeline, is_follow_up, read_query, search_text
from qa.records import Answer, Chunk, Citation, Document, Entity, Hit, Turn
from qa.scoring import Weights
from qa.stages import Candidate, Scored
from qa.text import terms

TEXT = (
    "Russia banned nine Japanese citizens on Wednesday. The list included Foreign Minister Takeshi Iwaya. "
    "It took effect on March 26, 2025. Tokyo protested the decision strongly."
)
DOC = Document("ban.txt", "Russia bans Iwaya", "2025-03-26", TEXT, ((0, len(TEXT)),), "h")
CHUNK = Chunk("c1", DOC.doc, 0, len(TEXT), TEXT)
HIT = Hit(CHUNK, 1.0)


def sentence(row: int, score: float, confidence: float = 0.6, typed: bool = True) -> Scored:
    parts = TEXT.split(". ")
    start = sum(len(p) + 2 for p in parts[:row])
    end = start + len(parts[row]) + (1 if row < len(parts) - 1 else 0)
    text = TEXT[start:end]
    return Scored(Candidate(row, DOC, start, end, text, HIT, 0, 0.5, frozenset(terms(text))), score, confidence, typed)


def answer(question: str, scored, threshold: float | None = None) -> Answer:
    return ExtractiveAnswerer(Weights(), threshold).answer(
        read_query(question), scored, [HIT], {DOC.doc: DOC}.get, Weights().threshold
    )


def test_the_best_sentence_is_quoted_and_cited_exactly():
    got = answer("Who was on the list?", [sentence(1, 1.0), sentence(3, 0.1)])
    assert got.answer == "The list included Foreign Minister Takeshi Iwaya. [1]"
    cite = got.citations[0]
    assert TEXT[cite.sentence_start : cite.sentence_end] == "The list included Foreign Minister Takeshi Iwaya."
    assert (cite.start, cite.end, cite.text) == (0, len(TEXT), TEXT)
    assert got.short_answer == "Takeshi Iwaya" and not got.abstained


def test_below_the_threshold_it_declines_and_shows_the_closest_passage():
    got = answer("What did the ambassador say?", [sentence(3, 1.0, confidence=0.3)])
    assert got.abstained and got.answer.startswith(NOT_IN_DOCUMENTS)
    assert "What did the ambassador say" in got.answer and got.citations == ()
    assert got.closest[0].sentence == "Tokyo protested the decision strongly."
    assert answer("What did the ambassador say?", [sentence(3, 1.0, confidence=0.3)], threshold=0.2).abstained is False


def test_an_untyped_best_sentence_takes_its_typed_neighbour():
    got = answer(
        "When did the ban take effect?",
        [sentence(0, 1.0, typed=False), sentence(3, 0.5, typed=False), sentence(2, 0.2, typed=True)],
    )
    assert got.answer == (
        "Russia banned nine Japanese citizens on Wednesday. [1] It took effect on March 26, 2025. [1]"
    )
    assert len(got.citations) == 1


def test_a_close_runner_up_is_added_in_article_order():
    got = answer("What happened?", [sentence(3, 1.0), sentence(0, 0.85)])
    assert got.answer.index("Russia banned") < got.answer.index("Tokyo protested")


def test_a_weak_runner_up_is_not_added():
    got = answer("What happened?", [sentence(3, 1.0), sentence(0, 0.5)])
    assert got.answer == "Tokyo protested the decision strongly. [1]"


def test_a_repeat_is_not_added():
    first = sentence(1, 1.0)
    repeat = Scored(first.candidate, 0.95, 0.6, True)
    assert answer("Who?", [first, repeat]).answer.count("[1]") == 1


def test_follow_ups_are_recognised_by_pronouns_and_shortness():
    assert is_follow_up("How many people were on that list?")
    assert is_follow_up("And Japan?")
    assert not is_follow_up("How many Japanese citizens did Russia ban in 2022?")


def test_a_follow_up_searches_with_the_previous_question_and_prefers_its_sources():
    cited = Answer(
        "Who was banned?",
        "x [1]",
        None,
        False,
        (Citation(1, "ban.txt", "t", None, "c1", 0, 5, "Russi", 0, 5),),
        (),
        0.0,
    )
    history = (Turn("Who was banned in March 2025?", cited),)
    q = read_query("How many people were on that list?", history)
    assert q.search == "How many people were on that list? Who was banned in March 2025?"
    assert q.context_docs == {"ban.txt"} and "banned" in q.context
    assert search_text("How many Japanese citizens did Russia ban in 2022?", history) == (
        "How many Japanese citizens did Russia ban in 2022?"
    )


def test_a_question_about_now_needs_a_dated_collection_and_no_year():
    assert read_query("Who is Japan's prime minister?", dated=True).about_now
    assert not read_query("Who is Japan's prime minister?", dated=False).about_now
    assert not read_query("Who was prime minister in 2022?", dated=True).about_now


def test_the_timeline_dates_undated_documents_by_the_latest_year_they_mention():
    undated = Document("u.txt", "U", None, "In 2019 and 2021 things happened.", ((0, 10),), "h")
    timeline = Timeline.of([DOC, undated])
    assert timeline.year("u.txt") == 2021 and timeline.year("ban.txt") == 2025
    assert timeline.dated and timeline.newest == {"ban.txt"}


LISTS = (
    "In May 2022 Russia barred 63 Japanese citizens. Markets were calm that week. "
    "In March 2025 it barred nine more people."
)
LISTS_DOC = Document("lists.txt", "Entry bans", "2025-03-26", LISTS, ((0, len(LISTS)),), "h")
LISTS_HIT = Hit(Chunk("c2", LISTS_DOC.doc, 0, len(LISTS), LISTS), 1.0)


def lists_sentence(i: int, score: float) -> Scored:
    sentence = [
        "In May 2022 Russia barred 63 Japanese citizens.",
        "Markets were calm that week.",
        "In March 2025 it barred nine more people.",
    ][i]
    start = LISTS.index(sentence)
    end = start + len(sentence)
    text = LISTS[start:end]
    entities = tuple(
        Entity(start + m.start(), start + m.end(), label)
        for word, label in (("May 2022", "DATE"), ("March 2025", "DATE"), ("63", "CARDINAL"), ("nine", "CARDINAL"))
        for m in [re.search(re.escape(word), text)]
        if m
    )
    c = Candidate(i, LISTS_DOC, start, end, text, LISTS_HIT, 0, 0.5, frozenset(terms(text)), entities)
    return Scored(c, score, 0.9, True)


def lists_answer(question: str, scored) -> Answer:
    return ExtractiveAnswerer(Weights()).answer(
        read_query(question), scored, [LISTS_HIT], {LISTS_DOC.doc: LISTS_DOC}.get, 0.5
    )


def test_a_comparison_cites_one_sentence_for_each_side():
    got = lists_answer(
        "Was the May 2022 list or the March 2025 list larger?",
        [lists_sentence(0, 1.0), lists_sentence(1, 0.4), lists_sentence(2, 0.3)],
    )
    assert "63 Japanese citizens" in got.answer and "nine more people" in got.answer
    assert "Markets" not in got.answer
    assert got.answer.index("63") < got.answer.index("nine")


def test_a_plain_question_does_not_take_a_weak_second_sentence():
    got = lists_answer(
        "How many people did Russia bar in March 2025?", [lists_sentence(2, 1.0), lists_sentence(0, 0.3)]
    )
    assert got.answer == "In March 2025 it barred nine more people. [1]"


def test_the_short_answer_is_the_entity_of_the_kind_asked_for():
    got = lists_answer("How many people did Russia bar in March 2025?", [lists_sentence(2, 1.0)])
    assert got.short_answer == "nine"
    got = lists_answer("When did Russia bar 63 Japanese citizens?", [lists_sentence(0, 1.0)])
    assert got.short_answer == "May 2022"


def test_a_phrase_marked_by_the_scorer_is_the_short_answer_as_the_sentence_spells_it():
    best = sentence(2, 1.0)
    marked = Scored(best.candidate, 1.0, 0.9, True, "march 26, 2025")  # the verifier reads normalised text
    assert answer("When did the ban take effect?", [marked]).short_answer == "March 26, 2025"
    # a phrase the sentence does not hold is not trusted: the entity rules answer instead
    stray = Scored(best.candidate, 1.0, 0.9, True, "April 1")
    assert answer("When did the ban take effect?", [stray]).short_answer == "March 26, 2025"
