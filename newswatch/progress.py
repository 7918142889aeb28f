"""Progress of a run, for whoever is watching: a live line on a terminal, one line per stage in
cron or CI, nothing at all by default (a flow run from a Prefect worker reports through its logs).

The flow reports plain events (`sources_due`, `polled`, `stored`, `finished`) to the sink that the
caller installed with `reporting(sink)`; with no sink installed the calls cost a dict lookup.
`TerminalProgress` and `LineProgress` are the two sinks the CLI uses (`for_stream` picks one).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Protocol

from newswatch.literal import visible


class Sink(Protocol):
    def sources_due(self, n: int) -> None: ...
    def polled(self, source: str, new_urls: int, failed: bool, not_modified: bool) -> None: ...
    def polling_done(self) -> None: ...
    def stored(self, pages: int, articles: int, failures: int) -> None: ...
    def finished(self) -> None: ...


_SINK: list[Sink] = []


@contextmanager
def reporting(sink: Sink | None) -> Iterator[None]:
    """Send this block's progress events to `sink` (None: keep them unheard)."""
    if sink is None:
        yield
        return
    _SINK.append(sink)
    try:
        yield
    finally:
        _SINK.remove(sink)
        sink.finished()


def sources_due(n: int) -> None:
    for s in _SINK:
        s.sources_due(n)


def polled(source: str, new_urls: int, failed: bool, not_modified: bool) -> None:
    for s in _SINK:
        s.polled(source, new_urls, failed, not_modified)


def polling_done() -> None:
    for s in _SINK:
        s.polling_done()


def stored(pages: int, articles: int, failures: int) -> None:
    for s in _SINK:
        s.stored(pages, articles, failures)


@dataclass
class Counts:
    """What a run has done so far."""

    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    due: int = 0
    polled: int = 0
    poll_failed: int = 0
    not_modified: int = 0
    new_urls: int = 0
    pages: int = 0
    articles: int = 0
    failures: int = 0

    def __post_init__(self) -> None:
        self.started = self.clock()

    def count_poll(self, new_urls: int, failed: bool, not_modified: bool) -> None:
        self.polled += 1
        self.new_urls += new_urls
        self.poll_failed += failed
        self.not_modified += not_modified

    def count_stored(self, pages: int, articles: int, failures: int) -> None:
        self.pages += pages
        self.articles += articles
        self.failures += failures

    def elapsed(self) -> float:
        return max(self.clock() - self.started, 1e-9)

    def rate(self) -> float:
        return self.pages / self.elapsed()


class LineProgress:
    """For cron and CI: one plain line per stage (polling, articles, done), no control characters."""

    def __init__(self, out: IO[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self.c = Counts(clock)
        self._polling_reported = False

    def _line(self, text: str) -> None:
        self.out.write(visible(text) + "\n")
        self.out.flush()

    def sources_due(self, n: int) -> None:
        self.c.due = n
        self._line(f"ingest: polling {n} due source{'s' if n != 1 else ''}")

    def polled(self, source: str, new_urls: int, failed: bool, not_modified: bool) -> None:
        self.c.count_poll(new_urls, failed, not_modified)

    def polling_done(self) -> None:
        if self._polling_reported:
            return
        self._polling_reported = True
        c = self.c
        self._line(f"ingest: {c.polled} sources polled in {c.elapsed():.1f} s ({c.poll_failed} failed, "
                   f"{c.not_modified} not modified); {c.new_urls} new article URLs")

    def stored(self, pages: int, articles: int, failures: int) -> None:
        self.c.count_stored(pages, articles, failures)

    def finished(self) -> None:
        self.polling_done()
        c = self.c
        self._line(f"ingest: {c.pages} pages fetched, {c.articles} articles stored, {c.failures} failed "
                   f"in {c.elapsed():.1f} s ({c.rate():.1f} pages/s)")


class TerminalProgress:
    """For a person at a terminal: one live status line, redrawn as events arrive (rich)."""

    def __init__(self, console, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.c = Counts(clock)
        self._live = None

    def _text(self) -> str:
        c = self.c
        return (f"sources {c.polled}/{c.due} polled ({c.poll_failed} failed) · {c.new_urls} new URLs · "
                f"pages {c.pages} fetched, {c.articles} stored, {c.failures} failed · {c.rate():.1f} pages/s · "
                f"{c.elapsed():.0f} s")

    def _update(self) -> None:
        from rich.live import Live  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415

        if self._live is None:
            self._live = Live(Text(self._text()), console=self.console, refresh_per_second=4, transient=True)
            self._live.start()
        else:
            self._live.update(Text(self._text()))

    def sources_due(self, n: int) -> None:
        self.c.due = n
        self._update()

    def polled(self, source: str, new_urls: int, failed: bool, not_modified: bool) -> None:
        self.c.count_poll(new_urls, failed, not_modified)
        self._update()

    def polling_done(self) -> None:
        self._update()

    def stored(self, pages: int, articles: int, failures: int) -> None:
        self.c.count_stored(pages, articles, failures)
        self._update()

    def finished(self) -> None:
        if self._live is not None:
            self._live.stop()
        self.console.print(self._text().replace(" · ", ", "), markup=False, highlight=False)


def for_stream(stream: IO[str]) -> Sink:
    """A live line where `stream` is a terminal, one line per stage where it is not (cron, CI)."""
    if stream.isatty():
        from newswatch.cli.show import console  # noqa: PLC0415

        return TerminalProgress(console(stderr=True))
    return LineProgress(stream)


RUN_LINES_ENV = "NEWSWATCH_RUN_LINES"  # set by `newswatch serve`; its flow-run processes inherit it


@contextmanager
def run_lines(label: str, out: IO[str] | None = None, clock: Callable[[], float] = time.monotonic
              ) -> Iterator[dict[str, int]]:
    """Under `newswatch serve`: one line when a flow run starts and one when it ends (with the
    figures the block puts in the yielded dict, or the error). Silent anywhere else."""
    facts: dict[str, int] = {}
    if not os.environ.get(RUN_LINES_ENV):
        yield facts
        return
    import sys  # noqa: PLC0415

    stream = out or sys.stdout
    started = clock()

    def line(text: str) -> None:
        stream.write(visible(text) + "\n")
        stream.flush()

    line(f"{label}: started")
    try:
        yield facts
    except BaseException as exc:
        line(f"{label}: failed after {clock() - started:.1f} s: {type(exc).__name__}: {str(exc)[:300]}")
        raise
    figures = ", ".join(f"{v} {k}" for k, v in facts.items())
    line(f"{label}: finished in {clock() - started:.1f} s" + (f": {figures}" if figures else ""))
