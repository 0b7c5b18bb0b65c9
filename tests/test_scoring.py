"""Each rule of feature scoring, pinned on small hand-made sentences (no model, no index)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qa.query import Timeline, read_query
from qa.records import Answer, Chunk, Citation, Document, Hit, Turn
from qa.scoring import FeatureScorer, Weights, covered
from qa.stages import Candidate
from qa.text import terms

W = Weights()


class FlatIdf:
    """A keyword index stand-in: every word equally rare unless told otherwise."""

    def __init__(self, rare: dict[str, float] | None = None):
        self.rare = rare or {}

    def __len__(self) -> int:
        return 1

    def scores(self, query_terms):
        raise AssertionError("scorers do not search")

    def idf(self, term: str) -> float:
        return self.rare.get(term, 1.0)


def doc(name: str = "a.txt", title: str = "Notes", date: str | None = "2024-05-01", text: str = "") -> Document:
    return Document(doc=name, title=title, date=date, text=text, segments=((0, len(text)),), content_hash="h")


def candidate(
    text: str, dense: float = 0.5, rank: int = 0, score: float = 1.0, document: Document | None = None, row: int = 0
) -> Candidate:
    document = document or doc(text=text)
    hit = Hit(Chunk(f"c{rank}", document.doc, 0, len(text), text), score)
    return Candidate(row, document, 0, len(text), text, hit, rank, dense, frozenset(terms(text)))


def scorer(documents=(), rare=None, weights=W) -> FeatureScorer:
    return FeatureScorer(FlatIdf(rare), Timeline.of(documents or [doc()]), weights)


def score_of(question: str, c: Candidate, s: FeatureScorer | None = None, history=()):
    s = s or scorer([c.document])
    return s.score(read_query(question, history, s.timeline.dated), [c.hit], [c])[0]


def test_the_score_is_the_weighted_sum_of_its_features():
    c = candidate("The envoy met the minister in Tokyo.", dense=0.6)
    got = score_of("Where did the envoy meet the minister?", c)
    # question terms: envoy, meet/met (stems differ), minister; the sentence holds envoy and minister
    weights = {t: 1.0 for t in terms("Where did the envoy meet the minister?")}
    cov = covered(weights, c.terms)
    expected = W.dense * 0.6 + W.coverage * cov + W.coverage_with_meta * cov + W.passage * 1.0 + W.untyped * 0
    assert got.score == pytest.approx(expected + W.newest)  # the only, so the newest, article
    assert got.confidence == pytest.approx(W.confidence_dense * 0.6 + W.confidence_coverage * cov)


def test_rare_question_words_count_more():
    s = scorer(rare={"salmon": 5.0})
    rare = score_of("Did salmon prices rise?", candidate("Salmon went up.", dense=0.5), s)
    common = score_of("Did salmon prices rise?", candidate("Prices went up.", dense=0.5), s)
    assert rare.score > common.score


def test_words_that_only_say_what_is_asked_earn_nothing():
    s = scorer()
    q = read_query("How many ships were seized?")
    assert set(s.term_weights(q)) == set(terms("ships seized"))


def test_title_and_date_count_for_confidence():
    d = doc(title="Salmon quota talks", date="2023-03-01")
    with_title = score_of(
        "What happened in the salmon talks in March 2023?", candidate("They ended early.", document=d)
    )
    no_title = score_of(
        "What happened in the salmon talks in March 2023?",
        candidate("They ended early.", document=replace(d, title="Other", date=None)),
    )
    assert with_title.confidence > no_title.confidence


def test_a_sentence_without_the_kind_of_phrase_asked_for_is_held_back():
    typed = score_of("How many ships were seized?", candidate("Guards seized 12 ships.", dense=0.5))
    untyped = score_of("How many ships were seized?", candidate("Guards seized the ships.", dense=0.5))
    assert typed.typed and not untyped.typed
    assert typed.score - untyped.score == pytest.approx(-W.untyped, abs=0.05)


def test_lower_passages_lose_a_little_per_rank():
    a = candidate("Guards seized the ships.", rank=0)
    b = replace(candidate("Guards seized the ships.", rank=3), hit=a.hit)
    s = scorer([a.document])
    q = read_query("Were ships seized?")
    first, second = s.score(q, [a.hit], [a]), s.score(q, [a.hit], [b])
    assert first[0].score - second[0].score == pytest.approx(3 * W.rank_step)


def test_a_follow_up_prefers_the_articles_just_cited():
    d = doc(text="It listed 63 people.")
    c = candidate("It listed 63 people.", document=d)

    def after(cited_doc: str) -> float:
        cited = Answer(
            "Who was banned?",
            "x [1]",
            None,
            False,
            (Citation(1, cited_doc, "t", None, "c0", 0, 5, "It li", 0, 5),),
            (),
            0.0,
        )
        return score_of("How many people were on that list?", c, history=(Turn("Who was banned?", cited),)).score

    assert after(d.doc) - after("other.txt") == pytest.approx(W.context_doc)


def test_the_year_asked_for_is_preferred():
    old = doc("old.txt", date="2022-05-01", text="Russia banned 63 people.")
    new = doc("new.txt", date="2025-03-26", text="Russia banned 9 people.")
    s = scorer([old, new])
    q = read_query("How many people did Russia ban in 2022?")
    a, b = candidate(old.text, document=old), candidate(new.text, document=new, rank=1)
    by_doc = {x.doc: x for x in s.score(q, [a.hit, b.hit], [a, b])}
    assert s.time_bonus(a, q, 2025) == W.year_match
    assert s.time_bonus(b, q, 2025) == W.year_mismatch
    assert by_doc["old.txt"].score > by_doc["new.txt"].score


def test_a_question_about_now_holds_older_articles_back_by_age():
    docs = [doc(f"{y}.txt", date=f"{y}-01-01") for y in (2022, 2024, 2025)]
    s = scorer(docs)
    q = read_query("Who is the prime minister?", dated=True)
    assert q.about_now
    bonus = {d.doc: s.time_bonus(candidate("x", document=d), q, 2025) for d in docs}
    assert bonus == {
        "2025.txt": W.now_newest,
        "2024.txt": pytest.approx(W.now_age_step),
        "2022.txt": pytest.approx(W.now_age_floor),
    }


def test_scores_come_best_first_and_ties_keep_their_order():
    a, b = candidate("Alpha beta gamma delta.", row=0), candidate("Alpha beta gamma delta.", row=1)
    out = scorer([a.document]).score(read_query("alpha?"), [a.hit], [a, b])
    assert [x.candidate.row for x in out] == [0, 1]


def test_weights_are_recorded_by_name():
    described = scorer().describe()
    assert described["scorer"] == "FeatureScorer"
    assert described["weights"]["threshold"] == W.threshold and "dense" in described["weights"]
