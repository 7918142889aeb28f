"""The page's main text: trafilatura, checked against readability-lxml where its answer looks off.

trafilatura (fast mode: its own readability/jusText comparison skipped, which on both dev sets
scores higher and costs ~35 % less) runs on every page. A second opinion is asked only when
trafilatura's text is implausible against the page's own paragraphs (`_suspicious`: ~15 % of dev
pages), because readability-lxml costs more than trafilatura itself. The two texts are then
compared by 4-shingle cover (the share of one text's shingles found in the other):

- trafilatura's text is (nearly) all inside readability's and readability's is over twice as
  long: trafilatura stopped early (a truncated article) → readability;
- readability's text is (nearly) all inside trafilatura's and trafilatura's is over three times
  as long: trafilatura took a page's worth of lists and boxes around the article → readability;
- the two share (almost) nothing: one of them took a sidebar, footer or "about me" box instead of
  the post; jusText (a paragraph classifier that rejects short, link-dense blocks) decides;
- otherwise trafilatura's text stands.

A text still under 500 characters after that gets trafilatura's full cascade if it finds more.

Every threshold is a round number chosen once and checked on both dev sets (see
docs/decisions.md, "Extraction ensemble"); the choice is recorded as `extraction_method`.
"""

from __future__ import annotations

import copy
import functools
import re
from collections import Counter
from dataclasses import dataclass

from newswatch.quality import shingles

# When to ask for a second opinion (trafilatura's text length against the page's <p> text)
MIN_PLAUSIBLE_CHARS = 500  # shorter main texts are often a teaser or a caption, not the article
PARAGRAPH_SHARE_LOW = 0.5  # less than half the page's paragraph text: it may have missed the article
# more than 3 x: lists, menus or a whole-page dump came along. Below it, asking is wasted: readability
# replaces trafilatura's text only when that is over 1 / DUMP_COVER = 3 x its own, which is rarely
# shorter than the page's paragraphs
PARAGRAPH_SHARE_HIGH = 3.0
# a longer main text is never a box instead of the post, and readability's cost grows with the page
# (one 1 MB dev page: 1.4 s)
MAX_CHECKED_CHARS = 20_000
# How to read the comparison (share of one text's 4-shingles found in the other)
INSIDE = 0.9  # "nearly all of A is in B"
MOSTLY_INSIDE = 0.8
TRUNCATED_COVER = 0.5  # B holds A and A covers less than half of B: A stopped early
DUMP_COVER = 0.3  # A holds B and B is under a third of A: A took more than the article
DISJOINT = 0.3  # below this both ways, the two texts are about different parts of the page
JUSTEXT_MARGIN = 0.2  # readability replaces trafilatura only if clearly more of it is article-like
MIN_ALTERNATIVE_CHARS = 200  # a shorter readability text is a failure, not an opinion
# A first line that is the page's title (token Jaccard) is the headline, not the article body
HEADLINE_JACCARD = 0.8
MAX_HEADLINE_CHARS = 300

WORD_RE = re.compile(r"\w+", re.UNICODE)
BLOCK_TAGS = frozenset("p div br li h1 h2 h3 h4 h5 h6 blockquote pre tr td th article section header footer ul ol "
                       "table figure figcaption dd dt".split())


@dataclass(frozen=True, slots=True)
class MainText:
    text: str
    method: str  # see METHODS


METHODS = {
    "trafilatura": "trafilatura's text; plausible against the page's paragraphs, no second opinion asked",
    "trafilatura-checked": "readability-lxml was asked and did not contradict trafilatura",
    "readability": "readability-lxml's text: trafilatura's was truncated or a page-wide dump around it",
    "readability-justext": "the two disagreed entirely; jusText sided with readability-lxml",
    "trafilatura-justext": "the two disagreed entirely; jusText sided with trafilatura",
    "trafilatura-full": "fast mode and readability found little or nothing; trafilatura's full cascade found more",
}


def main_text(tree, titles: tuple[str | None, ...] = ()) -> MainText:
    """The main text of a parsed page (`tree` is not modified); `titles` (e.g. the feed item's)
    join the page's own <title> and og:title for the headline test."""
    titles = (*titles, tree.findtext(".//title"),
              *(m.get("content") for m in tree.iterfind('.//meta[@property="og:title"]')))
    primary = _trafilatura(tree, fast=True)
    result = MainText(primary, "trafilatura")
    if _suspicious(primary, tree):
        result = _second_opinion(primary, _readability(tree), tree)
    if len(result.text) < MIN_PLAUSIBLE_CHARS:
        # still short (or empty): trafilatura's full cascade, whose readability-fork and jusText
        # rescue are made for short texts; never less than bare trafilatura
        full = _trafilatura(tree, fast=False)
        result = MainText(full, "trafilatura-full") if len(full) > len(result.text) else result
    return MainText(strip_headline(result.text, titles), result.method)


