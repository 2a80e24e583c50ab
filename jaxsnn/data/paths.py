"""Where local datasets live, and the one check that turns a missing path into a helpful error."""

from __future__ import annotations

import os
from pathlib import Path

from jaxsnn.data.errors import DatasetNotFoundError

ROOT_ENV = "JAXSNN_DATA"
"""Environment variable naming the data root when no ``root`` is passed."""

DEFAULT_ROOT = "~/jaxsnn_data"


def resolve_root(root: str | os.PathLike[str] | None) -> Path:
    """The data root: ``root`` if given, else ``$JAXSNN_DATA``, else ``~/jaxsnn_data``.

    Only read from: jaxsnn never writes (or downloads) into it.
    """
    chosen = root if root is not None else os.environ.get(ROOT_ENV, DEFAULT_ROOT)
    return Path(chosen).expanduser()


def require(path: Path, what: str, how_to_get: str) -> None:
    """Raise ``DatasetNotFoundError`` naming ``path`` and how to obtain it, if it is absent."""
    if not path.exists():
        raise DatasetNotFoundError(f"{what} not found: expected {path}. {how_to_get}")
