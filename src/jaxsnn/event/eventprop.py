"""EventProp: exact gradients by the adjoint method (Wunderlich & Pehle 2021).

The forward pass is the ordinary event-based simulation; it keeps only the spikes. The
backward pass integrates the adjoint variables ``lambda = dL/d(V, I)`` of every neuron from
``t_max`` back to ``0`` in closed form between events (:func:`jaxsnn.neuron.adjoint_propagate`)
and applies a jump at each event. Memory and time grow with the number of events, not with
``t_max`` or with the iterations of the crossing solver.

**Adjoint between events** (a refractory neuron holds ``V``, so its ``lambda_V`` stays
constant and ``lambda_I`` only decays)::

    lambda_V(t - dt) = lambda_V(t) e^{-dt/tau_mem}
    lambda_I(t - dt) = lambda_I(t) e^{-dt/tau_syn} + lambda_V(t) k(dt)

**Jumps** (``+``/``-``: just after/before the event; ``free_j``: neuron ``j`` not refractory)

* input spike ``m`` of source ``s`` at ``t_m`` (``I += W_in[s]``): ``lambda`` is continuous;
  ``dL/dW_in[s, j] += lambda_I,j(t_m)`` and, since moving the jump later by ``dt`` changes the
  state by ``dt (-free_j W_in[s, j] / tau_mem, W_in[s, j] / tau_syn)``::

      dL/dt_m = sum_j W_in[s, j] (lambda_I,j / tau_syn - free_j lambda_V,j / tau_mem)

* spike ``k`` of neuron ``n`` at ``t_k`` (``V_n`` reaches ``v_th`` with slope
  ``dV_n/dt^- = (v_leak - v_th + I_n(t_k)) / tau_mem > 0``; then ``V_n = v_reset`` and
  ``I += W_rec[n]``). The total sensitivity of the loss to ``t_k`` is::

      G_k = dL/dt_k                                   (the loss, through the output)
          + sum_j W_rec[n, j] (lambda_I,j^+ / tau_syn - free_j lambda_V,j^+ / tau_mem)
          - lambda_V,n(r^+) (v_leak - v_reset + I_n(r)) / tau_mem

  where ``r = t_k + t_refrac`` is when ``V_n`` starts to move again (``r = t_k`` without a
  refractory period). The spike time depends on the state before it only through ``V_n``
  (``dt_k = -dV_n / (dV_n/dt^-)``), and the reset erases ``V_n``, so::

      lambda_V,n^- = -G_k / (dV_n/dt^-),    every other component of lambda is continuous

  and ``dL/dW_rec[n, j] += lambda_I,j(t_k)``.

Simultaneous events follow the forward order (:mod:`jaxsnn.event.step`): at equal times a
refractory period ends first, then all crossings (one group: their ``G_k`` use ``lambda``
after the whole group), then the input spikes in list order. The currents ``I_n`` at the
spikes are not stored but recomputed from the spike lists (``I`` never depends on ``V``).

Two backward passes are provided: :func:`eventprop_backward`, a reverse ``lax.scan`` over
all events (recurrent weights, refractory periods, several spikes per neuron) and
:func:`first_spike_backward`, the same adjoint in closed form for feed-forward layers whose
neurons spike at most once (``lambda_n(t) = a_n (e^{-(t_n - t)/tau_mem}, k(t_n - t))``
before the spike), vectorised over inputs and neurons like the forward fast path.
:func:`with_eventprop_gradient` attaches either to spikes that are given (from a simulation,
a hardware backend or a mock), and :func:`eventprop_population` /
:func:`eventprop_first_spikes` simulate and attach in one call. The neuron parameters get no
gradient.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxsnn.event.root import _concrete, _safe_divide, as_float_params
from jaxsnn.event.step import simulate_population
from jaxsnn.event.ttfs import ttfs_first_spikes
from jaxsnn.event.types import Spikes, dropped_of, is_valid
from jaxsnn.neuron import LIFParameters, LIFState, adjoint_propagate, synaptic_kernel

Array = jnp.ndarray

_INPUT, _CROSSING, _REFRACTORY_END, _NONE = 0, 1, 2, -1
# forward order at equal times: refractory ends, then crossings, then inputs
_TIE_RANK = {_REFRACTORY_END: 0, _CROSSING: 1, _INPUT: 2}


class AdjointGradients(NamedTuple):
    """``dL/dW_in`` ``[n_in, n]``, ``dL/dW_rec`` ``[n, n]`` (or ``None``), ``dL/dt_in`` ``[K]``."""

    input_weights: Array
    recurrent_weights: Array | None
    input_times: Array


def _per_neuron(params: LIFParameters, n: int, dtype) -> LIFParameters:
    """Every parameter as a ``[n]`` array of ``dtype`` (per-neuron values allowed)."""
    params = as_float_params(params, dtype)
    return LIFParameters(*(jnp.broadcast_to(field, (n,)) for field in params))


def refractory_mode(params: LIFParameters, t_max: ArrayLike) -> str:
    """How the backward pass treats refractory periods (static, from concrete values).

    ``"none"``: every ``t_refrac == 0``; ``"beyond"``: every ``t_refrac >= t_max``, so a
    neuron stays refractory from its (only) spike to the end and no refractory period ends
    before ``t_max`` (no refractory-end events are needed); ``"events"`` otherwise (also for
    traced values): each spike's refractory end is an event of the backward scan.
    """
    t_refrac, end = _concrete(params.t_refrac), _concrete(t_max)
    if t_refrac is None:
        return "events"
    if not np.any(t_refrac > 0):
        return "none"
    if end is not None and bool(np.all(t_refrac >= end)):
        return "beyond"
    return "events"


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


def _onset_slope(v_start: Array, current: Array, p: LIFParameters, n: Array) -> Array:
    """``dV/dt = (v_leak - V + I) / tau_mem`` of neuron ``n`` at voltage ``v_start``."""
    return (p.v_leak[n] - v_start + current) / p.tau_mem[n]


class _Events(NamedTuple):
    """The merged, time-ordered event list of one sample (see :func:`_event_list`)."""

    time: Array
    kind: Array
    neuron: Array  # source for inputs, spiking neuron otherwise
    position: Array  # index into the input list or the output list
    current: Array  # I_n just before the event (crossings, refractory ends)
    cotangent: Array  # dL/dt_k of a crossing


def _event_list(
    input_weights, recurrent_weights, p, inputs, outputs, time_cotangent, t_max, refractory
) -> _Events:
    """Inputs, crossings and (if ``refractory``) refractory ends, sorted in forward order."""
    n_in_events, n_out = inputs.time.shape[0], outputs.time.shape[0]
    in_valid = is_valid(inputs) & (inputs.time < t_max)
    out_valid = is_valid(outputs)
    neurons = jnp.maximum(outputs.idx, 0)
    parts = [
        (inputs.time, in_valid, _INPUT, inputs.idx, jnp.arange(n_in_events)),
        (outputs.time, out_valid, _CROSSING, outputs.idx, jnp.arange(n_out)),
    ]
    queries = [outputs.time]
    if refractory:
        ends = outputs.time + p.t_refrac[neurons]
        parts.append(
            (
                ends,
                out_valid & (p.t_refrac[neurons] > 0),
                _REFRACTORY_END,
                outputs.idx,
                jnp.arange(n_out),
            )
        )
        queries.append(ends)
    query_times = jnp.concatenate(queries)
    query_neurons = jnp.tile(outputs.idx, len(queries))
    currents = currents_before(
        jnp.where(jnp.isfinite(query_times), query_times, 0.0),
        query_neurons,
        input_weights,
        recurrent_weights,
        p.tau_syn,
        inputs,
        outputs,
    )
    zeros_in = jnp.zeros((n_in_events,), currents.dtype)
    cotangent = jnp.where(out_valid, time_cotangent, 0.0)
    time = jnp.concatenate([jnp.where(valid, t, jnp.inf) for t, valid, *_ in parts])
    kind = jnp.concatenate([jnp.where(valid, k, _NONE) for _, valid, k, *_ in parts])
    rank = jnp.concatenate([jnp.full(t.shape, _TIE_RANK[k], jnp.int32) for t, _, k, *_ in parts])
    events = _Events(
        time=time,
        kind=kind.astype(jnp.int32),
        neuron=jnp.concatenate([jnp.maximum(idx, 0) for *_, idx, _ in parts]).astype(jnp.int32),
        position=jnp.concatenate([pos for *_, pos in parts]).astype(jnp.int32),
        current=jnp.concatenate([zeros_in, currents]),
        cotangent=jnp.concatenate(
            [zeros_in, cotangent] + ([jnp.zeros_like(cotangent)] if refractory else [])
        ),
    )
    order = jax.lax.sort((time, rank, jnp.arange(time.shape[0])), num_keys=2, is_stable=True)[2]
    return jax.tree.map(lambda x: x[order], events)


class _Adjoint(NamedTuple):
    """Carry of the backward scan."""

    t: Array  # time of the last processed event (clipped to t_max)
    lam: LIFState  # (lambda_V, lambda_I), [n] each
    held: Array  # neuron refractory just after the current time
    pending: Array  # -lambda_V(r+) dV/dt(r) of a refractory end, waiting for its crossing
    group_time: Array  # time of the current group of simultaneous crossings (or nan)
    group_lam_v: Array  # lambda_V just after that group
    group_held: Array  # held flags just after that group


def _backward_step(carry: _Adjoint, event: _Events, input_weights, recurrent_weights, p, t_max):
    """Carry ``lambda`` back to ``event.time`` and apply the event's jump (module docstring)."""
    active = event.kind != _NONE
    t_event = jnp.where(active, jnp.minimum(event.time, t_max), carry.t)
    dt = carry.t - t_event
    free_lam = adjoint_propagate(carry.lam, dt, p)
    held_i = carry.lam.i * jnp.exp(-dt / p.tau_syn)
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
    restart = -lam_v_after[n] * _onset_slope(p.v_reset[n], event.current, p, n)
    sensitivity = sensitivity + jnp.where(p.t_refrac[n] > 0, carry.pending[n], restart)
    rising = _onset_slope(p.v_th[n], event.current, p, n)
    lam_v_before = _safe_divide(-sensitivity, rising, rising > 0)

    # refractory end: the neuron restarts from v_reset at r; its crossing collects the term
    is_end = event.kind == _REFRACTORY_END
    end_term = -lam_v[n] * _onset_slope(p.v_reset[n], event.current, p, n)

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


