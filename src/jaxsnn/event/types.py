"""Spike containers of the event-based simulator (pytrees with static shapes).

A spike list holds a static number of entries, sorted by time. Entries that are not spikes
(padding) have ``time = +inf`` and ``idx = -1`` and come last. Batches carry a leading batch
axis on every field (build them with ``jax.vmap``). A list with NaN times is *invalid*: the
output of a layer whose input broke the rules of :mod:`jaxsnn.event.checks` inside ``jit``
with checks off (:func:`is_invalid`).
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jnp.ndarray


class EventKind(IntEnum):
    """Kinds of events, numbered in the order in which events at *equal times* take effect.

    The one definition of the tie order, shared by the forward simulation
    (:mod:`jaxsnn.event.step`), the first-spike fast path (:mod:`jaxsnn.event.ttfs`) and the
    EventProp backward pass (:mod:`jaxsnn.event.eventprop`): at the same time a refractory
    period ends first (the neuron is free again), then all threshold crossings (together),
    then the input spikes in list order. No noise is added to break ties.
    """

    REFRACTORY_END = 0
    CROSSING = 1
    INPUT = 2


#: kind of an entry that is no event (padding)
NO_EVENT = -1


def comes_first(t_a: ArrayLike, kind_a: EventKind, t_b: ArrayLike, kind_b: EventKind) -> Array:
    """Whether an event ``(t_a, kind_a)`` takes effect before ``(t_b, kind_b)``:
    ``t_a < t_b``, or equal times and ``kind_a`` earlier in :class:`EventKind`'s order."""
    if kind_a < kind_b:
        return jnp.asarray(t_a) <= t_b
    return jnp.asarray(t_a) < t_b


class Spikes(NamedTuple):
    """A sorted spike list: ``time[e]`` (seconds) and neuron ``idx[e]`` of spike ``e``.

    ``dropped`` (optional, int32 scalar per sample) counts the spikes lost because an event
    buffer was full: every simulating layer adds its own losses to the count of its input,
    so the last layer's ``dropped`` is the total of the network. ``None`` means 0. Each
    layer's count is exact -- the simulation goes on to ``t_max`` after its buffer is full,
    counting what it cannot store, and the spikes kept are the earliest ones -- up to
    :data:`jaxsnn.event.step.COUNT_LIMIT`, from which on it is a lower bound (see "Buffers"
    in :mod:`jaxsnn.event.step`). ``dropped == 0`` exactly when no spike was lost.
    """

    time: Array
    idx: Array
    dropped: Array | None = None


def dropped_of(spikes: Spikes) -> Array:
    """``spikes.dropped`` as an int32 array (``0`` when it is ``None``)."""
    if spikes.dropped is None:
        return jnp.zeros(jnp.shape(spikes.time)[:-1], jnp.int32)
    return jnp.asarray(spikes.dropped, jnp.int32)


def is_valid(spikes: Spikes) -> Array:
    """Mask of real spikes: finite time and ``idx >= 0``."""
    return jnp.isfinite(spikes.time) & (spikes.idx >= 0)


def is_invalid(spikes: Spikes) -> Array:
    """Whether a spike list is marked invalid (any NaN time; per sample when batched).

    A layer marks its output so when its input spikes or weights broke the rules of
    :mod:`jaxsnn.event.checks` inside ``jit``/``vmap`` with checks off: every time NaN,
    ``idx[e] = e mod n`` (see :func:`jaxsnn.event.checks.mark_invalid`).
    """
    return jnp.any(jnp.isnan(spikes.time), axis=-1)


def spike_count(spikes: Spikes) -> Array:
    """Number of real spikes (per sample when batched)."""
    return jnp.sum(is_valid(spikes), axis=-1)


def sort_spikes(time: ArrayLike, idx: ArrayLike, size: int | None = None) -> Spikes:
    """Spike list from unsorted ``time``/``idx`` (last axis): padding normalised, sorted, sized.

    Entries with non-finite time or negative ``idx`` become padding (``inf``, ``-1``). The sort
    is stable (equal times keep their order) and differentiable in ``time``. ``size`` pads
    with padding entries or truncates (keeping the earliest spikes).
    """
    time = jnp.asarray(time)
    if not jnp.issubdtype(time.dtype, jnp.floating):
        time = time.astype(float)
    idx = jnp.asarray(idx, jnp.int32)
    valid = jnp.isfinite(time) & (idx >= 0)
    time = jnp.where(valid, time, jnp.inf)
    idx = jnp.where(valid, idx, -1)
    time, idx = jax.lax.sort((time, idx), dimension=time.ndim - 1, num_keys=1, is_stable=True)
    return resize_spikes(Spikes(time, idx), size)


