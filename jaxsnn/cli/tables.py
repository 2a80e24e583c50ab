"""One table, two renderings: rich for the console, Markdown for files next to the figures."""

from __future__ import annotations

from typing import Any, Sequence

from rich.table import Table


def cell(value: Any) -> str:
    """Floats to 4 significant digits, ``None`` as a dash, the rest as ``str``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def rich_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str) -> Table:
    table = Table(title=title)
    for header in headers:
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(*(cell(v) for v in row))
    return table
