"""Saved web pages: the article's main text, title, date and author, with trafilatura.

trafilatura is made for news pages: it drops navigation, footers, comments and
share buttons, and reads the publication date from the page's meta tags
(``article:published_time`` and the like) or its visible text.
"""

from __future__ import annotations

import logging

from qa.loaders import Extracted, LoadError, iso_date

MIN_WORDS = 8  # a page's main text has a line of at least this many words (a sentence), not only menu items
logging.getLogger("trafilatura").setLevel(logging.ERROR)
logging.getLogger("htmldate").setLevel(logging.ERROR)


def extract(data: bytes) -> Extracted:
    import trafilatura

    try:
        page = trafilatura.bare_extraction(
            data, with_metadata=True, include_comments=False, include_tables=True, include_images=False
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise LoadError(f"HTML that cannot be parsed ({type(exc).__name__}): save the page again") from None
    text = (page.text or "").strip() if page is not None else ""
    if not any(len(line.split()) >= MIN_WORDS for line in text.splitlines()):
        raise LoadError("no main text found in the page (only menus, links or a form?)")
    return Extracted(
        text=text + "\n",
        kind="html",
        title=(page.title or "").strip() or None,
        date=iso_date(page.date),
        author=(page.author or "").strip() or None,
    )
