"""Errors a person can fix. Each shell (CLI, app) catches ``UserError`` once and
shows its message, a single sentence that says what is wrong and what to do."""

from __future__ import annotations


class UserError(ValueError):
    """Base of every error caused by input a person can change (a file, a question, an option)."""


class CorpusError(UserError):
    """The corpus cannot be read or holds no usable document."""


class UploadError(UserError):
    """An uploaded or removed document was refused; nothing was written."""


class QuestionError(UserError):
    """A question cannot be asked as given (empty, unknown retrieval mode)."""


class UnknownDocument(UserError, KeyError):
    """No document with that id is in the index."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class IndexProblem(UserError):
    """The index cannot serve as it is; the message says how to fix it."""


class IndexMissing(IndexProblem):
    """No index has been built yet."""


class IndexMismatch(IndexProblem):
    """Built by another model, schema or chunking: needs a full rebuild."""


class IndexStale(IndexProblem):
    """The corpus changed since the build."""


class IndexDamaged(IndexMismatch):
    """An index file is missing, truncated or garbled; ``qa index`` (and any auto-refreshing load) rebuilds
    the index from the corpus. A subclass of ``IndexMismatch``: both need every document embedded again."""


class QuestionFileError(UserError):
    """A question set cannot be read; the message names the file, line and problem."""


class RunMismatch(UserError):
    """An evaluation's output folder holds a run made with other settings."""


class ModelMissing(UserError):
    """A bundled model's files are not where its package should have put them."""


class FeedbackError(UserError):
    """A feedback record cannot be written where asked."""
