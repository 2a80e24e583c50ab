"""The silent-network detector and the activity guard, on real LIF runs and in a real trainer."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.core import LIFParams, lif_scan
from jaxsnn.data import load_dataset
from jaxsnn.record import EvaluationRecord
from jaxsnn.train.config import ModelConfig, TrainerConfig
from jaxsnn.train.sg import train_sg
from jaxsnn.train.silent import PRESETS, ActivityGuard, SilentNetworkDetector
from jaxsnn.train.stopping import EarlyStopper, run_record


def lif_batches(theta: float, n_batches: int, batch: int = 16, seed: int = 0):
    """Output spike counts ``(B,)`` and the mean rate of an LIF layer fed random input spikes."""
    key = jax.random.PRNGKey(seed)
    w = jax.random.normal(key, (40, 10)) * 0.5
    for i in range(n_batches):
        x = jax.random.bernoulli(jax.random.fold_in(key, i + 1), 0.2, (30, batch, 40)).astype(jnp.float32)
        spikes = lif_scan(LIFParams(alpha=0.9, theta=theta), x @ w, backend="xla").spikes
        yield np.asarray(spikes.sum(axis=(0, 2))), {"hidden": float(spikes.mean())}


def feed(stopper: EarlyStopper, batches) -> tuple[int, object]:
    """Feed batches until a stop; return (batches fed, decision)."""
    for fed, (counts, rates) in enumerate(batches, start=1):
        decision = stopper.update(counts, rates)
        if decision is not None:
            return fed, decision
    return fed, None


def test_detector_stops_a_network_that_cannot_spike_within_one_interval():
    detector = SilentNetworkDetector(k=5, p=0.05, update_interval=64)
    fed, decision = feed(detector, lif_batches(theta=1e4, n_batches=20))
    assert decision is not None and decision.status == "silent_stopped"
    # 16 silent samples of 16 make the check at 64 exceed p whatever comes next: no need to wait.
    assert fed == 1 and detector.seen == 16
    assert "16/16" in decision.reason and "the check at 64 samples is lost already" in decision.reason
    assert detector.constraints() == {"silent": pytest.approx(1.0 - 0.05)}


def test_detector_lets_a_healthy_network_run():
    detector = SilentNetworkDetector(k=5, p=0.05, update_interval=32)
    fed, decision = feed(detector, lif_batches(theta=1.0, n_batches=12))
    assert decision is None and fed == 12 and detector.seen == 12 * 16
    assert detector.silent_fraction == 0.0
    assert detector.constraints()["silent"] == pytest.approx(-0.05)


def test_no_decision_between_interval_boundaries_while_the_check_is_open():
    detector = SilentNetworkDetector(k=1, p=0.3, update_interval=10)
    assert detector.update(np.zeros(3), {}) is None  # 3/3 silent, but 3/10 at the check is not > 0.3
    assert detector.update(np.ones(5), {}) is None
    decision = detector.update(np.zeros(4), {})  # boundary at the 10th sample: 5/10 > 0.3
    assert decision is not None and (detector.seen, detector.silent) == (10, 5)


def test_a_check_already_lost_stops_at_once_with_the_decision_the_check_would_take():
    """Fed sample by sample, the detector stops exactly when the paper's rule (the fraction over all
    samples at each boundary, computed here independently) stops, at that check or before it once
    the samples seen decide it, and never stops a run the rule keeps."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        counts = rng.integers(0, 2, size=40) * rng.integers(1, 4, size=40)  # silent = 0 spikes
        silent = np.cumsum(counts < 1)
        checks = [b for b in (10, 20, 30, 40) if silent[b - 1] / b > 0.3]
        detector = SilentNetworkDetector(k=1, p=0.3, update_interval=10)
        stop = next((n for n, c in enumerate(counts, 1) if detector.update(np.array([c]), {})), None)
        if not checks:
            assert stop is None
        else:
            assert stop is not None and checks[0] - 10 < stop <= checks[0], (counts, stop, checks)
    early = SilentNetworkDetector(k=1, p=0.3, update_interval=10)
    decision = early.update(np.zeros(4), {})  # >= 4/10 at the check at 10, whatever comes next
    assert decision is not None and "the check at 10 samples is lost already" in decision.reason
    assert early.constraints()["silent"] == pytest.approx(1.0 - 0.3)  # over the samples seen
    assert SilentNetworkDetector(k=1, p=0.3, update_interval=10).update(np.zeros(3), {}) is None
    recent = SilentNetworkDetector(k=1, p=0.3, update_interval=10, window="interval")
    assert recent.update(np.ones(10), {}) is None and recent.update(np.array([0, 0, 0, 5, 5]), {}) is None
    decision = recent.update(np.zeros(1), {})  # 4 silent in the interval under way: >= 4/10 at 20
    assert decision is not None and "the 6 samples of the interval under way" in decision.reason
    assert recent.constraints()["silent"] == pytest.approx(4 / 6 - 0.3)


