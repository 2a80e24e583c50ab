"""What the benchmarks share: their outputs (CSV files, sections of benchmarks/RESULTS.md) and the
names and trial configs of older code, which some of them run or read."""

from __future__ import annotations

import csv
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


def write_csv(path: Path, rows: list[dict]) -> None:
    """Rows with the keys of the first one as the header."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


# Search-space names before issue 14 (jaxsnn.tuning.spaces): flat names, where they are now the
# dotted paths of experiments/train.py's run config. Results written before the rename (the
# ``params`` columns of benchmarks/results/*.csv) and the baseline tree that trial_throughput.py
# runs as ``today`` use the old ones; these map between the two.
_SG_RENAMES = {
    "n_hidden": "model.hidden.width", "n_layers": "model.hidden.depth", "recurrent": "model.recurrent",
    "alpha": "model.neuron.alpha", "theta": "model.neuron.theta", "reset": "model.neuron.reset",
    "readout": "model.readout", "weight_scale": "model.weight_scale", "sg_shape": "surrogate.shape",
    "sg_gamma": "surrogate.gamma", "sg_beta": "surrogate.beta", "sg_q": "surrogate.q", "lr": "trainer.lr",
    "batch_size": "trainer.batch_size", "epochs": "trainer.epochs", "time_steps": "data.time_steps",
    "input_rate": "data.options.max_rate",
}  # fmt: skip
_FIELD_RENAMES = {
    "n_hidden": "hidden.width", "n_layers": "hidden.depth", "sg_shape": "surrogate.shape",
    "sg_gamma": "surrogate.gamma", "sg_beta": "surrogate.beta", "sg_q": "surrogate.q",
}  # fmt: skip
"""SLAYER and HYBRID: these under the trainer's prefix, every other name as ``<trainer>.<name>``
(STDP: every name so)."""


def new_name(trainer: str, name: str) -> str:
    """The current name of search-space parameter ``name`` of ``trainer``; a current name is kept."""
    if trainer == "sg":
        return _SG_RENAMES.get(name, name)
    if name.startswith(f"{trainer}."):
        return name
    return f"{trainer}.{_FIELD_RENAMES.get(name, name) if trainer != 'stdp' else name}"


def old_name(trainer: str, name: str) -> str:
    """The pre-rename name of current parameter ``name`` of ``trainer`` (the inverse of ``new_name``)."""
    if trainer == "sg":
        return {new: old for old, new in _SG_RENAMES.items()}.get(name, name)
    field = name.removeprefix(f"{trainer}.")
    return {new: old for old, new in _FIELD_RENAMES.items()}.get(field, field) if trainer != "stdp" else field


def renamed(trainer: str, params: dict) -> dict:
    """``params`` (a point, bounds, exponents) under the current names, whichever names it has."""
    return {new_name(trainer, name): value for name, value in params.items()}


def flattened(tree: dict, prefix: str = "") -> dict:
    """Nested blocks as dotted keys, as ``jaxsnn.tuning.spaces.dotted`` (which code that may run
    against a tree from before the rename cannot import)."""
    flat: dict = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flattened(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


_OLD_KEYS = {
    "algorithm": "trainer", "data.name": "dataset", "data.root": "data_root", "data.seed": "data_seed",
    "data.time_steps": "data_time_steps", "seed": "seed", "model.neuron.backend": "backend",
    "trainer.xla_optimizations": "xla_optimizations",
}  # fmt: skip
"""Paths of a trial's run (``jaxsnn.train.run.Run``) and the ``evaluate()`` key each had before a
trial was a run config plus its point (``jaxsnn.tuning.study_spec._MOVED`` the other way)."""


def old_config(config: dict) -> dict:
    """An ``evaluate()`` config (``{"run": <part of a train.yaml>, "params": ..., "silent": ...}``) in
    the vocabulary from before a trial was a run config (``trainer``, ``dataset``, ``data_root``,
    ``data_options``, ``backend``, fixed ``stdp``/``slayer``/``hybrid`` blocks), for code that
    predates it (trial_throughput.py's ``today``). Other keys pass as they are (``old_name`` renames
    the params for code from before issue 14). A run value that had no key of its own (a fixed
    ``model.hidden``, say) raises ``ValueError``."""
    run = {key: dict(value or {}) if key in ("data", "stdp", "slayer", "hybrid") else value
           for key, value in (config.get("run") or {}).items()}  # fmt: skip
    old = {key: value for key, value in config.items() if key != "run"}
    old["trainer"] = run.get("algorithm", "sg")
    if "backend" in run.get("hybrid", {}):
        old["backend"] = run["hybrid"].pop("backend")
    if "options" in run.get("data", {}):
        old["data_options"] = run["data"].pop("options")
    old.update({block: run.pop(block) for block in ("stdp", "slayer", "hybrid") if run.get(block)})
    flat = {path: value for path, value in flattened(run).items() if value != {}}  # an empty block sets nothing
    unknown = sorted(set(flat) - set(_OLD_KEYS))
    if unknown:
        raise ValueError(f"run value(s) {unknown} had no evaluate() key before a trial was a run config")
    old.update({_OLD_KEYS[path]: value for path, value in flat.items()})
    return old
