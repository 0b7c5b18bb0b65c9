"""The browser chat: a thin Gradio shell over ``qa.Assistant``.

    qa serve [--host 127.0.0.1] [--port 7860] [--corpus corpus/] [--index index/]

All retrieval and answering happens in the library; this package only turns a
person's clicks into library calls (``handlers``), lays out the page
(``layout``) and turns library records into escaped HTML (``render``). Nothing
is built at import time: ``build_app`` makes the UI for the assistant it is
given and ``serve`` launches it; the ``qa serve`` command (``qa.cli``) loads
the assistant and does both.
"""

from qa.app.handlers import ChatApp
from qa.app.layout import build_app, serve

__all__ = ["ChatApp", "build_app", "serve"]
