"""Chunks are whole sentences, fit the model, overlap, and point exactly into the file."""

import pytest

from qa.chunking import ChunkSettings, chunk_document
from qa.cleaning import make_document
from qa.corpus import load_corpus
from qa.embed import MiniLMEmbedder
from qa.text import split_sentences
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def tokenizer():
    return MiniLMEmbedder()  # only its tokenizer is used here; the model never loads


def test_chunk_offsets_are_exact_and_fit_the_model(tokenizer):
    settings = ChunkSettings()
    for doc in load_corpus(CORPUS).documents:
        raw = (CORPUS / doc.doc).read_bytes().decode("utf-8")
        chunks, sentences = chunk_document(doc, tokenizer.count_tokens, settings)
        assert chunks
        for chunk in chunks:
            assert raw[chunk.start : chunk.end] == chunk.text
            assert tokenizer.count_tokens([chunk.text])[0] - 2 <= settings.size
            assert any(s <= chunk.start and chunk.end <= e for s, e in doc.segments)
        # every body sentence is in some chunk, and only list bullets fall outside sentences
        for sentence in sentences:
            assert any(c.start <= sentence.start and sentence.end <= c.end for c in chunks)
        in_sentences = {i for s in sentences for i in range(s.start, s.end)}
        for s, e in doc.segments:
            outside = "".join(raw[i] for i in range(s, e) if i not in in_sentences)
            assert set(outside) <= set(" \n\xa0-*•")


def test_consecutive_chunks_overlap(tokenizer):
    doc = next(d for d in load_corpus(CORPUS).documents if d.doc.startswith("001"))
    chunks, _ = chunk_document(doc, tokenizer.count_tokens, ChunkSettings())
    assert len(chunks) > 3
    assert any(b.start < a.end for a, b in zip(chunks, chunks[1:]))
    assert len({c.id for c in chunks}) == len(chunks)


def test_an_overlong_sentence_is_cut_to_fit(tokenizer):
    text = "Intro sentence here. " + ", ".join(f"item number {i} of the list" for i in range(200)) + "."
    doc = make_document("long.txt", text)
    chunks, _ = chunk_document(doc, tokenizer.count_tokens, ChunkSettings(size=120))
    assert len(chunks) > 5
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert tokenizer.count_tokens([chunk.text])[0] - 2 <= 120
        assert chunk.text.endswith((",", "."))  # cut at a clause, not inside one


def test_sentence_split_respects_abbreviations_and_lines():
    text = "Japan's PM Mr. Kishida met U.S. officials on Nov. 1. Talks went on.\nA heading\nNext line here."
    spans = [text[s:e] for s, e in split_sentences(text)]
    assert spans == [
        "Japan's PM Mr. Kishida met U.S. officials on Nov. 1.",
        "Talks went on.",
        "A heading",
        "Next line here.",
    ]