def eventprop_backward(
    input_weights: Array,
    recurrent_weights: Array | None,
    params: LIFParameters,
    inputs: Spikes,
    outputs: Spikes,
    time_cotangent: Array,
    t_max: ArrayLike,
    refractory: str | None = None,
) -> AdjointGradients:
    """EventProp backward pass of one population for one sample, by a reverse event scan.

    ``inputs``/``outputs``: the population's sorted input and output spike lists (from the
    simulator or given); ``time_cotangent`` ``[len(outputs)]``: ``dL/dt`` of every output
    spike. Returns ``dL/dW_in``, ``dL/dW_rec`` (``None`` for a feed-forward layer) and
    ``dL/dt`` of every input spike (0 for padding and for inputs at ``t >= t_max``). Exact
    for any tau ratio, refractory period, several spikes per neuron and recurrent weights,
    provided ``outputs`` are all spikes of the population before ``t_max``. ``refractory``:
    see :func:`refractory_mode` (the default decides from ``params`` and ``t_max``).
    """
    if refractory is None:
        refractory = refractory_mode(params, t_max)
    dtype = jnp.result_type(input_weights, inputs.time, float)
    input_weights = jnp.asarray(input_weights, dtype)
    if recurrent_weights is not None:
        recurrent_weights = jnp.asarray(recurrent_weights, dtype)
    n_in, n = input_weights.shape
    p = _per_neuron(params, n, dtype)
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
    step = partial(
        _backward_step,
        input_weights=input_weights,
        recurrent_weights=recurrent_weights,
        p=p,
        t_max=t_max,
    )
    _, (lam_i, time_grad) = jax.lax.scan(step, start, events, reverse=True)
    is_input = events.kind == _INPUT
    d_input_weights = (
        jnp.zeros((n_in, n), dtype)
        .at[jnp.where(is_input, events.neuron, n_in)]
        .add(lam_i, mode="drop")
    )
    d_recurrent = None
    if recurrent_weights is not None:
        is_crossing = events.kind == _CROSSING
        d_recurrent = (
            jnp.zeros((n, n), dtype)
            .at[jnp.where(is_crossing, events.neuron, n)]
            .add(lam_i, mode="drop")
        )
    n_inputs = inputs.time.shape[0]
    d_times = (
        jnp.zeros((n_inputs,), dtype)
        .at[jnp.where(is_input, events.position, n_inputs)]
        .add(time_grad, mode="drop")
    )
    return AdjointGradients(d_input_weights, d_recurrent, d_times)


