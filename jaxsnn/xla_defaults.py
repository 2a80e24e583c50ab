"""XLA settings jaxsnn applies at import: faster compilation of its many small CPU programs.

A study compiles a train step for almost every trial and GP programs for every new data size, so
compilation, not execution, is most of a short trial's setup and most of the test suite (issue 17,
issue 16). XLA's newer CPU fusion emitters (MLIR-based) compile these small programs more slowly
than the classic LLVM ones and run them no faster. Measured on 2 cores, fresh compiles each:

- 8 random trials of the demo's space in one process: 17.1-18.2 s -> 12.2-13.6 s wall (compile
  9.1-9.9 s -> 6.1-7.1 s, training 2.6-2.8 s -> 2.3-2.5 s), the same accuracies;
- the test suite: 280.8 s -> 180.7 s back to back.

XLA reads ``XLA_FLAGS`` once, when JAX creates its first backend, so the setting only takes effect
when jaxsnn is imported before the first JAX computation; child processes (trial workers) inherit
it through the environment. A value the user set for the same flag is kept:
``XLA_FLAGS=--xla_cpu_use_fusion_emitters=true`` restores XLA's default.
"""

from __future__ import annotations

import os

CPU_COMPILE_FLAGS = ("--xla_cpu_use_fusion_emitters=false",)


def add_xla_flags(flags: tuple[str, ...] = CPU_COMPILE_FLAGS) -> None:
    """Append each of ``flags`` to ``XLA_FLAGS`` unless the variable already names that flag."""
    current = os.environ.get("XLA_FLAGS", "")
    for flag in flags:
        if flag.split("=")[0] not in current:
            current = f"{current} {flag}".strip()
    os.environ["XLA_FLAGS"] = current
