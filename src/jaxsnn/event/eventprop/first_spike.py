"""EventProp backward pass in closed form for layers whose neurons spike at most once."""

from __future__ import annotations

import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxsnn.event.eventprop.common import AdjointGradients, onset_slope
from jaxsnn.event.plan import SolverPlan
from jaxsnn.event.types import Spikes, is_valid
from jaxsnn.neuron import LIFParameters, LIFState, as_float_params, synaptic_kernel
from jaxsnn.numerics import safe_divide

Array = jnp.ndarray


def first_spike_backward(
    weights: Array,
    recurrent_weights: None,
    params: LIFParameters,
    inputs: Spikes,
    outputs: Spikes,
    time_cotangent: Array,
    t_max: ArrayLike,
    plan: SolverPlan | None = None,
) -> AdjointGradients:
    """EventProp backward pass of a feed-forward layer whose neurons spike at most once.

    The adjoint of neuron ``n`` (spike at ``t_n``, slope ``dV/dt^-``, loss sensitivity
    ``g_n``) is zero after ``t_n`` and, before it, in closed form::

        a_n = -g_n / (dV_n/dt^-),  lambda_V,n(t) = a_n e^{-(t_n - t)/tau_mem},
        lambda_I,n(t) = a_n k(t_n - t)

    so ``dL/dW[s, n] = sum_{m: s_m = s, t_m < t_n} lambda_I,n(t_m)`` and
    ``dL/dt_m = sum_n W[s_m, n] (lambda_I,n(t_m) / tau_syn - lambda_V,n(t_m) / tau_mem)``,
    all at once (``[K, n]`` arrays, no loop). Same result as
    :func:`~jaxsnn.event.eventprop.scan.eventprop_backward`, and the same signature:
    ``recurrent_weights`` must be ``None`` (feed-forward) and ``plan`` is not needed.
    """
    if recurrent_weights is not None:
        raise ValueError("first_spike_backward needs a feed-forward layer (recurrent_weights=None)")
    dtype = jnp.result_type(weights, inputs.time, float)
    weights = jnp.asarray(weights, dtype)
    n_in, n = weights.shape
    p = as_float_params(params, dtype, n)
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
    rising = onset_slope(p.v_th, current, p, slice(None))
    a = safe_divide(-g, rising, spiked & (rising > 0))
    lam = LIFState(
        jnp.where(before, a * jnp.exp(-lag / p.tau_mem), 0.0),
        jnp.where(before, a * synaptic_kernel(lag, p), 0.0),
    )
    sources = jnp.where(in_valid, inputs.idx, n_in)
    d_weights = jnp.zeros((n_in, n), dtype).at[sources].add(lam.i, mode="drop")
    d_times = jnp.sum(w * (lam.i / p.tau_syn - lam.v / p.tau_mem), axis=1)
    return AdjointGradients(d_weights, None, d_times)
