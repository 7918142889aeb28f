"""Digests: select each subscriber's pending matches, fold duplicates, render, send once.

Modules: `model` (frozen values), `fold` (pure selection and duplicate folding), `render`
(HTML/plain/chat), `cadence` (when a digest is due), `run` (the orchestration the CLI and the
flow call). Storage is `newswatch.store.digests`; delivery is `newswatch.notify`.
"""

from newswatch.digest.fold import fold_duplicates, select_items
from newswatch.digest.model import (
    Digest,
    DigestItem,
    DigestSection,
    RenderedDigest,
    SourceProblem,
    SubscriberResult,
)
from newswatch.digest.render import render_all, render_chat, render_html, render_text
from newswatch.digest.run import build_digest, preview_digests, run_digests, summarize

__all__ = [
    "Digest",
    "DigestItem",
    "DigestSection",
    "RenderedDigest",
    "SourceProblem",
    "SubscriberResult",
    "build_digest",
    "fold_duplicates",
    "preview_digests",
    "render_all",
    "render_chat",
    "render_html",
    "render_text",
    "run_digests",
    "select_items",
    "summarize",
]
