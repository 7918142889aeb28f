"""Finding the terms of every group in a sentence.

All groups of all topics are compiled into one `Matcher`, so an article is scanned once however
many topics there are. Latin-script terms are looked up token by token in dictionaries (exact word,
word + inflection, stem*, *infix*), which costs a few dict lookups per word; CJK terms are plain
substrings (Japanese and Chinese have no spaces), found by one regex alternation per sentence;
`re:` terms are the escape hatch for what the rest cannot say.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from newswatch.classify.text import Sentence, fold, has_cjk, lower_same_length

# endings that inflect a plain word in en/nl/de/fr (plurals, Dutch/German adjective and plural
# forms); only for words of 4+ letters, so "us" never becomes "use"
INFLECTIONS = ("s", "es", "e", "en", "n", "er", "ern", "ers", "ns", "x")
MIN_INFLECT_LEN = 4
TOKEN_CACHE_SIZE = 200_000  # distinct lower-case tokens remembered (~30 MB at most), then start over
_TOKEN_RE = re.compile(r"[0-9a-z\u00df-\u00f6\u00f8-\u00ff\u0100-\u024f]+")
_PHRASE_GAP_RE = re.compile(r"^[\s\-./&'’·]{0,3}$")  # between the words of a phrase: "r&d", "u.k.", "life-sciences"
_WORD_SPLIT_RE = re.compile(r"[^0-9A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f*]+")


@dataclass(frozen=True, slots=True)
class CompiledTerm:
    group: str
    raw: str
    kind: str  # words | cjk | regex
    words: tuple[tuple[str, str], ...] = ()  # (mode, text); mode: exact | inflect | prefix | infix
    case: bool = False
    langs: frozenset[str] = frozenset()
    regex: re.Pattern[str] | None = None


def compile_term(group: str, raw: str, case: bool = False, langs: tuple[str, ...] = ()) -> CompiledTerm:
    langset = frozenset(lang.lower() for lang in langs)
    if raw.startswith("re:"):
        flags = 0 if case else re.IGNORECASE
        return CompiledTerm(group, raw, "regex", case=case, langs=langset, regex=re.compile(raw[3:], flags))
    if has_cjk(raw):
        return CompiledTerm(group, raw, "cjk", case=case, langs=langset)
    text = fold(raw.strip())
    text = text if case else lower_same_length(text)
    parts = [p for p in _WORD_SPLIT_RE.split(text) if p.strip("*")]
    words = tuple(_word_mode(p, case) for p in parts)
    return CompiledTerm(group, raw, "words", words=words, case=case, langs=langset)


def _word_mode(part: str, case: bool) -> tuple[str, str]:
    lead, trail = part.startswith("*"), part.endswith("*")
    core = part.strip("*")
    if lead:
        return ("infix", core)
    if trail:
        return ("prefix", core)
    if not case and len(core) >= MIN_INFLECT_LEN and core.isalpha():
        return ("inflect", core)
    return ("exact", core)


def _word_matches(mode: str, w: str, tok: str) -> bool:
    if mode == "exact":
        return tok == w
    if mode == "inflect":
        return tok == w or (tok.startswith(w) and tok[len(w) :] in INFLECTIONS)
    if mode == "prefix":
        return tok.startswith(w)
    return w in tok


@dataclass(frozen=True, slots=True)
class Hit:
    group: str
    surface: str  # as written in the article
    start: int  # offset in the sentence


class Matcher:
    """Every group's terms, indexed for one pass over a sentence."""

    def __init__(self, terms: list[CompiledTerm]) -> None:
        self.terms = terms
        self._exact: dict[str, list[CompiledTerm]] = defaultdict(list)
        self._case_exact: dict[str, list[CompiledTerm]] = defaultdict(list)
        self._prefix: dict[int, dict[str, list[CompiledTerm]]] = defaultdict(lambda: defaultdict(list))
        self._infix: list[CompiledTerm] = []
        self._cjk: dict[str, list[CompiledTerm]] = defaultdict(list)
        self._regex: list[CompiledTerm] = []
        self._cache: dict[str, list[CompiledTerm]] = {}  # token -> candidate terms; words repeat a lot
        for t in terms:
            self._index(t)
        self._prefix = {k: dict(v) for k, v in self._prefix.items()}
        cjk = sorted(self._cjk, key=len, reverse=True)  # longest first: 日本人 before 日本
        self._cjk_re = re.compile("|".join(map(re.escape, cjk))) if cjk else None

    def _index(self, t: CompiledTerm) -> None:
        if t.kind == "regex":
            self._regex.append(t)
        elif t.kind == "cjk":
            self._cjk[t.raw if t.case else t.raw.lower()].append(t)
        else:
            mode, w = t.words[0]
            if mode == "infix":
                self._infix.append(t)
            elif mode == "prefix":
                self._prefix[len(w)][w].append(t)
            elif t.case:
                self._case_exact[w].append(t)
            else:
                self._exact[w].append(t)

    def find(self, sentence: Sentence, script: str | None) -> list[Hit]:
        hits: list[Hit] = []
        lower, folded, text = sentence.lower, sentence.folded, sentence.text
        tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN_RE.finditer(lower)]
        for i, (start, _end, tok) in enumerate(tokens):
            for t in self._candidates(tok, folded[start:_end]):
                end = self._match_rest(t, tokens, i, lower, folded)
                if end is not None and _lang_ok(t, script):
                    hits.append(Hit(t.group, text[start:end], start))
        if self._cjk_re is not None and has_cjk(text):
            for m in self._cjk_re.finditer(lower):
                for t in self._cjk[m.group()]:
                    if _lang_ok(t, script):
                        hits.append(Hit(t.group, text[m.start() : m.end()], m.start()))
        for t in self._regex:
            if _lang_ok(t, script):
                hits.extend(Hit(t.group, text[m.start() : m.end()], m.start()) for m in t.regex.finditer(folded))
        return hits

    def _candidates(self, tok: str, cased: str) -> list[CompiledTerm]:
        found = self._cache.get(tok)
        if found is None:
            if len(self._cache) > TOKEN_CACHE_SIZE:
                self._cache.clear()
            found = self._cache[tok] = self._lookup(tok)
        case = self._case_exact.get(cased)
        return found + case if case else found

    def _lookup(self, tok: str) -> list[CompiledTerm]:
        out = list(self._exact.get(tok, ()))
        for suffix in INFLECTIONS:
            if tok.endswith(suffix) and len(tok) - len(suffix) >= MIN_INFLECT_LEN:
                out += [t for t in self._exact.get(tok[: -len(suffix)], ()) if t.words[0][0] == "inflect"]
        for length, table in self._prefix.items():
            if len(tok) >= length:
                out += table.get(tok[:length], ())
        out += [t for t in self._infix if t.words[0][1] in tok]
        return out

    @staticmethod
    def _match_rest(t: CompiledTerm, tokens: list, i: int, lower: str, folded: str) -> int | None:
        """End offset when the term's remaining words follow token i, else None."""
        end = tokens[i][1]
        for k, (mode, w) in enumerate(t.words[1:], start=1):
            if i + k >= len(tokens):
                return None
            start, nxt_end, tok = tokens[i + k]
            if not _PHRASE_GAP_RE.match(lower[end:start]):
                return None
            if not _word_matches(mode, w, folded[start:nxt_end] if t.case else tok):
                return None
            end = nxt_end
        return end


def _lang_ok(t: CompiledTerm, script: str | None) -> bool:
    return not t.langs or (script is not None and script in t.langs)
