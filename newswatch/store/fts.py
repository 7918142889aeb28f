"""Full-text search over articles with DuckDB's fts extension, loaded from an installed package.

The extension comes from the pinned `duckdb-extension-fts` wheel and is loaded by file path; a
connection that searches never downloads anything (`autoinstall_known_extensions` is switched
off first, so a missing file is a clear error instead of a network call).

The fts index does not follow inserts, and a rebuild is whole (it grows with the store), so
search is "index + tail" with one scorer: the index supplies the token counts of the articles
it covers that have not changed since; the tail (every other article: added or changed since the
build, all of them when there is no index) is tokenised at query time by the same expression and
stemmer; BM25 runs over both with the statistics of all articles (see _BM25). The answer (hits,
scores, order) is therefore the same whatever the index state; the index only makes it cheaper.
`should_rebuild` decides when an ingest rebuilds (the tail grew past `search_tail_max`, or an
index exists and its build is older than `search_reindex_minutes`), and `newswatch search
--reindex` rebuilds on demand. Scripts without spaces (Japanese, Chinese, Korean) are not
tokenised: their characters are separators, and a query containing them is answered by a
substring (`ilike`) match over every article, newest first, without a score.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from newswatch.store.db import transaction

FTS_VERSION = "v1.5.5"  # must equal duckdb's version: extension files load into that exact build
# Index letters and digits of any script, accents stripped; CJK characters are separators because
# a run of them has no word boundaries (it would become one useless sentence-long token).
_IGNORE = r"(\\.|[^\p{L}\p{N}]|[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}])+"
# porter: most of our sources are English; on German/French words it only trims endings.
# stopwords 'none': the built-in list is English-only and would drop e.g. "die" (German "the"
# but English "die") inconsistently; BM25's IDF already makes frequent words count for little.
_CREATE_INDEX = (
    "pragma create_fts_index('articles', 'article_id', 'title', 'text', stemmer = 'porter', "
    f"stopwords = 'none', ignore = '{_IGNORE}', strip_accents = 1, lower = 1, overwrite = 1)"
)
# Kana, CJK ideographs, Hangul, halfwidth katakana: the same ranges in Python and in SQL (RE2).
_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF),
               (0xFF66, 0xFF9F))
_CJK_RE = re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in _CJK_RANGES) + "]")
_CJK_SQL = "[" + "".join(f"\\x{{{a:04x}}}-\\x{{{b:04x}}}" for a, b in _CJK_RANGES) + "]"

# One tokeniser for the index, the tail and the query: the expression the fts extension generates
# as `fts_main_articles.tokenize` (tests/test_search_tail.py checks that they agree token for token).
def _tokens_sql(expr: str) -> str:
    return (f"string_split_regex(regexp_replace(lower(strip_accents(cast({expr} as varchar))), '{_IGNORE}', ' ', 'g'),"
            " '\\s+')")


def _article_words_sql(alias: str) -> str:
    """An article's words, title then text, each field tokenised on its own as the index does (one
    pass over `title || ' ' || text` would save a regex compile, ~10 ms a search, but a NUL in the
    title makes strip_accents drop the rest of the string: the property test found it)."""
    title, text = _tokens_sql(f"{alias}.title"), _tokens_sql(f"{alias}.text")
    return f"list_filter(list_concat(coalesce({title}, []), coalesce({text}, [])), lambda w: w <> '')"


_K1, _B = 1.2, 0.75  # the fts extension's BM25 defaults (match_bm25's k and b)
# BM25 over every article, whatever the index state. The index (if any) is a cache of the token
# counts of the articles it covers and that have not changed since (`indexed`); every other article
# (the tail: added or changed since the build, or all of them when there is no index) is tokenised
# here, at query time, by the same expression and stemmer. The statistics BM25 needs (number of
# articles, average length, document frequency of each query term) are computed over both parts
# together, so a score does not depend on where the cut lies: the same integers go into the same
# formula, and the sum over query terms runs in term order. Hence the same hits, scores and order
# before and after a rebuild (tests/test_search_tail.py, a property test). The price: each search
# tokenises the tail (docs/operations.md has the numbers); ingest keeps it short (should_rebuild).
# Terms are conjunctive (an article must contain every query stem), like `conjunctive := 1`; empty
# tokens (a query starting with punctuation) are dropped, which match_bm25 does not do.
_INDEXED = """
indexed as (
    select d.docid, d.name as article_id, d.len
    from fts_main_articles.docs as d join articles as a on a.article_id = d.name
    where a.updated_at <= (select last_updated_at from search_index order by built_at desc limit 1)
),
indexed_hits as (
    select i.article_id, dict.term, count(*) as tf
    from fts_main_articles.dict as dict
    join fts_main_articles.terms as t on t.termid = dict.termid
    join indexed as i on i.docid = t.docid
    where dict.term in (select term from q_terms)
    group by i.article_id, dict.term
),"""
_NOT_INDEXED = """
indexed as (select null::bigint as docid, null::varchar as article_id, null::bigint as len where false),
indexed_hits as (select null::varchar as article_id, null::varchar as term, null::bigint as tf where false),"""
_BM25 = f"""
with
q_terms as (
    select distinct stem(t, 'porter') as term
    from (select unnest({_tokens_sql('{q}')}) as t)
    where t <> '' and not regexp_matches({{q}}, '{_CJK_SQL}')
),
{{indexed}}
q_list as (select coalesce(list(term), []) as terms from q_terms),
tail as materialized (
    select a.article_id, {_article_words_sql('a')} as words
    from articles as a
    where not exists (select 1 from indexed as i where i.article_id = a.article_id)
),
tail_len as (select article_id, len(words) as len from tail),
tail_hits as (
    select article_id, term, count(*) as tf from (
        select tail.article_id, unnest(list_filter(list_transform(tail.words, lambda w: stem(w, 'porter')),
                                                   lambda t: list_contains(q_list.terms, t))) as term
        from tail cross join q_list
        where len(q_list.terms) > 0
    ) group by article_id, term
),
stats as (
    select n, total_len::double / n as avgdl from (
        select (select count(*) from indexed) + (select count(*) from tail_len) as n,
               coalesce((select sum(len) from indexed), 0) + coalesce((select sum(len) from tail_len), 0) as total_len
    ) where n > 0
),
hits as (select * from indexed_hits union all select * from tail_hits),
df as (select term, count(*) as df from hits group by term),
matched as (
    select article_id from hits group by article_id
    having count(distinct term) = (select count(*) from q_terms)
),
lens as (select article_id, len from indexed union all select article_id, len from tail_len),
scored as (
    select h.article_id,
           list_sum(list(log(((s.n - df.df) + 0.5) / (df.df + 0.5) + 1)
                         * ((h.tf * ({_K1} + 1)) / (h.tf + {_K1} * ((1 - {_B}) + {_B} * (l.len / s.avgdl))))
                         order by h.term)) as score
    from hits as h
    join matched using (article_id)
    join df using (term)
    join lens as l using (article_id)
    cross join stats as s
    group by h.article_id
)
select a.article_id, scored.score, a.sort_at, a.source, a.lang, a.title, a.url
from scored join articles_latest as a using (article_id)
"""
_ORDER = " order by score desc, sort_at desc, article_id"
# CJK queries: every word as a substring of title or text, over every article, newest first.
_ESCAPED_WORD = r"'%' || replace(replace(replace(w, '\', '\\'), '%', '\%'), '_', '\_') || '%'"
_CJK_MATCH = f"""
select a.article_id, null::double as score, a.sort_at, a.source, a.lang, a.title, a.url
from articles_latest as a
where regexp_matches(q, '{_CJK_SQL}')
  and list_bool_and(list_transform(string_split_regex(trim(q), '\\s+'), lambda w:
        ilike_escape(coalesce(a.title, ''), {_ESCAPED_WORD}, '\\')
        or ilike_escape(a.text, {_ESCAPED_WORD}, '\\')))
