"""``experiments/hpo.py`` on event datasets, from files in their real formats (issue 14): the
rate-coding parameter (``data.options.max_rate``) is left out of the SG space and a small study
ends with complete trials (before, every trial failed on ``max_rate`` and the run exited 0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from entry_points import run_script
from fixtures_data import write_dvs_gesture, write_nmnist
from test_fail_early import write_tiny_shd

from jaxsnn.hpo.study import Study


def camera_events(rng: np.random.Generator, size: int, t_max: int) -> dict:
    return {"x": rng.integers(0, size, 40), "y": rng.integers(0, size, 40), "t": np.sort(rng.integers(0, t_max, 40)),
            "p": rng.integers(0, 2, 40)}  # fmt: skip


def write_tiny_nmnist(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("Train", 8), ("Test", 4)):
        for i in range(n):
            write_nmnist(root, split, i % 10, f"{i:05d}", camera_events(rng, 34, 100_000))
    return root


def write_tiny_dvs_gesture(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, user, n in (("Train", "user01_led", 8), ("Test", "user24_led", 4)):
        for label in range(n):
            write_dvs_gesture(root, split, user, label, camera_events(rng, 128, 2_000))
    return root


def run_small_study(tmp_path: Path, dataset: str, root: Path, *options: str) -> list:
    """Two random trials of a one-layer net of at most 8 neurons, detector off: they must complete."""
    run_script(
        "hpo.py", f"hydra.run.dir={tmp_path / 'run'}", "progress=false", "compilation_cache=null",
        f"hpo.run.data.name={dataset}", f"hpo.run.data.root={root}", "hpo.evaluation.silent=null",
        "hpo.constraints=[]", "hpo.optimizer=random", "hpo.n_trials=2", "hpo.executor=thread", "hpo.enqueue=[]",
        "hpo.exclude=[model.hidden.depth,model.recurrent]", "hpo.bounds.trainer.epochs=[1,2]",
        "hpo.bounds.model.hidden.width=[4,8]", "hpo.bounds.data.time_steps=[4,6]",
        "hpo.bounds.trainer.batch_size=[2,4]", *options,
    )  # fmt: skip
    with Study.open(tmp_path / "run" / "study.sqlite") as study:
        assert "data.options.max_rate" not in study.space.names
        return study.finished()


def test_a_small_study_on_shd_files_completes(tmp_path, capsys):
    trials = run_small_study(tmp_path, "shd", write_tiny_shd(tmp_path / "data"), "+hpo.run.data.options={n_channels: 20}")
    assert [t.status for t in trials] == ["complete", "complete"], [t.record.error for t in trials]
    assert all(set(t.record.objectives) == {"accuracy", "train_accuracy", "train_time_s"} for t in trials)
    out = " ".join(capsys.readouterr().out.split())  # the console wraps the note at 80 columns
    assert "note: data.options.max_rate left out of the search: dataset 'shd' has no rate coding" in out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dataset", "write"), [("nmnist", write_tiny_nmnist), ("dvs_gesture", write_tiny_dvs_gesture)]
)
def test_a_small_study_on_camera_files_completes(tmp_path, dataset, write):
    trials = run_small_study(tmp_path, dataset, write(tmp_path / "data"), "+hpo.run.data.options={size: 8}")
    assert [t.status for t in trials] == ["complete", "complete"], [t.record.error for t in trials]
