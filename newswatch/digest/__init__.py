"""Digests: select each subscriber's pending matches, fold duplicates, render, send once.

Modules: `model` (frozen values), `fold` (pure selection and duplicate folding), `render`
(HTML/plain/chat), `cadence` (when a digest is due), `run` (the orchestration the CLI and the
flow call). Storage is `newswatch.store.digests`; delivery is `newswatch.notify`.
"""

from importlib import import_module

# Names are imported on first use (PEP 562), so that `newswatch.digest.cadence` — which the
# status command and the config need — does not import rendering (jinja2) and delivery (apprise).
_WHERE = {
    "fold_duplicates": "fold", "select_items": "fold",
    "Digest": "model", "DigestItem": "model", "DigestSection": "model", "RenderedDigest": "model",
    "SourceProblem": "model", "SubscriberResult": "model",
    "render_all": "render", "render_chat": "render", "render_html": "render", "render_text": "render",
    "build_digest": "run", "preview_digests": "run", "run_digests": "run", "summarize": "run",
}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"newswatch.digest.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


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
