"""Rendering a Digest as HTML email, plain text and a short chat message.

Every piece of article text is hostile until proven otherwise: HTML goes through Jinja2
autoescape (the highlighting builds Markup from escaped pieces), links are kept only for
http(s) URLs, plain text loses control characters (terminal escapes), and chat markdown has
its syntax characters and @-mentions neutralised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from newswatch.digest.model import Digest, DigestItem, RenderedDigest

CHAT_MAX_CHARS = 3800  # apprise cuts Mattermost at 4,000 chars; Slack advises 4,000 per message
CHAT_MAX_EVIDENCE_CHARS = 220  # one sentence of evidence per item in chat
TITLE_MAX_CHARS = 300  # a longer "title" is a scraping accident, not a headline
MAX_EVIDENCE = 3

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_MD_SPECIAL_RE = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&])")

_env = Environment(
    loader=PackageLoader("newswatch", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def clean_text(value: str | None, limit: int | None = None) -> str:
    """One line of displayable text: no control characters, collapsed whitespace, bounded."""
    text = _CONTROL_RE.sub("", _ANSI_RE.sub("", value or ""))
    text = " ".join(text.split())
    if limit and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) link with a host; None drops the link."""
    if not url or _CONTROL_RE.search(url) or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    # quote what could break out of a markdown link or an attribute; keep existing %-escapes
    return quote(url, safe=":/?#@!$&'*+,;=%-._~[]")


def split_terms(sentence: str, terms: Iterable[str]) -> list[tuple[str, bool]]:
    """[(text, is_term), ...]: the sentence cut at case-insensitive matches of the terms."""
    words = sorted({t.strip() for t in terms if t and t.strip()}, key=len, reverse=True)
    if not words:
        return [(sentence, False)]
    pattern = re.compile("|".join(_term_pattern(w) for w in words), re.IGNORECASE)
    out, pos = [], 0
    for m in pattern.finditer(sentence):
        if m.start() > pos:
            out.append((sentence[pos : m.start()], False))
        out.append((m.group(0), True))
        pos = m.end()
    if pos < len(sentence):
        out.append((sentence[pos:], False))
    return out


def _term_pattern(term: str) -> str:
    """Whole words for scripts that space words ("Netz" not inside "Netzbetreiber"); CJK
    (U+2E80 and up) has no spaces between words, so its terms match anywhere."""
    if any(ord(c) >= 0x2E80 for c in term):
        return re.escape(term)
    return rf"(?<!\w){re.escape(term)}(?!\w)"


def highlight_html(sentence: str, terms: Iterable[str]) -> Markup:
    style = "background:#fff3b0;color:#111;padding:0 2px;border-radius:2px;"
    parts = [
        Markup(f'<mark style="{style}">{escape(text)}</mark>') if hit else escape(text)
        for text, hit in split_terms(clean_text(sentence), terms)
    ]
    return Markup("").join(parts)


def md_escape(text: str) -> str:
    """Markdown-inert text: syntax characters escaped, @channel/@here mentions defused."""
    return _MD_SPECIAL_RE.sub(r"\\\1", clean_text(text)).replace("@", "@\u200b")


def highlight_md(sentence: str, terms: Iterable[str]) -> str:
    return "".join(
        f"**{md_escape(t)}**" if hit else md_escape(t) for t, hit in split_terms(clean_text(sentence), terms)
    )


def format_date(value: datetime | None, tz: str) -> str:
    if value is None:
        return "date unknown"
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def _view(item: DigestItem, tz: str) -> dict:
    """What the templates may show of an item: cleaned strings, a safe link or none."""
    return {
        "title": clean_text(item.title, TITLE_MAX_CHARS) or "(untitled)",
        "url": safe_url(item.url),
        "source": clean_text(item.source, 80),
        "date": format_date(item.date, tz),
        "lang": clean_text(item.lang, 12) or "?",
        "score": f"{item.score:.2f}",
        "topic": clean_text(item.topic, 80),
        "other_topics": [clean_text(t, 80) for t in item.other_topics],
        "evidence": [clean_text(s, 600) for s in item.evidence[:MAX_EVIDENCE] if clean_text(s)],
        "terms": [t for t in item.terms if t],
        "also": [_view(a, tz) for a in item.also],
    }


