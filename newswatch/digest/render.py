"""Rendering a Digest as HTML email, plain text and a short chat message.

Every piece of article text is hostile until proven otherwise: HTML goes through Jinja2
autoescape (the highlighting builds Markup from escaped pieces), links are kept only for
http(s) URLs, plain text loses control characters (terminal escapes), and chat markdown has
its syntax characters and @-mentions neutralised.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from difflib import SequenceMatcher
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from newswatch.digest.model import Digest, DigestItem, RenderedDigest, StoryUpdate

CHAT_MAX_CHARS = 3800  # apprise cuts Mattermost at 4,000 chars; Slack advises 4,000 per message
CHAT_MAX_EVIDENCE_CHARS = 220  # one sentence of evidence per item in chat
TITLE_MAX_CHARS = 300  # a longer "title" is a scraping accident, not a headline
MAX_EVIDENCE = 3
TITLE_REPEAT_RATIO = 0.8  # an evidence sentence this close to the title says nothing new

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


_INVISIBLE = ("Cc", "Cf", "Co", "Cs", "Cn")  # controls, format (bidi, joiners, soft hyphen, BOM), private, unassigned


def strip_invisible(text: str) -> str:
    """`text` without Unicode control, format-class (U+061C, U+2060, U+FEFF, U+00AD, U+180E, bidi
    marks and isolates, ...), private-use or unassigned characters; whitespace becomes spaces."""
    return "".join(
        " " if c.isspace() else c
        for c in text
        if c.isspace() or unicodedata.category(c) not in _INVISIBLE
    )


def clean_text(value: str | None, limit: int | None = None) -> str:
    """One line of displayable text: no control or invisible characters, collapsed whitespace, bounded."""
    text = strip_invisible(_ANSI_RE.sub("", value or ""))
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
    style = "background:#fff3b0;color:#111111;padding:0 2px;border-radius:2px;"
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


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def repeats_title(sentence: str, title: str) -> bool:
    """Whether an evidence sentence is (nearly) the title again: it would add nothing."""
    s, t = _words(sentence), _words(title)
    if not s or not t:
        return False
    if s == t or (s.startswith(t) and len(s) <= len(t) * 1.25) or (t.startswith(s) and len(t) <= len(s) * 1.25):
        return True
    return SequenceMatcher(None, s, t).ratio() >= TITLE_REPEAT_RATIO


def _evidence(item: DigestItem, title: str) -> list[str]:
    out = []
    for sentence in item.evidence:
        text = clean_text(sentence, 600)
        if text and not repeats_title(text, title) and text not in out:
            out.append(text)
    return out[:MAX_EVIDENCE]


def format_day(value: datetime | None, tz: str) -> str:
    if value is None:
        return "earlier"
    local = value.astimezone(ZoneInfo(tz))
    return f"{local.day} {local:%b %Y}"


def _view(item: DigestItem, tz: str) -> dict:
    """What the templates may show of an item: cleaned strings, a safe link or none."""
    title = clean_text(item.title, TITLE_MAX_CHARS) or "(untitled)"
    return {
        "title": title,
        "url": safe_url(item.url),
        "source": clean_text(item.source, 80),
        "date": format_date(item.date, tz),
        "lang": clean_text(item.lang, 12) or "?",
        "score": f"{item.score:.2f}",
        "topic": clean_text(item.topic, 80),
        "other_topics": [clean_text(t, 80) for t in item.other_topics],
        "evidence": _evidence(item, title),
        "terms": [clean_text(t) for t in item.terms if clean_text(t)],
        "also": [_view(a, tz) for a in item.also],
    }


def _update_view(update: StoryUpdate, tz: str) -> dict:
    return {
        "title": clean_text(update.title, TITLE_MAX_CHARS) or "(untitled)",
        "url": safe_url(update.url),
        "first_sent": format_day(update.first_sent_at, tz),
        "reports": [_view(r, tz) for r in update.reports],
    }


def _context(digest: Digest) -> dict:
    sections = [
        {"topic": clean_text(s.heading, 80), "items": [_view(i, digest.tz) for i in s.items]}
        for s in digest.sections
    ]
    return {
        "subject": clean_text(digest.subject, 200),
        "subscriber": clean_text(digest.subscriber, 80),
        "created": format_date(digest.created_at, digest.tz),
        "since": format_date(digest.since, digest.tz) if digest.since else None,
        "tz": digest.tz,
        "sections": sections,
        "updates": [_update_view(u, digest.tz) for u in digest.updates],
        "counts": counts_line(digest),
        "n_items": digest.n_items,
        "n_new": digest.n_new,
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


def _chat_update(update: StoryUpdate, tz: str) -> str:
    v = _update_view(update, tz)
    title = md_escape(v["title"])
    head = f"[{title}]({v['url']})" if v["url"] else title
    by = ", ".join(f"{r['source']} ({r['lang']})" for r in v["reports"])
    return f"- {head} — " + md_escape(f"also reported by {by}, first sent {v['first_sent']}")


def render_chat(digest: Digest, max_chars: int = CHAT_MAX_CHARS, more_url: str | None = None) -> str:
    """Markdown for Slack/Mattermost/Teams: the email's order and folding, items until the size
    limit, then "and N more" with a link to the rest (`more_url`) when one is configured."""
    head = f"**{md_escape(digest.subject)}** — " + md_escape(counts_line(digest))
    if digest.is_empty:
        return head + "\n" + md_escape("Nothing new since the last digest.")
    lines = [head]
    remaining = digest.n_items
    link = safe_url(more_url)
    for section in digest.sections:
        header = [f"\n**{md_escape(section.heading)}**"]
        for item in section.items:
            candidate = [*header, _chat_item(item, digest.tz)]
            tail = _more_line(remaining - 1 + digest.n_more, link)
            if len("\n".join([*lines, *candidate, tail])) > max_chars:
                lines.append(_more_line(remaining + digest.n_more, link))
                return "\n".join(lines)
            lines.extend(candidate)
            header = []
            remaining -= 1
    if digest.n_more:
        lines.append(_more_line(digest.n_more, link))
    if digest.updates:
        header = ["\n**" + md_escape("Updates to stories already sent") + "**"]
        for update in digest.updates:
            candidate = [*header, _chat_update(update, digest.tz)]
            if len("\n".join([*lines, *candidate])) > max_chars:
                break
            lines.extend(candidate)
            header = []
    return "\n".join(lines)


def _more_line(n: int, link: str | None = None) -> str:
    if n <= 0:
        return ""
    text = md_escape(f"…and {n} more")
    if link:
        return f"{text} — [{md_escape('read the rest')}]({link})"
    return text + md_escape(" (the email digest lists them; raise max_items to list more)")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def counts_line(digest: Digest) -> str:
    """What the digest holds, each count saying what it counts."""
    n, new = digest.n_items, digest.n_new
    parts = []
    if new or not digest.n_updates:
        text = f"{new} new" + (f", {n} listed" if new != n else "")
        parts.append(text + f" in {_plural(len(digest.sections), 'topic')}")
    if digest.n_folded:
        parts.append(_plural(digest.n_folded, "duplicate report") + " folded")
    if digest.n_updates:
        parts.append(_plural(digest.n_updates, "update") + " to stories already sent")
    return " · ".join(parts)


def render_all(digest: Digest, chat_max_chars: int = CHAT_MAX_CHARS, more_url: str | None = None) -> RenderedDigest:
    return RenderedDigest(render_html(digest), render_text(digest), render_chat(digest, chat_max_chars, more_url))


def subject_for(base: str, digest: Digest) -> str:
    """A one-line subject saying what the digest holds: listed items per topic (headings from
    config, never article text), then how many are new and how many listed.
    "newswatch digest: Japan – Benelux 12, Japan – China 3 · 44 new, 30 listed"."""
    if digest.is_empty:
        return clean_text(f"{base}: nothing new", 150)
    parts = [f"{s.heading} {len(s.items)}" for s in digest.sections]
    shown = ", ".join(parts[:3]) + (f" +{len(parts) - 3} topics" if len(parts) > 3 else "")
    counts = []
    if digest.n_new:
        counts.append(f"{digest.n_new} new" + (f", {digest.n_items} listed" if digest.n_new != digest.n_items else ""))
    if digest.n_updates:
        counts.append(_plural(digest.n_updates, "update"))
    counts = ", ".join(counts)
    return clean_text(f"{base}: {shown} · {counts}" if shown else f"{base}: {counts}", 150)