def resize_spikes(spikes: Spikes, size: int | None) -> Spikes:
    """A sorted list cut to its first ``size`` entries or padded to ``size`` (last axis;
    ``None``: unchanged); ``dropped`` is not carried (the caller counts what a cut loses)."""
    time, idx = spikes.time, spikes.idx
    if size is not None:
        length = time.shape[-1]
        if size < length:
            time, idx = time[..., :size], idx[..., :size]
        elif size > length:
            pad = [(0, 0)] * (time.ndim - 1) + [(0, size - length)]
            time = jnp.pad(time, pad, constant_values=jnp.inf)
            idx = jnp.pad(idx, pad, constant_values=-1)
    return Spikes(time, idx)


def compact_spikes(time: ArrayLike, idx: ArrayLike, keep: ArrayLike) -> Spikes:
    """The entries of a sorted list where ``keep``, moved to the front in their order, padding
    after; same size (last axis; leading axes are a batch).

    Entry ``m`` goes to position ``sum_{l <= m} keep_l - 1``: a stable partition without a
    sort (a cumulative sum and a scatter, differentiable in ``time``; XLA's comparison sort
    costs several times more on a CPU).
    """
    time, idx, keep = jnp.asarray(time), jnp.asarray(idx, jnp.int32), jnp.asarray(keep, bool)
    size = time.shape[-1]
    batch = time.shape[:-1]
    position = jnp.where(keep, jnp.cumsum(keep, axis=-1) - 1, size)  # size: dropped

    def one(time: Array, idx: Array, position: Array) -> tuple[Array, Array]:
        def place(values: Array, fill: float | int) -> Array:
            empty = jnp.full((size,), fill, values.dtype)
            return empty.at[position].set(values, mode="drop", unique_indices=True)

        return place(time, jnp.inf), place(idx, -1)

    flat = [x.reshape((-1, size)) for x in (time, idx, position)]
    time, idx = jax.vmap(one)(*flat)
    return Spikes(time.reshape(*batch, size), idx.reshape(*batch, size))


def merge_sorted(first: Spikes, second: Spikes, size: int | None = None) -> Spikes:
    """One sorted list from two sorted lists (one sample; padding last in each), as a stable
    sort of their concatenation would give it -- at equal times ``first``'s entries come
    before ``second``'s -- but without a sort: entry ``i`` of ``first`` goes to position
    ``i + #{j: second_j < first_i}``, entry ``j`` of ``second`` to ``j + #{i: first_i <=
    second_j}`` (a search and a scatter; XLA's comparison sort costs several times more on a
    CPU). ``size`` truncates (keeping the earliest) or pads; ``dropped`` is the sum of the
    two lists' counts (the spikes cut by ``size`` are not counted: see
    :func:`jaxsnn.event.hardware.mock.MockBackend`).
    """
    time_a, time_b = jnp.asarray(first.time), jnp.asarray(second.time)
    n_a, n_b = time_a.shape[-1], time_b.shape[-1]
    method = "compare_all" if n_a * n_b <= 65536 else "scan"
    to_a = jnp.arange(n_a) + jnp.searchsorted(time_b, time_a, side="left", method=method)
    to_b = jnp.arange(n_b) + jnp.searchsorted(time_a, time_b, side="right", method=method)
    position = jnp.concatenate([to_a, to_b])
    length = n_a + n_b

    def place(a: Array, b: Array, fill: float | int) -> Array:
        values = jnp.concatenate([a, b.astype(a.dtype)])
        return jnp.full((length,), fill, values.dtype).at[position].set(values, unique_indices=True)

    merged = Spikes(
        place(time_a, time_b, jnp.inf),
        place(jnp.asarray(first.idx, jnp.int32), jnp.asarray(second.idx, jnp.int32), -1),
    )
    merged = resize_spikes(merged, size)
    return Spikes(merged.time, merged.idx, dropped_of(first) + dropped_of(second))


def neuron_range(spikes: Spikes, start: int, stop: int) -> Spikes:
    """The spikes of neurons ``start <= idx < stop`` of a sorted list, renumbered from 0,
    sorted, same size (``dropped`` carried along). Works on batched lists too."""
    inside = (spikes.idx >= start) & (spikes.idx < stop)
    selected = compact_spikes(spikes.time, jnp.where(inside, spikes.idx - start, -1), inside)
    return Spikes(selected.time, selected.idx, dropped_of(spikes))
