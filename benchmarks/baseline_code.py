"""Another commit's ``jaxsnn`` beside this checkout's, for a benchmark's baseline pass.

A benchmark that compares a change with the code before it runs both in one session, on one
machine (ratios, not numbers from different days): the baseline's package is extracted from git
into a temporary folder, and the pass's fresh Python process imports it from there.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def checked_out(revision: str) -> Iterator[str]:
    """A temporary folder holding ``jaxsnn/`` as of git ``revision``."""
    with tempfile.TemporaryDirectory(prefix="jaxsnn-baseline-code-") as folder:
        archive = subprocess.run(["git", "archive", revision, "jaxsnn"], capture_output=True, check=True, cwd=REPO)
        subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
        yield folder


def import_from(folder: str | None) -> None:
    """Make the next ``import jaxsnn`` load the package in ``folder`` (``None``: this checkout's).
    The editable install's finder is dropped, since it would win over ``sys.path``."""
    if folder:
        sys.meta_path[:] = [f for f in sys.meta_path if "_editable" not in getattr(f, "__module__", "")]
        sys.path.insert(0, folder)


def imported_from(folder: str | None) -> bool:
    """Whether the ``jaxsnn`` imported is the one in ``folder`` (``None``: anything)."""
    return not folder or Path(sys.modules["jaxsnn"].__file__).is_relative_to(folder)
