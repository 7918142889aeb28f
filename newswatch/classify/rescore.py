"""Scoring stored articles: after ingest (new articles) and after a topic changed (reclassify).

The one place where classification meets the store; `classify` itself stays free of DuckDB.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import duckdb

from newswatch.classify.scoring import CompiledTopics, classify_batch, topic_version
from newswatch.store.topics import TopicRow, articles_for_rescoring, changed_rows, stored_scores, upsert_topic_matches


@dataclass(frozen=True, slots=True)
class RescoreSummary:
    articles: int  # articles scored
    rows: int  # (article, topic) scores computed
    changed: int  # rows written because they were new or differed from the stored row
    now_matching: int  # changed rows that match now
    no_longer_matching: int  # changed rows that matched before and do not now


def score_stored_articles(
    conn: duckdb.DuckDBPyConnection,
    compiled: CompiledTopics,
    topic: str | None = None,
    article_ids: Iterable[str] | None = None,
    scored_at: datetime | None = None,
) -> RescoreSummary:
    """Score stored articles against every topic (or one) and write only what changed."""
    if topic is not None and topic not in compiled.by_name:
        raise KeyError(topic)
    names = [topic] if topic else [t.spec.name for t in compiled.topics]
    versions = {n: topic_version(compiled, n) for n in names}
    articles = rows = changed = now_matching = dropped = 0
    for batch in articles_for_rescoring(conn, article_ids):
        results = classify_batch(compiled, batch)
        new_rows = [
            TopicRow(a.article_id, m, versions[m.topic])
            for a, matches in zip(batch, results, strict=True)
            for m in matches
            if m.topic in versions
        ]
        stored = stored_scores(conn, [a.article_id for a in batch], names)
        diff = changed_rows(new_rows, stored)
        upsert_topic_matches(conn, diff, scored_at)
        articles += len(batch)
        rows += len(new_rows)
        changed += len(diff)
        now_matching += sum(r.match.matched for r in diff)
        dropped += sum(
            1 for r in diff if not r.match.matched and stored.get((r.article_id, r.match.topic), (0, False))[1]
        )
    return RescoreSummary(articles, rows, changed, now_matching, dropped)
