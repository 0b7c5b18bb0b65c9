"""Entities: question typing by general English question words, and spaCy's entities stored at index time."""

from __future__ import annotations

import pytest

from qa import Assistant, HashEmbedder
from qa.entities import AMOUNT, COUNT, PEOPLE, PLACE, TIME, SpacyTagger, wanted_labels, which_head
from qa.store import current_build


@pytest.mark.parametrize(
    ("question", "labels"),
    [
        ("Who was banned from entering Russia?", PEOPLE),
        ("When did the ban take effect?", TIME),
        ("On what date was the list published?", TIME),
        ("How many people were on the list?", COUNT),
        ("How much did the exports fall?", AMOUNT),
        ("What was the total value of the aid?", AMOUNT),
        ("Where is the plant?", PLACE),
        ("Which country hosted the talks?", frozenset({"GPE"})),
        ("Which Japanese carmaker halted production?", frozenset({"ORG"})),
        ("Which minister was banned in 2025?", frozenset({"PERSON"})),
        ("Why did Japan impose sanctions?", frozenset()),
    ],
)
def test_questions_ask_for_entity_labels(question, labels):
    assert wanted_labels(question) == labels


def test_the_head_noun_of_which_questions():
    assert which_head("Which Japanese carmaker halted production?") == "carmaker"
    assert which_head("What sanctions did Japan impose on Russia?") == "sanctions"
    assert which_head("What did Japan pledge?") is None
    assert which_head("Who was banned?") is None


@pytest.mark.model
def test_entities_are_found_once_at_index_time_and_kept(corpus_copy, tmp_path):
    assistant = Assistant(corpus_copy, tmp_path / "index", embedder=HashEmbedder(), tagger=SpacyTagger()).load()
    data = assistant.state.data
    iwaya = [
        (data.documents[s.doc].text[e.start : e.end], e.label)
        for s in data.sentences
        if s.doc == "000_a07452a012145e1e.txt"
        for e in s.entities
    ]
    assert ("Takeshi Iwaya", "PERSON") in iwaya
    assert all(s.start <= e.start < e.end <= s.end for s in data.sentences for e in s.entities)
    assert assistant.manifest.entities == SpacyTagger.name
    build = current_build(assistant.index_dir)
    again = Assistant(corpus_copy, tmp_path / "index", embedder=HashEmbedder(), tagger=SpacyTagger()).load()
    assert current_build(again.index_dir) == build  # loaded, not rebuilt
    assert again.state.data.sentences == data.sentences
