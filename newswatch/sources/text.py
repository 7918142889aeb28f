"""Plain text out of the HTML fragments that feeds carry, and language tags normalised."""

from __future__ import annotations

import html
import re

import lxml.etree
import lxml.html

# Elements whose end starts a new line in the plain text.
_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table td th tr ul".split()
)
_DROP_TAGS = ("script", "style", "noscript", "template", "iframe", "object", "svg")
# Characters lxml refuses (XML 1.0 excludes them) and nothing legitimate needs.
_NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_LANG = re.compile(r"[a-z]{2,3}")


def one_line(text: str | None) -> str | None:
    """Whitespace collapsed to single spaces; None when nothing is left."""
    collapsed = " ".join((text or "").split())
    return collapsed or None


def html_to_text(markup: str | None) -> str | None:
    """Visible text of an HTML fragment: one line per block, spaces collapsed; None if empty."""
    markup = _NOT_XML_CHARS.sub("", markup or "")
    if "<" not in markup:  # no tags, but still HTML: `Caf&eacute; &amp; bar` is `Café & bar`
        return tidy_text(html.unescape(markup))
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return tidy_text(markup)
    for element in list(root.iter(*_DROP_TAGS)):
        element.drop_tree()
    for element in root.iter(*_BLOCK_TAGS):
        element.tail = "\n" + (element.tail or "")
    return tidy_text(root.text_content())


def tidy_text(text: str | None) -> str | None:
    """Plain text with spaces collapsed within lines and blank lines dropped; None if empty."""
    lines = (" ".join(line.split()) for line in _NOT_XML_CHARS.sub("", text or "").splitlines())
    return "\n".join(line for line in lines if line) or None


def normalise_lang(tag: str | None) -> str | None:
    """Primary language subtag in lower case (`IT-it` -> `it`, `en_GB` -> `en`), else None."""
    primary = re.split(r"[-_\s]", (tag or "").strip().lower(), maxsplit=1)[0]
    return primary if _LANG.fullmatch(primary) else None