"""
# The analysts' macro: `select * from search_articles('lng tanker')`, the same answer as `newswatch
# search` (without its limit). DuckDB binds the fts schema's tables when the macro is created, so
# `rebuild_search_index` re-creates it; before the first build it is the variant without an index.
_MACRO = """
create or replace macro search_articles(q) as table
select * from ({ranked}) union all select * from ({cjk})
order by score desc nulls last, sort_at desc, article_id
"""
_LAST_BUILD = "select last_updated_at, built_at from search_index order by built_at desc limit 1"


class SearchUnavailable(RuntimeError):
    """The fts extension file is missing."""


@dataclass(frozen=True, slots=True)
class IndexState:
    articles: int  # rows in articles now
    indexed: int  # rows the index covers (0 when never built)
    built_at: datetime | None
    is_stale: bool
    tail: int  # articles added or changed since the build (all when never built): tokenised per search


@dataclass(frozen=True, slots=True)
class SearchHit:
    article_id: str
    score: float | None  # BM25 over all articles; None for a substring match (any hit of a CJK query)
    sort_at: datetime | None
    source: str
    lang: str | None
    title: str | None
    url: str


def extension_path() -> Path:
    """The fts extension file inside the installed duckdb-extension-fts package."""
    try:
        import duckdb_extension_fts
    except ImportError:
        raise SearchUnavailable("duckdb-extension-fts is not installed (fix: pip install -e .)") from None
    root = Path(duckdb_extension_fts.__file__).parent / "extensions"
    exact = root / FTS_VERSION / "fts.duckdb_extension"
    found = [exact] if exact.exists() else sorted(root.glob("*/fts.duckdb_extension"))
    if not found:
        raise SearchUnavailable(f"{root}: no fts.duckdb_extension file (fix: reinstall duckdb-extension-fts)")
    return found[0]


def load_fts(conn: duckdb.DuckDBPyConnection) -> None:
    """Load the extension by path; never let DuckDB fetch one from the network."""
    conn.execute("set autoinstall_known_extensions = false")
    conn.execute(f"load '{extension_path()}'")


def _last_build(conn: duckdb.DuckDBPyConnection) -> tuple[datetime | None, datetime] | None:
    """(last_updated_at, built_at) of the last build, or None when there is no index."""
    try:
        return conn.execute(_LAST_BUILD).fetchone()
    except duckdb.CatalogException:  # a read-only connection to a file not migrated to 0004 yet
        return None


def index_state(conn: duckdb.DuckDBPyConnection) -> IndexState:
    try:
        row = conn.execute(
            "select n_articles, last_updated_at, built_at from search_index order by built_at desc limit 1"
        ).fetchone()
    except duckdb.CatalogException:  # a read-only connection to a file not migrated to 0004 yet
        row = None
    cutoff = row[1] if row else None
    n, last, tail = conn.execute(
        "select count(*), max(updated_at), count(*) filter (where ?::timestamptz is null or updated_at > ?)"
        " from articles", [cutoff, cutoff]
    ).fetchone()
    if row is None:
        return IndexState(n, 0, None, is_stale=n > 0, tail=n)
    indexed, indexed_last, built_at = row
    stale = indexed != n or (last is not None and (indexed_last is None or last > indexed_last))
    return IndexState(n, indexed, built_at, stale, tail)


def rebuild_search_index(conn: duckdb.DuckDBPyConnection) -> int:
    """(Re)build the fts index over all articles and the `search_articles` macro; returns rows.

    Idempotent: the index is replaced as a whole (overwrite = 1), and `search_index` keeps one
    row per build. About a second per 1,000 real articles on 2 cores (2,000 corpus pages:
    1.95 s wall, 3.6 s CPU).
    """
    load_fts(conn)
    with transaction(conn):
        conn.execute(_CREATE_INDEX)
        n, last = conn.execute("select count(*), max(updated_at) from articles").fetchone()
        conn.execute("delete from search_index")  # only the latest build matters
        conn.execute(
            "insert into search_index (built_at, n_articles, last_updated_at) values (now(), ?, ?)", [n, last]
        )
        _write_macro(conn, indexed=True, force=True)  # binds the new index's fts schema
    return n


def should_rebuild(state: IndexState, tail_max: int, reindex_minutes: float, now: datetime | None = None,
                   dialect: str | None = None) -> bool:
    """Whether an ingest should rebuild the index (a whole rebuild, over every article).

    Yes when the tail (tokenised again by every search) is longer than `tail_max`, or when an
    index exists, the tail is not empty and the build is at least `reindex_minutes` old. A store
    without an index and a short tail is tokenised whole by each search (same answers). Never in
    DuckLake mode: fts cannot index a lake table (docs/scaling.md).
    """
    if dialect == "ducklake":
        return False
    if state.tail > tail_max:
        return True
    if state.built_at is None or state.tail == 0:
        return False
    age_s = ((now or datetime.now(timezone.utc)) - state.built_at).total_seconds()
    return age_s >= reindex_minutes * 60


def ensure_search_macro(conn: duckdb.DuckDBPyConnection) -> bool:
    """Create the analysts' `search_articles` macro when it is missing or not the one this code
    writes (index + tail, or the tail-only one before the first build); True when it
    (re)created it. The macro's checksum is recorded in `search_macro`: reading DuckDB's function
    catalog instead costs ~13 ms, on every ingest."""
    if getattr(conn, "dialect", None) == "ducklake":
        return False
    return _write_macro(conn, indexed=_last_build(conn) is not None)


def _write_macro(conn: duckdb.DuckDBPyConnection, indexed: bool, force: bool = False) -> bool:
    """Create the macro and record its checksum, unless that checksum is the one recorded already
    (`force`: create it anyway); True when it wrote. One place decides what the checksum covers."""
    sql = _macro_sql(indexed)
    checksum = hashlib.sha256(sql.encode()).hexdigest()
    conn.execute("create table if not exists search_macro (checksum varchar not null)")
    if not force and conn.execute("select 1 from search_macro where checksum = ?", [checksum]).fetchone():
        return False
    load_fts(conn)  # the macro calls stem(), with or without an index
    with transaction(conn):
        conn.execute(sql)
        conn.execute("delete from search_macro")
        conn.execute("insert into search_macro values (?)", [checksum])
    return True


def _macro_sql(indexed: bool) -> str:
    return _MACRO.format(ranked=_ranked_sql("q", indexed), cjk=_CJK_MATCH)


def _ranked_sql(q: str, indexed: bool) -> str:
    return _BM25.replace("{indexed}", _INDEXED if indexed else _NOT_INDEXED).replace("{q}", q)


def is_cjk(text: str) -> bool:
    return bool(_CJK_RE.search(text))


def search_articles(conn: duckdb.DuckDBPyConnection, terms: str, limit: int = 20) -> list[SearchHit]:
    """Articles containing every term (case and accents folded, words stemmed), ranked by BM25
    over all articles, best first; at most `limit`. The answer does not depend on when the index
    was last built (see _BM25). A CJK query matches substrings over every article, newest first,
    score None (the index has no words for those scripts)."""
    words = terms.split()
    if not words or limit <= 0:
        return []
    if is_cjk(terms):
        return _search_substring(conn, words, limit)
    load_fts(conn)  # stem()
    sql = _ranked_sql("$q", indexed=_last_build(conn) is not None and _has_index(conn))
    rows = conn.execute(sql + _ORDER + " limit $limit", {"q": terms, "limit": limit}).fetchall()
    return [SearchHit(*r) for r in rows]


def _has_index(conn: duckdb.DuckDBPyConnection) -> bool:
    return conn.execute("select count(*) from duckdb_tables() where schema_name = 'fts_main_articles'"
                        " and table_name = 'docs'").fetchone()[0] > 0


def _search_substring(conn: duckdb.DuckDBPyConnection, words: list[str], limit: int) -> list[SearchHit]:
    """Every word in title or text (ilike), newest first."""
    where = " and ".join(["(title ilike ? escape '\\' or text ilike ? escape '\\')"] * len(words))
    params = [p for w in words for p in (f"%{_escape_like(w)}%",) * 2]
    rows = conn.execute(
        "select article_id, null::double, sort_at, source, lang, title, url from articles_latest"
        f" where {where} order by sort_at desc, article_id limit ?",
        [*params, limit],
    ).fetchall()
    return [SearchHit(*r) for r in rows]


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
