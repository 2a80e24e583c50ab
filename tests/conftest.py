"""Test-wide settings: CPU only, float32 default kept (no x64), compiled kernels required, and one
JAX compilation cache shared by this process and every child process it starts.

These run before any test module imports jax, and child processes (worker pools, driver and
entry-point subprocesses) inherit them through the environment.
"""

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")

# Test programs are small and compiled once: XLA's optimisation passes cost more than they save
# (measured: test_gp.py + test_kernels.py 83 s -> 59 s of CPU). Results stay within every test's
# tolerance; the benchmarks and the library keep full optimisation.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

# One thread per library in each process: pytest-xdist already runs one test process per core, and
# Eigen's and BLAS's own threads on top of that fight over the same two cores (measured back to
# back: suite 267 s -> 216 s wall, the slowest 40 tests 308 s -> 237 s). XLA's intra-op pool
# keeps its threads: the LIF kernels' threaded chunk path runs on it and must stay under test
# (setting it to one thread too gave 220 s: no gain). Child processes inherit all of it.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# Dask's event-loop thread logs to the stderr it found at import, which pytest's capture has closed
# by the time a module's cluster shuts down: each line became a "--- Logging error ---" traceback
# in the suite's output. INFO lines (a client cancelling a key) did, and so did the nanny's warning
# "Restarting worker" after the executor tests kill a worker on purpose. Only errors are logged;
# the tests assert what a lost worker does to the study, not what dask says about it.
os.environ.setdefault("DASK_DISTRIBUTED__LOGGING__DISTRIBUTED", "error")
from jaxsnn.xla_defaults import CPU_COMPILE_FLAGS, add_xla_flags  # noqa: E402

# The suite is compile-bound (two thirds of its time is compilation): the classic emitters, see
# jaxsnn.xla_defaults (measured: 280.8 s -> 180.7 s).
add_xla_flags(("--xla_cpu_multi_thread_eigen=false", *CPU_COMPILE_FLAGS))

# `make test` and plain `pytest` alike demand the compiled LIF kernels: without them the kernel
# parity tests fail instead of skipping. Only an explicit JAXSNN_REQUIRE_KERNELS=0 lets them skip.
os.environ.setdefault("JAXSNN_REQUIRE_KERNELS", "1")

# A persistent compilation cache for the session: a program compiled once (here, in a worker or in
# an entry-point subprocess) is loaded, not recompiled, by the next process that needs it. Fresh
# per session unless JAX_COMPILATION_CACHE_DIR is set, so a run never depends on an earlier one.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="jaxsnn-test-jax-cache-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")


@pytest.fixture(autouse=True)
def _xla_optimizations(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests marked ``xla_optimized`` compile with XLA's optimisations. They run one long simulation
    through few programs (STDP over hundreds of digits, a thousand posterior paths), so their run
    time outweighs the compile time the suite-wide setting above saves. Measured: with the whole
    suite optimised these four took 21.5 s instead of 32.9 s, while the sum of all test times rose
    from 370 s to 440 s; run alone, marked vs unmarked, 14.0 s vs 22.7 s."""
    if request.node.get_closest_marker("xla_optimized") is None:
        yield
        return
    import jax

    # The optimisation setting is not part of jit's cache key, so an optimised program would be
    # reused by later tests (and an unoptimised one by this test). The matmul-precision setting is
    # part of it and changes no result on CPU: under it, this test's programs get cache entries of
    # their own. (A bit-exact test after the digits-headline test failed by one ulp without it.)
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", False)
    try:
        with jax.default_matmul_precision("float32"):
            yield
    finally:
        jax.config.update("jax_disable_most_optimizations", before)


@pytest.fixture(scope="session")
def pool() -> Iterator:
    """One pool of two worker processes for every test in this pytest process that runs work on
    processes (the loop's and the executors' tests): the workers' start and their imports are paid
    once per session, not once per module. Tests that kill a worker leave the pool to replace it,
    which is one of the behaviours they check."""
    from jaxsnn.hpo.executors import ProcessExecutor

    ex = ProcessExecutor(2)
    yield ex
    ex.shutdown()
