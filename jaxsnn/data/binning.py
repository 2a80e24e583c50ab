"""Bin one recording of address events into a fixed number of binary spike frames.

Built from tonic transforms (``TimeAlignment``, ``Downsample``, ``ToFrame``) but arranged so that
no event is lost: ``ToFrame(n_time_bins=T)`` floors the bin width in integer microseconds and
ends its last bin *before* the last event, dropping it (and dropping everything when a recording
is shorter than T microseconds). Here timestamps are first rescaled to bin indices
``floor(t * T / span)`` with ``span`` one microsecond longer than the recording, then framed with
unit-width windows, so every event lands in exactly one of exactly T bins.

Frames are binarized: a bin holding one or more events of a pixel/channel becomes one spike.
SNN inputs are spikes, and counts would let a few hot pixels dominate the input current.
"""

from __future__ import annotations

import numpy as np
from tonic.transforms import Downsample, TimeAlignment, ToFrame

SensorSize = tuple[int, int, int]
"""tonic's sensor size convention: (width, height, polarities); height is 1 for audio."""

US_PER_S = 1_000_000


def frame_shape(
    sensor_size: SensorSize, has_y: bool, target_size: tuple[int, int] | None = None
) -> tuple[int, ...]:
    """Shape of one output time step: ``(P, H, W)`` for cameras, ``(P * W,)`` for channels."""
    width, height = target_size if target_size is not None else sensor_size[:2]
    polarities = sensor_size[2]
    return (polarities, height, width) if has_y else (polarities * width,)


def _check_coordinates(events: np.ndarray, sensor_size: SensorSize) -> None:
    """Reject addresses outside the sensor: they mean a corrupt file, not a bigger sensor."""
    for axis, size in zip(("x", "y"), sensor_size[:2], strict=True):
        if axis in events.dtype.names:
            values = events[axis]
            if values.min() < 0 or values.max() >= size:
                raise ValueError(
                    f"event {axis} addresses span [{values.min()}, {values.max()}], "
                    f"outside the sensor's [0, {size})"
                )
    if events["t"].min() < 0:
        raise ValueError("negative event timestamps")


def bin_events(
    events: np.ndarray,
    sensor_size: SensorSize,
    time_steps: int,
    *,
    target_size: tuple[int, int] | None = None,
    duration_us: float | None = None,
) -> np.ndarray:
    """Bin a tonic structured event array into ``(T, *frame_shape)`` boolean spikes.

    Time starts at the first event. ``duration_us=None`` stretches each recording over the T
    bins (tonic's ``n_time_bins`` behaviour); a fixed duration gives every bin the same length in
    all recordings and drops events later than it. ``target_size=(W, H)`` downsamples space
    (``(C, 1)`` downsamples the channels of audio data) by integer division of addresses.
    """
    if time_steps < 1:
        raise ValueError(f"time_steps must be >= 1, got {time_steps}")
    has_y = "y" in events.dtype.names
    out_size = sensor_size if target_size is None else (*target_size, sensor_size[2])
    frames = np.zeros((time_steps, *frame_shape(sensor_size, has_y, target_size)), dtype=bool)
    if len(events) == 0:  # tonic's ToFrame returns a differently shaped array for empty input
        return frames
    _check_coordinates(events, sensor_size)
    events = TimeAlignment()(events)
    if np.any(np.diff(events["t"]) < 0):  # ToFrame slices with searchsorted: needs sorted times
        events = np.sort(events, order="t", kind="stable")
    span = float(events["t"][-1] + 1) if duration_us is None else float(duration_us)
    events = events[events["t"] < span]
    if len(events) == 0:
        return frames
    events = Downsample(
        time_factor=time_steps / span,
        sensor_size=sensor_size if target_size is not None else None,
        target_size=target_size,
    )(events)
    counts = ToFrame(sensor_size=out_size, time_window=1, start_time=0, end_time=time_steps)(
        events
    )
    # ToFrame counts in int16 and wraps above 32767 events per bin and pixel: test != 0, not > 0.
    frames[:] = counts.reshape(frames.shape) != 0
    return frames
