"""Finding the terms of every group in a sentence.

All groups of all topics are compiled into one `Matcher`, so an article is scanned once however
many topics there are. Latin-script terms are looked up token by token in dictionaries (exact word,
word + inflection, stem*, *infix*), which costs a few dict lookups per word; CJK terms are plain
substrings (Japanese and Chinese have no spaces), found by one regex alternation per sentence;
`re:` terms are the escape hatch for what the rest cannot say.

Looking up every token costs ~0.5 µs a word, so neither `find` nor the whole-text prefilter
(`present_groups`) does: a regex built from all terms (a trie of their words, see _scan_item) jumps
to the token starts where some term could begin, and only those tokens are looked up. The regex may
stop at more tokens than needed, never at fewer; tests/test_classify_fast.py holds both to the plain
token-by-token path.
"""

from __future__ import annotations

import re
import sys
from array import array
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

from newswatch.classify.text import Sentence, fold, has_cjk, lower_same_length

# endings that inflect a plain word in en/nl/de/fr (plurals, Dutch/German adjective and plural
# forms); only for words of 4+ letters, so "us" never becomes "use"
INFLECTIONS = ("s", "es", "e", "en", "n", "er", "ern", "ers", "ns", "x")
MIN_INFLECT_LEN = 4
TOKEN_CACHE_SIZE = 200_000  # distinct lower-case tokens remembered (~30 MB at most), then start over
MAX_SCANS = 8  # prefilter regexes a matcher compiles (~25 ms each), one per set of groups still missing
_TOKEN_CHARS = r"0-9a-z\u00df-\u00f6\u00f8-\u00ff\u0100-\u024f"  # a token is a run of these in the lower-cased text
_GAP_CHARS = r"\s\-./&'’·"
_TOKEN_RE = re.compile(f"[{_TOKEN_CHARS}]+")
_PHRASE_GAP_RE = re.compile(f"^[{_GAP_CHARS}]{{0,3}}$")  # between the words of a phrase: "r&d", "u.k.", "life-sciences"
_GAP_SCAN = f"[{_GAP_CHARS}]{{0,4}}"  # what _PHRASE_GAP_RE accepts, and a little more ("$" allows a 4th char, "\\n")
_NOT_TOKEN_CHAR = f"[^{_TOKEN_CHARS}]"
_TOKEN_END = f"(?![{_TOKEN_CHARS}])"
_REST_OF_TOKEN = f"[{_TOKEN_CHARS}]*"
_LAZY_TOKEN_CHARS = f"[{_TOKEN_CHARS}]*?"
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
        self._max_words = max((len(t.words) for t in terms if t.kind == "words"), default=1)
        self._groups: dict[str, _GroupInfo] = {}  # for present_groups, built on first use
        self._scans: dict[frozenset[str], _Scan] = {}  # missing groups -> their scan, built on first use
        self._all: tuple[bool, frozenset[str], tuple[str, ...]] | None = None  # fallback, groups, infixes
        self._prechecks: dict[re.Pattern[str], re.Pattern[str] | None] = {}  # `re:` term -> its pre-check

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

    def find(self, sentence: Sentence, script: str | None, scan: bool = True) -> list[Hit]:
        """Every term hit in the sentence: word terms in token order, then CJK, then `re:` terms.

        `scan`: look up only the tokens where the prefilter's scan says a word term could start
        (`_word_starts`), not every token; the same hits in the same order (`scan=False` is the
        plain path, which tests/test_classify_fast.py compares it with).
        """
        hits: list[Hit] = []
        lower, folded, text = sentence.lower, sentence.folded, sentence.text
        starts = self._word_starts(lower) if scan else None
        if starts is None:
            tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN_RE.finditer(lower)]
            for i in range(len(tokens)):
                self._token_hits(tokens, i, lower, folded, text, script, hits)
        else:
            for start in starts:
                self._hits_at(start, lower, folded, text, script, hits)
        if self._cjk_re is not None and has_cjk(text):
            for m in self._cjk_re.finditer(lower):
                for t in self._cjk[m.group()]:
                    if _lang_ok(t, script):
                        hits.append(Hit(t.group, text[m.start() : m.end()], m.start()))
        for t in self._regex:
            if _lang_ok(t, script) and self._regex_hint(t, lower):
                hits.extend(Hit(t.group, text[m.start() : m.end()], m.start()) for m in t.regex.finditer(folded))
        return hits

    def _regex_hint(self, t: CompiledTerm, lower: str) -> bool:
        """False when the `re:` term cannot match: its pre-check (see _regex_precheck) fails."""
        pre = self._prechecks.get(t.regex, False)
        if pre is False:
            pre = self._prechecks[t.regex] = _regex_precheck(t.regex)
        return pre is None or pre.search(lower) is not None

    def _token_hits(self, tokens: list, i: int, lower: str, folded: str, text: str, script: str | None,
                    hits: list[Hit]) -> None:
        """The hits of the terms whose first word is token i."""
        start, end, tok = tokens[i]
        for t in self._candidates(tok, folded[start:end]):
            end = self._match_rest(t, tokens, i, lower, folded)
            if end is not None and _lang_ok(t, script):
                hits.append(Hit(t.group, text[start:end], start))

    def _hits_at(self, start: int, lower: str, folded: str, text: str, script: str | None, hits: list[Hit]) -> None:
        """`_token_hits` for the token that starts at `start`, reading the tokens after it only for
        a phrase."""
        m = _TOKEN_RE.match(lower, start)
        if m is None:
            return
        end0 = m.end()
        tokens = None
        for t in self._candidates(m.group(), folded[start:end0]):
            if len(t.words) == 1:
                end = end0
            else:
                tokens = tokens or self._tokens_from(lower, start)
                end = self._match_rest(t, tokens, 0, lower, folded)
            if end is not None and _lang_ok(t, script):
                hits.append(Hit(t.group, text[start:end], start))

    def _word_starts(self, lower: str) -> list[int] | None:
        """Sorted starts of the tokens where a word term of any group could begin (a superset, as in
        `present_groups`); None when a term is beyond the scan."""
        if self._all is None:
            infos = [self._group_info(g) for g in sorted({t.group for t in self.terms})]
            groups = frozenset(t.group for t in self.terms if t.kind == "words")
            fallback = any(info.fallback for info in infos)
            self._all = (fallback, groups, tuple(sorted({i for info in infos for i in info.infixes})))
        fallback, groups, infixes = self._all
        if fallback:
            return None
        starts: set[int] = set()
        if groups:
            scan = self._scan(groups, groups)
            start = scan.first(lower)
            while start is not None:
                starts.add(start)
                start = scan.next(lower, start)
        for infix in infixes:
            at = lower.find(infix)
            while at >= 0:
                starts.add(_token_start(lower, at))
                at = lower.find(infix, at + 1)
        return sorted(starts)

    def _tokens_from(self, lower: str, start: int) -> list[tuple[int, int, str]]:
        """The tokens from the one at `start` on, as many as `_match_rest` can look at."""
        tokens = []
        for m in _TOKEN_RE.finditer(lower, start):
            tokens.append((m.start(), m.end(), m.group()))
            if len(tokens) == self._max_words:
                break
        return tokens

    def present_groups(self, sentence: Sentence, script: str | None, groups: Iterable[str]) -> set[str]:
        """The groups among `groups` that `find(sentence, script)` reports a hit for, found cheaply.

        For the whole-text prefilter, where most groups are absent. Word terms: rather than looking
        up every token, find the tokens where a term of a group still missing could stand, and
        confirm each with the same token logic as `find`: `*infix*` terms by a substring search for
        the infix, the others by one regex for the token starts where one of them could begin (a
        superset: see _scan_item). When a group is confirmed, the scan goes on from there with the
        regex of the groups still missing, and stops when none is. CJK terms are matched as `find`
        matches them (one alternation over all groups: its matches do not overlap), `re:` terms are
        searched for after a plain pre-check of the letters every match contains.
        """
        lower, folded = sentence.lower, sentence.folded
        wanted = frozenset(groups)
        infos = {g: self._group_info(g) for g in wanted}
        if any(info.fallback for info in infos.values()):  # a term the scan cannot express
            return {h.group for h in self.find(sentence, script, scan=False)} & wanted
        out: set[str] = set()
        if self._cjk_re is not None and any(info.cjk for info in infos.values()) and has_cjk(sentence.text):
            out |= {
                t.group for m in self._cjk_re.finditer(lower) for t in self._cjk[m.group()] if _lang_ok(t, script)
            } & wanted
        missing = frozenset(g for g in wanted - out if infos[g].starts or infos[g].infixes)
        for g in sorted(missing):
            for infix in infos[g].infixes:
                at = lower.find(infix) if g in missing else -1
                while at >= 0:
                    found = self._confirm(missing, _token_start(lower, at), lower, folded, script)
                    if found:
                        out |= found
                        missing -= found
                    at = lower.find(infix, at + 1) if g in missing else -1
        missing = frozenset(g for g in missing if infos[g].starts)
        scan_groups = frozenset(g for g in wanted if infos[g].starts)
        scan = self._scan(missing, scan_groups) if missing else None
        start = scan.first(lower) if scan else None
        while start is not None:
            found = self._confirm(missing, start, lower, folded, script)
            if found:
                out |= found
                missing -= found
                scan = self._scan(missing, scan_groups) if missing else None
            start = scan.next(lower, start) if scan else None  # tokens up to this one are done for every group
        for g in wanted - out:
            if any(
                _lang_ok(t, script) and self._regex_hint(t, lower) and t.regex.search(folded)
                for t in infos[g].regex_terms
            ):
                out.add(g)
        return out

    def _group_info(self, group: str) -> _GroupInfo:
        info = self._groups.get(group)
        if info is None:
            info = self._groups[group] = _GroupInfo.build([t for t in self.terms if t.group == group])
        return info

    def _scan(self, groups: frozenset[str], superset: frozenset[str]) -> _Scan:
        """The scan for these groups; once MAX_SCANS are compiled (some 20 ms each), that of a
        superset of them (it finds more candidates, which confirming sorts out)."""
        scan = self._scans.get(groups)
        if scan is None:
            if len(self._scans) >= MAX_SCANS and groups != superset:
                return self._scan(superset, superset)
            trie = _trie_regex(sorted({item for g in groups for item in self._group_info(g).starts}))
            scan = self._scans[groups] = _Scan(re.compile(trie), re.compile(f"{_NOT_TOKEN_CHAR}{trie}"))
        return scan

    def _confirm(self, groups: frozenset[str], start: int, lower: str, folded: str, script: str | None) -> set[str]:
        """The groups among `groups` that `find` reports a hit of for the token that starts at `start`."""
        hits: list[Hit] = []
        self._hits_at(start, lower, folded, lower, script, hits)
        return {h.group for h in hits} & groups

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