def first_spike_backward(
    weights: Array,
    params: LIFParameters,
    inputs: Spikes,
    outputs: Spikes,
    time_cotangent: Array,
    t_max: ArrayLike,
) -> AdjointGradients:
    """EventProp backward pass of a feed-forward layer whose neurons spike at most once.

    The adjoint of neuron ``n`` (spike at ``t_n``, slope ``dV/dt^-``, loss sensitivity
    ``g_n``) is zero after ``t_n`` and, before it, in closed form::

        a_n = -g_n / (dV_n/dt^-),  lambda_V,n(t) = a_n e^{-(t_n - t)/tau_mem},
        lambda_I,n(t) = a_n k(t_n - t)

    so ``dL/dW[s, n] = sum_{m: s_m = s, t_m < t_n} lambda_I,n(t_m)`` and
    ``dL/dt_m = sum_n W[s_m, n] (lambda_I,n(t_m) / tau_syn - lambda_V,n(t_m) / tau_mem)``,
    all at once (``[K, n]`` arrays, no loop). Same result as :func:`eventprop_backward`.
    """
    dtype = jnp.result_type(weights, inputs.time, float)
    weights = jnp.asarray(weights, dtype)
    n_in, n = weights.shape
    p = _per_neuron(params, n, dtype)
    t_max = jnp.asarray(t_max, dtype)
    inputs = Spikes(jnp.asarray(inputs.time, dtype), jnp.asarray(inputs.idx, jnp.int32))
    out_valid = is_valid(outputs)
    slot = jnp.where(out_valid, outputs.idx, n)
    t_spike = jnp.full((n,), jnp.inf, dtype).at[slot].set(outputs.time, mode="drop")
    g = jnp.zeros((n,), dtype).at[slot].add(jnp.where(out_valid, time_cotangent, 0.0), mode="drop")
    spiked = jnp.isfinite(t_spike)

    in_valid = is_valid(inputs) & (inputs.time < t_max)
    lag = t_spike[None, :] - inputs.time[:, None]  # [K, n]
    before = in_valid[:, None] & spiked[None, :] & (lag > 0)
    lag = jnp.where(before, lag, 0.0)
    w = weights[jnp.maximum(inputs.idx, 0)]  # [K, n]
    current = jnp.sum(jnp.where(before, w * jnp.exp(-lag / p.tau_syn), 0.0), axis=0)
    rising = (p.v_leak - p.v_th + current) / p.tau_mem
    a = _safe_divide(-g, rising, spiked & (rising > 0))
    lam = LIFState(
        jnp.where(before, a * jnp.exp(-lag / p.tau_mem), 0.0),
        jnp.where(before, a * synaptic_kernel(lag, p), 0.0),
    )
    sources = jnp.where(in_valid, inputs.idx, n_in)
    d_weights = jnp.zeros((n_in, n), dtype).at[sources].add(lam.i, mode="drop")
    d_times = jnp.sum(w * (lam.i / p.tau_syn - lam.v / p.tau_mem), axis=1)
    return AdjointGradients(d_weights, None, d_times)


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _attach(
    first_spike_only, refractory, input_weights, recurrent_weights, params, inputs, outputs, t_max
):
    return outputs


