"""Putting stored data on a terminal: every value shown literally, nothing in it obeyed.

Titles, texts, URLs, errors and source names come from the network or from a user. Rich would
read `[/x]` or `[link=…]` in them as markup (a MarkupError, a blank cell, a hyperlink), turn
`:smile:` into an emoji, and a raw ESC or OSC 8 sequence would drive the terminal itself. So every
console here is made with markup, emoji and highlighting off, data reaches tables as `Text`, and
control characters (C0, DEL, C1) and bidi overrides are printed as visible escapes (`\\x1b`).
Colour is applied with styles on `Text`, never by markup inside a string.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from newswatch.literal import visible

def cell(value: object, style: str | None = None, limit: int | None = None) -> Text:
    """A table cell showing `value` literally (optionally cut to `limit` characters)."""
    text = visible(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return Text(text, style=style or "")


def console(stderr: bool = False, **kwargs) -> Console:
    """A console that prints strings as they are: no markup, no emoji codes, no highlighting."""
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False, **kwargs)
