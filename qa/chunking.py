"""Sentence-aware chunking sized in the embedding model's word pieces."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from qa.records import Chunk, Document, Sentence
from qa.text import normalize, split_sentences

TokenCounter = Callable[[Sequence[str]], list[int]]


@dataclass(frozen=True)
class ChunkSettings:
    size: int = 200  # word pieces of passage text per chunk
    overlap: int = 48  # trailing sentences (up to this many word pieces) repeated in the next chunk
    title_tokens: int = 32  # budget for the title prefix the embedder also reads

    def to_dict(self) -> dict:
        return asdict(self)


def chunk_id(doc: str, start: int, text: str) -> str:
    return hashlib.sha256(f"{doc}\0{start}\0{text}".encode()).hexdigest()[:16]


def embedding_text(title: str, text: str) -> str:
    """What the embedder and the keyword index read for a passage."""
    return f"{normalize(title)}: {normalize(text)}" if title else normalize(text)


def sentences_of(doc: Document) -> list[Sentence]:
    return [Sentence(doc.doc, s, e) for seg in doc.segments for s, e in split_sentences(doc.text, *seg)]


def chunk_document(
    doc: Document, count_tokens: TokenCounter, settings: ChunkSettings, max_tokens: int = 256
) -> tuple[list[Chunk], list[Sentence]]:
    """Split ``doc`` into chunks of whole sentences; return (chunks, sentences).

    No chunk crosses a segment boundary (so no dropped boilerplate sits inside
    a citation), and none exceeds the model's input once the title is added.
    """
    size = min(settings.size, max_tokens - settings.title_tokens - 2)
    sentences = sentences_of(doc)
    pieces: list[tuple[int, int, int]] = []  # (start, end, tokens), sentences cut to fit
    counts = count_tokens([normalize(doc.text[s.start : s.end]) for s in sentences])
    for sent, n in zip(sentences, counts):
        n -= 2  # [CLS] and [SEP]
        if n <= size:
            pieces.append((sent.start, sent.end, n))
        else:
            pieces.extend(_split_long(doc.text, sent.start, sent.end, size, count_tokens))
    segment_of = _segment_index(doc, pieces)
    chunks: list[Chunk] = []
    i = 0
    while i < len(pieces):
        j, total = i, 0
        while j < len(pieces) and total + pieces[j][2] <= size and segment_of[j] == segment_of[i]:
            total += pieces[j][2]
            j += 1
        j = max(j, i + 1)
        # Text between sentences (bullets, quotes) also costs word pieces: check the real count.
        while j - i > 1 and count_tokens([normalize(doc.text[pieces[i][0] : pieces[j - 1][1]])])[0] - 2 > size:
            j -= 1
        start, end = pieces[i][0], pieces[j - 1][1]
        text = doc.text[start:end]
        chunks.append(Chunk(id=chunk_id(doc.doc, start, text), doc=doc.doc, start=start, end=end, text=text))
        if j >= len(pieces):
            break
        # Step back over trailing sentences that fit in the overlap budget.
        back, carried = j, 0
        while (
            back - 1 > i and carried + pieces[back - 1][2] <= settings.overlap and segment_of[back - 1] == segment_of[j]
        ):
            back -= 1
            carried += pieces[back][2]
        i = back
    return chunks, sentences


def _segment_index(doc: Document, pieces: list[tuple[int, int, int]]) -> list[int]:
    out, k = [], 0
    for start, _, _ in pieces:
        while k + 1 < len(doc.segments) and start >= doc.segments[k + 1][0]:
            k += 1
        out.append(k)
    return out


def _split_long(text: str, start: int, end: int, size: int, count_tokens: TokenCounter) -> list[tuple[int, int, int]]:
    """Cut an over-long sentence into pieces that fit ``size``: at semicolons, then commas, then
    spaces (LangChain's recursive splitter, measured in the model's word pieces)."""
    # imported here: LangChain takes a quarter of a second to import, and answering never cuts sentences
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size,
        chunk_overlap=0,
        separators=["; ", ", ", " ", ""],
        keep_separator="end",
        length_function=lambda piece: count_tokens([normalize(piece)])[0] - 2,
    )
    pieces, cursor = [], start
    for piece in splitter.split_text(text[start:end]):
        at = text.index(piece, cursor, end)  # pieces come in order and are copied verbatim
        cursor = at + len(piece)
        pieces.append((at, cursor, count_tokens([normalize(piece)])[0] - 2))
    return pieces
