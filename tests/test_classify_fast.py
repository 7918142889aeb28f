"""The classifier's fast paths give exactly what the plain ones give.

`Matcher.present_groups` (the whole-text prefilter) must report exactly the groups of the plain
token-by-token `find`, and `find` with its scan the plain hits in the plain order; `fold`,
`detect_script`, `has_cjk`, `is_noise` and the abbreviation check their plain definitions. Checked
on text built from the configured terms with the case, accents, separators, line breaks and odd
characters (İ ı ſ K Σ, fullwidth letters, CJK) that make tokenising hard, and on terms written to
reach every branch of the scan. The real articles are tests/test_classify_prefilter.py's.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newswatch.classify import classify_article, compile_topics
from newswatch.classify.matching import Matcher, _regex_precheck, compile_term
from newswatch.classify.text import (
    _ABBREV_MAX,
    _ABBREV_RE,
    _CJK_RE,
    _HAN_RE,
    _KANA_RE,
    _MAY_FOLD_RE,
    _MENU_SEP_RE,
    _NOISE_RE,
    Sentence,
    _fold_char,
    build_sentences,
    detect_script,
    fold,
    has_cjk,
    is_noise,
    lower_same_length,
)
from newswatch.config import load_config

REPO = Path(__file__).resolve().parents[1]
COMPILED = compile_topics(load_config(REPO / "config").topics)
FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SEPARATORS = [" ", " ", " ", "  ", "-", ".", "&", "/", "'", "’", "·", ",", ", ", "\n", " \n", "   \n", "---\n",
              "\t", "", "(", ")", '"', "“", "”", ". ", "! ", "? ", "。", "、", "\u00a0", ";", ":", " - ", " | ", "_"]
ODD = ["İ", "ı", "ſ", "\u212a", "Σ", "ς", "é", "É", "ü", "Ü", "ß", "ø", "Ø", "æ", "ñ", "ç", "ł", "ō", "ａ", "Ｊ",
       "ＪＡＰＡＮ", "ｊａｐａｎ", "—", "–", "‐", "−", "ʼ", "‘", "日", "本", "中", "国", "の", "が", "ー", "Ⱥ", "ǅ",
       "ﬁ", "１", "7", "0", "2024", "\u0301", "Å", "≠"]
ENDINGS = ["s", "es", "e", "en", "n", "er", "ern", "ers", "ns", "x", "ese", "ish", "a", "ing", "'s", "’s", "ia"]
FILLER = ["the", "and", "of", "in", "de", "la", "van", "said", "new", "co", "i", "u", "a"]


def words_of(compiled_terms) -> list[str]:
    raws = [t.raw for t in compiled_terms]
    return sorted({w for raw in raws for w in re.split(r"[\s*]+", raw) if w} | set(FILLER))


def word(rnd: random.Random, words: list[str]) -> str:
    w = rnd.choice(words)
    case = rnd.choice(["keep", "keep", "upper", "title", "mixed"])
    if case == "upper":
        w = w.upper()
    elif case == "title":
        w = w.capitalize()
    elif case == "mixed":
        w = "".join(c.upper() if rnd.random() < 0.5 else c for c in w)
    if w and rnd.random() < 0.1:  # an odd character inside
        i = rnd.randrange(len(w))
        w = w[:i] + rnd.choice(ODD) + w[i + 1 :]
    if rnd.random() < 0.1:  # fullwidth
        w = "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalpha() else c for c in w)
    if rnd.random() < 0.1:
        w = w.replace("e", "é").replace("a", "à").replace("u", "ü")
    if rnd.random() < 0.25:
        w += rnd.choice(ENDINGS)
    if rnd.random() < 0.1:
        w = rnd.choice(["bio", "x", "anti", "nl", "ja"]) + w
    return w


def article(rnd: random.Random, words: list[str], phrases: list[str]) -> str:
    """Up to 40 pieces: configured terms (their words joined by what a phrase allows, and more),
    words of terms with endings, case changes, accents and odd characters, between separators."""
    out = []
    for _ in range(rnd.randint(0, 40)):
        kind = rnd.randrange(10)
        if kind < 4:
            parts = re.split(r"[\s*]+", rnd.choice(phrases))
            out.append(rnd.choice(SEPARATORS[:13]).join(word(rnd, [p or "x"]) for p in parts))
        elif kind < 8:
            out.append(word(rnd, words))
        else:
            out.append(rnd.choice(ODD))
        out.append(rnd.choice(SEPARATORS))
    return "".join(out)


SEEDS = st.integers(0, 2**32)  # texts are built by `random` from a seed: drawing each piece is slow


CONFIG_PHRASES = sorted(
    {t.raw for t in COMPILED.matcher.terms if not t.raw.startswith("re:")}
    | {"Cambridge", "cambridge, mass", "Cambridge MA", "CAMBRİDGE", "cambrıdge", "cambridge,  massachusetts"}
)
CONFIG_WORDS = words_of(COMPILED.matcher.terms)


def whole_text(text: str) -> Sentence:
    folded = fold(text)
    return Sentence(0, text, folded, lower_same_length(folded), -1)


def assert_same_groups(matcher: Matcher, text: str, scripts=(None, "en", "ja", "zh")) -> None:
    s = whole_text(text)
    groups = {t.group for t in matcher.terms}
    for script in (*scripts, detect_script(text)):
        plain = {h.group for h in matcher.find(s, script, scan=False)}
        assert matcher.present_groups(s, script, groups) == plain, (script, text)


@FAST
@given(SEEDS)
def test_present_groups_is_what_find_reports_for_configured_terms(seed):
    assert_same_groups(COMPILED.matcher, article(random.Random(seed), CONFIG_WORDS, CONFIG_PHRASES))


@FAST
@given(SEEDS, st.sampled_from([None, "en", "ja", "zh", "nl-BE"]))
def test_prefilter_gives_the_decisions_of_the_full_path(seed, lang):
    title, _, body = article(random.Random(seed), CONFIG_WORDS, CONFIG_PHRASES).partition("\n")
    fast = classify_article(COMPILED, title, body, lang, prefilter=True)
    full = classify_article(COMPILED, title, body, lang, prefilter=False)
    for f, g in zip(fast, full, strict=True):
        assert (f.topic, f.score, f.matched, f.terms, f.evidence) == (g.topic, g.score, g.matched, g.terms, g.evidence)


# terms that reach every branch of the scan: phrases with a stem, an infix or an inflected word in
# any place, cased words, words that no token can be, `re:` terms with and without literals
EDGE_TERMS = [
    ("stem", "straße*"), ("stem", "Foo*"), ("stem", "co-operat*"), ("infix", "*bio* tech*"), ("infix", "*farma*"),
    ("infix", "x *mab*"), ("phrase", "the hague"), ("phrase", "r&d"), ("phrase", "u.k."), ("phrase", "life scien*"),
    ("phrase", "ono pharma*"), ("phrase", "round of 16"), ("phrase", "a*b"), ("phrase", "kyowa *kirin*"),
    ("inflect", "japan"), ("inflect", "leuven"), ("inflect", "wallonia"), ("cased", "UK"), ("cased", "IT"),
    ("cased", "BIA group"), ("cased", "Us*"), ("re", r"re:\bcambridge(?!\s*,?\s*(?:mass\b|ma\b))"),
    ("re", r"re:(?i)colou?r"), ("re", r"re:\d{4}\s?[a-z]{2}\b"), ("re", "re:STRASSE"), ("re", "re:kis?ss"),
    ("cjk", "日本"), ("cjk", "日中"), ("cjk", "中国"), ("ja", "日英"), ("short", "eu"), ("short", "i"), ("digits", "16"),
]
EDGE_CASED = {"UK", "IT", "BIA group", "Us*", "re:STRASSE"}
EDGE_LANGS = {"日中": ("ja",), "日英": ("ja",), "eu": ("nl", "ja")}


def edge_matcher(extra=()) -> Matcher:
    terms = [compile_term(group, raw, raw in EDGE_CASED, EDGE_LANGS.get(raw, ())) for group, raw in EDGE_TERMS]
    return Matcher(terms + list(extra))


EDGE_PHRASES = sorted({raw.removeprefix("re:").replace("\\b", "") for _, raw in EDGE_TERMS} | {"cambridge ma", "STRAẞE"})
EDGE_WORDS = words_of([compile_term("x", raw) for _, raw in EDGE_TERMS if not raw.startswith("re:")])
EDGE_MATCHER = edge_matcher()
FALLBACK_MATCHER = edge_matcher([compile_term("cased-accent", "ÉCOLE", case=True)])


@FAST
@given(SEEDS)
def test_find_looks_up_fewer_tokens_for_the_same_hits_in_the_same_order(seed):
    rnd = random.Random(seed)
    for matcher, words, phrases in [(COMPILED.matcher, CONFIG_WORDS, CONFIG_PHRASES),
                                    (EDGE_MATCHER, EDGE_WORDS, EDGE_PHRASES)]:
        text = article(rnd, words, phrases)
        for s in [whole_text(text), *build_sentences(text[:40], text)]:
            for script in (None, "ja"):
                assert matcher.find(s, script) == matcher.find(s, script, scan=False), (script, s.text)


@FAST
@given(SEEDS)
def test_present_groups_is_what_find_reports_for_edge_terms(seed):
    assert_same_groups(EDGE_MATCHER, article(random.Random(seed), EDGE_WORDS, EDGE_PHRASES), scripts=(None, "ja", "nl"))


@FAST
@given(SEEDS)
def test_a_term_the_scan_cannot_express_falls_back_to_find(seed):
    rnd = random.Random(seed)
    text = article(rnd, EDGE_WORDS, EDGE_PHRASES) + rnd.choice(["", " ÉCOLE", "Ecole", " ÉCOLES"])
    assert_same_groups(FALLBACK_MATCHER, text, scripts=(None,))


@pytest.mark.parametrize("text", [
    "Japan   \nBioindustry Association", "Japan\n\n\nbioindustry association", "JAPAN.-&BIOINDUSTRY ASSOCIATION",
    "the  hague", "The   \nHague", "the - \nhague", "the    hague", "the\u00a0hague", "the ·hague", "the --- hague",
    "r & d", "U.K.", "u.k", "Uk and UK", "uK",
    "Cambridge, Mass", "cambrıdge", "CAMBRİDGE", "kambridge", "Straße", "STRASSE", "ſtraße", "\u212ayowa kirin",
    "ｊａｐａｎｅｓｅ", "日中関係", "日中国交", "中日", "co-operation", "cooperation", "x-mab", "x mabs", "biotech",
    "the round of 16", "round of 160", "Us", "US", "USA", "ΣΑΣ japan", "japanıze", "",
])
def test_present_groups_on_hand_picked_texts(text):
    assert_same_groups(COMPILED.matcher, text)
    assert_same_groups(EDGE_MATCHER, text)


@FAST
@given(st.text(st.sampled_from("cambridgeCAMBRIDGEİıſ\u212aK, smMaA\n")))
def test_regex_precheck_finds_every_place_the_regex_matches(text):
    for pattern in (r"\bcambridge(?!\s*,?\s*(?:mass\b|ma\b))", "kiss", "(?i)sim+ba", "CAMBRIDGE"):
        for flags in (re.IGNORECASE, 0, re.IGNORECASE | re.ASCII):
            regex = re.compile(pattern, flags)
            pre = _regex_precheck(regex)
            folded = fold(text)
            if pre is not None and regex.search(folded):
                assert pre.search(lower_same_length(folded)), (pattern, flags, text)


def test_every_character_that_folds_is_in_the_fold_table():
    fold_one = _fold_char.__wrapped__
    missed = [hex(c) for c in range(0x80, 0x110000) if fold_one(chr(c)) != chr(c) and not _MAY_FOLD_RE.match(chr(c))]
    assert missed == []


@FAST
@given(st.lists(st.sampled_from(ODD + SEPARATORS + list("abcXYZ "))).map("".join) | st.text())
def test_fold_is_folding_character_by_character(text):
    assert fold(text) == "".join(map(_fold_char, text))


@FAST
@given(st.lists(st.sampled_from(["日", "本", "中", "の", "が", "ア", "a", " ", "é", "\ud800", "語本"])).map("".join) | st.text())
def test_script_and_cjk_detection_are_their_plain_definitions(text):
    sample = text[:4000]
    han, kana = len(_HAN_RE.findall(sample)), len(_KANA_RE.findall(sample))
    expected = "ja" if kana >= 5 or (kana and kana >= han * 0.05) else "zh" if han >= 20 else "nl"
    assert detect_script(text, "nl-BE") == expected
    assert has_cjk(text) == (_CJK_RE.search(text) is not None)
    assert has_cjk(text * 50) == has_cjk(text)


NOISE = ["cookie", "privacy policy", "privacy statement", "all rights reserved", "©", "copyright", "subscribe",
         "newsletter sign", "tel.: ", "Tel +32", "tel(", "fax", "phone :", "+32 (2", "+3 2", "a@x.be", "@x", "www.",
         "http://", "https://", "2024 AB", "1000BX", "2024 in", "2024 int", "B-1000", "L-1234", "b-12345", "postbus",
         "P.O. box", "po box", "p.o box", "javascript", "sign in", "log in", "プライバシー", "著作権", "お問い合わせ",
         " | ", " - ", " • ", "the", "in", "and"]
TWINS = {"i": "İıI", "s": "ſS", "k": "\u212aK", "0": "０٠", "2": "２٢", " ": "\u00a0\u2003", "-": "‐−–", ".": "．",
         "a": "àA", "o": "öO", "e": "éE", "c": "ç", "b": "B", "l": "L", "p": "P", "x": "X"}


def noise_reference(text: str) -> bool:
    return bool(_NOISE_RE.search(text)) or len(_MENU_SEP_RE.findall(text)) >= 3


def noise_text(rnd: random.Random) -> str:
    out = []
    for _ in range(rnd.randint(0, 8)):
        piece = rnd.choice(NOISE)
        out.append("".join(rnd.choice(TWINS[c]) if c in TWINS and rnd.random() < 0.2 else c for c in piece))
        out.append(rnd.choice([" ", "", ", ", "\n", "1", "x"]))
    return "".join(out)


@FAST
@given(SEEDS)
def test_is_noise_pre_check_never_changes_the_answer(seed):
    text = noise_text(random.Random(seed))
    assert is_noise(text) == noise_reference(text), text


def test_is_noise_pre_check_on_every_twin_of_every_noise_word():
    for piece in NOISE:
        variants = {piece} | {piece.replace(c, twin) for c, twins in TWINS.items() for twin in twins}
        variants |= {piece[:i] + twin + piece[i + 1 :] for i, c in enumerate(piece) for twin in TWINS.get(c, "")}
        for variant in variants:
            for text in (variant, f"x{variant}y", f"1 {variant} 2", variant.upper(), variant.title()):
                assert is_noise(text) == noise_reference(text), text


ABBREV_PIECES = ["U.S.", "u.s.", "Mr.", "xMr.", "Dr.", "approx.", "z.B.", "Sept.", "No.", "e.g.", "A.B.C.", "AB.", "the",
                 "Japan", "word", "1.", "é.", "\n", " ", ".", "Co.", "Inc.", "St."]


@FAST
@given(st.lists(st.sampled_from(ABBREV_PIECES), max_size=8).map("".join))
def test_abbreviations_are_looked_for_in_the_tail_only(piece):
    from re import _parser

    assert _parser.parse(_ABBREV_RE.pattern).getwidth()[1] + 1 <= _ABBREV_MAX  # + the "\n" that $ allows
    tail = max(0, len(piece) - _ABBREV_MAX)
    assert bool(_ABBREV_RE.search(piece)) == bool(_ABBREV_RE.search(piece, tail)), piece