def _attach_forward(
    first_spike_only, refractory, input_weights, recurrent_weights, params, inputs, outputs, t_max
):
    residuals = (input_weights, recurrent_weights, params, inputs, outputs, t_max)
    return outputs, residuals


def _attach_backward(first_spike_only, refractory, residuals, cotangent):
    input_weights, recurrent_weights, params, inputs, outputs, t_max = residuals
    time_cotangent = jnp.asarray(cotangent.time)
    if first_spike_only:
        grads = first_spike_backward(input_weights, params, inputs, outputs, time_cotangent, t_max)
    else:
        grads = eventprop_backward(
            input_weights,
            recurrent_weights,
            params,
            inputs,
            outputs,
            time_cotangent,
            t_max,
            refractory,
        )
    d_inputs = Spikes(grads.input_times.astype(jnp.result_type(inputs.time)), None, None)
    d_recurrent = None
    if recurrent_weights is not None:
        d_recurrent = grads.recurrent_weights.astype(jnp.result_type(recurrent_weights))
    return (
        grads.input_weights.astype(jnp.result_type(input_weights)),
        d_recurrent,
        None,
        d_inputs,
        None,
        None,
    )


_attach.defvjp(_attach_forward, _attach_backward)


def with_eventprop_gradient(
    input_weights: Array,
    recurrent_weights: Array | None,
    params: LIFParameters,
    inputs: Spikes,
    outputs: Spikes,
    t_max: ArrayLike,
    first_spike_only: bool = False,
) -> Spikes:
    """Return ``outputs`` unchanged, with gradients to the weights and input times by EventProp.

    ``outputs`` are the population's spikes for ``inputs`` -- simulated, or given from outside
    (a hardware backend, a mock): the backward pass evaluates the software model's adjoint at
    those spikes. Gradients flow to ``input_weights``, ``recurrent_weights`` and
    ``inputs.time`` (so to the layer below); ``params`` and ``outputs`` get none.
    ``first_spike_only`` selects :func:`first_spike_backward` (feed-forward, at most one
    spike per neuron) instead of :func:`eventprop_backward`.
    """
    if first_spike_only and recurrent_weights is not None:
        raise ValueError("first_spike_only needs a feed-forward layer (recurrent_weights=None)")
    refractory = refractory_mode(params, t_max)
    dtype = jnp.result_type(input_weights, inputs.time, float)
    inputs = Spikes(jnp.asarray(inputs.time, dtype), inputs.idx, dropped_of(inputs))
    outputs = Spikes(jnp.asarray(outputs.time, dtype), outputs.idx, dropped_of(outputs))
    t_max = jnp.asarray(t_max, dtype)
    frozen = jax.lax.stop_gradient((outputs, t_max))
    return _attach(
        bool(first_spike_only),
        refractory,
        input_weights,
        recurrent_weights,
        params,
        inputs,
        *frozen,
    )


