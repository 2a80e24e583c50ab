"""Hydra launchers that come from the ``cluster`` extra, checked before Hydra composes.

Without the plugin, Hydra fails on ``launcher=submitit_slurm`` with "Could not find
'hydra/launcher/submitit_slurm'", which does not say what to install; the entry points that take
a ``launcher`` call :func:`require_launcher_plugins` on their command line first.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

CLUSTER_INSTALL = 'pip install "jaxsnn-hpo[cluster]"'
"""The one install command of the cluster path (launchers, SLURM executor)."""

PLUGIN_LAUNCHERS: dict[str, str] = {
    "submitit_local": "hydra_plugins.hydra_submitit_launcher",
    "submitit_slurm": "hydra_plugins.hydra_submitit_launcher",
}
"""``conf/launcher`` choices -> the Hydra plugin module they need."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a missing parent package
        return False


def require_launcher_plugins(argv: Sequence[str]) -> None:
    """``SystemExit`` naming the install command when ``argv`` picks a launcher (``launcher=x``,
    also in a sweep list) whose plugin is not installed."""
    for arg in argv:
        key, _, value = arg.partition("=")
        if key.lstrip("+~") != "launcher":
            continue
        for choice in value.split(","):
            module = PLUGIN_LAUNCHERS.get(choice.strip())
            if module is not None and not _installed(module):
                raise SystemExit(f"launcher={choice.strip()} needs the Hydra submitit launcher plugin of the "
                                 f"cluster extra: {CLUSTER_INSTALL}")
