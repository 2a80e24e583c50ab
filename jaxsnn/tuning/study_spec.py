"""The spec of an ``experiments/hpo.py`` study (its ``hpo`` config group): checked whole before
anything is created, stored in the study file, and taken back from it on resume.

Why check up front: a mistake in the spec (an unknown optimizer, a negative bound, a constraint
no trainer records, a wrong data root) otherwise surfaces after the study file is written and
the workers have started, or worse, as every trial failing one by one while the run exits 0.
``prepare`` runs every check that needs no training and reports all problems at once, each
under the key to change.

Why store the spec: ``experiments/hpo.py study=<path>`` alone then resumes a study, whatever
preset and overrides created it; ``resume_spec`` refuses a command that would change it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, get_args

from hydra.core.override_parser.overrides_parser import OverridesParser

from jaxsnn.data import DatasetError
from jaxsnn.hpo.executors import ExecutorKind
from jaxsnn.hpo.features import LogProductFeatures
from jaxsnn.hpo.optimizers import BayesianOptimizer
from jaxsnn.hpo.registry import OPTIMIZERS, make_optimizer
from jaxsnn.hpo.screen import FeatureScreen
from jaxsnn.hpo.space import CategoricalParam, Space
from jaxsnn.hpo.spec import DIRECTIONS
from jaxsnn.train.run import Run
from jaxsnn.tuning.evaluate import base_run, probe_data, reported
from jaxsnn.tuning.objective import TrialObjective
from jaxsnn.tuning.reference import Reference
from jaxsnn.tuning.spaces import added_params, dotted, inapplicable, search_space

DRIVER_KEYS: tuple[str, ...] = ("n_trials", "n_workers", "batch_trials", "executor", "dask_address", "cluster")
"""How this driver runs the study, not what the study is: a resuming command may change them
(``n_trials``: a study that ended may be given more trials; the finished ones count)."""

_T = TypeVar("_T")
_MISSING = object()


class SpecError(ValueError):
    """A study spec that cannot run; the message lists every problem under its ``hpo.`` key."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a checked spec builds: the study starts from this and nothing else."""

    space: Space
    objective: TrialObjective
    reference: Reference | None
    enqueue: list[dict[str, Any]]
    notes: tuple[str, ...]
    """One line per automatic change to the spec (parameters left out for the dataset)."""
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """The optimizer's options as the study stores them: ``options`` plus, for SCBO, the preset's
    GP input ``features`` (:mod:`jaxsnn.hpo.features`)."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Problems(list[str]):
    """The problems found so far, each ``hpo.<key>: <message>``."""

    def check(self, ok: bool, key: str, message: str) -> None:
        if not ok:
            self.append(f"hpo.{key}: {message}")

    def attempt(
        self, key: str, build: Callable[[], _T], errors: tuple[type[Exception], ...] = (ValueError, TypeError)
    ) -> _T | None:
        """``build()``, or ``None`` with its error noted under ``key``."""
        try:
            return build()
        except errors as e:
            self.append(f"hpo.{key}: {e}")
            return None


def _space(spec: Mapping[str, Any], bounds: Mapping[str, Any], problems: _Problems, run: Run
           ) -> tuple[Space | None, list[str]]:  # fmt: skip
    """The searched space and the parameters left out because the run's dataset has no use for them.

    A parameter the spec narrows explicitly is not left out silently: that is refused.
    """
    trainer, dataset, exclude = run.algorithm, run.data.name, list(spec["exclude"])
    found = len(problems)
    dropped = [name for name in inapplicable(trainer, dataset) if name not in exclude]
    narrowed = [name for name in dropped if name in bounds]
    problems.check(not narrowed, "bounds", f"{narrowed} do not apply to dataset {dataset!r} (no rate coding): "
                   "remove their bounds")  # fmt: skip
    for name, pair in bounds.items():
        problems.check(isinstance(pair, (list, tuple)) and len(pair) == 2, f"bounds.{name}",
                       f"must be [low, high], got {pair!r}")  # fmt: skip
    if len(problems) > found:
        return None, dropped
    narrow = {name: tuple(pair) for name, pair in bounds.items()}
    add = spec.get("add") or {}  # a study stored before the key adds nothing
    space = problems.attempt("bounds / hpo.exclude / hpo.add",
                             lambda: search_space(trainer, [*exclude, *dropped], narrow, add))  # fmt: skip
    return space, dropped


def _check_bounds(space: Space, spec: Mapping[str, Any], bounds: Mapping[str, Any], objective: TrialObjective,
                  problems: _Problems) -> None:  # fmt: skip
    """Each narrowed bound and each end (or choice) of an added parameter must be a value the
    trainer's config accepts (a negative ``trainer.epochs`` or ``surrogate.gamma`` would otherwise
    fail every trial that draws near it, a misspelled added field every trial)."""
    added = added_params(spec.get("add") or {})
    # Added fields may depend on each other (trainer.weight_decay needs trainer.optimizer=adamw):
    # each end is checked with the other added parameters at their first choice or low end.
    together = {p.name: p.choices[0] if isinstance(p, CategoricalParam) else p.low for p in added}
    for key, names, others in (("bounds", list(bounds), {}), ("add", list(together), together)):
        for name in names:
            param = space[name]
            parent = {} if param.condition is None else {param.condition.parent: param.condition.values[0]}
            values = param.choices if isinstance(param, CategoricalParam) else (param.low, param.high)
            for value in values:
                problems.attempt(f"{key}.{name}", lambda: objective.check({**others, **parent, name: value}))


def _check_names(spec: Mapping[str, Any], objective: TrialObjective, algorithm: str, problems: _Problems) -> None:
    """Declared objectives and constraints against the names the trainer's records carry: a
    name it never records fails every trial, one it records undeclared too."""
    objectives, constraints = dict(spec["objectives"]), list(spec["constraints"])
    problems.check(bool(objectives) and all(d in DIRECTIONS for d in objectives.values()), "objectives",
                   f"must map objective names to 'max' or 'min', got {objectives}")  # fmt: skip
    has, records = reported(objective.base)
    unknown = [name for name in objectives if name not in has]
    problems.check(not unknown, "objectives", f"{unknown} not recorded by algorithm {algorithm!r}; "
                   f"it records {list(has)}")  # fmt: skip
    unknown = [name for name in constraints if name not in records]
    problems.check(not unknown, "constraints", f"{unknown} not recorded by this evaluation; its stoppers record "
                   f"{list(records)} (hpo.evaluation.silent, hpo.evaluation.activity)")  # fmt: skip
    undeclared = [name for name in records if name not in constraints]
    problems.check(not undeclared, "constraints", f"the evaluation records {undeclared}: declare them, or turn "
                   "their stopper off (e.g. hpo.evaluation.silent=null)")  # fmt: skip


def _points(spec: Mapping[str, Any], space: Space, dropped: Sequence[str], problems: _Problems
            ) -> tuple[Reference | None, list[dict[str, Any]]]:  # fmt: skip
    """The reference and enqueued points without the dropped parameters, each a point of ``space``."""

    def keep(point: Any) -> Any:
        return {k: v for k, v in dotted(point).items() if k not in dropped} if isinstance(point, Mapping) else point

    reference = None
    if spec["reference"] is not None:
        params = problems.attempt("reference.params", lambda: keep(spec["reference"].get("params") or {}))
        block = {**spec["reference"], "params": params}
        reference = None if params is None else problems.attempt(
            "reference", lambda: Reference.from_dict(block, spec["objectives"]))
        if reference is not None:
            problems.attempt("reference.params", lambda: space.validate(reference.params))
    enqueue = []
    for i, given in enumerate(spec["enqueue"]):
        point = problems.attempt(f"enqueue[{i}]", lambda: keep(given))
        if point is not None:  # any problem noted fails the spec: no point of a bad one is used
            problems.attempt(f"enqueue[{i}]", lambda: space.validate(point))
            enqueue.append(point)
    return reference, enqueue


def prepare(spec: Mapping[str, Any]) -> Plan:
    """Check ``spec`` (the ``hpo`` group as a dict) and build the study's parts; ``SpecError``
    lists every problem. Nothing is written and no worker starts; the dataset is opened once
    (``probe_data``) after every other check passed, because it is the slowest."""
    problems = _Problems()
    for key in ("n_trials", "n_workers"):
        problems.check(_is_int(spec[key]) and spec[key] >= 1, key, f"must be a positive integer, got {spec[key]!r}")
    batch = spec.get("batch_trials", 1)  # a study stored before the key runs one trial per task
    problems.check(_is_int(batch) and batch >= 1, "batch_trials", f"must be a positive integer, got {batch!r}")
    problems.check(_is_int(spec["seed"]), "seed", f"must be an integer, got {spec['seed']!r}")
    timeout = spec["timeout_s"]
    positive = isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0
    problems.check(timeout is None or positive, "timeout_s", f"must be a positive number or null, got {timeout!r}")
    executors = get_args(ExecutorKind)
    problems.check(spec["executor"] in executors, "executor",
                   f"must be one of {list(executors)}, got {spec['executor']!r}")  # fmt: skip
    if spec["executor"] == "slurm":  # imported here: only this executor needs dask's cluster machinery
        from jaxsnn.hpo.cluster import MissingExtra, SlurmJobs, require_extra

        problems.attempt("executor", require_extra, (MissingExtra,))
        problems.attempt("cluster", lambda: SlurmJobs.from_spec(spec.get("cluster")))
    _check_moved(spec, problems)
    run = problems.attempt("run", lambda: base_run(spec.get("run")))
    if problems:
        raise SpecError(_message(problems))
    base = {"run": spec["run"], **spec["evaluation"]}
    objective = problems.attempt("evaluation", lambda: TrialObjective(base))
    bounds = problems.attempt("bounds", lambda: dotted(spec["bounds"]))
    space, dropped = _space(spec, bounds, problems, run) if bounds is not None else (None, [])
    if objective is not None:
        _check_names(spec, objective, run.algorithm, problems)
        if space is not None:
            _check_bounds(space, spec, bounds, objective, problems)
    options, notes = _options(spec, run.algorithm, problems)
    if space is not None:
        reference, enqueue = _points(spec, space, dropped, problems)
        products_ok = [key not in options or problems.attempt(key, lambda: LogProductFeatures(space, options[key]))
                       is not None for key in ("features", "design_prior")]  # fmt: skip
        if all(products_ok):  # a bad product spec is reported under its own key, not again as the optimizer's
            problems.attempt("optimizer", lambda: make_optimizer(spec["optimizer"], space, dict(spec["objectives"]),
                                                             list(spec["constraints"]), seed=spec["seed"],
                                                             **options))  # fmt: skip
    if not problems:
        problems.attempt("run.data.root", lambda: probe_data(base), (DatasetError, OSError, ValueError))
    if problems:
        raise SpecError(_message(problems))
    if dropped:
        notes += (f"note: {', '.join(dropped)} left out of the search: dataset {run.data.name!r} has no rate coding",)
    return Plan(space, objective, reference, enqueue, notes, options)


def _options(spec: Mapping[str, Any], algorithm: str, problems: _Problems) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The optimizer's options: ``hpo.options``, plus the preset's ``hpo.features`` and the signs
    of their ``hpo.screen_prior`` where the optimizer uses them (every
    :class:`~jaxsnn.hpo.screen.FeatureScreen`: SCBO's GPs take them as inputs and both SCBO and
    log-EI screen their design and candidates on them), and its ``hpo.design_prior`` where the
    optimizer has a design (every :class:`~jaxsnn.hpo.optimizers.BayesianOptimizer`), else a note
    that it searches without them. A preset names its trainer's features once, and
    ``hpo.optimizer=logei`` or ``=random`` still runs it."""
    options, notes = dict(spec["options"]), []
    features, prior = _products(spec, "features", algorithm, problems), spec.get("screen_prior")
    design_prior = _products(spec, "design_prior", algorithm, problems)
    cls = OPTIMIZERS.get(spec["optimizer"])
    if features:
        if cls is not None and issubclass(cls, FeatureScreen):
            options = {"features": features, **({} if prior is None else {"screen_prior": prior}), **options}
        else:
            users = [name for name, c in OPTIMIZERS.items() if issubclass(c, FeatureScreen)]
            notes.append(f"note: hpo.features ({', '.join(features)}) are inputs of {' and '.join(users)} only; "
                         f"{spec['optimizer']} searches without them")  # fmt: skip
    else:
        problems.check(prior is None, "screen_prior", "needs hpo.features: it gives the sign of a feature")
    if design_prior:
        if cls is not None and issubclass(cls, BayesianOptimizer):
            options = {"design_prior": design_prior, **options}
        else:
            notes.append(f"note: hpo.design_prior ({', '.join(design_prior)}) orders a model's initial design; "
                         f"{spec['optimizer']} has none and searches without it")  # fmt: skip
    return options, tuple(notes)


