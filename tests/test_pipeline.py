"""Passage reranking by the best sentence's score, on hand-made passages."""

from __future__ import annotations

from qa.pipeline import rerank
from qa.records import Chunk, Document, Hit
from qa.stages import Candidate, Scored

TEXT = "Alpha is first. Beta is second. Gamma is third. Delta is fourth."
DOC = Document("a.txt", "A", None, TEXT, ((0, len(TEXT)),), "h")


def hit(i: int, score: float) -> Hit:
    start = i * 16
    return Hit(Chunk(f"c{i}", "a.txt", start, start + 15, TEXT[start : start + 15]), score)


def scored(h: Hit, rank: int, score: float) -> Scored:
    c = Candidate(rank, DOC, h.chunk.start, h.chunk.end, h.chunk.text, h, rank, 0.0, frozenset())
    return Scored(c, score, score, False)


def test_passages_follow_their_best_sentence_and_the_tail_stays_as_retrieved():
    hits = [hit(i, 1.0 - i / 10) for i in range(4)]
    best_second = [scored(hits[0], 0, 0.2), scored(hits[1], 1, 0.9), scored(hits[0], 0, 0.4), scored(hits[3], 3, 0.95)]
    out = rerank(hits, best_second, k=3)
    # hit 3 lies past k: it keeps its place even though its sentence scored best
    assert [h.chunk.id for h in out] == ["c1", "c0", "c2", "c3"]


def test_unscored_passages_and_ties_keep_retrieval_order():
    hits = [hit(i, 1.0) for i in range(3)]
    out = rerank(hits, [scored(hits[2], 2, 0.5), scored(hits[1], 1, 0.5)], k=3)
    assert [h.chunk.id for h in out] == ["c1", "c2", "c0"]
    assert rerank(hits, [], k=3) == hits
