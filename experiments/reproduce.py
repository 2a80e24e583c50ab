"""Reproduce one surrogate-gradient study (``experiment=`` preset): Markdown table + PNG figure.

    python experiments/reproduce.py experiment=sg_shape_lr                 # small, < 1 min
    python experiments/reproduce.py experiment=gamma_beta_q size=full      # the paper's grids
    python experiments/reproduce.py experiment=stability_init results_dir=results/stability
    python experiments/reproduce.py experiment=sg_shape_lr data=shd data.root=/data/shd

The studies live in ``jaxsnn.stability.reproduce``; presets in ``conf/experiment/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.console import Console
from rich.markdown import Markdown

from jaxsnn.cli.launchers import require_launcher_plugins
from jaxsnn.stability.reproduce import reproduce
from jaxsnn.train.schema import plain, register, run_config

register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="reproduce")
def main(cfg: DictConfig) -> None:
    run = run_config(cfg)
    options = plain(cfg)
    size = options["size"]
    if size not in options["grid"]:
        raise ValueError(f"preset {options['study']!r} has no grid for size={size}")
    out = Path(options["results_dir"] or HydraConfig.get().runtime.output_dir)
    paths = reproduce(options["study"], run, options["grid"][size], out, progress=cfg.progress)
    console = Console()
    for path in paths:
        if path.suffix == ".md":
            console.print(Markdown(path.read_text()))
        console.print(f"wrote {path}")


if __name__ == "__main__":
    require_launcher_plugins(sys.argv[1:])  # before Hydra, whose own error names no install
    main()
