"""Full-text search over articles with DuckDB's fts extension, loaded from an installed package.

The extension comes from the pinned `duckdb-extension-fts` wheel and is loaded by file path; a
connection that searches never downloads anything (`autoinstall_known_extensions` is switched
off first, so a missing file is a clear error instead of a network call).

The fts index does not follow inserts: `rebuild_search_index` rebuilds it (the ingest flow calls
it after each run) and records what it covered in `search_index`, so readers can tell when it is
stale. Scripts without spaces (Japanese, Chinese, Korean) are not tokenised by the extension:
their characters are treated as separators when indexing, and `search_articles` answers a query
containing them with a substring (`ilike`) match instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
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
# The analysts' macro: `select * from search_articles('lng tanker')`. Created after the index
# because DuckDB binds the fts schema's function when the macro is created.
_CREATE_MACRO = """
create or replace macro search_articles(q) as table
select a.article_id, hits.score, a.sort_at, a.source, a.lang, a.title, a.url
from (
    select article_id, fts_main_articles.match_bm25(article_id, q, conjunctive := 1) as score
    from articles
) as hits
join articles_latest as a using (article_id)
where hits.score is not null
order by hits.score desc, a.sort_at desc
"""
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]")


class SearchUnavailable(RuntimeError):
    """The fts extension file is missing, or no index was built yet."""


@dataclass(frozen=True, slots=True)
class IndexState:
    articles: int  # rows in articles now
    indexed: int  # rows the index covers (0 when never built)
    built_at: datetime | None
    is_stale: bool


@dataclass(frozen=True, slots=True)
class SearchHit:
    article_id: str
    score: float | None  # BM25; None for a substring (CJK) match
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


def index_state(conn: duckdb.DuckDBPyConnection) -> IndexState:
    n, last = conn.execute("select count(*), max(updated_at) from articles").fetchone()
    try:
        row = conn.execute(
            "select n_articles, last_updated_at, built_at from search_index order by built_at desc limit 1"
        ).fetchone()
    except duckdb.CatalogException:  # a read-only connection to a file not migrated to 0004 yet
        row = None
    if row is None:
        return IndexState(n, 0, None, is_stale=n > 0)
    indexed, indexed_last, built_at = row
    stale = indexed != n or (last is not None and (indexed_last is None or last > indexed_last))
    return IndexState(n, indexed, built_at, stale)


def rebuild_search_index(conn: duckdb.DuckDBPyConnection) -> int:
    """(Re)build the fts index over all articles and the `search_articles` macro; returns rows.

    Idempotent: the index is replaced as a whole (overwrite = 1), and `search_index` keeps one
    row per build. About a second per 10,000 articles on 2 cores.
    """
    load_fts(conn)
    with transaction(conn):
        conn.execute(_CREATE_INDEX)
        conn.execute(_CREATE_MACRO)
        n, last = conn.execute("select count(*), max(updated_at) from articles").fetchone()
        conn.execute("delete from search_index")  # only the latest build matters
        conn.execute(
            "insert into search_index (built_at, n_articles, last_updated_at) values (now(), ?, ?)", [n, last]
        )
    return n


def rebuild_if_stale(conn: duckdb.DuckDBPyConnection, min_age_s: float = 0.0) -> bool:
    """Rebuild when articles changed since the last build and that build is at least `min_age_s`
    old (a rebuild is a full one: ~6.5 s per 100k articles here); True when it rebuilt."""
    if getattr(conn, "dialect", None) == "ducklake":
        return False  # fts cannot index a DuckLake table: no search index in lake mode (docs/scaling.md)
    state = index_state(conn)
    if not state.is_stale:
        return False
    if state.built_at is not None and min_age_s > 0:
        age = conn.execute("select epoch(now() - ?::timestamptz)", [state.built_at]).fetchone()[0]
        if age < min_age_s:
            return False
    rebuild_search_index(conn)
    return True


def is_cjk(text: str) -> bool:
    return bool(_CJK_RE.search(text))


def search_articles(conn: duckdb.DuckDBPyConnection, terms: str, limit: int = 20) -> list[SearchHit]:
    """Articles matching every term, best first (BM25); CJK queries match substrings, newest first."""
    if is_cjk(terms):
        return _search_substring(conn, terms.split(), limit)
    load_fts(conn)
    if index_state(conn).built_at is None:
        raise SearchUnavailable("no search index yet (fix: run `newswatch ingest`, which builds it)")
    rows = conn.execute("select * from search_articles(?) limit ?", [terms, limit]).fetchall()
    return [SearchHit(*r) for r in rows]


def _search_substring(conn: duckdb.DuckDBPyConnection, words: list[str], limit: int) -> list[SearchHit]:
    where = " and ".join(["(title ilike ? escape '\\' or text ilike ? escape '\\')"] * len(words))
    params = [p for w in words for p in (f"%{_escape_like(w)}%",) * 2]
    rows = conn.execute(
        "select article_id, null::double, sort_at, source, lang, title, url from articles_latest"
        f" where {where} order by sort_at desc limit ?",
        [*params, limit],
    ).fetchall()
    return [SearchHit(*r) for r in rows]


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
