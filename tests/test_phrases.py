"""Phrase rules: what a question asks for, whether a sentence holds it, and the short answer."""

from __future__ import annotations

import pytest

from qa.phrases import expected_type, extract_short, has_type, person_names


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many people did Russia ban?", "number"),
        ("What was the total value of the exports?", "number"),
        ("When did the ban take effect?", "date"),
        ("On what date was the list published?", "date"),
        ("Who announced the sanctions?", "person"),
        ("Which foreign minister was banned?", "person"),
        ("Why did Japan impose sanctions?", None),
        ("What did Japan pledge to Ukraine?", None),
    ],
)
def test_expected_type_reads_the_question_word(question, kind):
    assert expected_type(question) == kind


def test_has_type_needs_a_phrase_the_question_does_not_already_name():
    q = "How many people did Russia ban in 2022?"
    assert has_type("Russia banned 63 Japanese citizens.", "number", q)
    assert not has_type("Russia banned them in 2022.", "number", q)  # a year is not a count
    assert has_type("Anything at all.", None, q)


def test_has_type_for_dates_and_people():
    assert has_type("The ban took effect on March 26, 2025.", "date", "When did the ban take effect?")
    assert not has_type("The ban took effect.", "date", "When did the ban take effect?")
    assert has_type("Foreign Minister Takeshi Iwaya said so.", "person", "Who said so?")
    assert not has_type("Takeshi Iwaya said so.", "person", "What did Takeshi Iwaya say?")


def test_person_names_trim_titles_and_need_two_words_or_a_title():
    text = "Foreign Minister Takeshi Iwaya met Mr Lavrov in Moscow."
    assert [text[s:e] for s, e in person_names(text)] == ["Takeshi Iwaya", "Lavrov"]
    assert person_names("The Japanese Government said so.") == []


def test_short_answer_is_the_phrase_nearest_the_question_words():
    sentences = ["In 2022 Russia barred 63 Japanese citizens, and in 2023 it added 9 more to the list."]
    assert extract_short("How many Japanese citizens did Russia bar in 2022?", sentences) == "63"
    assert extract_short("When was the ban announced?", ["The ban was announced on May 4, 2022."]) == "May 4, 2022"


def test_short_answer_skips_the_day_of_a_date_when_counting():
    assert extract_short("How many people were banned?", ["On March 26, 2025, it banned 9 people."]) == "9"


def test_short_answer_is_none_for_open_questions():
    assert extract_short("Why did Japan impose sanctions?", ["Because of the invasion."]) is None
