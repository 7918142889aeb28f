"""Where stages meet inside an ingest batch: each page is extracted and classified in a worker
process, and the batch's articles and topic scores are stored together (plain functions, no Prefect).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
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


class WorkerLost(RuntimeError):
    """A worker process died or overran its time limit while running a call."""


class PagePool:
    """Worker processes that extract and classify pages on every core.

    `spawn`, not fork: forking a process that runs Prefect's threads can deadlock; each worker
    imports trafilatura and compiles the topics once.

    Not a ProcessPoolExecutor: one worker that dies there (a segfault in lxml, the OOM killer)
    breaks the whole pool, and a page it cannot finish cannot be stopped. Here each worker has a
    thread of its own that hands it one call at a time; a page that runs past `timeout_s`, or whose
    worker dies, becomes that page's ExtractFailure, and the worker is replaced (killed and
    started again). The other pages never notice.
    """

    START_TIMEOUT_S = 600.0  # a worker's start-up (imports, topics) on a loaded machine; not a page's time

    def __init__(self, workers: int = 2, topics_file=None, timeout_s: float | None = None):
        self._ctx = multiprocessing.get_context("spawn")
        self._topics_file = topics_file
        self._timeout_s = timeout_s
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self.replaced = 0  # workers killed or found dead, and started again
        self._procs: list = [None] * workers
        self._slots = [threading.Thread(target=self._slot, args=(i,), name=f"newswatch-pages-{i}", daemon=True)
                       for i in range(workers)]
        for t in self._slots:
            t.start()
        self._pool = _Calls(self)  # pool._pool.submit(fn, *args): any picklable call, on a worker

    def submit(self, job: ExtractJob, page_fn=None) -> Future:
        """Extract and classify one page (`page_fn`: process_page, or a stand-in in tests); the
        future's result is always a PageResult, an ExtractFailure when the page overran its time or
        its worker died."""
        return self._put(page_fn or process_page, (job,),
                         lambda reason: PageResult(ExtractFailure(job.fetched_url, job.source, reason)))

    def call(self, fn, *args) -> Future:
        """Run any picklable call on a worker; a lost worker is the future's WorkerLost exception."""
        return self._put(fn, args, None)

    def _put(self, fn, args, on_lost) -> Future:
        fut: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("PagePool is closed")
            self._jobs.put((fut, fn, args, on_lost))
        return fut

    def _start(self, i: int):
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_worker_main, args=(child, self._topics_file), daemon=True,
                                 name=f"newswatch-page-worker-{i}")
        proc.start()
        child.close()
        if not parent.poll(self.START_TIMEOUT_S):
            _kill(proc)
            raise WorkerLost(f"worker did not start within {self.START_TIMEOUT_S:g} s")
        try:
            parent.recv()  # "ready"
        except EOFError:
            proc.join(5)
            raise WorkerLost(f"worker died while starting (exit code {proc.exitcode})") from None
        self._procs[i] = proc
        return proc, parent

    def _slot(self, i: int) -> None:  # noqa: C901 - one loop: start, hand over, wait, replace
        worker = None
        try:
            while True:
                item = self._jobs.get()
                if item is None:
                    return
                fut, fn, args, on_lost = item
                if not fut.set_running_or_notify_cancel():
                    continue
                try:
                    if worker is not None and not worker[0].is_alive():  # died while idle
                        _kill(worker[0])
                        worker = None
                        self.replaced += 1
                    if worker is None:
                        worker = self._start(i)
                    proc, conn = worker
                    conn.send((fn, args))
                except WorkerLost as exc:
                    worker = None
                    _lost(fut, on_lost, str(exc))
                    continue
                except OSError as exc:  # the pipe broke: the worker is gone
                    _kill(worker[0])
                    worker = None
                    self.replaced += 1
                    _lost(fut, on_lost, f"the worker process was lost ({exc}); it was replaced")
                    continue
                except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable job: that call's error only
                    fut.set_exception(exc)
                    continue
                if not conn.poll(self._timeout_s):
                    _kill(proc)
                    worker = None
                    self.replaced += 1
                    _lost(fut, on_lost, f"extraction took longer than {self._timeout_s:g} s "
                                        "(extract_timeout_s); its worker process was replaced")
                    continue
                try:
                    ok, value = conn.recv()
                except (EOFError, OSError):
                    proc.join(5)
                    worker = None
                    self.replaced += 1
                    _lost(fut, on_lost, f"the worker process died on this page (exit code {proc.exitcode}); "
                                        "it was replaced")
                    continue
                except Exception as exc:  # noqa: BLE001 - a result that does not unpickle
                    fut.set_exception(exc)
                    continue
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)
        finally:
            if worker is not None:
                proc, conn = worker
                try:
                    conn.send(None)
                except OSError:
                    pass
                proc.join(10)
                _kill(proc)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            while True:  # pages not started yet are cancelled, as ProcessPoolExecutor(cancel_futures=True)
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
            for _ in self._slots:
                self._jobs.put(None)
        for t in self._slots:
            t.join()

    def __enter__(self) -> PagePool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Calls:
    def __init__(self, pool: PagePool):
        self._pool = pool

    def submit(self, fn, *args) -> Future:
        return self._pool.call(fn, *args)


def _lost(fut: Future, on_lost, reason: str) -> None:
    if on_lost is None:
        fut.set_exception(WorkerLost(reason))
    else:
        fut.set_result(on_lost(reason))


def _kill(proc) -> None:
    if proc.is_alive():
        proc.kill()
    proc.join(10)


def _worker_main(conn, topics_file) -> None:
    """A worker process: start up, say so, then run one call at a time until told to stop."""
    _init_worker(topics_file)
    conn.send("ready")
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        fn, args = msg
        try:
            out = (True, fn(*args))
        except Exception as exc:  # noqa: BLE001 - the caller's future gets it
            out = (False, exc)
        try:
            conn.send(out)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result or exception
            conn.send((False, RuntimeError(f"{type(exc).__name__} sending the result back: {exc}")))


def store_topic_matches(conn, compiled: CompiledTopics | None,
                        matches: Sequence[tuple[str, tuple[TopicMatch, ...]]]) -> int:
    """Store the batch's scores with each topic's version; runs inside the batch's transaction."""
    if compiled is None or not matches:
        return 0
    versions = {t.spec.name: topic_version(compiled, t.spec.name) for t in compiled.topics}
    rows = [TopicRow(aid, m, versions[m.topic]) for aid, ms in matches for m in ms if m.topic in versions]
    return upsert_topic_matches(conn, rows)
