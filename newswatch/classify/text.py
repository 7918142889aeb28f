"""Text normalisation and sentence splitting for the classifier.

Folding keeps every character at its offset (one character in, one out), so a match found in the
folded text is cut from the original text unchanged: explanations quote the article as written.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

MAX_SENTENCE_CHARS = 320  # longer runs (menus, JSON, unpunctuated pages) are cut: "same sentence" must stay close
_KANA_RE = re.compile(r"[\u3040-\u30ff]")
_HAN_RE = re.compile(r"[\u4e00-\u9fff]")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
# splits after . ! ? (followed by space) and after CJK full stops (no space needed), and at line ends
_SPLIT_RE = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+|(?<=[。！？])\s*|\s*\n\s*")
_ABBREV_RE = re.compile(r"(?:\b(?:[A-Za-z]\.){1,3}|\b(?:Mr|Mrs|Ms|Dr|Prof|St|No|Co|Inc|Ltd|Corp|vs|etc|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Gov|Sen|Rep|Dept|approx|ca|bzw|z\.B|Nr)\.)$")
_SIDEBAR_RE = re.compile(
    r"^\W*(related( articles| news| posts| stories)?|read (more|also|next)|more (news|stories)|see also|"
    r"you (may|might) also like|recommended|popular|most read|latest( news)?|tags?|tagged with|"
    r"lees ook|meer nieuws|gerelateerd|lire aussi|à lire aussi|a lire aussi|sur le même sujet|"
    r"weitere artikel|mehr zum thema|das könnte sie auch interessieren|関連記事|関連ニュース|おすすめ|"
    r"【関連記事】|【続き】)\W*$",
    re.IGNORECASE,
)
_NOISE_RE = re.compile(
    r"(cookie|privacy (policy|statement)|all rights reserved|©|copyright|\bsubscribe\b|newsletter sign|"
    r"\btel\.?\s*[:+(]|\bfax\b|\bphone\s*:|\+\d{2}[\s(]\d|@[\w-]+\.\w|\bwww\.|https?://|"
    r"\b\d{4}\s?[A-Z]{2}\b|\b[BL]-\d{4}\b|postbus|\bp\.?o\.? box|javascript|sign in|log in|"
    r"プライバシー|著作権|お問い合わせ)",
    re.IGNORECASE,
)
_MENU_SEP_RE = re.compile(r"\s[|•·»>]\s|\s\|\s?|\s-\s")
_WORDY_RE = re.compile(r"[^\W\d_]")  # a sentence has at least one letter (drops ". . ." and "15")
_EDITOR_TITLE_RE = re.compile(r"^\s*\[[^\]]*\]\s*$")


@dataclass(frozen=True, slots=True)
class Sentence:
    index: int  # 0 is the title (when there is one), then body sentences in order
    text: str  # original text
    folded: str  # same length as text: accents removed, case kept
    lower: str  # same length as text: folded and lower-cased
    start: int  # offset in the body (-1 for the title)
    is_title: bool = False
    body_index: int = -1  # position among body sentences
    is_noise: bool = False  # address, cookie banner, menu line
    is_sidebar: bool = False  # after a "related articles" marker
    is_list: bool = False  # an enumeration: "A/B, C/D, E/F and G/H"


@lru_cache(maxsize=65536)
def _fold_char(ch: str) -> str:
    """One character to one character: strip accents, fullwidth to ASCII, else keep."""
    if ch.isascii():
        return ch
    code = ord(ch)
    if 0xFF01 <= code <= 0xFF5E:  # fullwidth ASCII (ＪＣＲ) as written in Japanese text
        return chr(code - 0xFEE0)
    if ch in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212":
        return "-"
    if ch in "\u2018\u2019\u02bc":
        return "'"
    decomposed = unicodedata.normalize("NFD", ch)
    base = decomposed[0]
    if len(decomposed) > 1 and all(unicodedata.combining(c) for c in decomposed[1:]) and base.isascii():
        return base
    return ch


def fold(text: str) -> str:
    """Remove accents (é→e, ü→u), map fullwidth letters to ASCII; length is preserved."""
    if text.isascii():
        return text
    return "".join(map(_fold_char, text))


def lower_same_length(text: str) -> str:
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)  # İ → i̇ would shift offsets


def detect_script(text: str, lang: str | None = None) -> str | None:
    """'ja' when the text has kana, 'zh' for Han characters without kana, else the given lang.

    Japanese always writes kana (particles, okurigana); Chinese never does. So a page full of 日本 and
    中国 without a single kana is Chinese, whatever its metadata says.
    """
    sample = text[:4000]
    han = len(_HAN_RE.findall(sample))
    kana = len(_KANA_RE.findall(sample))
    if kana >= 5 or (kana and kana >= han * 0.05):
        return "ja"
    if han >= 20:
        return "zh"
    return (lang or "").split("-")[0].lower() or None


def has_cjk(text: str) -> bool:
    return _CJK_RE.search(text) is not None


def is_editor_title(title: str | None) -> bool:
    """A title wholly in [square brackets] is an editor's description, not page text."""
    return bool(title and _EDITOR_TITLE_RE.match(title))


