"""Full-text search over articles with DuckDB's fts extension, loaded from an installed package.

The extension comes from the pinned `duckdb-extension-fts` wheel and is loaded by file path; a
connection that searches never downloads anything (`autoinstall_known_extensions` is switched
off first, so a missing file is a clear error instead of a network call).

The fts index does not follow inserts, and a rebuild is whole (it grows with the store), so
search is "index + tail": BM25 over the articles the last build covered, plus a substring match
over the tail, the articles added or changed since (`articles.updated_at > search_index.
last_updated_at`; every article when there is no index). Results are therefore complete and fresh
without a rebuild; `should_rebuild` decides when an ingest rebuilds (the tail grew past
`search_tail_max`, or an index exists and its build is older than `search_reindex_minutes`), and
`newswatch search --reindex` rebuilds on demand. Scripts without spaces (Japanese, Chinese,
Korean) are not tokenised by the extension: their characters are treated as separators when
indexing, and a query containing them is answered by a substring (`ilike`) match over everything.
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

# The cut between index and tail: max(updated_at) of the articles the last build covered.
_LAST_BUILD = "select last_updated_at, built_at from search_index order by built_at desc limit 1"
# BM25 over the indexed articles, minus those changed since the build (the tail has their new text).
_RANKED = """
select a.article_id, hits.score, a.sort_at, a.source, a.lang, a.title, a.url
from (
    select article_id, updated_at,
           fts_main_articles.match_bm25(article_id, {q}, conjunctive := 1) as score
    from articles
) as hits
join articles_latest as a using (article_id)
where hits.score is not null and hits.updated_at <= {cutoff}
"""
# The analysts' macro: `select * from search_articles('lng tanker')`, the same answer as `newswatch
# search`: tail hits first (substring, newest first, score null), then BM25 hits. The words are
# split and LIKE-escaped in SQL here (a lambda per row, ~2x slower than search_articles' constant
# patterns). The tail test is one plain comparison on purpose: an `or` there made DuckDB run the
# lambda over every article (50x slower at 20k). The BM25 part is added when an index exists:
# DuckDB binds the fts schema's function when the macro is created, so `rebuild_search_index`
# re-creates it.
_ESCAPED_WORD = r"'%' || replace(replace(replace(w, '\', '\\'), '%', '\%'), '_', '\_') || '%'"
_CUTOFF_SQL = "(select last_updated_at from search_index order by built_at desc limit 1)"
_MACRO = f"""
create or replace macro search_articles(q) as table
select article_id, score, sort_at, source, lang, title, url from (
    select a.article_id, null::double as score, a.sort_at, a.source, a.lang, a.title, a.url, 0 as part
    from articles_latest as a
    where a.article_id in (
        select article_id from articles
        where trim(q) <> ''
          and updated_at > (case when regexp_matches(q, '{_CJK_SQL}') then '-infinity'::timestamptz
                                 else coalesce({_CUTOFF_SQL}, '-infinity'::timestamptz) end)
          and list_bool_and(list_transform(string_split_regex(trim(q), '\\s+'), lambda w:
                  ilike_escape(coalesce(title, ''), {_ESCAPED_WORD}, '\\')
                  or ilike_escape(text, {_ESCAPED_WORD}, '\\'))))
    {{ranked}}
) as hits
order by part, score desc, sort_at desc
"""
_MACRO_RANKED = "union all select *, 1 as part from ({ranked}) where not regexp_matches(q, '{cjk}')"


class SearchUnavailable(RuntimeError):
    """The fts extension file is missing."""


@dataclass(frozen=True, slots=True)
class IndexState:
    articles: int  # rows in articles now
    indexed: int  # rows the index covers (0 when never built)
    built_at: datetime | None
    is_stale: bool
    tail: int  # articles added or changed since the build (all when never built): matched by substring


@dataclass(frozen=True, slots=True)
class SearchHit:
    article_id: str
    score: float | None  # BM25; None for a substring match (a tail article, or any hit of a CJK query)
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

    Yes when the tail (matched by substring on every search) is longer than `tail_max`, or when an
    index exists, the tail is not empty and the build is at least `reindex_minutes` old. A store
    without an index and a short tail is searched by substring alone. Never in DuckLake mode: fts
    cannot index a lake table (docs/scaling.md).
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
    writes (index + tail, or the substring-only one before the first build); True when it
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
    if indexed:
        load_fts(conn)
    with transaction(conn):
        conn.execute(sql)
        conn.execute("delete from search_macro")
        conn.execute("insert into search_macro values (?)", [checksum])
    return True


def _macro_sql(indexed: bool) -> str:
    ranked = _MACRO_RANKED.format(ranked=_RANKED.format(q="q", cutoff=_CUTOFF_SQL), cjk=_CJK_SQL)
    return _MACRO.replace("{ranked}", ranked if indexed else "")


def is_cjk(text: str) -> bool:
    return bool(_CJK_RE.search(text))


def search_articles(conn: duckdb.DuckDBPyConnection, terms: str, limit: int = 20) -> list[SearchHit]:
    """Articles matching every term: first the tail (added or changed since the index was built,
    matched by substring, newest first, score None), then BM25 hits from the index, best first;
    at most `limit` in all. A CJK query matches substrings over every article, newest first."""
    words = terms.split()
    if not words or limit <= 0:
        return []
    build = None if is_cjk(terms) else _last_build(conn)
    cutoff = build[0] if build else None  # None: no index, or one over no articles: all is tail
    hits = _search_substring(conn, words, limit, after=cutoff)
    if cutoff is None or len(hits) >= limit:
        return hits
    load_fts(conn)
    rows = conn.execute(_RANKED.format(q="$q", cutoff="$cutoff") + " order by hits.score desc, a.sort_at desc"
                        " limit $limit", {"q": terms, "cutoff": cutoff, "limit": limit - len(hits)}).fetchall()
    return hits + [SearchHit(*r) for r in rows]


def _search_substring(conn: duckdb.DuckDBPyConnection, words: list[str], limit: int,
                      after: datetime | None = None) -> list[SearchHit]:
    """Every word in title or text (ilike), newest first; only articles updated after `after` if given."""
    where = " and ".join(["(title ilike ? escape '\\' or text ilike ? escape '\\')"] * len(words))
    params = [p for w in words for p in (f"%{_escape_like(w)}%",) * 2]
    if after is not None:  # match inside one scan of `articles` that also filters the tail: ~35x faster
        where = f"article_id in (select article_id from articles where updated_at > ? and {where})"
        params.insert(0, after)
    rows = conn.execute(
        "select article_id, null::double, sort_at, source, lang, title, url from articles_latest"
        f" where {where} order by sort_at desc limit ?",
        [*params, limit],
    ).fetchall()
    return [SearchHit(*r) for r in rows]


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
