"""A real study whose optimizer is a peer, Optuna's TPE or GPSampler with ``constraints_func``.

    python benchmarks/snn_real_peers.py optuna-tpe <experiments/hpo.py overrides ...>

``snn_real_studies.py --optimizers optuna-tpe`` runs this for each seed, with the overrides it
gives the presets: ``experiments/hpo.py`` itself runs, with the same trials, workers, detector,
compilation cache and study file, and only the optimizer its study loop asks is the peer, in the
peers' venv (``snn_peers.PEERS_INSTALL``). The surrogate benchmark compares the peers at equal
compute on a model of the tables; this compares them on trained networks, asked asynchronously by
two workers as the presets are. Optuna keeps several trials running, as an Optuna study with
workers does (TPE ignores them when it samples, its default).

The study file stores ``hpo.optimizer=random``: jaxsnn has no peer optimizers, so a resume would go
on as random search, and the report's split into design and model-guided trials takes the first
``N_INITIAL`` trials as the design, as for random search and for the peers on the surrogate. The
study's folder name (``optuna-tpe_<seed>``) says which peer ran it.
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from snn_peers import PEERS_PYTHON, PeerOptimizer, available_peers

from jaxsnn.hpo import loop
from jaxsnn.record import EvaluationRecord
from jaxsnn.snnbench.compare import N_INITIAL

HPO_ENTRY = Path(__file__).resolve().parent.parent / "experiments" / "hpo.py"
STUDY_PEERS = ("optuna-tpe", "optuna-gp")
"""The peers that keep several trials running (BoTorch SCBO here proposes one point at a time)."""


class PeerInStudy:
    """A peer as the study loop's optimizer: it keeps its own running trials, so the loop's pending
    points are not passed on."""

    def __init__(self, peer: PeerOptimizer) -> None:
        self.peer = peer

    def ask(self, pending: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        return self.peer.ask()

    def tell(self, record: EvaluationRecord) -> None:
        self.peer.tell(record)


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in STUDY_PEERS:
        raise SystemExit(f"usage: python {Path(__file__).name} {{{','.join(STUDY_PEERS)}}} [experiments/hpo.py "
                         "overrides ...]")  # fmt: skip
    peer, overrides = argv[0], argv[1:]
    missing = available_peers(PEERS_PYTHON)[peer]
    if missing is not None:
        raise SystemExit(missing)
    run_study = loop.run_study

    def run_study_with_peer(study, *args: Any, **kwargs: Any):
        if study.n_stored():
            raise SystemExit(f"{peer}: a peer's study is not resumed (the peer does not know its trials); "
                             "delete the study folder to run it again")  # fmt: skip
        with PeerOptimizer(PEERS_PYTHON, peer, study.space, study.seed, N_INITIAL) as optimizer:
            study.fresh_optimizer = lambda: PeerInStudy(optimizer)
            try:
                return run_study(study, *args, **kwargs)
            finally:
                del study.fresh_optimizer  # the report after the study: random search's design split

    loop.run_study = run_study_with_peer  # before the entry point imports it
    sys.argv = [str(HPO_ENTRY), *overrides, "hpo.optimizer=random"]
    runpy.run_path(str(HPO_ENTRY), run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