def _trafilatura(tree, fast: bool) -> str:
    import trafilatura

    doc = trafilatura.bare_extraction(tree, include_comments=False, with_metadata=False, fast=fast)
    return (doc.text or "").strip() if doc is not None else ""


def paragraph_chars(tree) -> int:
    """Characters of text in the page's <p> elements (whitespace collapsed)."""
    return sum(len(" ".join(p.text_content().split())) for p in tree.iter("p"))


def _suspicious(text: str, tree) -> bool:
    if len(text) < MIN_PLAUSIBLE_CHARS:
        return True
    if len(text) > MAX_CHECKED_CHARS:
        return False
    paragraphs = paragraph_chars(tree)
    return len(text) < PARAGRAPH_SHARE_LOW * paragraphs or len(text) > PARAGRAPH_SHARE_HIGH * max(paragraphs, 1)


def cover(a: Counter, b: Counter) -> float:
    """Share of a's shingles (multiset) that b also has."""
    n = sum(a.values())
    return sum((a & b).values()) / n if n else 0.0


def _second_opinion(primary: str, alternative: str, tree) -> MainText:
    if len(alternative) < MIN_ALTERNATIVE_CHARS:
        return MainText(primary, "trafilatura-checked")
    if not primary:
        return MainText(alternative, "readability")
    p, a = shingles(primary), shingles(alternative)
    p_in_a, a_in_p = cover(p, a), cover(a, p)
    if p_in_a >= INSIDE and a_in_p < TRUNCATED_COVER:
        return MainText(alternative, "readability")
    if a_in_p >= MOSTLY_INSIDE and p_in_a < DUMP_COVER:
        return MainText(alternative, "readability")
    if p_in_a < DISJOINT and a_in_p < DISJOINT:
        vote = shingles(_justext(tree))  # the share of each text that jusText keeps as non-boilerplate
        if cover(a, vote) >= cover(p, vote) + JUSTEXT_MARGIN:
            return MainText(alternative, "readability-justext")
        return MainText(primary, "trafilatura-justext")
    return MainText(primary, "trafilatura-checked")


def _readability(tree) -> str:
    """readability-lxml's article as text (a line per block), from its own copy of the tree."""
    from lxml.html import fromstring

    try:
        summary = _lean_document()(tree).summary(html_partial=True)
        root = fromstring(summary)
    except Exception:  # noqa: BLE001 - readability on hostile markup: no opinion
        return ""
    return _block_text(root)


@functools.lru_cache(maxsize=1)
def _lean_document():
    """readability-lxml's Document for a tree we parsed: its `_parse` runs lxml's Cleaner for
    scripts, styles, <link>s, comments and javascript attributes (~22 % of its time); our parser
    already drops comments and PIs, so a copy with scripts, styles and <link>s stripped is enough.
    Same text on all 32 dev pages that ask for a second opinion (readability-lxml 0.9, pinned)."""
    from lxml.etree import strip_elements
    from readability import Document
    from readability.readability import REGEXES

    class LeanDocument(Document):
        def _parse(self, input):  # noqa: A002 - readability's own signature
            doc = copy.deepcopy(input)  # summary() retries on a fresh parse: never touch the input
            for elem in doc.xpath("//*[@hidden]"):
                elem.drop_tree()
            for elem in doc.xpath("//*[@style]"):
                if REGEXES["displayNoneRe"].search(elem.get("style")):
                    elem.drop_tree()
            strip_elements(doc, "script", "style", "link", with_tail=False)
            return doc

    return LeanDocument


def _block_text(root) -> str:
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag in BLOCK_TAGS:
            el.tail = "\n" + (el.tail or "")
    return "\n".join(line.strip() for line in root.text_content().splitlines() if line.strip())


def _justext(tree) -> str:
    from trafilatura.baseline import basic_cleaning
    from trafilatura.external import try_justext

    try:
        body = try_justext(basic_cleaning(copy.deepcopy(tree)), None, None)
    except Exception:  # noqa: BLE001 - no vote
        return ""
    return "\n".join(p.text or "" for p in body)


def strip_headline(text: str, titles: tuple[str | None, ...]) -> str:
    """Drop a first line that is the page's title: the headline is stored as the title already,
    and an article body does not include it."""
    first, sep, rest = text.partition("\n")
    if not sep or not rest.strip() or len(first) > MAX_HEADLINE_CHARS:
        return text
    words = set(WORD_RE.findall(first.lower()))
    for title in titles:
        tw = set(WORD_RE.findall((title or "").lower()))
        if words and tw and len(words & tw) / len(words | tw) >= HEADLINE_JACCARD:
            return rest.strip()
    return text
