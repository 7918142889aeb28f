"""What an analyst reads: contrast (WCAG AA, computed on the rendered HTML), invisible characters,
evidence that repeats the title, topic headings, highlighted terms, chat's link to the rest.

The contrast check is pure Python: it parses the email's inline styles, resolves each text
node's colour and the background behind it through its ancestors, and computes the WCAG 2.x
contrast ratio. It runs everywhere (the Chromium screenshot test is separate).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from newswatch.config.errors import load_yaml_model
from newswatch.config.topics import TopicsFile
from newswatch.digest import Digest, DigestItem, DigestSection, SourceProblem, render_chat, render_html, render_text
from newswatch.digest.model import StoryUpdate

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]
AA_NORMAL = 4.5
VOID = {"meta", "br", "img", "hr", "input", "link"}
INVISIBLE = "\u061c\u2060\ufeff\u00ad\u180e\u200e\u202e\u2066\u200d"


# --- WCAG contrast on the rendered HTML ---------------------------------------------------------

def parse_color(value: str) -> tuple[float, float, float] | None:
    value = value.strip().lower()
    if m := re.fullmatch(r"#([0-9a-f]{3})", value):
        return tuple(int(c * 2, 16) / 255 for c in m.group(1))
    if m := re.fullmatch(r"#([0-9a-f]{6})", value):
        h = m.group(1)
        return tuple(int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))
    if m := re.fullmatch(r"rgb\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)", value):
        return tuple(int(x) / 255 for x in m.groups())
    if value == "white":
        return (1.0, 1.0, 1.0)
    if value == "black":
        return (0.0, 0.0, 0.0)
    return None


def luminance(rgb) -> float:
    def lin(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (lin(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg, bg) -> float:
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def styles(attrs) -> dict[str, str]:
    style = dict(attrs).get("style") or ""
    out = {}
    for decl in style.split(";"):
        if ":" in decl:
            k, v = decl.split(":", 1)
            out[k.strip().lower()] = v.strip()
    return out


class ContrastAudit(HTMLParser):
    """(text, colour, background, ratio) for every non-blank text node inside <body>."""

    DEFAULT_LINK = (0.0, 0.0, 0.933)  # #0000EE: what a mail client shows a link without a colour

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[dict] = [{"tag": "root", "color": (0.0, 0.0, 0.0), "bg": (1.0, 1.0, 1.0)}]
        self.found: list[tuple[str, tuple, tuple, float]] = []
        self.in_body = False

    def handle_starttag(self, tag, attrs):
        if tag == "body":
            self.in_body = True
        top = self.stack[-1]
        st = styles(attrs)
        color = parse_color(st["color"]) if "color" in st else (self.DEFAULT_LINK if tag == "a" else top["color"])
        bg_value = st.get("background-color") or st.get("background")
        bg = parse_color(bg_value.split()[0]) if bg_value else None
        if tag == "mark" and bg is None:
            bg = (1.0, 1.0, 0.0)
        entry = {"tag": tag, "color": color or top["color"], "bg": bg or top["bg"]}
        if tag not in VOID:
            self.stack.append(entry)

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if not self.in_body or not data.strip():
            return
        top = self.stack[-1]
        self.found.append((data.strip(), top["color"], top["bg"], contrast(top["color"], top["bg"])))


def audit(html: str) -> list[tuple[str, tuple, tuple, float]]:
    parser = ContrastAudit()
    parser.feed(html)
    return parser.found


def test_contrast_checker_computes_known_wcag_ratios():
    # reference values: black on white is 21:1; #767676 on white is the 4.5:1 boundary; #9ca3af ~2.5
    assert round(contrast((0, 0, 0), (1, 1, 1)), 1) == 21.0
    assert 4.5 <= contrast(parse_color("#767676"), (1, 1, 1)) < 4.6
    assert 2.4 < contrast(parse_color("#9ca3af"), (1, 1, 1)) < 2.6
    found = audit('<body style="background:#ffffff"><p style="color:#9ca3af">faint</p></body>')
    assert found[0][0] == "faint" and found[0][3] < AA_NORMAL


def rich_digest() -> Digest:
    item = DigestItem(
        article_id="a1", url="https://news.example/a1?x=1", source="belga", title="Japan and Belgium sign pact",
        topic="japan-benelux", score=0.91, published_at=NOW, lang="en", terms=("Japan", "Belgium", "pact"),
        evidence=("Japan and Belgium signed a space pact in Brussels on Tuesday.",),
        also=(DigestItem("a2", "https://other.example/a2", "nos", "Japan en België", "japan-benelux", 0.7, lang="nl"),),
        other_topics=("japan-china",),
    )
    update = StoryUpdate("s0", "Takeda expands Lessines plant", "https://news.example/s0", NOW - timedelta(days=1),
                         (DigestItem("u1", "https://lesoir.example/u1", "lesoir", "Takeda à Lessines", "japan-benelux",
                                     0.6, lang="fr"),))
    return Digest(
        subscriber="desk", subject="newswatch digest: Japan – Benelux 1 · 3 new, 1 listed", created_at=NOW,
        sections=(DigestSection("japan-benelux", (item,), "Japan – Benelux"),),
        more=(DigestItem("m1", "https://x.example/m1", "x", "More", "japan-benelux", 0.5),
              DigestItem("m2", "https://x.example/m2", "x", "More 2", "japan-benelux", 0.5)),
        updates=(update,),
        problems=(SourceProblem("broken", "failing", "3 failed polls in a row: HTTP 503"),
                  SourceProblem("quiet", "silent", "no new article since 2026-11-01")),
        since=NOW - timedelta(days=1),
    )


def test_every_text_in_the_html_digest_meets_wcag_aa_contrast():
    found = audit(render_html(rich_digest()))
    texts = " ".join(t for t, *_ in found)
    # the audit saw every kind of text: title, meta, URL line, evidence, mark, also, updates, footer
    for expected in ("Japan and Belgium sign pact", "https://news.example/a1?x=1", "belga", "Also reported by",
                     "Updates to stories already sent", "first sent", "more matching", "Source health", "Sent by"):
        assert expected in texts, expected
    low = [(t[:40], round(r, 2)) for t, _, _, r in found if r < AA_NORMAL]
    assert low == []


# --- invisible characters, evidence, headings, highlighting --------------------------------------

def test_format_class_characters_are_removed_from_titles_and_evidence_in_every_form():
    title = f"Ja{INVISIBLE}pan and Bel\u00adgium sign\u2060 pact"
    item = DigestItem("a1", "https://news.example/a1", "belga", title, "japan-benelux", 0.9, published_at=NOW,
                      lang="en", terms=("Japan",), evidence=("The\ufeff treaty\u061c was signed\u180e in Tokyo.",))
    digest = Digest("desk", "newswatch digest", NOW, sections=(DigestSection("japan-benelux", (item,)),))
    for form in (render_html(digest), render_text(digest), render_chat(digest)):
        found = {f"U+{ord(c):04X}" for c in form if unicodedata.category(c) == "Cf"}
        # the chat form's own @-mention defuser (U+200B after "@") is the only format character allowed
        assert found <= ({"U+200B"} if "@\u200b" in form else set()), found
        assert "Japan and Belgium sign pact" in form.replace("*", "").replace("\\", "")
        assert "treaty was signed in Tokyo" in form.replace("*", "").replace("\\", "")


def test_evidence_that_repeats_the_title_is_skipped():
    item = DigestItem("a1", "https://n.example/a1", "s", "Takeda opens new drug development center in China",
                      "japan-china", 0.9, published_at=NOW, lang="en", terms=("Takeda", "China"),
                      evidence=("Takeda opens new drug development center in China.",
                                "Japan's Takeda is adding a drug development center in Shanghai for China's market."))
    digest = Digest("desk", "s", NOW, sections=(DigestSection("japan-china", (item,)),))
    html, text = render_html(digest), render_text(digest)
    assert text.count("> ") == 1 and "adding a drug development center in Shanghai" in text
    assert html.count("border-left:3px") == 1


def test_topics_yaml_titles_are_valid_and_the_title_field_is_optional():
    topics = load_yaml_model(ROOT / "config" / "topics.yaml", TopicsFile)
    titles = {t.name: t.title for t in topics.topics}
    assert titles["japan-benelux"] == "Japan – Benelux" and titles["japan-china"] == "Japan – China"
    assert all(titles.values())


def test_only_the_terms_that_anchored_the_match_are_highlighted():
    from newswatch.classify import compile_topics
    from newswatch.classify.scoring import classify_article

    compiled = compile_topics(load_yaml_model(ROOT / "config" / "topics.yaml", TopicsFile))
    text = ("According to the Minister of Economy, Japanese companies will invest in Belgium's biotech sector. "
            "The Japanese investment in the Belgian pharma cluster was announced by the companies on Monday.")
    (m,) = [m for m in classify_article(compiled, "Japanese investment in Belgium", text, "en")
            if m.topic == "japan-benelux"]
    assert m.matched
    terms = {t.casefold() for t in m.terms}
    assert {"japanese", "belgium"} <= terms
    assert not terms & {"minister", "economy", "according"}, m.terms
    html = render_html(Digest("desk", "s", NOW, sections=(DigestSection("japan-benelux", (DigestItem(
        "a", "https://n.example/a", "s", "Japanese investment in Belgium", "japan-benelux", m.score, lang="en",
        terms=m.terms, evidence=m.evidence),)),)))
    marked = {x.casefold() for x in re.findall(r"<mark[^>]*>([^<]+)</mark>", html)}
    assert marked and not marked & {"minister", "economy", "according", "companies"}


def test_chat_keeps_the_email_order_and_links_to_the_rest_within_its_limit():
    items = tuple(DigestItem(f"a{i}", f"https://n.example/a{i}", "s", f"Story number {i} about Japan", "t",
                             round(0.99 - i / 100, 2), published_at=NOW, lang="en",
                             evidence=(f"Evidence sentence {i} " + "word " * 30,)) for i in range(60))
    digest = Digest("desk", "subject", NOW, sections=(DigestSection("t", items, "Topic T"),))
    chat = render_chat(digest, max_chars=1500, more_url="https://desk.example/digests/latest")
    assert len(chat) <= 1500 and "**Topic T**" in chat
    shown = [int(n) for n in re.findall(r"Story number (\d+)", chat)]
    assert shown == list(range(len(shown))) and 0 < len(shown) < 60
    assert f"and {60 - len(shown)} more" in chat and "(https://desk.example/digests/latest)" in chat


@pytest.mark.parametrize("form", [render_html, render_text])
def test_counts_say_what_they_count(form):
    out = form(rich_digest())
    assert "3 new, 1 listed" in out and "1 duplicate report folded" in out and "1 update" in out


def test_each_chat_target_gets_the_chat_form_within_its_own_service_limit():
    from newswatch.notify import chat_limit

    assert chat_limit("discord://1234/abcd", 3800) == 1800  # Discord takes 2,000 characters
    assert chat_limit("mmost://chat.example.com/token", 3800) == 3800  # Mattermost 4,000: our default fits
    assert chat_limit("mailto://mail.example.com?to=a@example.com", 3800) == 3800  # not a chat target
