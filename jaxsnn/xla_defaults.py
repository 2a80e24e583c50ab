"""XLA settings for compile-bound work: studies and the test suite, not long training runs.

A study compiles a train step for almost every trial and GP programs for every new data size, so
compilation, not execution, is most of a short trial's setup and most of the test suite (issues 16
and 17). XLA's newer CPU fusion emitters (MLIR-based, its default) compile these small programs
more slowly than the classic LLVM ones. Measured on 2 cores, fresh compiles each:

- 8 random trials of the demo's space in one process: 17.1-18.2 s -> 12.2-13.6 s wall (compile
  9.1-9.9 s -> 6.1-7.1 s, training 2.6-2.8 s -> 2.3-2.5 s), the same accuracies;
- the trial-throughput benchmark's warm study: 36.0 -> 48.1 trials per minute;
- the test suite: 280.8 s -> 180.7 s back to back.

The classic emitters run large dense programs more slowly, though: on the LIF yardstick
(``benchmarks/lif_speed.py``, 700 -> 512 -> 20, T = 100, B = 32) the dense matmul bound took
36-53 ms against 29-41 ms with the new ones over five alternating pairs, the ``lax.scan``
reference 44-58 against 40-64 ms. So ``experiments/hpo.py``, the study benchmarks and the tests
select them, while ``import jaxsnn`` and long training runs (``experiments/train.py``) keep XLA's
default. A study script of your own: call ``add_xla_flags()`` before its first JAX computation;
trial workers started afterwards inherit the setting through the environment.

XLA reads ``XLA_FLAGS`` once, when JAX creates its first backend. A value the user set for the
same flag is kept: ``XLA_FLAGS=--xla_cpu_use_fusion_emitters=true`` restores XLA's default.
"""

from __future__ import annotations

import os

CPU_COMPILE_FLAGS = ("--xla_cpu_use_fusion_emitters=false",)
"""Faster compilation of many small CPU programs (see above)."""


def add_xla_flags(flags: tuple[str, ...] = CPU_COMPILE_FLAGS) -> None:
    """Append each of ``flags`` to ``XLA_FLAGS`` unless the variable already names that flag."""
    current = os.environ.get("XLA_FLAGS", "")
    for flag in flags:
        if flag.split("=")[0] not in current:
            current = f"{current} {flag}".strip()
    os.environ["XLA_FLAGS"] = current
