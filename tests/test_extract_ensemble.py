"""The extraction ensemble (newswatch/extract/ensemble.py): which path produces the text, and that
each path does what its name says. Quality on the dev sets is gated in test_extract_quality.py."""

from __future__ import annotations

import gzip
import json

import pytest
from lxml.html import fromstring

from newswatch.extract import ExtractFailure, ExtractJob, extract_article, parse_page
from newswatch.extract import ensemble
from newswatch.extract.ensemble import METHODS, MainText, main_text, strip_headline
from servers import CORPUS

ARTICLE = [f"Paragraph {i} of the report describes how the river flooded the valley town of Elmsworth in "
           f"week {i}, and what the council plans to do about drainage, housing and insurance claims next."
           for i in range(12)]
SIDEBAR = [f"Related story number {i}: a short headline" for i in range(12)]


def _page(article_html: str, aside_html: str = "", title: str = "Flood in Elmsworth") -> str:
    return (f"<html><head><title>{title}</title></head><body><nav><a href='/'>Home</a></nav>"
            f"<main>{article_html}</main><aside>{aside_html}</aside><footer>(c) Paper</footer></body></html>")


def _article_html(paragraphs=ARTICLE) -> str:
    return "<article><h1>Flood in Elmsworth</h1>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</article>"


def _links_html(lines=SIDEBAR) -> str:
    return "<ul>" + "".join(f"<li><a href='/s/{i}'>{t}</a></li>" for i, t in enumerate(lines)) + "</ul>"


def test_a_plain_article_is_trafilaturas_text_without_a_second_opinion(monkeypatch):
    asked = []
    monkeypatch.setattr(ensemble, "_readability", lambda tree: asked.append(1) or "")
    result = main_text(parse_page(_page(_article_html(), _links_html())))
    assert result.method == "trafilatura" and asked == []
    assert ARTICLE[0] in result.text and ARTICLE[-1] in result.text


def test_the_headline_line_is_not_part_of_the_body():
    text = "Flood in Elmsworth\n" + "\n".join(ARTICLE)
    assert strip_headline(text, ("Flood in Elmsworth",)) == "\n".join(ARTICLE)
    assert strip_headline(text, ("Flood in Elmsworth - The Daily Paper",)) == text  # Jaccard 0.6 < 0.8: kept
    assert strip_headline(text, ("Something else entirely",)) == text
    assert strip_headline("Flood in Elmsworth", ("Flood in Elmsworth",)) == "Flood in Elmsworth"  # never empties


@pytest.mark.parametrize("text_chars, paragraph_chars, expected", [
    (300, 300, True),        # too short to be sure it is the article
    (1_000, 3_000, True),    # a third of the page's paragraph text: it may have missed the article
    (2_000, 3_000, False),
    (10_000, 3_000, True),   # over 3 x the paragraphs: a dump of lists and boxes
    (25_000, 3_000, False),  # long main texts are not second-guessed (readability's cost grows with them)
])
def test_a_second_opinion_is_asked_only_where_trafilaturas_text_is_implausible(text_chars, paragraph_chars, expected):
    tree = parse_page(_page("<p>" + "x" * paragraph_chars + "</p>"))
    assert ensemble._suspicious("y" * text_chars, tree) is expected


def test_a_truncated_trafilatura_text_is_replaced_by_readabilitys_fuller_one():
    tree = parse_page(_page(_article_html()))
    result = ensemble._second_opinion("\n".join(ARTICLE[:3]), "\n".join(ARTICLE), tree)
    assert result == MainText("\n".join(ARTICLE), "readability")


def test_a_page_wide_dump_around_the_article_is_replaced_by_readabilitys_article():
    dump = "\n".join(SIDEBAR * 3 + ARTICLE[:3] + [s + " and more links" for s in SIDEBAR] * 3)
    result = ensemble._second_opinion(dump, "\n".join(ARTICLE[:3]), parse_page(_page(_article_html())))
    assert result.method == "readability"


def test_agreement_keeps_trafilaturas_text():
    text = "\n".join(ARTICLE)
    result = ensemble._second_opinion(text, "\n".join(ARTICLE[1:]), parse_page(_page(_article_html())))
    assert result == MainText(text, "trafilatura-checked")


def test_a_total_disagreement_is_decided_by_justext():
    """A sidebar instead of the post: jusText keeps the article's paragraphs, not the link list."""
    tree = parse_page(_page(_article_html(), _links_html()))
    sidebar, article = "\n".join(SIDEBAR), "\n".join(ARTICLE)
    assert ensemble._second_opinion(sidebar, article, tree).method == "readability-justext"
    assert ensemble._second_opinion(article, sidebar, tree) == MainText(article, "trafilatura-justext")