def eventprop_population(
    input_weights: Array,
    recurrent_weights: Array | None,
    params: LIFParameters,
    inputs: Spikes,
    t_max: ArrayLike,
    max_events: int,
    method: str | None = None,
) -> Spikes:
    """:func:`jaxsnn.event.step.simulate_population` with EventProp gradients.

    The forward simulation runs on gradient-stopped copies of its arguments (nothing of it is
    kept for the backward pass but the spikes) and stops at the last event
    (``differentiable=False``); :func:`eventprop_backward` gives the gradients. Spikes lost
    to a full buffer (``dropped > 0``) make the gradient incomplete.
    """
    frozen_w, frozen_rec, frozen_time = jax.lax.stop_gradient(
        (input_weights, recurrent_weights, inputs.time)
    )
    # concrete parameters stay concrete (the default solver is chosen from their values)
    concrete = all(_concrete(field) is not None for field in params)
    outputs = simulate_population(
        frozen_w,
        frozen_rec,
        params if concrete else jax.lax.stop_gradient(params),
        Spikes(frozen_time, inputs.idx, inputs.dropped),
        t_max,
        max_events,
        method,
        differentiable=False,
    )
    return with_eventprop_gradient(input_weights, recurrent_weights, params, inputs, outputs, t_max)


def eventprop_first_spikes(
    weights: Array,
    params: LIFParameters,
    inputs: Spikes,
    t_max: ArrayLike,
    method: str | None = None,
    mode: str | None = None,
) -> Spikes:
    """First spikes by the fast path (:func:`jaxsnn.event.ttfs.ttfs_first_spikes`) with the
    closed-form EventProp backward pass :func:`first_spike_backward`."""
    frozen_w, frozen_time = jax.lax.stop_gradient((weights, inputs.time))
    outputs = ttfs_first_spikes(
        frozen_w, params, Spikes(frozen_time, inputs.idx, inputs.dropped), t_max, method, mode
    )
    return with_eventprop_gradient(weights, None, params, inputs, outputs, t_max, True)