def _context(digest: Digest) -> dict:
    sections = [
        {"topic": clean_text(s.topic, 80), "items": [_view(i, digest.tz) for i in s.items]}
        for s in digest.sections
    ]
    return {
        "subject": clean_text(digest.subject, 200),
        "subscriber": clean_text(digest.subscriber, 80),
        "created": format_date(digest.created_at, digest.tz),
        "since": format_date(digest.since, digest.tz) if digest.since else None,
        "tz": digest.tz,
        "sections": sections,
        "n_items": digest.n_items,
        "n_folded": digest.n_folded,
        "n_more": digest.n_more,
        "n_topics": len(digest.sections),
        "problems": [
            {"source": clean_text(p.source, 80), "kind": p.kind, "detail": clean_text(p.detail, 300)}
            for p in digest.problems
        ],
    }


def render_html(digest: Digest) -> str:
    ctx = _context(digest)
    ctx["highlight"] = highlight_html
    return _env.get_template("digest.html.j2").render(ctx)


def render_text(digest: Digest) -> str:
    return _env.get_template("digest.txt.j2").render(_context(digest))


def _chat_item(item: DigestItem, tz: str) -> str:
    v = _view(item, tz)
    title = md_escape(v["title"])
    head = f"[{title}]({v['url']})" if v["url"] else title
    meta = md_escape(f"{v['source']} · {v['date']} · {v['lang']} · {v['score']}")
    line = f"- **{head}** — {meta}"
    if v["also"]:
        line += " " + md_escape(f"(+{len(v['also'])} more sources)")
    if v["evidence"]:
        line += "\n  > " + highlight_md(clean_text(v["evidence"][0], CHAT_MAX_EVIDENCE_CHARS), v["terms"])
    return line


def render_chat(digest: Digest, max_chars: int = CHAT_MAX_CHARS) -> str:
    """Markdown for Slack/Mattermost/Teams: items until the size limit, then "and N more"."""
    head = f"**{md_escape(digest.subject)}** — " + md_escape(_counts_line(digest))
    if digest.is_empty:
        return head + "\n" + md_escape("Nothing new since the last digest.")
    lines = [head]
    remaining = digest.n_items
    for section in digest.sections:
        header = [f"\n**{md_escape(section.topic)}**"]
        for item in section.items:
            candidate = [*header, _chat_item(item, digest.tz)]
            tail = _more_line(remaining - 1 + digest.n_more)
            if len("\n".join([*lines, *candidate, tail])) > max_chars:
                lines.append(_more_line(remaining + digest.n_more))
                return "\n".join(lines)
            lines.extend(candidate)
            header = []
            remaining -= 1
    if digest.n_more:
        lines.append(_more_line(digest.n_more))
    return "\n".join(lines)


def _more_line(n: int) -> str:
    return md_escape(f"…and {n} more (see the email digest)") if n > 0 else ""


def _counts_line(digest: Digest) -> str:
    n = digest.n_items
    text = f"{n} new item{'s' if n != 1 else ''} in {len(digest.sections)} topic{'s' if len(digest.sections) != 1 else ''}"
    if digest.n_more:
        text += f", {digest.n_more} more not listed"
    return text


def render_all(digest: Digest, chat_max_chars: int = CHAT_MAX_CHARS) -> RenderedDigest:
    return RenderedDigest(render_html(digest), render_text(digest), render_chat(digest, chat_max_chars))


def subject_for(base: str, digest_items: int, topics: Sequence[str]) -> str:
    """A one-line subject: counts and topic names (config text only, never article text)."""
    if not digest_items:
        return clean_text(f"{base}: nothing new", 150)
    shown = ", ".join(topics[:3]) + (f" +{len(topics) - 3}" if len(topics) > 3 else "")
    return clean_text(f"{base}: {digest_items} new — {shown}", 150)