def test_when_fast_mode_and_readability_find_nothing_the_full_cascade_is_used(monkeypatch):
    tree = parse_page(_page(_article_html()))
    real = ensemble._trafilatura
    monkeypatch.setattr(ensemble, "_trafilatura", lambda t, fast: "" if fast else real(t, fast))
    monkeypatch.setattr(ensemble, "_readability", lambda t: "")
    result = main_text(tree)
    assert result.method == "trafilatura-full" and ARTICLE[0] in result.text


def test_a_text_still_short_after_the_ensemble_takes_the_full_cascades_longer_text(monkeypatch):
    tree = parse_page(_page(_article_html()))
    real = ensemble._trafilatura
    monkeypatch.setattr(ensemble, "_trafilatura", lambda t, fast: ARTICLE[0][:120] if fast else real(t, fast))
    monkeypatch.setattr(ensemble, "_readability", lambda t: "")
    result = main_text(tree)
    assert result.method == "trafilatura-full" and ARTICLE[-1] in result.text


def test_a_truncated_doctype_that_trafilatura_rejects_still_yields_the_article():
    import trafilatura

    page = "<!DOCTYPE\n<body><article>" + "".join(f"<p>{p}</p>" for p in ARTICLE) + "</article></body>"
    assert not trafilatura.extract(page, include_comments=False)  # trafilatura rejects the page whole
    art = extract_article(ExtractJob(html=page.encode(), fetched_url="http://127.0.0.1:9/a", source="s"))
    assert not isinstance(art, ExtractFailure) and ARTICLE[0] in art.text


def test_extraction_method_is_always_a_documented_value():
    pages = [_page(_article_html()), _page("<p>short</p>"), _page(_article_html(), _links_html() * 5)]
    arts = [extract_article(ExtractJob(html=p.encode(), fetched_url="http://127.0.0.1:9/a", source="s")) for p in pages]
    methods = {a.extraction_method for a in arts if not isinstance(a, ExtractFailure)}
    assert methods and methods <= set(METHODS) | {"feed_content", "feed_summary"}


def _dev_page_chosen_from_readability():
    """A real dev page on which the ensemble picks readability's text (found, not hard-coded)."""
    root = CORPUS / "extraction"
    if not (root / "ground-truth.json").is_file():
        pytest.skip(f"{root} absent: ../shared/corpus is not next to the repository")
    truth = json.loads((root / "ground-truth.json").read_text())
    for item_id in sorted(truth):
        html = gzip.decompress((root / "html" / f"{item_id}.html.gz").read_bytes())
        tree = parse_page(html.decode("utf-8", "replace"))
        if ensemble._suspicious(ensemble._trafilatura(tree, fast=True), tree):
            job = ExtractJob(html=html, fetched_url=truth[item_id]["url"], source="dev")
            art = extract_article(job)
            if not isinstance(art, ExtractFailure) and art.extraction_method == "readability":
                return job, art
    pytest.skip("no dev page takes readability's text")


def test_the_ensemble_runs_inside_ingests_worker_processes():
    from newswatch.pipeline import PagePool

    job, local = _dev_page_chosen_from_readability()
    with PagePool(workers=1, timeout_s=300) as pool:
        result = pool.submit(job).result(timeout=600)
    assert result.outcome.extraction_method == "readability"
    assert result.outcome.text == local.text


def test_readability_text_keeps_block_boundaries():
    root = fromstring("<div><p>one two</p><p>three four</p><ul><li>five</li><li>six</li></ul></div>")
    assert ensemble._block_text(root).split("\n") == ["one two", "three four", "five", "six"]


def test_main_text_leaves_the_tree_as_it_was():
    from lxml.html import tostring

    tree = parse_page(_page("<div hidden>hidden box</div><p style='display:none'>x</p>" + _article_html(ARTICLE[:2])))
    before = tostring(tree)
    assert main_text(tree).method != "trafilatura"  # short: readability was asked
    assert tostring(tree) == before


def test_the_lean_readability_reads_the_same_text_as_readability_lxml():
    """On the dev pages that ask for a second opinion: the Cleaner it skips changes nothing."""
    import copy

    from readability import Document

    root = CORPUS / "extraction-readability"
    if not (root / "ground-truth.json").is_file():
        pytest.skip(f"{root} absent: ../shared/corpus is not next to the repository")
    truth = json.loads((root / "ground-truth.json").read_text())
    compared = 0
    for item_id in sorted(truth):
        tree = parse_page(gzip.decompress((root / "html" / f"{item_id}.html.gz").read_bytes()).decode("utf-8", "replace"))
        if not ensemble._suspicious(ensemble._trafilatura(tree, fast=True), tree):
            continue
        stock = ensemble._block_text(fromstring(Document(copy.deepcopy(tree)).summary(html_partial=True)))
        assert ensemble._readability(tree) == stock, item_id
        compared += 1
    assert compared >= 5
