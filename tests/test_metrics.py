"""Each metric of EVAL_FORMAT section 3 on hand-made results whose values are known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.eval.metrics import (
    Result,
    abstain_at,
    answer_hit,
    answer_recall,
    auroc,
    by_type,
    compute,
    contains,
    decline_threshold,
    is_relevant,
    miss_kind,
    operating_point,
    outcome,
    risk_coverage,
    token_f1,
)
from qa.eval.questions import GoldSpan, find_quote
from qa.records import Citation, HitRef

QUOTE = GoldSpan("a.txt", "the quote", ((100, 200),))


def passage(doc: str, start: int, end: int) -> HitRef:
    return HitRef(doc, f"{doc}:{start}", start, end, 1.0)


def cited(n: int, doc: str, start: int, end: int, text: str = "") -> Citation:
    return Citation(n, doc, f"title of {doc}", "2025-03-03", f"{doc}:{start}", start, end, text, start, end)


def result(
    qid: str = "q",
    answers=("nine",),
    evidence=(QUOTE,),
    answer: str = "",
    retrieved=(),
    citations=(),
    abstained: bool = False,
    short: str | None = None,
    latency: float = 10.0,
    kind: str | None = None,
    problems=(),
    k: int = 5,
    confidence: float | None = None,
) -> Result:
    return Result(
        id=qid,
        question=f"question {qid}?",
        type=kind,
        answers=tuple(answers),
        evidence=tuple(evidence),
        evidence_problems=tuple(problems),
        answer=answer,
        short_answer=short,
        abstained=abstained,
        citations=tuple(citations),
        retrieved=tuple(retrieved),
        answer_k=k,
        latency_ms=latency,
        confidence=confidence,
    )


def ranked(rank: int | None, depth: int = 10) -> tuple[HitRef, ...]:
    """A ranking whose only relevant passage is at ``rank`` (None: nowhere)."""
    return tuple(passage("a.txt", 100, 200) if r == rank else passage("other.txt", 0, 100) for r in range(1, depth + 1))


# -- relevance --------------------------------------------------------------------------------


def test_relevance_needs_half_the_quote_span_in_the_same_document():
    assert is_relevant("a.txt", 150, 400, QUOTE)  # covers 100..200 from 150: exactly half
    assert not is_relevant("a.txt", 151, 400, QUOTE)  # one character short of half
    assert is_relevant("a.txt", 0, 1000, QUOTE)
    assert not is_relevant("b.txt", 0, 1000, QUOTE)
    assert not is_relevant("a.txt", 200, 300, QUOTE)
    assert is_relevant("a.txt", 5, 6, GoldSpan("a.txt", None, None))  # doc_ids: any passage of the document
    assert not is_relevant("a.txt", 0, 1000, GoldSpan("a.txt", "missing", ()))  # quote not found: never


def test_relevance_counts_any_occurrence_of_the_quote():
    twice = GoldSpan("a.txt", "q", ((10, 20), (500, 520)))
    assert is_relevant("a.txt", 490, 600, twice)
    assert not is_relevant("a.txt", 30, 400, twice)


# -- retrieval --------------------------------------------------------------------------------


def test_hit_at_k_and_mrr():
    results = [
        result("a", retrieved=ranked(1)),
        result("b", retrieved=ranked(4)),
        result("c", retrieved=ranked(None)),
        result("u", answers=(), evidence=(), retrieved=ranked(None)),
    ]  # unanswerable: not counted
    m = compute(results)
    assert m.scored_for_evidence == 3
    assert m.hit == pytest.approx({1: 1 / 3, 3: 1 / 3, 5: 2 / 3, 10: 2 / 3})
    assert m.mrr10 == pytest.approx((1 + 1 / 4 + 0) / 3)


def test_rank_beyond_ten_does_not_count():
    m = compute([result(retrieved=ranked(11, depth=12))])
    assert m.hit[10] == 0 and m.mrr10 == 0


def test_all_at_k_needs_every_evidence_item():
    second = GoldSpan("b.txt", "other quote", ((0, 50),))
    both = (passage("a.txt", 100, 200), passage("x.txt", 0, 9), passage("b.txt", 0, 60))
    m = compute([result(evidence=(QUOTE, second), retrieved=both)])
    assert m.hit == {1: 1.0, 3: 1.0, 5: 1.0, 10: 1.0}
    assert m.all == {1: 0.0, 3: 1.0, 5: 1.0, 10: 1.0}


def test_evidence_not_found_is_left_out_of_retrieval_metrics():
    missing = GoldSpan("a.txt", "not there", ())
    m = compute(
        [
            result("a", retrieved=ranked(1)),
            result("b", evidence=(missing,), problems=("quote not found",), retrieved=ranked(None)),
        ]
    )
    assert m.scored_for_evidence == 1 and m.evidence_not_found == 1
    assert m.hit[1] == 1.0 and m.evidence_cited == 0.0


# -- answers ----------------------------------------------------------------------------------


def test_contains_matches_whole_normalised_tokens():
    assert contains("Russia banned Nine Japanese citizens.", "nine")
    assert not contains("ninety people", "nine")
    assert not contains("$19.96 billion", "9")
    assert contains("It was $19.96 billion.", "19.96 billion")
    assert contains("Prime Minister Fumio Kishida’s statement", "Kishida")
    assert contains("the Japan International Cooperation Agency (JICA)", "Japan International Cooperation Agency")
    assert not contains("anything", "")


def test_answer_hit_and_recall():
    r = result(answers=("nine", "9", "Takeshi Iwaya"), answer="Russia banned nine people, including Takeshi Iwaya. [1]")
    assert answer_hit(r) and answer_recall(r) == pytest.approx(2 / 3)
    marker_only = result(answers=("1",), answer="Something else entirely. [1]")
    assert not answer_hit(marker_only)  # the citation marker is not part of the answer
    declined = result(answers=("nine",), answer="The documents don't say nine", abstained=True)
    assert not answer_hit(declined) and answer_recall(declined) == 0
    m = compute([r, marker_only, declined, result(answers=(), evidence=(), answer="x", abstained=True)])
    assert m.answer_hit == pytest.approx(1 / 3)
    assert m.answer_recall == pytest.approx((2 / 3) / 3)


def test_short_answer_em_and_f1_over_questions_with_a_short_answer():
    results = [
        result("a", answers=("Takeshi Iwaya", "Iwaya"), short="Takeshi Iwaya"),
        result("b", answers=("Takeshi Iwaya",), short="Foreign Minister Iwaya"),
        result("c", answers=("nine",), short=None),
    ]
    m = compute(results)
    assert m.short_answers == 2
    assert m.short_em == pytest.approx(0.5)
    # b: predicted {foreign, minister, iwaya} vs gold {takeshi, iwaya}: P 1/3, R 1/2, F1 0.4.
    assert token_f1("Foreign Minister Iwaya", "Takeshi Iwaya") == pytest.approx(0.4)
    assert m.short_f1 == pytest.approx((1.0 + 0.4) / 2)


def test_evidence_cited_uses_the_cited_passages_span():
    good = result("a", citations=(cited(1, "a.txt", 90, 210),), answer="x [1]")
    wrong_place = result("b", citations=(cited(1, "a.txt", 180, 400),), answer="x [1]")
    wrong_doc = result("c", citations=(cited(1, "b.txt", 0, 1000),), answer="x [1]")
    assert compute([good, wrong_place, wrong_doc]).evidence_cited == pytest.approx(1 / 3)


def test_citation_support_checks_each_sentence_against_its_cited_passage():
    passage_text = "Intro. Russia has banned nine  Japanese citizens.\nMore text."
    r = result(
        answer="Russia has banned nine Japanese citizens. [1] Moscow cheered loudly. [2] Unmarked claim.",
        citations=(cited(1, "a.txt", 0, 60, passage_text), cited(2, "a.txt", 60, 90, "Nothing relevant.")),
    )
    declined = result(answer="The documents don't say this.", abstained=True)
    m = compute([r, declined])
    assert m.answer_sentences == 3
    assert m.citation_support == pytest.approx(1 / 3)


def test_abstain_rates():
    results = [
        result("u1", answers=(), evidence=(), abstained=True),
        result("u2", answers=(), evidence=(), abstained=False, answer="A guess. [1]"),
        result("a1", abstained=True),
        result("a2"),
        result("a3"),
        result("a4"),
    ]
    m = compute(results)
    assert m.abstain_rate == 0.5
    assert m.false_abstain_rate == 0.25
    assert [outcome(r) for r in results] == ["declined", "answered", "abstained", "wrong", "wrong", "wrong"]


def test_latency_percentiles_interpolate_between_ranks():
    m = compute([result(str(i), latency=v) for i, v in enumerate([40.0, 10.0, 30.0, 20.0])])
    assert m.latency_ms_p50 == pytest.approx(25.0)
    assert m.latency_ms_p95 == pytest.approx(38.5)


def test_metrics_per_type_and_empty_denominators():
    results = [
        result("a", kind="numeric", answer="nine [1]"),
        result("b", kind="numeric"),
        result("u", answers=(), evidence=(), kind="unanswerable", abstained=True),
    ]
    types = by_type(results)
    assert set(types) == {"numeric", "unanswerable"}
    assert types["numeric"].answer_hit == 0.5 and types["numeric"].abstain_rate is None
    assert types["unanswerable"].abstain_rate == 1.0 and types["unanswerable"].answer_hit is None
    d = types["unanswerable"].to_dict()
    assert d["hit@1"] is None and d["mrr@10"] is None and d["questions"] == 1


def test_miss_kind_tells_retrieval_from_answering_misses():
    assert miss_kind(result(retrieved=ranked(None))).startswith("retrieval miss (evidence not in the top 10")
    assert miss_kind(result(retrieved=ranked(7), k=5)) == "retrieval miss (evidence at rank 7, beyond k=5)"
    assert miss_kind(result(retrieved=ranked(2))) == "answering miss (evidence at rank 2)"


def test_result_round_trips_through_json():
    r = result(
        answer="nine [1]",
        retrieved=ranked(3),
        citations=(cited(1, "a.txt", 100, 200, "t"),),
        short="nine",
        kind="numeric",
        confidence=0.8125,
    )
    line = json.loads(json.dumps(r.to_dict()))
    assert line["confidence"] == 0.8125
    again = Result.from_dict(line)
    assert again == r
    assert compute([again]) == compute([r])


def test_result_reads_a_line_written_by_older_code():
    """Before the shared records, a citation held n, doc, chunk_id, start, end and text only."""
    line = {
        "id": "q",
        "question": "How many?",
        "type": "numeric",
        "answers": ["nine"],
        "evidence": [{"doc": "a.txt", "quote": "the quote", "spans": [[100, 200]]}],
        "evidence_problems": [],
        "answer": "Russia banned nine people. [1]",
        "short_answer": "nine",
        "abstained": False,
        "citations": [
            {
                "n": 1,
                "doc": "a.txt",
                "chunk_id": "c1",
                "start": 90,
                "end": 210,
                "text": "Then Russia banned nine people.",
            }
        ],
        "retrieved": [{"doc": "a.txt", "chunk_id": "c1", "start": 90, "end": 210, "score": 0.5}],
        "answer_k": 5,
        "latency_ms": 12.5,
        "conversation": None,
        "turn": 0,
        "ranking_matches_answer": True,
        "fields": {},
    }
    r = Result.from_dict(line)
    assert r.confidence is None  # not recorded then: missing, not 0
    assert r.citations == (Citation(1, "a.txt", "", None, "c1", 90, 210, "Then Russia banned nine people.", 90, 210),)
    assert r.retrieved == (HitRef("a.txt", "c1", 90, 210, 0.5),)
    m = compute([r])
    assert (m.hit[1], m.evidence_cited, m.answer_hit, m.short_em, m.citation_support) == (1.0, 1.0, 1.0, 1.0, 1.0)
    again = r.to_dict()  # written back in today's format: the documented fields keep their names and values
    assert {k: again["citations"][0][k] for k in line["citations"][0]} == line["citations"][0]
    assert again["retrieved"] == line["retrieved"]
    assert again["confidence"] is None and m.auroc is None and m.to_dict()["abstain@fa10"] is None
    assert Result.from_dict(json.loads(json.dumps(again))) == r


# -- confidence -------------------------------------------------------------------------------


def scored(answerable: list[float], unanswerable: list[float]) -> list[Result]:
    """Answerable questions answered correctly and unanswerable ones, with these confidences."""
    return [result(f"a{i}", answer="nine", confidence=c) for i, c in enumerate(answerable)] + [
        result(f"u{i}", answers=(), evidence=(), answer="a guess", confidence=c) for i, c in enumerate(unanswerable)
    ]


@pytest.mark.parametrize(
    "answerable, unanswerable, expected",
    [
        ([0.9, 0.8, 0.7], [0.3, 0.1], 1.0),  # every answerable question above every unanswerable one
        ([0.1, 0.2], [0.8, 0.9, 0.7], 0.0),  # inverted
        ([0.5, 0.5], [0.5, 0.5, 0.5], 0.5),  # all tied: each pair counts half
        ([0.9, 0.5, 0.2], [0.5, 0.1], (2 + 1.5 + 1) / 6),  # pairs: 0.9 beats 2; 0.5 beats 1, ties 1; 0.2 beats 1
    ],
)
def test_auroc_on_hand_made_lists(answerable, unanswerable, expected):
    assert auroc(answerable, unanswerable) == pytest.approx(expected)
    m = compute(scored(answerable, unanswerable))
    assert m.auroc == pytest.approx(expected) and m.to_dict()["auroc"] == round(expected, 4)


def test_auroc_matches_counting_every_pair():
    rng = np.random.default_rng(3)
    for n_pos, n_neg in ((1, 1), (7, 3), (13, 29), (50, 1)):
        pos, neg = rng.integers(0, 6, n_pos) / 5, rng.integers(0, 6, n_neg) / 5  # few values: many ties
        pairs = [1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg]
        assert auroc(pos, neg) == pytest.approx(sum(pairs) / len(pairs))


def test_auroc_needs_both_kinds_with_a_confidence():
    assert compute(scored([0.9, 0.4], [])).auroc is None
    assert compute(scored([], [0.9, 0.4])).auroc is None
    no_confidence = result("u", answers=(), evidence=(), confidence=None)
    assert compute([*scored([0.9, 0.4], []), no_confidence]).auroc is None
    assert compute([*scored([0.9], [0.2]), no_confidence]).auroc == 1.0  # lines without one are left out


def test_abstain_at_fa10_on_a_hand_made_example():
    # 20 answerable: the threshold may decline 2 of them, so it is the 3rd smallest confidence, 0.30.
    answerable = [0.05, 0.10, 0.30, 0.30] + [0.5 + i / 100 for i in range(16)]
    unanswerable = [0.01, 0.20, 0.29, 0.30, 0.90]  # 3 strictly below 0.30; the tie at 0.30 is answered
    assert decline_threshold(answerable) == 0.30
    assert sum(c < 0.30 for c in answerable) == 2  # exactly 10% of the answerable declined
    assert abstain_at(answerable, unanswerable) == pytest.approx(3 / 5)
    m = compute(scored(answerable, unanswerable))
    assert m.abstain_fa10 == pytest.approx(0.6) and m.to_dict()["abstain@fa10"] == 0.6


def test_abstain_at_fa10_never_declines_more_than_a_tenth_of_the_answerable():
    # Ties at the threshold are answered: 10 answerable may lose 1, but the 2nd smallest ties the 1st.
    assert decline_threshold([0.2, 0.2, 0.2] + [0.6] * 7) == 0.2
    assert abstain_at([0.2, 0.2, 0.2] + [0.6] * 7, [0.1, 0.2]) == 0.5
    # 35 answerable may lose ⌊3.5⌋ = 3 (an interpolated 10th percentile would decline 4).
    ranks = [i / 100 for i in range(35)]
    assert decline_threshold(ranks) == 0.03 and sum(c < 0.03 for c in ranks) == 3
    # Fewer than 10: none may be declined, so the threshold is the lowest answerable confidence.
    assert decline_threshold([0.4, 0.7, 0.9]) == 0.4 and abstain_at([0.4, 0.7, 0.9], [0.39, 0.4]) == 0.5
    assert abstain_at([], [0.1]) is None and abstain_at([0.5], []) is None


def test_risk_coverage_as_the_threshold_rises():
    results = [
        result("right-sure", answer="nine", confidence=0.9),
        result("wrong", answer="ten", confidence=0.8),
        result("guess", answers=(), evidence=(), answer="a guess", confidence=0.8),
        result("declined", abstained=True, answer="The documents do not say.", confidence=0.2),
        result("right-unsure", answer="nine", confidence=0.2),
        result("old line", answer="nine", confidence=None),  # no confidence: not on the curve
    ]
    assert risk_coverage(results) == [
        (0.9, 1 / 5, 0.0),
        (0.8, 3 / 5, 2 / 3),  # the tie at 0.8 enters together
        (0.2, 1.0, 3 / 5),  # the declined question counts as an error once the threshold would answer it
    ]
    assert operating_point(results, 0.5) == (3 / 5, 2 / 3)
    assert operating_point(results, 0.95) is None
    assert risk_coverage([result(confidence=None)]) == []


# -- finding quotes ---------------------------------------------------------------------------


def test_find_quote_maps_normalised_matches_back_to_original_offsets():
    text = "Head.\nForeign\u00a0Minister   Takeshi\n Iwaya said “no”. Then ﬁve more. Takeshi Iwaya again."
    assert find_quote(text, "Foreign Minister Takeshi Iwaya said “no”.") == ((6, text.index("”.") + 2),)
    assert [text[s:e] for s, e in find_quote(text, "Takeshi Iwaya")] == ["Takeshi\n Iwaya", "Takeshi Iwaya"]
    assert [text[s:e] for s, e in find_quote(text, "five more")] == ["ﬁve more"]  # NFKC: the ligature ﬁ is "fi"
    assert find_quote(text, '"no"') == ()  # NFKC keeps curly quotes curly
    assert find_quote(text, "   ") == ()


def test_find_quote_keeps_combining_marks_with_their_letter():
    text = "Cafe\u0301 society and café culture"
    assert [text[s:e] for s, e in find_quote(text, "Café society")] == ["Cafe\u0301 society"]
    assert [text[s:e] for s, e in find_quote(text, "café")] == ["café"]
