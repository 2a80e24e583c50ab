"""Compile-bound entry points select XLA's classic CPU emitters; the library's import changes no flag."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _flags_after(code: str, user_flags: str | None) -> str:
    """``XLA_FLAGS`` after ``code`` runs in a fresh process whose variable is ``user_flags``."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if user_flags is not None:
        env["XLA_FLAGS"] = user_flags
    probe = f"import os; {code}; print(os.environ.get('XLA_FLAGS', '<unset>'))"
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    return done.stdout.strip()


ADD = "from jaxsnn.xla_defaults import add_xla_flags; add_xla_flags()"


def test_importing_jaxsnn_leaves_xla_flags_alone():
    """Long training runs keep XLA's default emitters, which run large dense programs faster."""
    assert _flags_after("import jaxsnn, jaxsnn.xla_defaults", None) == "<unset>"


def test_add_xla_flags_selects_the_classic_cpu_emitters_and_keeps_other_flags():
    assert _flags_after(ADD, None) == "--xla_cpu_use_fusion_emitters=false"
    assert _flags_after(ADD, "--xla_dump_to=/tmp/x") == "--xla_dump_to=/tmp/x --xla_cpu_use_fusion_emitters=false"


def test_a_value_the_user_set_for_the_flag_wins():
    assert _flags_after(ADD, "--xla_cpu_use_fusion_emitters=true") == "--xla_cpu_use_fusion_emitters=true"
