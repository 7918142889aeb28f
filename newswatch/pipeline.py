"""Where stages meet inside an ingest batch: each page is extracted and classified in a worker
process, and the batch's articles and topic scores are stored together (plain functions, no Prefect).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from newswatch.classify import classify_article, compile_topics, topic_version
from newswatch.classify.scoring import CompiledTopics
from newswatch.config import AppConfig
from newswatch.extract import ExtractFailure, ExtractJob, extract_article, warm_up
from newswatch.models import Article, TopicMatch
from newswatch.store.topics import TopicRow, upsert_topic_matches

_WORKER_TOPICS: CompiledTopics | None = None  # compiled once per worker process


@dataclass(frozen=True, slots=True)
class PageResult:
    outcome: Article | ExtractFailure
    matches: tuple[TopicMatch, ...] = ()


def compile_run_topics(cfg: AppConfig) -> CompiledTopics | None:
    """Compile topics.yaml once per run; None when no topic is configured."""
    topics = compile_topics(cfg.topics)
    return topics if topics.topics else None


def process_page(job: ExtractJob, topics: CompiledTopics | None = None) -> PageResult:
    """Extract one page, then score it against every topic (in the same process: the page's
    text never travels back and forth between processes before it is classified)."""
    outcome = extract_article(job)
    topics = topics if topics is not None else _WORKER_TOPICS
    if isinstance(outcome, Article) and topics is not None:
        return PageResult(outcome, classify_article(topics, outcome.title, outcome.text, outcome.lang))
    return PageResult(outcome)


def _init_worker(topics_file) -> None:
    global _WORKER_TOPICS
    warm_up()
    if topics_file is not None:
        compiled = compile_topics(topics_file)
        _WORKER_TOPICS = compiled if compiled.topics else None
        if _WORKER_TOPICS is not None:
            # the matcher compiles its prefilter scans on first use (~0.3 s): pay it before the first page
            classify_article(_WORKER_TOPICS, "Warm-up", "A text that names no topic compiles the prefilter scans.", "en")
    # everything allocated so far (trafilatura, lxml, the language model, the compiled topics and
    # whatever the re-imported __main__ pulled in: ~150k objects) lives as long as the worker; the
    # cyclic GC's full collections kept re-walking it: ~1 ms per page (measured), 0.2 once frozen
    gc.collect()
    gc.freeze()


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the cyclic GC off the objects that exist now (modules, config, Prefect's state) while
    the block runs; they are handed back to it afterwards.

    A long ingest allocates steadily, and each of the GC's full collections walked the whole
    process heap (~300k objects in the flow's process, 80-190 ms each): ~0.35 ms per page, and
    one of five no-change ticks took 0.9 s instead of 0.6 (measured). No gc.collect() first: it
    would cost one such walk; a cycle that is garbage already is only collected after the block.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class PagePool:
    """Worker processes that extract and classify pages on every core.

    `spawn`, not fork: forking a process that runs Prefect's threads can deadlock; each worker
    imports trafilatura and compiles the topics once.
    """

    def __init__(self, workers: int = 2, topics_file=None):
        ctx = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                         initargs=(topics_file,))

    def submit(self, job: ExtractJob) -> Future:
        return self._pool.submit(process_page, job)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> PagePool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def store_topic_matches(conn, compiled: CompiledTopics | None,
                        matches: Sequence[tuple[str, tuple[TopicMatch, ...]]]) -> int:
    """Store the batch's scores with each topic's version; runs inside the batch's transaction."""
    if compiled is None or not matches:
        return 0
    versions = {t.spec.name: topic_version(compiled, t.spec.name) for t in compiled.topics}
    rows = [TopicRow(aid, m, versions[m.topic]) for aid, ms in matches for m in ms if m.topic in versions]
    return upsert_topic_matches(conn, rows)