def unwrap_lines(text: str) -> str:
    """Join hard-wrapped lines (same length out): a line break inside a sentence is a space.

    A break is kept after terminal punctuation and before a blank line; it is removed when the next
    line starts in lower case, or everywhere when most lines are 40-100 characters long and end
    mid-sentence (a text wrapped at a fixed width, as old archives and e-mails are).
    """
    lines = text.split("\n")
    if len(lines) < 3:
        return text
    body = [ln.rstrip() for ln in lines if ln.strip()]
    wrapped = sum(40 <= len(ln) <= 100 and ln[-1] not in _TERMINAL for ln in body)
    hard_wrapped = len(body) >= 6 and wrapped >= 0.5 * len(body)
    out = []
    for i, ln in enumerate(lines[:-1]):
        nxt = lines[i + 1].lstrip()
        ends_open = bool(ln.strip()) and ln.rstrip()[-1] not in _TERMINAL
        join = ends_open and bool(nxt) and (hard_wrapped or nxt[0].islower())
        out.append(ln + (" " if join else "\n"))
    out.append(lines[-1])
    return "".join(out)


_TERMINAL = set(".!?:;。！？」』\"”)]|")


def split_sentences(text: str) -> list[tuple[int, str]]:
    """(offset, sentence) pairs; splits after . ! ? 。 and at line ends, never after an abbreviation."""
    text = unwrap_lines(text)
    out: list[tuple[int, str]] = []
    start = 0
    pending_start = None
    for m in _SPLIT_RE.finditer(text):
        chunk_start = start if pending_start is None else pending_start
        piece = text[chunk_start : m.start()]
        start = m.end()
        if "\n" not in m.group(0) and _ABBREV_RE.search(piece):
            pending_start = chunk_start  # "U.S. and Japan": keep going
            continue
        pending_start = None
        out.extend(_cut_long(chunk_start, piece))
    tail_start = start if pending_start is None else pending_start
    out.extend(_cut_long(tail_start, text[tail_start:]))
    return [(o, s) for o, s in out if _WORDY_RE.search(s)]


def _cut_long(offset: int, piece: str) -> list[tuple[int, str]]:
    if len(piece) <= MAX_SENTENCE_CHARS:
        return [(offset, piece)]
    out = []
    while len(piece) > MAX_SENTENCE_CHARS:
        cut = max(piece.rfind(sep, 0, MAX_SENTENCE_CHARS) for sep in (", ", "; ", " ", "、"))
        cut = cut + 1 if cut > MAX_SENTENCE_CHARS // 3 else MAX_SENTENCE_CHARS
        out.append((offset, piece[:cut]))
        offset, piece = offset + cut, piece[cut:]
    out.append((offset, piece))
    return out


def is_noise(sentence: str) -> bool:
    """Addresses, cookie banners, copyright lines and menus: places where a country is no story."""
    if _NOISE_RE.search(sentence):
        return True
    return len(_MENU_SEP_RE.findall(sentence)) >= 3


_ENUM_SEP_RE = re.compile(r"[,;/|•、]")


def is_enumeration(sentence: str) -> bool:
    """Many short comma/slash-separated items: a roundup of deals or a list of countries."""
    seps = len(_ENUM_SEP_RE.findall(sentence))
    return seps >= 4 and len(sentence) / (seps + 1) < 30


def build_sentences(title: str | None, text: str) -> list[Sentence]:
    out: list[Sentence] = []
    if title and title.strip() and not is_editor_title(title):
        t = title.strip()
        f = fold(t)
        out.append(Sentence(0, t, f, lower_same_length(f), -1, is_title=True))
    sidebar = False
    has_title = bool(out)
    seen = {" ".join(out[0].text.split())} if out else set()
    for offset, s in split_sentences(text or ""):
        stripped = s.strip()
        key = " ".join(stripped.split())
        if key in seen:
            continue  # pages repeat their headline as the first line, and pull quotes: count them once
        seen.add(key)
        if _SIDEBAR_RE.match(stripped):
            sidebar = True
        f = fold(s)
        out.append(
            Sentence(
                len(out), s, f, lower_same_length(f), offset, body_index=len(out) - int(has_title),
                is_noise=is_noise(s), is_sidebar=sidebar, is_list=is_enumeration(s),
            )
        )
    return out
