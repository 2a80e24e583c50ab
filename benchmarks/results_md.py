"""Replace one ``## `` section of benchmarks/RESULTS.md, keeping every other section as it is."""

from __future__ import annotations

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
