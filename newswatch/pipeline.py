"""Steps that join stages inside one ingest batch (still plain functions, no Prefect)."""

from __future__ import annotations

from collections.abc import Sequence

from newswatch.config import AppConfig
from newswatch.models import Article


def classify_and_store(conn, cfg: AppConfig, articles: Sequence[Article]) -> int:
    """Score new articles against every configured topic and store the scores; returns rows written."""
    topics = getattr(cfg.topics, "topics", ())
    if not topics or not articles:
        return 0
    from newswatch.classify import classify_articles_for_store  # noqa: PLC0415 - wired once the classifier lands

    return classify_articles_for_store(conn, cfg.topics, articles)
