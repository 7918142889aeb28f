"""Steps that join stages inside one ingest batch (still plain functions, no Prefect)."""

from __future__ import annotations

from collections.abc import Sequence

from newswatch.classify import compile_topics
from newswatch.classify.rescore import score_stored_articles
from newswatch.classify.scoring import CompiledTopics
from newswatch.config import AppConfig
from newswatch.models import Article


def compile_run_topics(cfg: AppConfig) -> CompiledTopics | None:
    """Compile topics.yaml once per run; None when no topic is configured."""
    topics = compile_topics(cfg.topics)
    return topics if topics.topics else None


def classify_and_store(conn, compiled: CompiledTopics | None, articles: Sequence[Article]) -> int:
    """Score a batch's stored articles against every topic; returns the score rows written.

    Runs inside the batch's transaction, so articles and their scores commit together.
    """
    if compiled is None or not articles:
        return 0
    return score_stored_articles(conn, compiled, article_ids=[a.article_id for a in articles]).changed
