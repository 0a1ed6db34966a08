"""The one output helper: rich tables and progress bars for people, ``--json`` for scripts.

Human output goes to stdout, progress bars to stderr; in JSON mode stdout carries exactly one
JSON document and nothing else, so ``metasearch ... --json | jq`` always works.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["Output", "format_value"]


def format_value(value: Any) -> str:
    """A compact human rendering of a number, None or anything else."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; None is what a script can test for
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class Output:
    """Prints a command's result either as tables or as one JSON document."""

    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        # Piped output is read by people in logs and CI: wider than a terminal's default 80.
        self.console = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 140)
        self.err = Console(stderr=True)

    def json(self, data: Any) -> None:
        """Print ``data`` as the command's one JSON document."""
        sys.stdout.write(json.dumps(_jsonable(data), indent=2, sort_keys=False) + "\n")

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Print a table (people only; JSON mode prints :meth:`json` instead)."""
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(format_value(cell) for cell in row))
        self.console.print(table)

    def line(self, text: str) -> None:
        """Print one line of text for people (nothing in JSON mode)."""
        if not self.json_mode:
            self.console.print(text, highlight=False)

    @contextmanager
    def progress(self, total: int, description: str) -> Iterator[Progress]:
        """A progress bar on stderr, hidden in JSON mode or when stderr is not a terminal."""
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.err,
            disable=self.json_mode,
            transient=False,
        )
        with progress:
            progress.add_task(description, total=total, status="")
            yield progress
