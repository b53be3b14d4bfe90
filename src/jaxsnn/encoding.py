"""Latency (time-to-first-spike) encoding of features into input spikes.

One encoder serves both simulators: the event-based one takes the spike times and their
source channels (:meth:`LatencyEncoder.events`), the time-discrete one takes spike trains on
a time grid (:meth:`LatencyEncoder.spike_trains`).

A feature ``x`` in ``[0, 1]`` becomes one spike at::

    t(x) = t_early + x (t_late - t_early)

With ``mirror=True`` every feature also gets a mirrored channel ``1 - x`` (early where the
original is late). Bias channels spike at the fixed ``bias_times``. Channel order:
features, then mirrored features, then bias channels. Check a data set once with
:meth:`LatencyEncoder.check_features` (finite; values outside ``[0, 1]`` are reported).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

Array = jnp.ndarray


@dataclass(frozen=True)
class LatencyEncoder:
    """Encode features in ``[0, 1]`` as one spike each between ``t_early`` and ``t_late``."""

    t_early: float
    t_late: float
    bias_times: tuple[float, ...] = ()
    mirror: bool = False

    def __post_init__(self) -> None:
        for name in ("t_early", "t_late"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite time >= 0 seconds, got {value!r}")
        if self.t_early >= self.t_late:
            raise ValueError(
                f"t_early ({self.t_early!r}) must be smaller than t_late ({self.t_late!r})"
            )
        object.__setattr__(self, "bias_times", tuple(float(t) for t in self.bias_times))
        for t in self.bias_times:
            if not math.isfinite(t) or t < 0:
                raise ValueError(f"bias_times must be finite times >= 0 seconds, got {t!r}")

    def check_features(self, features: ArrayLike, name: str = "features") -> np.ndarray:
        """Check a whole feature array once, before it is encoded (e.g. a data set).

        ``ValueError`` naming ``name`` when ``features`` is not numeric, has no feature axis
        (a scalar) or holds NaN or inf (they would become NaN or out-of-range spike times).
        Features outside ``[0, 1]`` are valid but clipped by :meth:`times` (they spike at
        ``t_early`` or ``t_late``, the same as 0 or 1): a ``UserWarning`` reports how many
        and their range. Returns ``features`` as a float64 numpy array. Concrete values only
        (call it on the data, outside ``jit``).
        """
        try:
            x = np.asarray(features, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} must be a numeric array, got {type(features)!r}") from error
        if x.ndim < 1:
            raise ValueError(
                f"{name} must have a feature axis (shape [..., n_features]), got {x!r}"
            )
        bad = ~np.isfinite(x)
        if np.any(bad):
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name} contains {int(bad.sum())} NaN or inf values (first at {where}: "
                f"{float(x[where])})"
            )
        outside = (x < 0.0) | (x > 1.0)
        if np.any(outside):
            warnings.warn(
                f"{name}: {int(outside.sum())} of {x.size} values lie outside [0, 1] "
                f"(min {float(x.min()):.6g}, max {float(x.max()):.6g}); the encoder clips them "
                f"to [0, 1], so they spike at t_early or t_late like 0 or 1",
                UserWarning,
                stacklevel=2,
            )
        return x

    def n_channels(self, n_features: int) -> int:
        """Number of input channels for ``n_features`` features."""
        return n_features * (2 if self.mirror else 1) + len(self.bias_times)

    def times(self, features: ArrayLike) -> Array:
        """Spike time of every channel, shape ``[..., n_channels]`` (unsorted, channel order).

        Features outside ``[0, 1]`` are clipped to it (:meth:`check_features` reports them).
        """
        x = jnp.clip(jnp.asarray(features), 0.0, 1.0)
        if self.mirror:
            x = jnp.concatenate([x, 1.0 - x], axis=-1)
        t = self.t_early + x * (self.t_late - self.t_early)
        if self.bias_times:
            bias = jnp.broadcast_to(
                jnp.asarray(self.bias_times, dtype=t.dtype), t.shape[:-1] + (len(self.bias_times),)
            )
            t = jnp.concatenate([t, bias], axis=-1)
        return t

    def events(self, features: ArrayLike) -> tuple[Array, Array]:
        """Input spikes sorted by time: ``(times, sources)``, each ``[..., n_channels]``.

        ``sources`` are the channel indices (int32); equal times keep channel order
        (a stable sort), so the result is deterministic.
        """
        return _sorted_by_time(self.times(features))

    def jittered_events(
        self, features: ArrayLike, key: jax.Array, sigma: float
    ) -> tuple[Array, Array]:
        """:meth:`events` with Gaussian noise on every spike time (a training regulariser)::

            t'_c = max(t_c + sigma z_c, 0),   z_c ~ N(0, 1) drawn from ``key``

        then sorted again (equal times in channel order). ``sigma`` in seconds, ``>= 0``;
        ``sigma = 0`` gives the spikes of :meth:`events`.
        """
        t = self.times(features)
        noise = jax.random.normal(key, t.shape, t.dtype)
        return _sorted_by_time(jnp.maximum(t + sigma * noise, 0.0))

    def spike_trains(self, features: ArrayLike, dt: float, n_steps: int) -> Array:
        """Spike trains on the grid ``t_k = k dt``, shape ``[n_steps, ..., n_channels]``.

        A spike at time ``t`` lands in step ``round(t / dt)``; spikes at or beyond
        ``n_steps`` are rejected with a ``ValueError`` when the encoder's latest time does not
        fit the grid (checked from the encoder's settings, before any work).
        """
        if not (dt > 0):
            raise ValueError(f"dt must be a positive time step in seconds, got {dt!r}")
        if n_steps < 1:
            raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
        latest = max((self.t_late, *self.bias_times))
        if round(latest / dt) >= n_steps:
            raise ValueError(
                f"n_steps={n_steps} with dt={dt!r} ends before the latest input spike at "
                f"{latest!r} s; use n_steps > {round(latest / dt)}"
            )
        steps = jnp.round(self.times(features) / dt).astype(jnp.int32)
        grid = jnp.arange(n_steps).reshape((n_steps,) + (1,) * steps.ndim)
        return (grid == steps[None]).astype(jnp.float32)


def _sorted_by_time(times: Array) -> tuple[Array, Array]:
    """``(times, channels)`` of one spike per channel, sorted by time along the last axis
    (a stable sort: equal times keep channel order)."""
    order = jnp.argsort(times, axis=-1, stable=True)
    return jnp.take_along_axis(times, order, axis=-1), order.astype(jnp.int32)
