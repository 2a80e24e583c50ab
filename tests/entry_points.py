"""Run a script of ``experiments/`` inside the test process, exactly as its command line would
(``sys.argv``, ``__main__``), without paying a fresh interpreter, JAX import and compilation.

A subprocess proves nothing more for most entry-point tests; the README's main job
(``test_hpo_entry``) and the joblib multirun keep a fresh-process twin among the slow tests.
"""

from __future__ import annotations

import logging
import os
import runpy
import sys
from pathlib import Path

from hydra.core.global_hydra import GlobalHydra

REPO = Path(__file__).resolve().parents[1]


def run_script(name: str, *args: str) -> None:
    """``python experiments/<name> <args>`` in this process; a non-zero exit raises SystemExit."""
    argv, environ = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    sys.argv = [str(REPO / "experiments" / name), *args]
    os.environ["HYDRA_FULL_ERROR"] = "1"  # a failing job raises with its traceback
    _hand_streams_to_current_stderr()
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    finally:
        sys.argv = argv
        if environ is None:
            os.environ.pop("HYDRA_FULL_ERROR")
        else:
            os.environ["HYDRA_FULL_ERROR"] = environ
        GlobalHydra.instance().clear()


def _hand_streams_to_current_stderr() -> None:
    """Hydra's logging setup closes every existing handler, and absl's handler (imported by optax)
    closes the stream it holds unless that stream is the current ``sys.stderr``: pytest's capture
    of an earlier test would be closed under it. Pointing absl's handlers at the current one
    avoids that (other handlers leave their streams open)."""
    for ref in list(logging._handlerList):  # noqa: SLF001 - the registry dictConfig clears
        handler = ref()
        if isinstance(handler, logging.StreamHandler) and type(handler).__module__.startswith("absl"):
            handler.setStream(sys.stderr)