def _products(spec: Mapping[str, Any], key: str, algorithm: str, problems: _Problems) -> Any:
    """``hpo.<key>`` (``features`` or ``design_prior``: ``{name: {parameter path: exponent}}``,
    the paths nested or dotted) with its paths dotted. LogProductFeatures drops a name the study's
    space lacks (excluded: a constant of the study), so a name the trainer does not have at all
    would silently vanish: it is refused here, under ``hpo.<key>.<name>``."""
    products = spec.get(key)
    if not products or not isinstance(products, Mapping):
        return products
    products = problems.attempt(key, lambda: {
        name: dotted(powers) if isinstance(powers, Mapping) else powers for name, powers in products.items()
    }) or {}  # fmt: skip
    try:  # the trainer's whole space: an excluded parameter is a constant, not a mistake
        known = set(search_space(algorithm, add=spec.get("add") or {}).names)
    except (ValueError, TypeError):  # a bad hpo.add, reported with the space
        known = set(search_space(algorithm).names)
    for name, powers in products.items():
        unknown = sorted(set(powers) - known) if isinstance(powers, Mapping) else []
        problems.check(not unknown, f"{key}.{name}", f"unknown {algorithm} parameter(s) {unknown}")
    return products


_MOVED: dict[str, str] = {
    "trainer": "run.algorithm", "evaluation.dataset": "run.data.name", "evaluation.data_root": "run.data.root",
    "evaluation.data_seed": "run.data.seed", "evaluation.data_options": "run.data.options",
    "evaluation.data_time_steps": "run.data.time_steps", "evaluation.seed": "run.seed",
    "evaluation.backend": "run.model.neuron.backend (sg) or run.hybrid.backend",
    "evaluation.xla_optimizations": "run.trainer.xla_optimizations", "evaluation.stdp": "run.stdp",
    "evaluation.slayer": "run.slayer", "evaluation.hybrid": "run.hybrid",
}  # fmt: skip
"""Keys of specs written before a trial was a run config plus overrides, and where each went."""


