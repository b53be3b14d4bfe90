"""Decoding of time-discrete network outputs, and losses.

Conventions: arrays are time-major, ``[T, *batch, n]``; a spike in step ``k`` is emitted at
``t_{k+1} = (k + 1) dt`` (see :mod:`jaxsnn.discrete.functional`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jax.Array


def max_over_time(v: ArrayLike) -> Array:
    """``max_t V[t, ..., j]``: the readout's peak membrane per neuron, ``[..., n]``."""
    return jnp.max(jnp.asarray(v), axis=0)


def cross_entropy(logits: ArrayLike, labels: ArrayLike) -> Array:
    """Mean cross-entropy ``-mean_b log softmax(logits_b)[label_b]``.

    ``logits`` ``[B, n_classes]``, integer ``labels`` ``[B]``.
    """
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels)
    if logits.shape[:-1] != labels.shape:
        raise ValueError(
            f"labels shape {labels.shape} does not match logits shape {logits.shape} "
            "(expected logits [..., n_classes] and labels [...])"
        )
    log_p = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_p, labels[..., None].astype(jnp.int32), -1))


def max_over_time_loss(v: ArrayLike, labels: ArrayLike) -> Array:
    """Cross-entropy of the peak readout membrane: ``CE(max_t V[t], labels)``.

    ``v`` ``[T, B, n_classes]``, ``labels`` ``[B]``.
    """
    return cross_entropy(max_over_time(v), labels)


def accuracy(logits: ArrayLike, labels: ArrayLike) -> Array:
    """Fraction of samples whose ``argmax`` over the last axis equals the label."""
    return jnp.mean(jnp.argmax(logits, axis=-1) == jnp.asarray(labels))


def spike_counts(spikes: ArrayLike) -> Array:
    """Number of spikes per neuron, ``sum_t z[t, ..., j]`` (differentiable), ``[..., n]``."""
    return jnp.sum(jnp.asarray(spikes), axis=0)


def first_spike_index(spikes: ArrayLike) -> Array:
    """Step ``k`` of each neuron's first spike (int32), ``T`` where it never spikes."""
    spikes = jnp.asarray(spikes)
    fired = spikes > 0
    first = jnp.argmax(fired, axis=0)
    return jnp.where(jnp.any(fired, axis=0), first, spikes.shape[0]).astype(jnp.int32)


def first_spike_time(spikes: ArrayLike, dt: float) -> Array:
    """Time of each neuron's first spike on the grid, ``(k + 1) dt``; ``inf`` for none."""
    spikes = jnp.asarray(spikes)
    index = first_spike_index(spikes)
    dtype = spikes.dtype if jnp.issubdtype(spikes.dtype, jnp.floating) else jnp.float32
    times = (index + 1).astype(dtype) * dt
    return jnp.where(index < spikes.shape[0], times, jnp.inf)


def spike_raster(
    spikes: ArrayLike, dt: float, max_events: int | None = None
) -> tuple[Array, Array]:
    """Grid spikes ``[T, B, n]`` as event lists ``(times[B, E], neurons[B, E])``.

    Events are ordered by time (then neuron index), at times ``(k + 1) dt``; unused slots
    hold ``times = inf`` and ``neurons = -1``. ``E = max_events`` (default ``T n``, which
    holds every possible spike); spikes beyond ``E`` are left out.
    """
    spikes = jnp.asarray(spikes)
    if spikes.ndim != 3:
        raise ValueError(f"spikes must have shape [T, B, n], got {spikes.shape}")
    n_steps, _, n = spikes.shape
    size = n_steps * n if max_events is None else int(max_events)
    flat = jnp.moveaxis(spikes, 1, 0).reshape(spikes.shape[1], n_steps * n) > 0

    def one(sample: Array) -> tuple[Array, Array]:
        (index,) = jnp.nonzero(sample, size=size, fill_value=-1)
        valid = index >= 0
        times = jnp.where(valid, (index // n + 1) * dt, jnp.inf)
        neurons = jnp.where(valid, index % n, -1).astype(jnp.int32)
        return times, neurons

    return jax.vmap(one)(flat)
