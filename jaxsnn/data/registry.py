"""Dataset names -> loaders: the one entry point configs (Hydra ``data=...``) go through."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from jaxsnn.data.cifar10 import load_cifar10
from jaxsnn.data.dataset import DataSplits, ImageDataset
from jaxsnn.data.digits import load_digits_images, load_digits_spikes
from jaxsnn.data.neuromorphic import load_dvs_gesture, load_nmnist, load_shd
from jaxsnn.data.randman import load_randman

SPIKE_DATASETS: Mapping[str, Callable[..., DataSplits]] = {
    "digits": load_digits_spikes,
    "randman": load_randman,
    "shd": load_shd,
    "nmnist": load_nmnist,
    "dvs_gesture": load_dvs_gesture,
}
EMBEDDED = frozenset({"digits", "randman"})
"""Generated or shipped with a dependency: no files, so ``root`` does not apply."""

IMAGE_DATASETS = ("digits", "cifar10")

_L = TypeVar("_L", bound=Callable[..., Any])


def _lookup(registry: Mapping[str, _L], name: str, kind: str) -> _L:
    try:
        return registry[name]
    except KeyError:
        raise ValueError(f"unknown {kind} dataset {name!r}; valid: {sorted(registry)}") from None


def loader_options(name: str) -> dict[str, inspect.Parameter]:
    """The options of spike dataset ``name``'s loader (``data.options``), each with its default:
    every argument but the window, seed and root, which ``load_dataset`` passes itself."""
    parameters = inspect.signature(_lookup(SPIKE_DATASETS, name, "spike")).parameters
    return {key: p for key, p in parameters.items() if key not in ("time_steps", "seed", "root")}


def _check_options(name: str, options: Mapping[str, Any]) -> None:
    """Name the dataset and its valid options, which a bare TypeError from the loader would not."""
    valid = set(loader_options(name))
    unknown = set(options) - valid
    if unknown:
        raise TypeError(
            f"unknown option(s) {sorted(unknown)} for dataset {name!r}; valid: {sorted(valid)}"
        )


def load_dataset(
    name: str,
    *,
    time_steps: int = 50,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
    **options: Any,
) -> DataSplits:
    """Load a spike dataset by name as train/test ``SpikeDataset`` s with ``time_steps`` steps.

    Names: ``digits``, ``randman`` (embedded, ``root`` ignored) and ``shd``, ``nmnist``,
    ``dvs_gesture`` (local files under ``root``, default ``$JAXSNN_DATA`` or ``~/jaxsnn_data``).
    ``options`` go to the dataset's loader, e.g. ``encoding="latency"`` for digits,
    ``n_channels=100`` for SHD, ``size=32`` for cameras, ``max_samples`` for the file datasets.
    """
    loader = _lookup(SPIKE_DATASETS, name, "spike")
    _check_options(name, options)
    if name in EMBEDDED:
        return loader(time_steps=time_steps, seed=seed, **options)
    return loader(time_steps=time_steps, seed=seed, root=root, **options)


def load_images(
    name: str, *, root: str | os.PathLike[str] | None = None, seed: int = 0
) -> tuple[ImageDataset, ImageDataset]:
    """Load static ``(train, test)`` images for the ANN-to-SNN path.

    ``digits``: embedded 1x8x8 images, stratified split drawn from ``seed`` (the same split as
    ``load_dataset("digits", seed=seed)``). ``cifar10``: 3x32x32 from the pickle batches under
    ``root``, official split (``seed`` unused).
    """
    if name == "digits":
        return load_digits_images(seed=seed)
    if name == "cifar10":
        return load_cifar10(root=root)
    raise ValueError(f"unknown image dataset {name!r}; valid: {list(IMAGE_DATASETS)}")