def moved_keys(spec: Mapping[str, Any]) -> list[str]:
    """``hpo.<old key>`` -> ``hpo.<new key>`` for each key of ``spec`` that moved into ``run``."""
    given = set(spec) | {f"evaluation.{key}" for key in spec.get("evaluation") or {}}
    return [f"hpo.{old} is now hpo.{new}" for old, new in _MOVED.items() if old in given]


def _check_moved(spec: Mapping[str, Any], problems: _Problems) -> None:
    for line in moved_keys(spec):
        problems.append(f"{line} (a trial is experiments/train.py's run config plus its point)")
    problems.check("run" in spec, "run", "missing: the base run of every trial, in conf/train.yaml's shape")


def _message(problems: Sequence[str]) -> str:
    return "the study cannot start:\n  - " + "\n  - ".join(problems)


def _overridden(overrides: Sequence[str]) -> list[str]:
    """The ``hpo`` paths a command line sets, relative to ``hpo`` (``""``: the whole group, ``hpo=<preset>``)."""
    keys = [o.key_or_group for o in OverridesParser.create().parse_overrides(list(overrides))]
    return [key[len("hpo."):] if key != "hpo" else "" for key in keys if key == "hpo" or key.startswith("hpo.")]


def resume_spec(composed: Mapping[str, Any], overrides: Sequence[str], stored: Mapping[str, Any]) -> dict[str, Any]:
    """The spec of a command run on an existing study: the ``stored`` one, with the command's
    overrides of ``DRIVER_KEYS`` applied. ``composed`` is the command's ``hpo`` config and
    ``overrides`` its command-line overrides; any override that changes the stored spec
    (outside ``DRIVER_KEYS``) is refused with a ``SpecError`` listing each difference."""
    paths = _overridden(overrides)
    try:
        given, kept = dotted(composed), dotted(stored)
    except ValueError as error:  # a path the command gives nested where the preset has it dotted
        raise SpecError(f"hpo: {error}") from None

    def touched(path: str) -> bool:
        return any(not p or path == p or path.startswith(p + ".") for p in paths)

    differences = [
        f"hpo.{path}: the study has {kept.get(path, '(unset)')!r}, this command gives {given.get(path, '(unset)')!r}"
        for path in sorted(set(given) | set(kept))
        if touched(path) and path.split(".")[0] not in DRIVER_KEYS
        and given.get(path, _MISSING) != kept.get(path, _MISSING)
    ]  # fmt: skip
    if differences:
        raise SpecError("this command would change the study it resumes; drop these overrides (or pick "
                        "another study= path for a new study):\n  - " + "\n  - ".join(differences))  # fmt: skip
    spec = copy.deepcopy(dict(stored))
    spec.update({key: composed[key] for key in DRIVER_KEYS if touched(key)})
    for path in paths:  # a part of a driver key's block (hpo.cluster.jobs=8): that part alone
        if path.split(".")[0] in DRIVER_KEYS and not touched(path.split(".")[0]):
            _assign(spec, path, composed)
    return spec


def _assign(tree: dict[str, Any], path: str, source: Mapping[str, Any]) -> None:
    """Copy the value at the dotted ``path`` of ``source`` into ``tree``, making blocks on the way."""
    *parents, leaf = path.split(".")
    for key in parents:
        if not isinstance(tree.get(key), dict):
            tree[key] = {}
        tree, source = tree[key], source[key]
    tree[leaf] = copy.deepcopy(source[leaf])
