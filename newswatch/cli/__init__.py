"""Command-line interface: `newswatch --help` lists every command.

Each area registers its commands on the shared app in its own module; importing them here is
what makes them appear.
"""

from __future__ import annotations

import importlib

from newswatch.cli.app import app

_COMMAND_MODULES = ("ingest", "query", "classify", "digest", "ops")

for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(f"newswatch.cli.{_name}")
    except ModuleNotFoundError as exc:  # a module not written yet must not break the others
        if exc.name != f"newswatch.cli.{_name}":
            raise


def main() -> None:
    from newswatch.redaction import install_log_redaction  # noqa: PLC0415

    install_log_redaction()  # configured secrets never reach a log line, from the first message on
    app()


__all__ = ["app", "main"]