def _token_start(lower: str, at: int) -> int:
    """Start of the token that holds offset `at` (a token character)."""
    while at and _TOKEN_RE.match(lower, at - 1, at) is not None:
        at -= 1
    return at


@dataclass(frozen=True, slots=True)
class _GroupInfo:
    """How `Matcher.present_groups` looks for one group."""

    starts: frozenset[tuple[str, str]]  # word terms found at a token start, as (literal, rest): see _scan_item
    infixes: tuple[str, ...]  # the infix of each `*infix*` word term
    regex_terms: tuple[CompiledTerm, ...]
    cjk: bool
    fallback: bool  # a word term the scan cannot express

    @classmethod
    def build(cls, terms: list[CompiledTerm]) -> _GroupInfo:
        items = [_scan_item(t) for t in terms if t.kind == "words"]
        return cls(
            starts=frozenset(i for i in items if isinstance(i, tuple)),
            infixes=tuple(sorted({i for i in items if isinstance(i, str) and i != _FALLBACK})),
            regex_terms=tuple(t for t in terms if t.kind == "regex"),
            cjk=any(t.kind == "cjk" for t in terms),
            fallback=_FALLBACK in items,
        )


@dataclass(frozen=True, slots=True)
class _Scan:
    """Where a term of some groups could begin: `head` matches at such a token at offset 0, `body`
    at the character before one further on."""

    head: re.Pattern[str]
    body: re.Pattern[str]

    def first(self, lower: str) -> int | None:
        return 0 if self.head.match(lower) is not None else self.next(lower, 0)

    def next(self, lower: str, after: int) -> int | None:
        """The next such token start after `after` (a match may run on over later tokens: the next
        search starts again right after the token start found)."""
        m = self.body.search(lower, after)
        return None if m is None else m.start() + 1


