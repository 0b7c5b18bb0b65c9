"""Offline question answering over a folder of articles, with exact citations."""

from qa.assistant import DEFAULT_CORPUS, DEFAULT_INDEX, Assistant, DocumentInfo
from qa.chunking import ChunkSettings
from qa.corpus import load_corpus
from qa.embed import HashEmbedder, MiniLMEmbedder
from qa.errors import (
    CorpusError,
    IndexDamaged,
    IndexMismatch,
    IndexMissing,
    IndexProblem,
    IndexStale,
    QuestionFileError,
    UserError,
)
from qa.eval import compare, load_questions, run_eval
from qa.records import Answer, Chunk, Citation, Document, Filter, Hit, Turn
from qa.retrieve import MODES
from qa.scoring import Weights

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Assistant",
    "Chunk",
    "ChunkSettings",
    "Citation",
    "CorpusError",
    "DEFAULT_CORPUS",
    "DEFAULT_INDEX",
    "Document",
    "DocumentInfo",
    "Filter",
    "HashEmbedder",
    "Hit",
    "IndexDamaged",
    "IndexMismatch",
    "IndexMissing",
    "IndexProblem",
    "IndexStale",
    "MODES",
    "MiniLMEmbedder",
    "QuestionFileError",
    "Turn",
    "UserError",
    "Weights",
    "compare",
    "load_corpus",
    "load_questions",
    "run_eval",
    "__version__",
]
