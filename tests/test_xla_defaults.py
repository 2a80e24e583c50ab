"""jaxsnn's import adds its XLA compile settings to the environment and keeps the user's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _flags_after_import(user_flags: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if user_flags is not None:
        env["XLA_FLAGS"] = user_flags
    probe = "import os, jaxsnn; print(os.environ['XLA_FLAGS'])"
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    return done.stdout.strip()


def test_import_adds_the_classic_cpu_emitters_and_keeps_other_flags():
    assert _flags_after_import(None) == "--xla_cpu_use_fusion_emitters=false"
    assert _flags_after_import("--xla_dump_to=/tmp/x") == "--xla_dump_to=/tmp/x --xla_cpu_use_fusion_emitters=false"


def test_a_value_the_user_set_for_the_flag_wins():
    assert _flags_after_import("--xla_cpu_use_fusion_emitters=true") == "--xla_cpu_use_fusion_emitters=true"
