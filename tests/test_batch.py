"""Batched trials: SG trials of one shape train as one population and give the records they give alone."""

import numpy as np

import jaxsnn.tuning.batch as batch_module
from jaxsnn.tuning.batch import evaluate_batch
from jaxsnn.tuning.evaluate import evaluate

SMALL_SG = {"model.hidden.width": 16, "trainer.epochs": 2, "trainer.batch_size": 64, "data.time_steps": 10}
"""Two epochs: the second starts from weights the first trained, so a member that drifted from
its lone run would show it."""


def sg(params):
    return {"run": {"model": {"neuron": {"backend": "xla"}}}, "params": {**SMALL_SG, **params}}


TRACED = [
    sg({"trainer.lr": 5e-3, "model.neuron.alpha": 0.9, "model.neuron.theta": 1.0, "surrogate.gamma": 1.0}),
    sg({"trainer.lr": 2e-3, "model.neuron.alpha": 0.8, "model.neuron.theta": 0.7, "model.weight_scale": 1.5,
        "surrogate.beta": 3.0}),
]
"""Two trials that differ only in traced values (learning rate, leak, threshold, surrogate,
weight scale): one compiled shape."""


def test_batched_trials_give_the_records_of_trials_run_alone():
    together, alone = evaluate_batch(TRACED), [evaluate(config) for config in TRACED]
    for a, b in zip(together, alone):
        assert a.status == b.status == "complete" and a.params == b.params
        np.testing.assert_allclose([h["loss"] for h in a.metrics["history"]], [h["loss"] for h in b.metrics["history"]],
                                   rtol=1e-4)  # fmt: skip
        np.testing.assert_allclose(a.objectives["accuracy"], b.objectives["accuracy"], atol=1e-6)
        np.testing.assert_allclose(a.spikes, b.spikes, rtol=1e-4)
        assert a.metrics["batch_trials"] == 2 and "batch_trials" not in b.metrics
    # the two learning rates really trained differently: the test compares members, not copies
    assert together[0].metrics["history"][-1]["loss"] != together[1].metrics["history"][-1]["loss"]


def test_a_silent_member_stops_alone_and_pays_only_for_its_share():
    # no input drive: stopped at the first check
    silent = sg({"trainer.lr": 5e-3, "model.neuron.theta": 50.0, "model.weight_scale": 0.1})
    records = evaluate_batch([TRACED[0], silent])
    assert [r.status for r in records] == ["complete", "silent_stopped"]
    alone = evaluate(TRACED[0])
    assert records[0].objectives["accuracy"] == alone.objectives["accuracy"]
    # its share: half the setup and the steps it trained, far less than the member that went on
    assert records[1].cost_s < 0.6 * records[0].cost_s


def test_trials_of_other_shapes_run_alone_and_keep_their_order():
    wider = sg({"model.hidden.width": 24, "trainer.lr": 5e-3})
    records = evaluate_batch([TRACED[0], wider, TRACED[1]])
    assert [r.params["model.hidden.width"] for r in records] == [16, 24, 16]
    assert [r.metrics.get("batch_trials") for r in records] == [2, None, 2]


def test_a_batch_whose_population_fails_runs_each_trial_alone(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("population lost")

    monkeypatch.setattr(batch_module, "fit", broken)
    records = evaluate_batch(TRACED)
    assert [r.status for r in records] == ["complete", "complete"]
    assert all("batch_trials" not in r.metrics for r in records)
