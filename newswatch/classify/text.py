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
# the non-ASCII characters that `_fold_char` may change: accented Latin letters, dashes, quotes,
# fullwidth ASCII and a few symbols (tests/test_classify_fast.py checks every code point)
_MAY_FOLD_RE = re.compile(r"[\u00c0-\u024f\u02bc\u1e00-\u1eff\u2010-\u2019\u212b\u2212\u2260\u226e\u226f\uff01-\uff5e]")
# splits after . ! ? (followed by space) and after CJK full stops (no space needed), and at line ends
_SPLIT_RE = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+|(?<=[。！？])\s*|\s*\n\s*")
_ABBREV_RE = re.compile(r"(?:\b(?:[A-Za-z]\.){1,3}|\b(?:Mr|Mrs|Ms|Dr|Prof|St|No|Co|Inc|Ltd|Corp|vs|etc|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Gov|Sen|Rep|Dept|approx|ca|bzw|z\.B|Nr)\.)$")
_ABBREV_MAX = 9  # its matches end the piece and are 7 characters at most ("approx."), 8 with a final "\n":
# searching only the tail is the same search (\b still sees the character before the tail)
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
# necessary for a _NOISE_RE match, and ten times faster (no IGNORECASE): in the folded lower-cased
# sentence, a piece of every alternative, each letter as it can stand there (IGNORECASE also takes
# İ and ı for "i", ſ for "s", the Kelvin sign for "k"; folding and lower-casing leave ı and ſ)
_NOISE_HINT_RES = (
    re.compile(
        r"cook[iı]e|pr[iı]vacy |all r[iı]ght|©|copyr[iı]ght|ub[sſ]cr[iı]be|new[sſ]letter|tel\.?\s*[:+(]|fax|"
        r"phone\s*:|\+\d\d[\s(]\d|@|www\.|http[sſ]?://|-\d{4}|po[sſ]tbu[sſ]|p\.?o\.? box|java[sſ]cr[iı]pt|"
        r"gn [iı]n|log [iı]n|プライバシー|著作権|お問い合わせ"
    ),
    re.compile(r"\d{4}\s?[a-zıſ]{2}"),  # the \b\d{4}\s?[A-Z]{2}\b of postcodes
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


def _non_ascii(text: str) -> str:
    """The non-ASCII characters of `text`, in order: UTF-8 keeps every byte of them >= 0x80, so
    dropping the ASCII bytes is one C-speed pass (a regex would test every character)."""
    return text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass")


_ASCII_BYTES = bytes(range(128))


def fold(text: str) -> str:
    """Remove accents (é→e, ü→u), map fullwidth letters to ASCII; length is preserved.

    Each distinct non-ASCII character is folded once and replaced everywhere: an article has a
    dozen of them (quotes, dashes, accented letters), so this is a few C-speed passes instead of a
    Python call per character. Replacements are ASCII, so one never feeds another.
    """
    if text.isascii():
        return text
    for ch in set(_MAY_FOLD_RE.findall(_non_ascii(text))):
        base = _fold_char(ch)
        if base != ch:
            text = text.replace(ch, base)
    return text


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
    sample = "" if text.isascii() else _non_ascii(text[:4000])  # (kana and Han are not ASCII)
    han = len(_HAN_RE.findall(sample))
    kana = len(_KANA_RE.findall(sample))
    if kana >= 5 or (kana and kana >= han * 0.05):
        return "ja"
    if han >= 20:
        return "zh"
    return (lang or "").split("-")[0].lower() or None


def has_cjk(text: str) -> bool:
    return not text.isascii() and _CJK_RE.search(_non_ascii(text) if len(text) > 200 else text) is not None


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
        if "\n" not in m.group(0) and _ABBREV_RE.search(piece, max(0, len(piece) - _ABBREV_MAX)):
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


def is_noise(sentence: str, lower: str | None = None) -> bool:
    """Addresses, cookie banners, copyright lines and menus: places where a country is no story.

    `lower`: the sentence folded and lower-cased (lower_same_length(fold(sentence))), if at hand.
    """
    if lower is None:
        lower = lower_same_length(fold(sentence))
    if any(hint.search(lower) for hint in _NOISE_HINT_RES) and _NOISE_RE.search(sentence):
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
        low = lower_same_length(f)
        out.append(
            Sentence(
                len(out), s, f, low, offset, body_index=len(out) - int(has_title),
                is_noise=is_noise(s, low), is_sidebar=sidebar, is_list=is_enumeration(s),
            )
        )
    return out
