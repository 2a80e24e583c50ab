"""Summarize a Hydra multirun: one row per job (swept overrides + record metrics).

    python experiments/summarize.py multirun/stability_sweep/<date_time> [--out summary.md]

Prints a rich table and writes it as Markdown (default ``<multirun dir>/summary.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from jaxsnn.cli.summary import collect
from jaxsnn.cli.tables import markdown_table, rich_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a Hydra multirun directory")
    parser.add_argument("--out", type=Path, help="Markdown file (default: <sweep_dir>/summary.md)")
    args = parser.parse_args()
    headers, rows = collect(args.sweep_dir)
    out = args.out or args.sweep_dir / "summary.md"
    out.write_text(markdown_table(headers, rows))
    Console().print(rich_table(headers, rows, title=f"{args.sweep_dir} ({len(rows)} jobs)"))
    Console().print(f"Markdown table: {out}")


if __name__ == "__main__":
    main()
