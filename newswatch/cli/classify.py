"""`newswatch classify`, `eval` and `reclassify`: topic scores with their explanation."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from newswatch.cli.app import ConfigDirOpt, DbOpt, app, fail, require_db
from newswatch.config import ConfigError, load_config, resolve_db_path

FileArg = Annotated[Path, typer.Argument(help="JSONL file, one article per line ('-' for stdin).")]


def _compiled(config_dir: Path | None):
    from newswatch.classify import compile_topics

    try:
        config = load_config(config_dir)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if not config.topics.topics:
        raise fail(f"{config.config_dir}/topics.yaml: no topics defined (fix: add a topic under `topics:`)")
    return config, compile_topics(config.topics)


def _items(path: Path) -> list[dict]:
    from newswatch.classify.evaluation import InputError, iter_jsonl, read_jsonl

    try:
        return list(iter_jsonl(sys.stdin)) if str(path) == "-" else read_jsonl(path)
    except FileNotFoundError:
        raise fail(f"{path}: no such file") from None
    except InputError as exc:
        raise fail(str(exc)) from None


@app.command()
def classify(file: FileArg, config_dir: ConfigDirOpt = None) -> None:
    """Score articles against every topic; one JSON line out per article, with its explanation.

    Input lines: {"id", "title", "text", "lang"?}. Output lines: {"id", "topics" (the matched
    topics), "scores" (topic: 0..1), "terms" (topic: the matched terms), "evidence" (topic: one to
    three sentences), "article_topics" (one record per topic, exactly what an ingest stores in the
    article_topics table: topic, score, is_match, terms, evidence, details, classifier_version)}.

    Example: newswatch classify articles.jsonl > scored.jsonl
    """
    from newswatch.classify import classify_batch

    _, compiled = _compiled(config_dir)
    items = _items(file)
    for item, matches in zip(items, classify_batch(compiled, items), strict=True):
        typer.echo(json.dumps(_explained(compiled, item.get("id"), matches), ensure_ascii=False, default=str))


def _explained(compiled, item_id, matches) -> dict:
    """`to_output`'s summary plus, per topic, the row an ingest stores in article_topics (see
    store/topics.py `_params`: the same fields and JSON encoding; tests/test_cli_classify.py
    compares the two)."""
    from newswatch.classify import to_output, topic_version

    out = to_output(item_id, matches)
    out["terms"] = {m.topic: list(m.terms) for m in matches if m.terms}
    out["article_topics"] = [
        {"topic": m.topic, "score": float(m.score), "is_match": bool(m.matched), "terms": list(m.terms),
         "evidence": list(m.evidence), "details": json.loads(json.dumps(m.details, default=str)),
         "classifier_version": topic_version(compiled, m.topic)}
        for m in matches
    ]
    return out


@app.command("eval")
def eval_(file: FileArg, config_dir: ConfigDirOpt = None) -> None:
    """Precision, recall and F1 per topic, macro-F1, and the misclassified ids with their evidence.

    Input lines as for `classify` plus "labels", a list of topics (empty, or "none", for no topic).

    Example: newswatch eval ../shared/eval/classify-dev.jsonl
    """
    from newswatch.classify import evaluate, format_report

    _, compiled = _compiled(config_dir)
    typer.echo(format_report(evaluate(compiled, _items(file))))


@app.command()
def reclassify(
    topic: Annotated[str | None, typer.Option("--topic", help="Re-score only this topic.")] = None,
    config_dir: ConfigDirOpt = None,
    db: DbOpt = None,
) -> None:
    """Re-score stored articles after topics.yaml changed; report how many scores changed.

    Each score records the classifier and topic-config version; running it twice changes nothing
    the second time.

    Example: newswatch reclassify --topic japan-china
    """
    from newswatch.classify.rescore import score_stored_articles
    from newswatch.store import StoreUnavailable, connect, writer_lock

    config, compiled = _compiled(config_dir)
    if topic is not None and topic not in compiled.by_name:
        known = ", ".join(compiled.by_name)
        raise fail(f"unknown topic {topic!r} (fix: use one of {known})")
    path = resolve_db_path(db, config.settings)
    require_db(path)
    try:
        with writer_lock(path, config.settings.lock_wait_s, on_wait=lambda m: typer.echo(m, err=True)):
            conn = connect(path)
            try:
                summary = score_stored_articles(conn, compiled, topic)
            finally:
                conn.close()
    except StoreUnavailable as exc:
        raise fail(str(exc)) from None
    typer.echo(
        f"{summary.articles} articles, {summary.rows} scores: {summary.changed} changed "
        f"({summary.now_matching} now matching, {summary.no_longer_matching} no longer matching)"
    )
