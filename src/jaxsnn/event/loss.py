"""Decoding and losses on output spike times (time-to-first-spike coding).

The class of a sample is the output neuron that spikes first. All functions work on one
sample (batch them with ``jax.vmap``) and accept neurons that never spike (time ``+inf``):
for losses such a neuron is treated as spiking at ``t_max``, which keeps every loss finite.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jnp.ndarray


def first_spike_times(times: ArrayLike, neurons: ArrayLike, n_neurons: int) -> Array:
    """Earliest spike of each neuron: ``t_k = min{times[e] : neurons[e] == k}``, ``inf`` if none.

    ``times``/``neurons`` are a spike list (padding: ``inf`` / ``-1``).
    """
    times = jnp.asarray(times)
    match = jnp.asarray(neurons)[None, :] == jnp.arange(n_neurons)[:, None]
    return jnp.min(jnp.where(match, times[None, :], jnp.inf), axis=1)


def clip_silent(first_times: ArrayLike, t_max: float) -> Array:
    """Replace ``inf`` (no spike) and times beyond ``t_max`` by ``t_max``.

    The double ``where`` keeps the gradient of spiking neurons exact and that of silent
    neurons zero (never NaN). A NaN time (an invalid spike list, see
    :func:`jaxsnn.event.types.is_invalid`) stays NaN, so that a loss of an invalid output is
    NaN -- and training stops with a clear error -- instead of a plausible value.
    """
    t = jnp.asarray(first_times)
    spiked = jnp.isfinite(t) & (t < t_max)
    clipped = jnp.where(spiked, jnp.where(spiked, t, 0.0), t_max)
    return jnp.where(jnp.isnan(t), jnp.nan, clipped)


def predict_first_spike(first_times: ArrayLike) -> Array:
    """Predicted class: the earliest output neuron; ``-1`` when no output neuron spiked or
    the times are invalid (NaN).

    Exact ties go to the lower neuron index.
    """
    t = jnp.asarray(first_times)
    valid = jnp.any(jnp.isfinite(t)) & ~jnp.any(jnp.isnan(t))
    return jnp.where(valid, jnp.argmin(t), -1)


def ttfs_cross_entropy(
    first_times: ArrayLike,
    label: ArrayLike,
    *,
    tau: float,
    t_max: float,
    regularization: float = 0.0,
    tau_regularization: float | None = None,
) -> Array:
    """Cross-entropy of a softmax over negative first-spike times (Göltz et al. 2021)::

        L = -log( exp(-t_label / tau) / sum_k exp(-t_k / tau) )
            + regularization * (exp(t_label / tau_regularization) - 1)

    The first term makes the label neuron spike first, the second pushes it earlier.
    Silent neurons count as spiking at ``t_max``. ``tau_regularization`` defaults to ``tau``.
    """
    t = clip_silent(first_times, t_max)
    logits = -t / tau
    log_p = logits - jnp.max(logits)
    log_p = log_p - jnp.log(jnp.sum(jnp.exp(log_p)))
    loss = -log_p[label]
    if regularization:
        tau_reg = tau if tau_regularization is None else tau_regularization
        loss = loss + regularization * (jnp.exp(t[label] / tau_reg) - 1.0)
    return loss


def ttfs_mse(
    first_times: ArrayLike, target_times: ArrayLike, *, t_max: float, scale: float = 1.0
) -> Array:
    """Mean squared error to target first-spike times: ``mean(((t - t_target) / scale)^2)``.

    Silent neurons count as spiking at ``t_max``.
    """
    t = clip_silent(first_times, t_max)
    return jnp.mean(((t - jnp.asarray(target_times)) / scale) ** 2)


def target_times(label: ArrayLike, n_classes: int, t_correct: float, t_wrong: float) -> Array:
    """Target times for :func:`ttfs_mse`: ``t_correct`` for the label neuron, else ``t_wrong``."""
    return jnp.where(jnp.arange(n_classes) == label, t_correct, t_wrong)