_FALLBACK = "\0fallback"


def _scan_item(t: CompiledTerm) -> tuple[str, str] | str | None:
    """How to find the tokens where `t` matches (and maybe others): for an `*infix*` term its infix
    (every occurrence of it lies in a token); else (literal, rest), a regex split after its leading
    literal that matches at the start of every such token. None when `t` can never match, _FALLBACK
    when this cannot express it."""
    mode, w = t.words[0]
    if t.case and mode == "exact":  # looked up by the folded token, cased: the lower-cased token is w.lower()
        if not w.isascii():
            return _FALLBACK
        w = w.lower()
    if not _TOKEN_RE.fullmatch(w):
        return None  # no token can equal, start with or contain it
    if mode == "infix":
        return w
    words = [(mode, w)]
    if not t.case:  # later words of a cased term are compared cased: the scan only uses the first
        for mode_k, w_k in t.words[1:]:
            if not _TOKEN_RE.fullmatch(w_k):
                break  # (the term never matches; the scan may still stop short)
            words.append((mode_k, w_k))
    rest = ""
    for k, (mode_k, w_k) in enumerate(words):
        if k:
            rest += _GAP_SCAN + (_LAZY_TOKEN_CHARS if mode_k == "infix" else "") + re.escape(w_k)
        if k < len(words) - 1:
            rest += _REST_OF_TOKEN  # the word's ending, up to the gap
        elif mode_k == "exact" and len(w_k) <= 3:
            rest += _TOKEN_END  # short words start many longer ones ("cro" in "cross"); longer ones rarely
    return w, rest


