"""The SG trainer and vmapped sweeps on a tiny synthetic task: records, schedules, stoppers,
divergence, and agreement with an independent flax/optax training loop and with separate runs."""

from __future__ import annotations

import dataclasses
import json
import threading

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxsnn.compile_cache import compilation_counts
from jaxsnn.core import Surrogate
from jaxsnn.data import DataSplits, SpikeDataset
from jaxsnn.nn import ConvSpec, LIFSpec
from jaxsnn.record import EvaluationRecord
from jaxsnn.train.config import ModelConfig, TrainerConfig
from jaxsnn.train.multi import sweep, train_multi
from jaxsnn.train.sg import PROGRAMS, SCREENS, Member, fit, make_optimizer, train_sg
from jaxsnn.train.silent import SilentNetworkDetector
from jaxsnn.train.sparsity import SparsitySchedule
from jaxsnn.train.stopping import StopDecision

TINY = ModelConfig(hidden=(16,), neuron=LIFSpec(backend="xla"))


def toy_split(
    n: int, seed: int, steps: int = 8, channels: int = 12, classes: int = 3
) -> SpikeDataset:
    """Class k makes input channels [4k, 4k+4) fire often: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n).astype(np.int32)
    rates = np.full((n, channels), 0.05)
    for k in range(classes):
        rates[labels == k, 4 * k : 4 * k + 4] = 0.6
    inputs = (rng.random((n, steps, channels)) < rates[:, None, :]).astype(np.float32)
    return SpikeDataset(inputs, labels, classes, "toy")


DATA = DataSplits(toy_split(96, 0), toy_split(48, 1))


class FireAt:
    """Stops at its ``at``-th batch (never when ``at`` is None) and logs what it was fed."""

    def __init__(self, at: int | None, constraints: dict[str, float]) -> None:
        self.at, self._constraints, self.calls = at, constraints, []

    def update(self, output_spike_counts, mean_rates):
        self.calls.append((np.shape(output_spike_counts), dict(mean_rates)))
        if len(self.calls) == self.at:
            return StopDecision("silent_stopped", "too few output spikes")
        return None

    def constraints(self):
        return self._constraints


def losses(record: EvaluationRecord) -> list[float]:
    return [entry["loss"] for entry in record.metrics["history"]]


@pytest.mark.parametrize(
    "epochs, expected",
    [
        (10, {0: 0.0, 2: 0.0, 3: 0.25, 4: 0.5, 6: 1.0, 9: 1.0}),
        (5, {1: 0.0, 2: 0.5, 3: 1.0, 4: 1.0}),
    ],
)
def test_sparsity_switch_is_off_until_a_fifth_then_ramps_to_one_at_three_fifths(epochs, expected):
    schedule = SparsitySchedule()
    assert {e: schedule.switch(e, epochs) for e in expected} == pytest.approx(expected)


def test_sparsity_penalty_sums_layer_deviations_from_the_target():
    schedule = SparsitySchedule(weight=2.0, target=0.1)
    penalty = schedule.penalty({"a": np.float32(0.3), "b": np.float32(0.1)}, np.float32(0.5))
    assert float(penalty) == pytest.approx(2.0 * 0.5 * 0.2**2)
    with pytest.raises(ValueError, match="start <= end"):
        SparsitySchedule(start=0.7, end=0.6)


def test_complete_run_learns_and_records_everything():
    record = train_sg(
        TINY, TrainerConfig(epochs=4, batch_size=32, lr=1e-2), DATA, seed=1, progress=False
    )
    assert record.status == "complete" and record.error is None and record.epochs_run == 4
    assert set(record.objectives) == {"accuracy", "train_accuracy", "train_time_s"}
    assert record.objectives["accuracy"] > 0.6  # chance is 1/3
    assert record.constraints == {} and record.spikes > 0 and record.cost_s > 0
    history = record.metrics["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4] and not any(h["partial"] for h in history)
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["test_accuracy"] == record.objectives["accuracy"]
    for entry in history:
        assert entry["steps"] == 3 and 0 < entry["rates"]["hidden0"] < 1
        assert entry["test_accuracy"] is not None and entry["epoch_time_s"] > 0
    assert [h["sparsity_switch"] for h in history] == pytest.approx(
        [0.0, 0.2 / 1.6, 1.2 / 1.6, 1.0]
    )
    assert record.metrics["compile_time_s"] > 0 and record.metrics["steps_per_epoch"] == 3
    assert record.params["seed"] == 1 and record.params["model"]["hidden"] == (16,)
    assert EvaluationRecord.from_json(record.to_json()).objectives == record.objectives
    params = json.loads(record.to_json())["params"]  # what the study stores: plain JSON
    assert params["model"]["surrogate"]["shape"] == "fast_sigmoid"
    assert params["trainer"]["sparsity"]["target"] == 0.01 and params["trainer"]["lr"] == 1e-2


def test_training_matches_an_independent_nnx_optimizer_loop():
    """Full-batch Adam with the annealed sparsity loss, written the plain flax/optax way."""
    cfg = TrainerConfig(
        epochs=3,
        batch_size=len(DATA.train),
        lr=1e-2,
        sparsity=SparsitySchedule(weight=5.0, target=0.02),
    )
    record = train_sg(TINY, cfg, DATA, seed=7, progress=False)

    model = TINY.build(DATA.train.sample_shape, DATA.train.n_classes, seed=7)
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    x, y = DATA.train.inputs, DATA.train.labels

    def loss_fn(m, switch):
        out = m(x)
        rate = out.spikes["hidden0"].mean()
        ce = optax.softmax_cross_entropy_with_integer_labels(out.logits, y).mean()
        return ce + 5.0 * switch * (rate - 0.02) ** 2

    @nnx.jit  # one compiled step for the three epochs (eager, each op dispatches and compiles alone)
    def step(m, opt, switch):
        loss, grads = nnx.value_and_grad(loss_fn)(m, switch)
        opt.update(m, grads)
        return loss

    expected = [float(step(model, optimizer, cfg.sparsity.switch(epoch, 3))) for epoch in range(3)]
    assert expected[1] != expected[0]
    np.testing.assert_allclose(losses(record), expected, rtol=2e-5)


def test_non_finite_loss_gives_a_failed_record_that_keeps_the_history():
    cfg = TrainerConfig(epochs=3, batch_size=len(DATA.train), lr=1e38)  # diverges on the 2nd update
    record = train_sg(TINY, cfg, DATA, progress=False)
    assert record.status == "failed" and record.objectives == {}
    assert "non-finite loss" in record.error and "epoch 2, step 1" in record.error
    assert record.epochs_run == 1
    assert [h["epoch"] for h in record.metrics["history"]] == [1]
    assert record.metrics["history"][0]["test_accuracy"] is not None
    assert EvaluationRecord.from_json(record.to_json()).error == record.error


def test_stop_decision_ends_training_at_once_without_a_test_pass():
    firing = FireAt(3, {"silent_fraction": 0.25})
    watching = FireAt(None, {"rate_guard": -0.5})
    cfg = TrainerConfig(epochs=3, batch_size=16)
    record = train_sg(TINY, cfg, DATA, stoppers=[watching, firing], progress=False)
    assert record.status == "silent_stopped" and record.error is None
    assert record.constraints == {"silent_fraction": 0.25, "rate_guard": -0.5}
    assert len(firing.calls) == len(watching.calls) == 3  # every stopper, every batch, then stop
    assert all(shape == (16,) and set(rates) == {"hidden0"} for shape, rates in watching.calls)
    assert record.epochs_run == 0 and record.metrics["stop_reason"] == "too few output spikes"
    (entry,) = record.metrics["history"]
    assert entry["partial"] and entry["steps"] == 3 and entry["test_accuracy"] is None
    assert record.objectives["accuracy"] == entry["train_accuracy"]
    assert record.spikes == entry["output_spikes_per_sample"]


def test_vmapped_population_equals_separate_runs():
    """Seeds, a surrogate setting and a learning rate trained in one compiled call; a member
    stopped early is frozen without disturbing the others."""
    cfg = TrainerConfig(epochs=3, batch_size=32, lr=5e-3)
    gentle = dataclasses.replace(TINY, surrogate=Surrogate("fast_sigmoid", gamma=0.5, beta=2.0))
    members = [Member(TINY, 0), Member(TINY, 1), Member(gentle, 0, lr=2e-2), Member(TINY, 2)]
    stop_last = lambda m: [FireAt(2 if m.seed == 2 else None, {})]  # noqa: E731
    records = train_multi(members, cfg, DATA, stoppers=stop_last, progress=False)
    assert [r.status for r in records] == ["complete"] * 3 + ["silent_stopped"]
    assert records[0].metrics["population"] == 4
    for member, together in zip(members[:3], records[:3], strict=True):
        alone = train_sg(
            member.model,
            dataclasses.replace(cfg, lr=member.lr or cfg.lr),
            DATA,
            seed=member.seed,
            progress=False,
        )
        np.testing.assert_allclose(losses(together), losses(alone), rtol=1e-5)
        assert together.objectives["accuracy"] == alone.objectives["accuracy"]
        assert together.params == alone.params
    assert len({tuple(losses(r)) for r in records[:3]}) == 3


def test_on_epoch_hands_over_the_trained_networks():
    """After each epoch the hook sees every member's network with the weights the trainer has
    then: the last ones classify the test set exactly as the records report."""
    cfg = TrainerConfig(epochs=2, batch_size=32, lr=5e-3)
    members = [Member(TINY, 0), Member(TINY, 1)]
    seen: list[tuple[int, list[nnx.Module]]] = []
    records = fit(members, cfg, DATA, progress=False, on_epoch=lambda epoch, nets: seen.append((epoch, nets)))
    assert [(epoch, len(nets)) for epoch, nets in seen] == [(0, 2), (1, 2)]
    first, last = seen[0][1][0], seen[1][1][0]
    assert not np.allclose(first.hidden[0].linear.kernel[...], last.hidden[0].linear.kernel[...])
    x = jnp.asarray(DATA.test.inputs)
    for network, record in zip(seen[1][1], records, strict=True):
        hits = np.asarray(network(x).logits.argmax(axis=-1) == DATA.test.labels)
        assert hits.mean() == pytest.approx(record.objectives["accuracy"])


def test_population_sweeping_surrogate_settings_compiles_once():
    """A second population of other seeds, gammas, betas, qs and learning rates runs on the
    programs compiled for the first: XLA compiles nothing more."""
    cfg = TrainerConfig(epochs=1, batch_size=32)

    def population(settings):
        return [Member(dataclasses.replace(TINY, surrogate=Surrogate("q_pseudo_spike", g, b, q)), seed, lr=lr)
                for seed, (g, b, q, lr) in enumerate(settings)]  # fmt: skip

    first = train_multi(population([(0.5, 1.0, 1.5, 1e-2), (1.0, 2.0, 3.0, 1e-3)]), cfg, DATA, progress=False)
    misses, compiled = PROGRAMS.misses, compilation_counts()["compiled"]
    second = train_multi(population([(2.0, 0.5, 1.2, 5e-3), (0.3, 1.5, 4.0, 2e-2)]), cfg, DATA, progress=False)
    assert PROGRAMS.misses == misses and compilation_counts()["compiled"] == compiled
    assert [losses(r) for r in first] != [losses(r) for r in second]


def test_a_first_batch_that_ends_the_run_is_judged_before_the_training_step_compiles():
    """A network no input can make spike, whose first batch (32 silent samples) already loses the
    detector's check at 64: a forward-only program stops it, the training step is never compiled
    for it, and its record is the one the training step's own first batch gives once compiled."""
    model = dataclasses.replace(TINY, hidden=(6,), neuron=LIFSpec(theta=1e4, backend="xla"))  # no other test's shape
    cfg = TrainerConfig(epochs=2, batch_size=32)

    def detector() -> SilentNetworkDetector:
        return SilentNetworkDetector(k=1, p=0.3, update_interval=64)

    misses, screens = PROGRAMS.misses, SCREENS.misses
    screened = train_sg(model, cfg, DATA, stoppers=[detector()], progress=False)
    assert PROGRAMS.misses == misses and SCREENS.misses == screens + 1  # no training step compiled
    assert screened.status == "silent_stopped" and screened.metrics["samples_seen"] == 32
    train_sg(model, cfg, DATA, progress=False)  # no stoppers, no screen: compiles the training step
    assert PROGRAMS.misses == misses + 1
    stepped = train_sg(model, cfg, DATA, stoppers=[detector()], progress=False)  # the step's first batch
    assert SCREENS.misses == screens + 1 and stepped.status == screened.status
    assert stepped.constraints == screened.constraints and stepped.spikes == screened.spikes
    assert stepped.objectives["accuracy"] == pytest.approx(screened.objectives["accuracy"])
    assert losses(stepped) == pytest.approx(losses(screened), rel=1e-6)
    assert stepped.metrics["samples_seen"] == 32 and stepped.metrics["stop_reason"] == screened.metrics["stop_reason"]


