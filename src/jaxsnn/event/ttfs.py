"""Feed-forward fast path: every neuron's first spike at once (time-to-first-spike layers).

For a feed-forward layer whose neurons matter only until their first spike, no event loop is
needed. With the sorted input spikes ``t_0 <= t_1 <= ...`` (weights ``w_m = W[source_m]``),
the state of neuron ``j`` just after the causal prefix ``{0..k}`` is, starting from rest::

    I_k = sum_{m<=k} w_m exp(-(t_k - t_m) / tau_syn)
    V_k = v_leak + sum_{m<=k} w_m kappa(t_k - t_m)

(``kappa`` the voltage kernel of :func:`jaxsnn.neuron.synaptic_kernel``), computed for all
``k`` with cumulative sums of ``w_m exp(t_m / tau)``. From each prefix state the crossing
solver of :mod:`jaxsnn.event.root` gives the candidate ``t_k + dt_k``; it is valid if
``t_k + dt_k <= t_{k+1}`` (the next input has not arrived yet; at equal times the crossing
comes first, as in the stepping simulator) and ``< t_max``. The first valid candidate is the
first spike. Everything is vectorised over prefixes and neurons (``vmap`` for a batch); the
gradients are exact (implicit function theorem at the crossing, autodiff through the sums).

The cumulative sums use ``exp((t_m - t_ref) / tau)`` with ``t_ref`` the first input time and
inputs at ``t >= t_max`` ignored, so they stay finite for ``t_max / min(tau_mem, tau_syn)``
up to about 80 in float32 (700 in float64). For ratios ``tau_mem / tau_syn`` within 5 % of 1
(but not 1) the separable form would cancel, and a pairwise ``O(K^2)`` form is used instead.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxsnn.event.plan import SolverPlan, solver_plan
from jaxsnn.event.root import extremum_time, next_crossing
from jaxsnn.event.types import EventKind, Spikes, comes_first, dropped_of
from jaxsnn.neuron import LIFParameters, LIFState, as_float_params, propagate, synaptic_kernel

Array = jnp.ndarray


def _decayed_sums(w: Array, s: Array) -> Array:
    """``sum_{m<=k} w_m exp(s_m - s_k)`` for every prefix ``k`` (``s = (t - t_ref) / tau``).

    ``w``: ``[K, n]``; ``s``: ``[K, n]`` or ``[K, 1]`` (one time constant for all neurons).
    """
    return jnp.exp(-s) * jnp.cumsum(w * jnp.exp(s), axis=0)


def prefix_states(
    weights: Array, params: LIFParameters, inputs: Spikes, t_max: ArrayLike, mode: str
) -> tuple[Array, LIFState, Array]:
    """``(t_k, LIFState(V_k, I_k), valid_k)``: each neuron's state just after input ``k``.

    Shapes ``[K]``, ``[K, n]``, ``[K]``. Invalid inputs (padding, ``t >= t_max``) get weight 0
    and a safe time (no inf or NaN enters any gradient). ``mode``: the plan's
    ``prefix_sums``. Every field of ``params`` may be a scalar or hold one value per neuron
    (``[n]``): the time constants divide the input times per neuron.
    """
    times = inputs.time
    valid = jnp.isfinite(times) & (inputs.idx >= 0) & (times < t_max)
    t_ref = jax.lax.stop_gradient(jnp.where(valid[0], times[0], 0.0))
    t = jnp.where(valid, times, t_ref)
    w = jnp.where(valid[:, None], weights[jnp.maximum(inputs.idx, 0)], 0.0)
    tau_mem, tau_syn = params.tau_mem, params.tau_syn
    if mode == "pairwise":
        # [K, K, 1] kernels for shared time constants, [K, K, n] for per-neuron ones
        lag = t[:, None] - t[None, :]
        causal = jnp.tril(jnp.ones(lag.shape, bool))[:, :, None]
        lag = jnp.where(causal, lag[:, :, None], 0.0)
        current_kernel = jnp.where(causal, jnp.exp(-lag / tau_syn), 0.0)
        voltage_kernel = jnp.where(causal, synaptic_kernel(lag, params), 0.0)
        current = jnp.sum(current_kernel * w[None], axis=1)
        y = jnp.sum(voltage_kernel * w[None], axis=1)
    else:
        since_ref = (t - t_ref)[:, None]  # [K, 1]: broadcasts against per-neuron taus
        s_syn = since_ref / tau_syn
        current = _decayed_sums(w, s_syn)
        if mode == "equal":
            # sum w_m (t_k - t_m)/tau e^{-(t_k - t_m)/tau} = E_k (s_k S0_k - S1_k)
            weighted = w * jnp.exp(s_syn)
            s0 = jnp.cumsum(weighted, axis=0)
            s1 = jnp.cumsum(weighted * s_syn, axis=0)
            y = jnp.exp(-s_syn) * (s_syn * s0 - s1)
        else:
            # kappa (e^{-lag/tau_syn} - e^{-lag/tau_mem}) with kappa = tau_syn / (tau_syn - tau_mem)
            kappa = tau_syn / (tau_syn - tau_mem)
            y = kappa * (current - _decayed_sums(w, since_ref / tau_mem))
    v = params.v_leak + y
    return t, LIFState(v, current), valid


def ttfs_spike_times(
    weights: Array,
    params: LIFParameters,
    inputs: Spikes,
    t_max: ArrayLike,
    plan: SolverPlan | None = None,
) -> Array:
    """First spike time of every neuron, ``[n]`` (``+inf``: no spike before ``t_max``).

    ``weights``: ``[n_in, n]``; ``inputs``: one sample's sorted spike list; ``params``: scalars
    or per-neuron ``[n]`` values. ``plan`` (crossing solver, prefix sums, whether a neuron at
    rest may spike) defaults to :func:`~jaxsnn.event.plan.solver_plan` of ``params``.
    """
    if plan is None:
        plan = solver_plan(params, t_max)
    dtype = jnp.result_type(weights, inputs.time, float)
    params = as_float_params(params, dtype)
    weights = jnp.asarray(weights, dtype)
    t_max = jnp.asarray(t_max, dtype)
    inputs = Spikes(jnp.asarray(inputs.time, dtype), jnp.asarray(inputs.idx, jnp.int32))
    if plan.rest_can_spike:
        zero = Spikes(jnp.zeros((1,), dtype), jnp.zeros((1,), jnp.int32))
        weights = jnp.concatenate([weights, jnp.zeros((1, weights.shape[1]), dtype)])
        inputs = Spikes(
            jnp.concatenate([zero.time, inputs.time]),
            jnp.concatenate([zero.idx + weights.shape[0] - 1, inputs.idx]),
        )
    n = weights.shape[1]
    if inputs.time.shape[0] == 0:
        return jnp.full((n,), jnp.inf, dtype)
    t, state, valid = prefix_states(weights, params, inputs, t_max, plan.prefix_sums)
    upper = jnp.concatenate([inputs.time[1:], jnp.full((1,), jnp.inf, dtype)])
    if plan.crossing == "general":
        return _located_first_spike(t, state, valid, upper, params, t_max)
    candidate = t[:, None] + next_crossing(state, params, method=plan.crossing)
    before_next_input = comes_first(candidate, EventKind.CROSSING, upper[:, None], EventKind.INPUT)
    ok = valid[:, None] & before_next_input & (candidate < t_max)
    first = jnp.argmax(ok, axis=0)[None, :]
    # whether any prefix is ok, read at the argmax: one reduction over the [K, n] candidates
    # (a separate ``any`` makes XLA compute them twice)
    spiked = jnp.take_along_axis(ok, first, axis=0)[0]
    chosen = jnp.take_along_axis(candidate, first, axis=0)[0]
    return jnp.where(spiked, chosen, jnp.inf)


def _located_first_spike(
    t: Array, state: LIFState, valid: Array, upper: Array, params: LIFParameters, t_max: Array
) -> Array:
    """First spike times ``[n]`` with the iterative solver run once per neuron, not per prefix.

    The first interval ``[t_k, min(t_{k+1}, t_max)]`` on which a neuron reaches ``v_th`` is
    found in closed form (its :func:`interval_peak` ``>= v_th``; at an interval's end the
    crossing comes before the next input, as in the stepping simulator); the first crossing
    after ``t_k`` is then the first crossing of that interval, and the general solver is
    asked for it from that prefix state only -- ``n`` roots instead of ``K n``.
    """
    end = jnp.minimum(jnp.where(valid, upper, t_max), t_max)
    span = jnp.maximum(end - t, 0.0)[:, None]
    reaches = valid[:, None] & (interval_peak(state, span, params) >= params.v_th)
    first = jnp.argmax(reaches, axis=0)[None, :]
    reached = jnp.take_along_axis(reaches, first, axis=0)[0]  # not jnp.any: one reduction
    located = LIFState(
        jnp.take_along_axis(state.v, first, axis=0)[0],
        jnp.take_along_axis(state.i, first, axis=0)[0],
    )
    candidate = t[first[0]] + next_crossing(located, params, method="general")
    spiked = reached & (candidate < t_max)
    return jnp.where(spiked, candidate, jnp.inf)


def interval_peak(state: LIFState, span: Array, params: LIFParameters) -> Array:
    """Highest voltage on ``[0, span]`` from ``state`` with no spike:
    ``max(V(0), V(span), V(t_e))``, the extremum ``t_e`` (:func:`~jaxsnn.event.root.
    extremum_time`) counted where it lies inside -- ``V`` has at most one extremum."""
    t_e, exists = extremum_time(state, params)
    inside = exists & (t_e < span)
    v_e = propagate(state, jnp.where(inside, t_e, 0.0), params).v
    v_end = propagate(state, span, params).v
    return jnp.maximum(jnp.where(inside, v_e, -jnp.inf), jnp.maximum(state.v, v_end))


def ttfs_first_spikes(
    weights: Array,
    params: LIFParameters,
    inputs: Spikes,
    t_max: ArrayLike,
    plan: SolverPlan | None = None,
) -> Spikes:
    """:func:`ttfs_spike_times` as a sorted spike list of ``n`` entries (one per neuron at most).

    ``dropped`` is passed through from ``inputs`` (the fast path itself never drops).
    """
    times = ttfs_spike_times(weights, params, inputs, t_max, plan)
    neurons = jnp.arange(times.shape[0], dtype=jnp.int32)
    spiked = jnp.isfinite(times)
    times, neurons = jax.lax.sort(
        (times, jnp.where(spiked, neurons, -1)), num_keys=1, is_stable=True
    )
    return Spikes(times, neurons, dropped_of(inputs))


def peak_voltage(
    weights: Array,
    params: LIFParameters,
    inputs: Spikes,
    t_max: ArrayLike,
    plan: SolverPlan | None = None,
) -> Array:
    """Highest membrane voltage of every neuron on ``[t_0, t_max]``, as if it never spiked, ``[n]``.

    ``V_peak = max_k max_{t in [t_k, t_{k+1}]} V(t)``: on each interval between inputs ``V``
    has at most one extremum (:func:`jaxsnn.event.root.extremum_time`), so the maximum is at
    the interval's start, its end, or that extremum. A neuron spikes iff ``V_peak >= v_th``
    (for ``v_leak < v_th``); for a silent neuron ``v_th - V_peak`` says how far it stayed
    below threshold, which gives losses a gradient towards spiking. ``-inf`` with no input.
    ``plan.prefix_sums`` (default: from ``params``) picks the summation.
    """
    if plan is None:
        plan = solver_plan(params, t_max)
    dtype = jnp.result_type(weights, inputs.time, float)
    params = as_float_params(params, dtype)
    t_max = jnp.asarray(t_max, dtype)
    t, state, valid = prefix_states(weights, params, inputs, t_max, plan.prefix_sums)
    upper = jnp.concatenate([inputs.time[1:], jnp.full((1,), jnp.inf, t.dtype)])
    upper = jnp.minimum(jnp.where(valid, upper, t_max), t_max)
    span = jnp.maximum(upper - t, 0.0)[:, None]
    candidate = interval_peak(state, span, params)
    return jnp.max(jnp.where(valid[:, None], candidate, -jnp.inf), axis=0)