def test_boundary_inside_a_batch_is_exact():
    """The stop lands on the first violated boundary even when a batch straddles it."""
    detector = SilentNetworkDetector(k=1, p=0.5, update_interval=4)
    counts = np.array([3, 3, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0])  # boundaries at 4, 8, 12
    decision = detector.update(counts, {})
    assert decision is not None
    assert detector.seen == 12 and detector.silent == 8  # 4/8 = 0.5 is not > 0.5; 8/12 is
    assert detector.constraints()["silent"] == pytest.approx(8 / 12 - 0.5)
    assert detector.update(np.zeros(3), {}) is decision  # stays stopped, counts frozen
    assert detector.seen == 12


def test_a_late_waking_network_pays_for_its_silent_start():
    """Over all samples seen, a silent first stretch keeps counting after the network wakes up."""
    detector = SilentNetworkDetector(k=1, p=0.3, update_interval=10)
    assert detector.update(np.array([0, 0, 0] + [5] * 7), {}) is None  # 3/10 = p: not above
    assert detector.update(np.array([0] * 2 + [5] * 8), {}) is None  # 5/20 = 0.25
    assert detector.constraints()["silent"] == pytest.approx(0.25 - 0.3)


def test_interval_window_after_grace_forgives_a_silent_start_but_not_a_silent_present():
    """The late waker above: the paper's rule stops it at the first check; judged only on the
    last interval after a grace period, it runs on, and it is stopped once it falls silent."""
    late_waker = [np.zeros(10), np.full(10, 5), np.full(10, 5)]
    paper = SilentNetworkDetector(k=1, p=0.3, update_interval=10)
    assert paper.update(late_waker[0], {}) is not None
    lenient = SilentNetworkDetector(k=1, p=0.3, update_interval=10, window="interval", grace=20)
    assert all(lenient.update(batch, {}) is None for batch in late_waker)
    assert lenient.constraints()["silent"] == pytest.approx(0.0 - 0.3)  # last interval: awake
    decision = lenient.update(np.array([5] * 6 + [0] * 4), {})  # 4/10 silent in the last interval
    assert decision is not None and "the last 10 of 40 samples" in decision.reason
    assert lenient.constraints()["silent"] == pytest.approx(0.4 - 0.3)


def test_grace_delays_the_first_check_with_the_cumulative_window_too():
    detector = SilentNetworkDetector(k=1, p=0.3, update_interval=10, grace=25)
    # Boundaries 10 (5/10 > 0.3) and 20 are inside the grace; 5/30 cannot settle the check at 30.
    assert detector.update(np.concatenate([np.zeros(5), np.ones(15)]), {}) is None
    assert detector.update(np.zeros(10), {}) is not None and (detector.seen, detector.silent) == (30, 15)
    # Settling looks past the grace too: 10 silent of 10 already lose the check at 30 (10/30 > 0.3).
    assert SilentNetworkDetector(k=1, p=0.3, update_interval=10, grace=25).update(np.zeros(10), {}) is not None


def test_presets_follow_the_paper():
    assert (PRESETS["mnist_stdp"].k, PRESETS["mnist_stdp"].p) == (5, 0.05)
    assert (PRESETS["dvs_slayer"].k, PRESETS["dvs_slayer"].p) == (1, 0.3)
    detector = SilentNetworkDetector.preset("dvs_slayer", update_interval=7)
    assert (detector.k, detector.p, detector.update_interval) == (1, 0.3, 7)
    with pytest.raises(ValueError, match="unknown silent-detector preset"):
        SilentNetworkDetector.preset("cifar")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"k": 0, "p": 0.1, "update_interval": 10}, "k"),
        ({"k": 1, "p": 1.0, "update_interval": 10}, "p"),
        ({"k": 1, "p": 0.1, "update_interval": 0}, "update_interval"),
        ({"k": 1, "p": 0.1, "update_interval": 2.5}, "update_interval"),
        ({"k": 1, "p": 0.1, "update_interval": 10, "window": "last"}, "window"),
        ({"k": 1, "p": 0.1, "update_interval": 10, "grace": -1}, "grace"),
    ],
)
def test_detector_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SilentNetworkDetector(**kwargs)