def test_the_first_batch_screen_leaves_a_run_it_does_not_end_untouched():
    """The screen judges copies of the stoppers: a run that goes on is observed batch by batch
    from the training step only (no batch seen twice), exactly as when the step was compiled."""
    model = dataclasses.replace(TINY, hidden=(7,))  # no other test's shape: the first run is screened
    cfg = TrainerConfig(epochs=2, batch_size=32)
    screens = SCREENS.misses
    watched, again = FireAt(None, {}), FireAt(None, {})
    first = train_sg(model, cfg, DATA, stoppers=[watched], progress=False)
    assert SCREENS.misses == screens + 1
    second = train_sg(model, cfg, DATA, stoppers=[again], progress=False)  # compiled: no screen
    assert SCREENS.misses == screens + 1
    assert len(watched.calls) == len(again.calls) == cfg.epochs * (96 // 32)
    assert first.status == second.status == "complete"
    assert losses(first) == losses(second) and first.objectives["accuracy"] == second.objectives["accuracy"]


def test_a_stopper_that_cannot_be_copied_is_left_to_the_training_step():
    """The screen asks copies of the stoppers; one holding a lock cannot be copied, so its run is
    not screened and ends where the training step's first batch ends it."""

    class Locked(FireAt):
        def __init__(self) -> None:
            super().__init__(1, {})
            self.lock = threading.Lock()

    model = dataclasses.replace(TINY, hidden=(5,))  # no other test's shape: the run would be screened
    locked = Locked()
    record = train_sg(model, TrainerConfig(epochs=1, batch_size=32), DATA, stoppers=[locked], progress=False)
    assert record.status == "silent_stopped" and len(locked.calls) == 1 and record.metrics["samples_seen"] == 32


def test_sweep_grid_and_structure_checks():
    surrogates = [Surrogate(gamma=0.5), Surrogate(gamma=1.5)]
    members = sweep(TINY, seeds=(0, 1), surrogates=surrogates, lrs=(None, 1e-3))
    assert len(members) == 8
    assert [(m.model.surrogate.gamma, m.lr, m.seed) for m in members[:4]] == [
        (0.5, None, 0),
        (0.5, None, 1),
        (0.5, 1e-3, 0),
        (0.5, 1e-3, 1),
    ]
    with pytest.raises(ValueError, match="one surrogate shape"):
        sweep(TINY, surrogates=[Surrogate("gaussian"), Surrogate("triangular")])
    with pytest.raises(ValueError, match="different network"):
        fit([Member(TINY), Member(dataclasses.replace(TINY, hidden=(8,)))], TrainerConfig(), DATA)
    with pytest.raises(ValueError, match="batch_size=200 exceeds"):
        train_sg(TINY, TrainerConfig(batch_size=200), DATA)


def test_learning_rate_schedule_is_warmup_then_cosine():
    cfg = TrainerConfig(epochs=3, optimizer="sgd", schedule="cosine", warmup_epochs=1.0)
    tx = make_optimizer(cfg, steps_per_epoch=4)
    params = {"w": jnp.zeros(())}
    state, scales = tx.init(params), []
    for _ in range(12):
        update, state = tx.update({"w": jnp.ones(())}, state, params)
        scales.append(float(update["w"]))
    cosine = [0.5 * (1 + np.cos(np.pi * k / 8)) for k in range(8)]
    np.testing.assert_allclose(scales, [0.0, 0.25, 0.5, 0.75, *cosine], atol=1e-6)


def test_conv_network_learns_event_camera_frames_it_has_not_seen():
    """Class 1 lights the top half of the ON channel; the accuracy is measured on held-out frames
    (the record's accuracy is the test split's), so memorising the training frames does not pass."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 72).astype(np.int32)
    frames = (rng.random((72, 4, 2, 8, 8)) < 0.1).astype(np.float32)
    frames[labels == 1, :, 0, :4] = rng.random((int(labels.sum()), 4, 4, 8)) < 0.6  # a bright top
    data = DataSplits(
        SpikeDataset(frames[:40], labels[:40], 2, "frames"),
        SpikeDataset(frames[40:], labels[40:], 2, "frames"),
    )
    model = dataclasses.replace(TINY, conv=(ConvSpec(4, 3, 2),), hidden=(8,), weight_scale=2.0)
    record = train_sg(model, TrainerConfig(epochs=4, batch_size=16, lr=1e-2), data, progress=False)
    assert record.status == "complete"
    assert set(record.metrics["history"][-1]["rates"]) == {"conv0", "hidden0"}
    assert losses(record)[-1] < losses(record)[0] - 0.1
    # 32 unseen frames, chance 0.5: 0.906 measured on data seeds 0-2; 0.41-0.56 with lr 1e-9
    assert record.objectives["accuracy"] >= 0.8
