"""Logging set-up for the shells (CLI and app); the library itself never sets levels."""

from __future__ import annotations

import logging

# Dependencies that log routine steps at INFO/DEBUG (bm25s sets its own logger to DEBUG on import).
NOISY = ("bm25s", "faiss.loader", "sentence_transformers", "httpx")


def configure_logging(verbose: bool = False) -> None:
    """Warnings only, or what the library does when ``verbose``; calling again changes the level."""
    logging.basicConfig(format="%(levelname)s %(message)s")
    logging.getLogger().setLevel(logging.INFO if verbose else logging.WARNING)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