def _trie_regex(items: list[tuple[str, str]]) -> str:
    """One alternation of literal+rest items, with shared leading characters factored out.

    Python's regex engine tries an alternation's branches one by one; as a trie it looks at one
    character per level instead of at every term. Only where a match starts matters (not how far it
    runs), so a node where an item ends with nothing left drops the longer ones.
    """
    root: dict = {}
    for literal, rest in items:
        node = root
        for ch in literal:
            node = node.setdefault(ch, {})
        node.setdefault("", set()).add(rest)
    return _trie_node(root)


def _trie_node(node: dict) -> str:
    rests = node.get("", set())
    if "" in rests:
        return ""
    alts = [re.escape(ch) + _trie_node(child) for ch, child in sorted(node.items()) if ch]
    alts += sorted(rests)
    return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"


def _regex_precheck(regex: re.Pattern[str]) -> re.Pattern[str] | None:
    """A plain pattern over the lower-cased text that matches wherever `regex` matches the folded text.

    The longest run of literal characters at the top level of `regex` (every match contains it),
    each as the class of what it can be in the lower-cased text: with IGNORECASE, the characters
    the regex engine takes for it, lower-cased. None when the regex has no run of 3 literals (or
    cannot be parsed here): then the regex itself is searched for.
    """
    try:
        from re import _parser  # private, hence the guard: without it, no pre-check

        parsed = _parser.parse(regex.pattern, regex.flags)
        literal, flags = _parser.LITERAL, parsed.state.flags
        best: list[int] = []
        run: list[int] = []
        for op, av in [*parsed.data, (None, None)]:
            if op is literal:
                run.append(av)
                continue
            best, run = max(best, run, key=len), []
    except Exception:
        return None
    if len(best) < 3:
        return None
    classes = []
    for code in best:
        ch = chr(code)
        same = _case_variants(ch, flags & (re.IGNORECASE | re.ASCII)) if flags & re.IGNORECASE else frozenset(ch)
        lowered = {c.lower() if len(c.lower()) == 1 else c for c in same} | ({"ς"} if "Σ" in same else set())
        chars = "".join(map(re.escape, sorted(lowered)))
        classes.append(f"[{chars}]" if len(lowered) > 1 else chars)
    return re.compile("".join(classes))


_EVERY_CHAR: list[str] = []  # every code point but the surrogates, built on first use


def _case_variants(ch: str, flags: int) -> frozenset[str]:
    """Every character the regex engine matches with `ch` under these flags (IGNORECASE, maybe ASCII)."""
    key = (ch, flags)
    found = _CASE_VARIANTS.get(key)
    if found is None:
        if not _EVERY_CHAR:
            codes = array("I", chain(range(0xD800), range(0xE000, 0x110000)))
            if codes.itemsize == 4:  # 30 ms instead of 160 for "".join(map(chr, ...))
                _EVERY_CHAR.append(codes.tobytes().decode(f"utf-32-{sys.byteorder[0]}e"))
            else:
                _EVERY_CHAR.append("".join(map(chr, codes)))
        found = frozenset(re.findall(re.escape(ch), _EVERY_CHAR[0], flags)) | {ch}
        _CASE_VARIANTS[key] = found
    return found


_CASE_VARIANTS: dict[tuple[str, int], frozenset[str]] = {}
