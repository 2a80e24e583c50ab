"""Early-stopping rules on spiking activity: the silent-network detector and the activity guard.

A *silent network* (Firmin, Boulet & Talbi) emits too few output spikes to be classified. Spotting
it after a few hundred samples saves the rest of its training, and the measured silent fraction
becomes the constraint ``g = silent_fraction - p <= 0`` that steers the optimizer away from silent
regions of a deliberately wide search space.

Fraction definition: the paper's rule is ``count / seen`` with ``count`` the silent samples among
*all* samples seen since training began, checked every ``update_interval`` samples. That is the
default (``window="all"``, ``grace=0``): it is the quantity the constraint reports, it decides
only at interval boundaries so one unlucky batch cannot stop a run, and a network that starts
silent has already cost its first intervals, which is what the optimizer should learn to avoid.
Boundaries are honoured exactly even when they fall inside a batch, so replaying recorded spike
counts reproduces the stop point of a live run sample for sample.

A check whose outcome is already certain is not waited for: once the silent samples seen so far
make the next check's fraction exceed ``p`` whatever the samples up to it do, the detector stops
at the end of that batch. The decision is the paper's; only the compute the network would spend
reaching the boundary is saved (for an SG trial with batches of 32, the first batch decides a
network that spikes on none of them; ``jaxsnn.train.sg`` then stops it before it compiles its
training step). The reported fraction is the one over the samples seen when it stopped.

Measured trade-off (``benchmarks/silent_savings.py``, 120 random SG configs on digits): the
paper's rule stops 83 networks and leaves 0.6 % of the post-setup compute to them, but 10 of the
stopped ones would have reached >= 50 % accuracy: with surrogate gradients a network silent at
initialisation can still learn to spike. ``window="interval"`` with a ``grace`` period judges a
network on its recent behaviour instead; it halves those false stops at 20-30x the silent
compute. On the 1,000-row tables of ``jaxsnn.snnbench`` (every row trained to the end) the rule
stops half of the networks that reach 5x chance: 51 of 100 on SG digits (31 of them woke up
later), and 20 of 38 STDP networks, which the 30 configurations of that benchmark were too few
to show. STDP networks wake up too (their weights grow), and six STDP networks with >= 90 % of
their samples silent (fewer than ``k=5`` spikes) classified at 0.53-0.68: fewer spikes can still
name the class. Judged on the last interval after a grace of 1,000 samples, the rule stops 27 of
those 100 SG networks at 0.80 instead of 0.72 of the compute of training all to the end
(``benchmarks/snn_tables.py --rules``), but over 20 paired real studies of the SG preset that
ended level with the paper's rule (final best 0.953 vs 0.946, p = 0.28). The paper's rule stays
the default; it is what the optimizer's constraint means.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxsnn.train.stopping import StopDecision


def _check_interval(update_interval: int) -> None:
    if int(update_interval) != update_interval or update_interval < 1:
        raise ValueError(f"update_interval must be a positive integer, got {update_interval!r}")


WINDOWS: tuple[str, ...] = ("all", "interval")


class SilentNetworkDetector:
    """Stop a run whose output layer stays (nearly) silent.

    A sample is *silent* when its output layer emitted fewer than ``k`` spikes. Every
    ``update_interval`` samples, once at least ``grace`` samples have been seen, the detector
    compares the silent fraction with ``p`` and stops with status ``silent_stopped`` when it is
    larger. ``window="all"`` (the paper's ``count / seen``, default) takes the fraction over every
    sample seen so far; ``window="interval"`` over the last ``update_interval`` samples only, so a
    network judged after a ``grace`` period is judged on what it does *now*. The defaults
    (``grace=0``, ``window="all"``) are the paper's rule.
    """

    def __init__(self, k: int, p: float, update_interval: int, *, window: str = "all", grace: int = 0) -> None:
        if k < 1:
            raise ValueError(f"k (minimum output spikes per sample) must be >= 1, got {k!r}")
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p (tolerated silent fraction) must lie in [0, 1), got {p!r}")
        _check_interval(update_interval)
        if window not in WINDOWS:
            raise ValueError(f"unknown window {window!r}; valid: {', '.join(WINDOWS)}")
        if int(grace) != grace or grace < 0:
            raise ValueError(f"grace must be a number of samples >= 0, got {grace!r}")
        self.k = k
        self.p = float(p)
        self.update_interval = int(update_interval)
        self.window = window
        self.grace = int(grace)
        self.seen = 0
        self.silent = 0
        self._silent_at_boundary = 0
        self._interval_fraction: float | None = None
        self.decision: StopDecision | None = None

    @classmethod
    def preset(cls, name: str, update_interval: int | None = None, **options: Any) -> "SilentNetworkDetector":
        """The paper's settings: ``"mnist_stdp"`` (k=5, p=0.05) or ``"dvs_slayer"`` (k=1, p=0.3);
        ``options`` (``window``, ``grace``) depart from the paper's rule."""
        if name not in PRESETS:
            raise ValueError(f"unknown silent-detector preset {name!r}; valid: {', '.join(PRESETS)}")
        settings = PRESETS[name]
        interval = settings.update_interval if update_interval is None else update_interval
        return cls(settings.k, settings.p, interval, **options)

    @property
    def silent_fraction(self) -> float:
        """The fraction the rule judges: over all samples seen (``window="all"``), or over the
        last completed interval (``"interval"``; all samples seen before the first one ends)."""
        if self.window == "interval" and self._interval_fraction is not None:
            return self._interval_fraction
        return self.silent / self.seen if self.seen else 0.0

    def update(self, output_spike_counts: np.ndarray, mean_rates: dict[str, float]) -> StopDecision | None:
        counts = np.asarray(output_spike_counts).reshape(-1)
        if self.decision is not None or counts.size == 0:
            return self.decision
        silent = self.silent + np.cumsum(counts < self.k)
        seen = self.seen + np.arange(1, counts.size + 1)
        for i in np.flatnonzero(seen % self.update_interval == 0):  # exact boundaries, even mid-batch
            self.seen, self.silent = int(seen[i]), int(silent[i])
            self._interval_fraction = (self.silent - self._silent_at_boundary) / self.update_interval
            self._silent_at_boundary = self.silent
            if self.seen >= self.grace and self.silent_fraction > self.p:
                self.decision = StopDecision(status="silent_stopped", reason=self._reason())
                return self.decision
        self.seen, self.silent = int(seen[-1]), int(silent[-1])
        check = self.settled_check()
        if check is not None:
            if self.window == "interval":  # the judged interval so far
                self._interval_fraction = (self.silent - self._silent_at_boundary) / (self.seen % self.update_interval)
            self.decision = StopDecision(status="silent_stopped", reason=self._reason(check))
        return self.decision

    def settled_check(self) -> int | None:
        """The sample count of the next check if the samples seen already decide it (a stop at
        that check is certain, whatever the samples still to come before it), else ``None``.

        Cumulative window: the check at ``b`` judges ``silent_b / b`` with ``silent_b >=`` the silent
        samples seen now, so ``silent / b > p`` settles it. Interval window: only the interval
        under way can be settled, by its own silent samples over ``update_interval``.
        """
        interval = self.update_interval
        upcoming = (self.seen // interval + 1) * interval
        check = max(upcoming, -(-self.grace // interval) * interval)
        if self.window == "all":
            return check if self.silent / check > self.p else None
        within = self.silent - self._silent_at_boundary
        return check if check == upcoming and within / interval > self.p else None

    def _reason(self, settled: int | None = None) -> str:
        where = (f"{self.silent}/{self.seen} samples" if self.window == "all"
                 else f"the last {self.update_interval} of {self.seen} samples" if settled is None
                 else f"the {self.seen % self.update_interval} samples of the interval under way")
        ahead = "" if settled is None else f" (the check at {settled} samples is lost already)"
        return (f"silent network: {self.silent_fraction:.1%} of {where} had fewer than {self.k} output "
                f"spikes, more than p={self.p:.1%}{ahead}")

    def constraints(self) -> dict[str, float]:
        """``{"silent": silent_fraction - p}``; > 0 means the network is (too) silent."""
        return {"silent": self.silent_fraction - self.p}


@dataclasses.dataclass(frozen=True)
class SilentPreset:
    """Detector settings used for one task family in the paper."""

    k: int
    p: float
    update_interval: int


PRESETS: dict[str, SilentPreset] = {
    "mnist_stdp": SilentPreset(k=5, p=0.05, update_interval=100),
    "dvs_slayer": SilentPreset(k=1, p=0.3, update_interval=100),
}
"""The paper fixes ``k`` and ``p``; it does not tie ``update_interval`` to a task, 100 is ours."""


class ActivityGuard:
    """Stop a run whose network fires far too much (the opposite failure of silence).

    ``mean_rates`` from the trainer are spikes per neuron per time step for each layer; the guard
    tracks the sample-weighted mean over the run of ``layer`` (default: the most active layer of
    each batch) and every ``update_interval`` samples stops when it exceeds ``max_rate``.

    Status: ``pruned``. A saturated network is not silent, so ``silent_stopped`` would mislabel it
    and teach the optimizer a wrong silent boundary; nothing crashed either, so it is not
    ``failed``. ``pruned`` is the record's status for a rule-based early stop: its objectives are
    not trusted, while its ``activity`` constraint is still stored in the record for inspection.
    """

    def __init__(self, max_rate: float, update_interval: int = 100, layer: str | None = None) -> None:
        if not max_rate > 0:
            raise ValueError(f"max_rate must be > 0 spikes per neuron per step, got {max_rate!r}")
        _check_interval(update_interval)
        self.max_rate = float(max_rate)
        self.update_interval = int(update_interval)
        self.layer = layer
        self.seen = 0
        self.rate_sum = 0.0
        self.decision: StopDecision | None = None

    @property
    def mean_rate(self) -> float:
        return self.rate_sum / self.seen if self.seen else 0.0

    def _batch_rate(self, mean_rates: dict[str, float]) -> float:
        if self.layer is None:
            if not mean_rates:
                raise ValueError("ActivityGuard got no layer rates from the trainer")
            return max(float(r) for r in mean_rates.values())
        if self.layer not in mean_rates:
            raise ValueError(
                f"ActivityGuard watches layer {self.layer!r} but the trainer reports "
                f"{sorted(mean_rates)}"
            )
        return float(mean_rates[self.layer])

    def update(self, output_spike_counts: np.ndarray, mean_rates: dict[str, float]) -> StopDecision | None:
        batch = int(np.asarray(output_spike_counts).size)
        if self.decision is not None or batch == 0:
            return self.decision
        before = self.seen // self.update_interval
        self.seen += batch
        self.rate_sum += batch * self._batch_rate(mean_rates)
        if self.seen // self.update_interval > before and self.mean_rate > self.max_rate:
            self.decision = StopDecision(
                status="pruned",
                reason=(
                    f"too active: mean rate {self.mean_rate:.3f} spikes/neuron/step over "
                    f"{self.seen} samples exceeds max_rate={self.max_rate:.3f}"
                ),
            )
        return self.decision

    def constraints(self) -> dict[str, float]:
        """``{"activity": mean_rate - max_rate}``; > 0 means the network fires too much."""
        return {"activity": self.mean_rate - self.max_rate}
