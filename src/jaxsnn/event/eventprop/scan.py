"""EventProp backward pass by a reverse scan over the events of one sample.

See :mod:`jaxsnn.event.eventprop` for the adjoint equations and jumps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxsnn.event.eventprop.common import AdjointGradients, onset_slope
from jaxsnn.event.plan import SolverPlan, refractory_mode
from jaxsnn.event.step import batch_axes, batch_leaves
from jaxsnn.event.types import NO_EVENT, EventKind, Spikes, is_valid
from jaxsnn.neuron import LIFParameters, LIFState, adjoint_propagate, as_float_params
from jaxsnn.numerics import safe_divide

Array = jnp.ndarray

_INPUT, _CROSSING, _REFRACTORY_END = (
    int(EventKind.INPUT),
    int(EventKind.CROSSING),
    int(EventKind.REFRACTORY_END),
)


def currents_before(
    query_times: Array,
    query_neurons: Array,
    input_weights: Array,
    recurrent_weights: Array | None,
    tau_syn: Array,
    inputs: Spikes,
    outputs: Spikes,
) -> Array:
    """Synaptic current of neuron ``n_q`` just before ``t_q``, for every query ``q``::

        I_{n_q}(t_q^-) = sum_{m: t_m < t_q} W_in[s_m, n_q] e^{-(t_q - t_m)/tau_syn}
                       + sum_{k: t_k < t_q} W_rec[n_k, n_q] e^{-(t_q - t_k)/tau_syn}

    over the valid input spikes ``m`` and the layer's own spikes ``k`` (recurrent only).
    ``tau_syn``: ``[n]``.
    """
    tau = tau_syn[jnp.maximum(query_neurons, 0)][:, None]

    def contribution(times, valid, weights):
        lag = query_times[:, None] - times[None, :]
        before = valid[None, :] & (lag > 0)
        decay = jnp.exp(-jnp.where(before, lag, 0.0) / tau)
        return jnp.sum(jnp.where(before, weights * decay, 0.0), axis=1)

    sources = jnp.maximum(inputs.idx, 0)
    neurons = jnp.maximum(query_neurons, 0)
    current = contribution(
        inputs.time, is_valid(inputs), input_weights[sources[None, :], neurons[:, None]]
    )
    if recurrent_weights is not None:
        spikers = jnp.maximum(outputs.idx, 0)
        current = current + contribution(
            outputs.time,
            is_valid(outputs),
            recurrent_weights[spikers[None, :], neurons[:, None]],
        )
    return current


class _Events(NamedTuple):
    """The merged, time-ordered event list of one sample (see :func:`_event_list`)."""

    time: Array
    kind: Array
    neuron: Array  # source for inputs, spiking neuron otherwise
    position: Array  # index into the input list or the output list
    current: Array  # I_n just before the event (crossings, refractory ends)
    cotangent: Array  # dL/dt_k of a crossing


def _event_list(
    input_weights, recurrent_weights, p, inputs, outputs, time_cotangent, t_max, refractory, tau_syn
) -> _Events:
    """Inputs, crossings and (if ``refractory``) refractory ends, sorted in forward order,
    with the currents of :func:`currents_at_events` (``tau_syn``: scalar or ``[n]``) at the
    crossings and refractory ends (0 elsewhere)."""
    n_in_events = inputs.time.shape[0]
    in_valid = is_valid(inputs) & (inputs.time < t_max)
    out_valid = is_valid(outputs)
    neurons = jnp.maximum(outputs.idx, 0)
    cotangent = jnp.where(out_valid, time_cotangent, 0.0)
    # (time, valid, kind, source or neuron, dL/dt) of each part
    parts = [
        (inputs.time, in_valid, _INPUT, inputs.idx, jnp.zeros((n_in_events,), cotangent.dtype)),
        (outputs.time, out_valid, _CROSSING, outputs.idx, cotangent),
    ]
    if refractory:
        ends = outputs.time + p.t_refrac[neurons]
        valid_ends = out_valid & (p.t_refrac[neurons] > 0)
        parts.append((ends, valid_ends, _REFRACTORY_END, outputs.idx, jnp.zeros_like(cotangent)))
    # EventKind numbers the kinds in their order at equal times: with the parts in that order,
    # a stable sort by time alone orders the events by (time, kind)
    parts.sort(key=lambda part: part[2])
    time = jnp.concatenate([jnp.where(valid, t, jnp.inf) for t, valid, *_ in parts])
    kind = jnp.concatenate([jnp.where(valid, k, NO_EVENT) for _, valid, k, *_ in parts])
    events = _Events(
        time=time,
        kind=kind.astype(jnp.int32),
        neuron=jnp.concatenate([jnp.maximum(idx, 0) for *_, idx, _ in parts]).astype(jnp.int32),
        position=jnp.concatenate([jnp.arange(t.shape[0]) for t, *_ in parts]).astype(jnp.int32),
        current=jnp.zeros(time.shape, cotangent.dtype),
        cotangent=jnp.concatenate([dt for *_, dt in parts]),
    )
    order = jax.lax.sort((time, jnp.arange(time.shape[0])), num_keys=1, is_stable=True)[1]
    events = jax.tree.map(lambda x: x[order], events)
    current = currents_at_events(events, input_weights, recurrent_weights, tau_syn)
    queried = (events.kind == _CROSSING) | (events.kind == _REFRACTORY_END)
    return events._replace(current=jnp.where(queried, current, 0.0))


def currents_at_events(
    events: _Events, input_weights: Array, recurrent_weights: Array | None, tau_syn: Array
) -> Array:
    """``I_{n_e}(t_e^-)`` of every event ``e`` of a sorted event list: the value of
    :func:`currents_before` at each event's time and neuron, by one forward scan over the
    events (``O(E n)`` instead of ``O(E^2)`` exponentials and gathers).

    The carry holds every neuron's current ``I`` just before the current time ``t`` and the
    jumps ``J`` of the events at ``t`` (input spikes ``W_in[s]``, crossings ``W_rec[n]``;
    refractory ends and padding add nothing). When the time advances to ``t_e > t``::

        I <- (I + J) e^{-(t_e - t) / tau_syn},   J <- 0

    so events at equal times do not see each other's jumps (strictly earlier ones only, as in
    :func:`currents_before`). ``tau_syn``: a scalar or one value per neuron.
    """
    n = input_weights.shape[1]
    dtype = input_weights.dtype

    def before_event(carry, event: _Events, weights):
        input_weights, recurrent_weights, tau_syn = weights
        t, current, jump = carry
        later = (event.kind != NO_EVENT) & (event.time > t)
        lag = jnp.where(later, event.time - t, 0.0)
        current = jnp.where(later, (current + jump) * jnp.exp(-lag / tau_syn), current)
        jump = jnp.where(later, 0.0, jump)
        is_input = event.kind == _INPUT
        row = jnp.where(is_input, input_weights[jnp.where(is_input, event.neuron, 0)], 0.0)
        if recurrent_weights is not None:
            row = jnp.where(event.kind == _CROSSING, recurrent_weights[event.neuron], row)
        carry = (jnp.where(later, event.time, t), current, jump + row)
        return carry, current[event.neuron]

    zeros = jnp.zeros((n,), dtype)
    start = (jnp.asarray(-jnp.inf, dtype), zeros, zeros)
    weights = (input_weights, recurrent_weights, tau_syn)
    length = jnp.sum(events.kind != NO_EVENT, dtype=jnp.int32)  # the padding is sorted last
    _, currents = scan_leading(before_event, start, events, weights, length)
    return currents


def scan_leading(
    step: Callable[[Any, Any, Any], tuple[Any, Any]],
    carry: Any,
    xs: Any,
    constants: Any,
    length: Array,
    reverse: bool = False,
) -> tuple[Any, Any]:
    """``lax.scan(lambda c, x: step(c, x, constants), carry, xs, reverse=reverse)`` over only
    the first ``length`` entries of ``xs``; the outputs of the other entries are zeros.

    For an event list whose padding, sorted to the end, the step leaves unchanged: the
    reverse scan meets the padding first, while its carry still has its start value, and the
    forward scan meets it last, where it would only add outputs (the caller masks them).
    Under ``vmap`` (a ``custom_vmap`` rule) one loop of ``max(length)`` steps runs over the
    batch -- the entries past it are padding in every sample -- instead of the loop with a
    batched trip count that ``vmap`` would make, which selects every entry of the carry, per
    sample, in every step.
    """

    @jax.custom_batching.custom_vmap
    def loop(carry, xs, constants, length):
        return _scan_entries(step, carry, xs, constants, length, reverse, axis=0)

    @loop.def_vmap
    def batched_loop(axis_size, in_batched, carry, xs, constants, length):
        carry_batched, xs_batched, constants_batched, length_batched = in_batched
        step_all = jax.vmap(step, in_axes=(0, 0, batch_axes(constants_batched)))
        longest = jnp.max(length) if length_batched else length
        out = _scan_entries(
            step_all,
            batch_leaves(carry, carry_batched, axis_size),
            batch_leaves(xs, xs_batched, axis_size),
            constants,
            longest,
            reverse,
            axis=1,
        )
        return out, jax.tree.map(lambda _: True, out)

    return loop(carry, xs, constants, length)


def _scan_entries(step, carry, xs, constants, length, reverse, axis):
    """The loop of :func:`scan_leading`: entries ``0 .. length - 1`` of ``xs`` along
    ``axis`` (1 for a batch in front), outputs stacked along ``axis`` (zeros elsewhere)."""

    def entry(i):
        return jax.tree.map(lambda x: jax.lax.dynamic_index_in_dim(x, i, axis, False), xs)

    n_entries = jax.tree.leaves(xs)[0].shape[axis]
    shapes = jax.eval_shape(lambda c, x: step(c, x, constants)[1], carry, entry(0))
    ys = jax.tree.map(
        lambda y: jnp.zeros((*y.shape[:axis], n_entries, *y.shape[axis:]), y.dtype), shapes
    )

    def body(k, loop_carry):
        carry, ys = loop_carry
        i = length - 1 - k if reverse else k
        carry, y = step(carry, entry(i), constants)
        ys = jax.tree.map(
            lambda stacked, y: jax.lax.dynamic_update_index_in_dim(stacked, y, i, axis), ys, y
        )
        return carry, ys

    return jax.lax.fori_loop(0, length, body, (carry, ys))


class _Adjoint(NamedTuple):
    """Carry of the backward scan."""

    t: Array  # time of the last processed event (clipped to t_max)
    lam: LIFState  # (lambda_V, lambda_I), [n] each
    held: Array  # neuron refractory just after the current time
    pending: Array  # -lambda_V(r+) dV/dt(r) of a refractory end, waiting for its crossing
    group_time: Array  # time of the current group of simultaneous crossings (or nan)
    group_lam_v: Array  # lambda_V just after that group
    group_held: Array  # held flags just after that group


def _backward_step(
    carry: _Adjoint, event: _Events, input_weights, recurrent_weights, p, shared, t_max
):
    """Carry ``lambda`` back to ``event.time`` and apply the event's jump (module docstring).

    ``p``: the parameters per neuron (``[n]`` each); ``shared``: the same parameters as given
    (scalars when shared by all neurons), for the decays over ``dt``: their exponentials then
    cost one evaluation per time constant, not one per neuron.
    """
    active = event.kind != NO_EVENT
    t_event = jnp.where(active, jnp.minimum(event.time, t_max), carry.t)
    dt = carry.t - t_event
    free_lam = adjoint_propagate(carry.lam, dt, shared)
    held_i = carry.lam.i * jnp.exp(-dt / shared.tau_syn)
    lam_v = jnp.where(carry.held, carry.lam.v, free_lam.v)
    lam_i = jnp.where(carry.held, held_i, free_lam.i)
    is_input = event.kind == _INPUT
    n = jnp.where(is_input, 0, event.neuron)  # the spiking neuron (inputs: unused)

    # input spike: dL/dt_m; lambda continuous
    w_in = input_weights[jnp.where(is_input, event.neuron, 0)]
    free = ~carry.held
    input_time_grad = jnp.sum(w_in * (lam_i / p.tau_syn - jnp.where(free, lam_v, 0.0) / p.tau_mem))

    # crossing: lambda_V just after the group of simultaneous crossings
    is_crossing = event.kind == _CROSSING
    same_group = event.time == carry.group_time
    lam_v_after = jnp.where(same_group, carry.group_lam_v, lam_v)
    held_after = jnp.where(same_group, carry.group_held, carry.held)
    sensitivity = event.cotangent
    if recurrent_weights is not None:
        w_rec = recurrent_weights[n]
        sensitivity = sensitivity + jnp.sum(
            w_rec * (lam_i / p.tau_syn - jnp.where(held_after, 0.0, lam_v_after) / p.tau_mem)
        )
    restart = -lam_v_after[n] * onset_slope(p.v_reset[n], event.current, p, n)
    sensitivity = sensitivity + jnp.where(p.t_refrac[n] > 0, carry.pending[n], restart)
    rising = onset_slope(p.v_th[n], event.current, p, n)
    lam_v_before = safe_divide(-sensitivity, rising, rising > 0)

    # refractory end: the neuron restarts from v_reset at r; its crossing collects the term
    is_end = event.kind == _REFRACTORY_END
    end_term = -lam_v[n] * onset_slope(p.v_reset[n], event.current, p, n)

    new_lam_v = lam_v.at[n].set(jnp.where(is_crossing, lam_v_before, lam_v[n]))
    held = carry.held.at[n].set(
        jnp.where(is_crossing, False, jnp.where(is_end, True, carry.held[n]))
    )
    pending = carry.pending.at[n].set(
        jnp.where(is_crossing, 0.0, jnp.where(is_end, end_term, carry.pending[n]))
    )
    new_carry = _Adjoint(
        t=t_event,
        lam=LIFState(new_lam_v, lam_i),
        held=held,
        pending=pending,
        group_time=jnp.where(is_crossing, event.time, jnp.nan),
        group_lam_v=jnp.where(is_crossing, lam_v_after, carry.group_lam_v),
        group_held=jnp.where(is_crossing, held_after, carry.group_held),
    )
    return new_carry, (lam_i, jnp.where(is_input, input_time_grad, 0.0))


class _WeightGradients(NamedTuple):
    """``dL/dW_in`` ``[n_in, n]`` and ``dL/dW_rec`` ``[n, n]`` (or ``None``), summed so far."""

    input_weights: Array
    recurrent_weights: Array | None


def _accumulate(grads: _WeightGradients, event: _Events, lam_i: Array) -> _WeightGradients:
    """Add the event's weight gradient to the sums (module docstring): an input spike of
    source ``s`` adds ``lambda_I(t_m)`` to row ``s`` of ``dL/dW_in``, a spike of neuron ``n``
    adds ``lambda_I(t_k)`` to row ``n`` of ``dL/dW_rec``; other events add nothing.

    One row per event, in the scan's carry: no ``[events, n]`` stack of ``lambda_I`` and no
    scatter of it afterwards.
    """

    def add_row(total: Array, kind: int) -> Array:
        row = jnp.where(event.kind == kind, event.neuron, total.shape[0])  # out of range: none
        return total.at[row].add(lam_i, mode="drop")

    d_recurrent = grads.recurrent_weights
    if d_recurrent is not None:
        d_recurrent = add_row(d_recurrent, _CROSSING)
    return _WeightGradients(add_row(grads.input_weights, _INPUT), d_recurrent)


def eventprop_backward(
    input_weights: Array,
    recurrent_weights: Array | None,
    params: LIFParameters,
    inputs: Spikes,
    outputs: Spikes,
    time_cotangent: Array,
    t_max: ArrayLike,
    plan: SolverPlan | None = None,
) -> AdjointGradients:
    """EventProp backward pass of one population for one sample, by a reverse event scan.

    ``inputs``/``outputs``: the population's sorted input and output spike lists (from the
    simulator or given); ``time_cotangent`` ``[len(outputs)]``: ``dL/dt`` of every output
    spike. Returns ``dL/dW_in``, ``dL/dW_rec`` (``None`` for a feed-forward layer) and
    ``dL/dt`` of every input spike (0 for padding and for inputs at ``t >= t_max``). Exact
    for any tau ratio, refractory period, several spikes per neuron and recurrent weights,
    provided ``outputs`` are all spikes of the population before ``t_max``. Of ``plan`` only
    ``refractory`` matters (see :mod:`jaxsnn.event.plan`; the default decides from ``params``
    and ``t_max``).
    """
    refractory = refractory_mode(params, t_max) if plan is None else plan.refractory
    dtype = jnp.result_type(input_weights, inputs.time, float)
    input_weights = jnp.asarray(input_weights, dtype)
    if recurrent_weights is not None:
        recurrent_weights = jnp.asarray(recurrent_weights, dtype)
    n_in, n = input_weights.shape
    p = as_float_params(params, dtype, n)
    shared = as_float_params(params, dtype)  # scalars stay scalars: one exp per time constant
    t_max = jnp.asarray(t_max, dtype)
    inputs = Spikes(jnp.asarray(inputs.time, dtype), jnp.asarray(inputs.idx, jnp.int32))
    outputs = Spikes(jnp.asarray(outputs.time, dtype), jnp.asarray(outputs.idx, jnp.int32))
    events = _event_list(
        input_weights,
        recurrent_weights,
        p,
        inputs,
        outputs,
        jnp.asarray(time_cotangent, dtype),
        t_max,
        refractory == "events",
        shared.tau_syn,
    )
    zeros = jnp.zeros((n,), dtype)
    # with refractory periods beyond t_max, every neuron that spiked is refractory at t_max
    spiked = (
        jnp.zeros((n,), bool)
        .at[jnp.where(is_valid(outputs), outputs.idx, n)]
        .set(True, mode="drop")
    )
    start = _Adjoint(
        t=t_max,
        lam=LIFState(zeros, zeros),
        held=spiked & (refractory == "beyond"),
        pending=zeros,
        group_time=jnp.asarray(jnp.nan, dtype),
        group_lam_v=zeros,
        group_held=jnp.zeros((n,), bool),
    )
    constants = (input_weights, recurrent_weights, p, shared, t_max)

    def step(carry, event, constants):
        adjoint, grads = carry
        adjoint, (lam_i, time_grad) = _backward_step(adjoint, event, *constants)
        return (adjoint, _accumulate(grads, event, lam_i)), time_grad

    no_grads = _WeightGradients(
        jnp.zeros((n_in, n), dtype),
        None if recurrent_weights is None else jnp.zeros((n, n), dtype),
    )
    # the padding, sorted last, comes first in reverse and leaves the start carry unchanged
    length = jnp.sum(events.kind != NO_EVENT, dtype=jnp.int32)
    (_, grads), time_grad = scan_leading(
        step, (start, no_grads), events, constants, length, reverse=True
    )
    is_input = events.kind == _INPUT
    n_inputs = inputs.time.shape[0]
    d_times = (
        jnp.zeros((n_inputs,), dtype)
        .at[jnp.where(is_input, events.position, n_inputs)]
        .add(time_grad, mode="drop")
    )
    return AdjointGradients(grads.input_weights, grads.recurrent_weights, d_times)
