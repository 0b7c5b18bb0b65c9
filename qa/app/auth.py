"""Roles in the app: the check a handler makes before it changes the collection or runs an evaluation.

The check is made on the server, in the handler itself, so it holds for every
way in: the page, gradio_client or raw HTTP calls to the queue. Gradio's login
(``launch(auth=accounts.check)``) tells each event who sent it,
``request.username``; ``qa.accounts.Accounts`` says what that user's role is.
Without accounts (``accounts`` None: served on this machine only, or with
``--no-auth``) everyone may do everything.

A handler takes ``request: gr.Request`` (Gradio fills it in) and starts with::

    require_editor(request, self.accounts)
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from qa.accounts import EDITOR, Accounts

if TYPE_CHECKING:
    import gradio as gr

REFUSED = "Only an editor can change the documents or run an evaluation"


def user_of(request: gr.Request | None) -> str | None:
    """The signed-in user who sent ``request``, or None (no login, or called outside Gradio)."""
    return getattr(request, "username", None) if request is not None else None


def is_editor(request: gr.Request | None, accounts: Accounts | None) -> bool:
    """Whether the sender of ``request`` may change the collection and run evaluations."""
    return accounts is None or accounts.role(user_of(request)) == EDITOR


def require_editor(request: gr.Request | None, accounts: Accounts | None) -> None:
    """Raise a one-line ``gr.Error`` unless the sender of ``request`` is an editor (anyone is, without accounts).

    Call it first, outside any ``try`` that turns exceptions into a status line:
    the refusal then ends the event before it has done anything.
    """
    if is_editor(request, accounts):
        return
    import gradio as gr  # only the app calls this, and the app has Gradio loaded already

    user = user_of(request)
    role = accounts.role(user) if accounts is not None else None
    who = f"{user} is a {role}" if role else "you are not signed in with an account"
    raise gr.Error(html.escape(f"{REFUSED}; {who}."), title="Not allowed", print_exception=False)