def test_activity_guard_prunes_a_saturated_network_but_not_a_moderate_one():
    guard = ActivityGuard(max_rate=0.2, update_interval=32)
    fed, decision = feed(guard, lif_batches(theta=0.05, n_batches=10))
    assert decision is not None and decision.status == "pruned" and fed == 2
    assert "too active" in decision.reason
    assert guard.constraints()["activity"] > 0

    calm = ActivityGuard(max_rate=0.5, update_interval=32)
    fed, decision = feed(calm, lif_batches(theta=1.0, n_batches=6))
    assert decision is None and fed == 6
    assert calm.constraints()["activity"] < 0


def test_every_trainer_s_record_carries_all_stoppers_constraints_unless_it_failed():
    """``run_record``, the one record builder of the SG, SLAYER/HYBRID and STDP trainers: a
    stopped run is constraint data (the detector's and the guard's values), a failed one only
    its error and seconds."""
    detector, guard = SilentNetworkDetector(k=1, p=0.3, update_interval=16), ActivityGuard(max_rate=0.5, update_interval=16)
    for counts, rates in lif_batches(theta=50.0, n_batches=1):
        detector.update(counts, rates)
        guard.update(counts, rates)
    stopped = run_record({"theta": 50.0}, "silent_stopped", {"accuracy": 0.1}, [detector, guard], cost_s=1.5,
                         spikes=0.0, epochs_run=0)  # fmt: skip
    assert stopped.status == "silent_stopped" and stopped.objectives == {"accuracy": 0.1}
    assert stopped.constraints == {**detector.constraints(), **guard.constraints()}
    assert stopped.constraints["silent"] > 0 and stopped.constraints["activity"] < 0 and stopped.cost_s == 1.5
    failed = run_record({"theta": 50.0}, "failed", {"accuracy": 0.1}, [detector, guard], cost_s=2.0, error="NaN loss")
    assert (failed.status, failed.error, failed.cost_s, failed.objectives, failed.constraints) == (
        "failed", "NaN loss", 2.0, {}, {})


def test_activity_guard_watches_a_named_layer_and_names_missing_ones():
    guard = ActivityGuard(max_rate=0.1, update_interval=2, layer="hidden1")
    assert guard.update(np.ones(2), {"hidden0": 0.9, "hidden1": 0.05}) is None
    assert guard.constraints()["activity"] == pytest.approx(0.05 - 0.1)
    with pytest.raises(ValueError, match="hidden1"):
        ActivityGuard(max_rate=0.1, layer="hidden1").update(np.ones(2), {"hidden0": 0.3})
    with pytest.raises(ValueError, match="max_rate"):
        ActivityGuard(max_rate=0.0)


@pytest.fixture(scope="module")
def tiny_digits():
    return load_dataset("digits", time_steps=10, seed=0)


def test_silent_sg_run_becomes_a_complete_silent_stopped_record(tiny_digits):
    """A network whose threshold is far above any input: stopped after the first interval, the
    record is informative data with a violated constraint, JSON round-trips, test pass skipped."""
    model = ModelConfig.from_dict({"hidden": [16], "neuron": {"theta": 1e4, "backend": "xla"}})
    trainer = TrainerConfig(epochs=3, batch_size=32)
    detector = SilentNetworkDetector(k=1, p=0.3, update_interval=64)
    record = train_sg(model, trainer, tiny_digits, stoppers=[detector], progress=False)
    assert record.status == "silent_stopped"
    assert record.informative and not record.feasible
    assert record.constraints["silent"] == pytest.approx(0.7)
    assert detector.seen == 32 and record.epochs_run == 0  # 32 silent of 32 lose the check at 64
    assert "silent network" in record.metrics["stop_reason"]
    assert EvaluationRecord.from_json(record.to_json()).constraints == record.constraints
