"""Shared printing helpers for commands: JSON for machines, rich tables for people."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=_default))


def _default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def print_table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for i, c in enumerate(columns):
        # The first column is an id users copy: never break it across lines.
        table.add_column(c, overflow="fold", no_wrap=i == 0)
    for r in rows:
        table.add_row(*[str(x) for x in r])
    # Piped output has no terminal width: do not fold tables into rich's 80-column default.
    Console(width=None if sys.stdout.isatty() else 160).print(table)
