"""What the benchmarks share for their outputs: CSV files and sections of benchmarks/RESULTS.md."""

from __future__ import annotations

import csv
from pathlib import Path

RESULTS_MD = Path(__file__).parent / "RESULTS.md"


def replace_section(heading: str, block: str, path: Path = RESULTS_MD) -> None:
    """Put ``block`` (which starts with ``heading``) where ``heading`` is, or at the end."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(heading + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + block.rstrip("\n") + "\n"
    else:
        following = text.find("\n## ", start + len(heading))
        text = text[:start] + block.rstrip("\n") + "\n" + ("\n" + text[following + 1 :] if following >= 0 else "")
    path.write_text(text)


def write_csv(path: Path, rows: list[dict]) -> None:
    """Rows with the keys of the first one as the header."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))
