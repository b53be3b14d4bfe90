"""The ``jax.custom_vjp`` that gives spikes their EventProp gradient, and the layers' entry
points that simulate and attach in one call."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxsnn.event.eventprop.common import AdjointGradients
from jaxsnn.event.eventprop.first_spike import first_spike_backward
from jaxsnn.event.eventprop.scan import eventprop_backward
from jaxsnn.event.plan import SolverPlan, solver_plan
from jaxsnn.event.step import simulate_population
from jaxsnn.event.ttfs import ttfs_first_spikes
from jaxsnn.event.types import Spikes, dropped_of
from jaxsnn.neuron import LIFParameters
from jaxsnn.numerics import concrete_values

Array = jnp.ndarray


#: a backward pass: ``(input_weights, recurrent_weights, params, inputs, outputs,
#: time_cotangent, t_max, plan) -> AdjointGradients``
Backward = Callable[..., AdjointGradients]
#: a source of forward spikes with the signature of ``simulate_population`` (without
#: ``differentiable``): ``(input_weights, recurrent_weights, params, inputs, t_max,
#: max_events, plan) -> Spikes``; its arguments carry no gradient. A random source (a mock
#: chip's jitter) also takes ``key=``, passed on from the layer's ``apply(..., key=key)``.
SpikeSource = Callable[..., Spikes]


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _attach(
    backward: Backward,
    plan: SolverPlan,
    input_weights,
    recurrent_weights,
    params,
    inputs,
    outputs,
    t_max,
):
    """``outputs``, with the gradient of ``backward`` (see :func:`with_eventprop_gradient`)."""
    return outputs


def _attach_forward(
    backward, plan, input_weights, recurrent_weights, params, inputs, outputs, t_max
):
    residuals = (input_weights, recurrent_weights, params, inputs, outputs, t_max)
    return outputs, residuals


def _attach_backward(backward, plan, residuals, cotangent):
    input_weights, recurrent_weights, params, inputs, outputs, t_max = residuals
    time_cotangent = jnp.asarray(cotangent.time)
    grads = backward(
        input_weights, recurrent_weights, params, inputs, outputs, time_cotangent, t_max, plan
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
    plan: SolverPlan | None = None,
    backward: Backward | None = None,
) -> Spikes:
    """Return ``outputs`` unchanged, with gradients to the weights and input times by EventProp.

    ``outputs`` are the population's spikes for ``inputs`` -- simulated, or given from outside
    (a hardware backend, a mock): the backward pass evaluates the software model's adjoint at
    those spikes. Gradients flow to ``input_weights``, ``recurrent_weights`` and
    ``inputs.time`` (so to the layer below); ``params`` and ``outputs`` get none.
    ``first_spike_only`` selects :func:`~jaxsnn.event.eventprop.first_spike.first_spike_backward`
    (feed-forward, at most one spike per neuron) instead of
    :func:`~jaxsnn.event.eventprop.scan.eventprop_backward`; ``backward``, where given, is
    used instead (e.g. :func:`~jaxsnn.event.eventprop.layered.layered_backward`). ``plan``
    defaults to :func:`~jaxsnn.event.plan.solver_plan` of ``params`` and ``t_max``.
    """
    if first_spike_only and recurrent_weights is not None:
        raise ValueError("first_spike_only needs a feed-forward layer (recurrent_weights=None)")
    if backward is None:
        backward = first_spike_backward if first_spike_only else eventprop_backward
    if plan is None:
        plan = solver_plan(params, t_max)
    dtype = jnp.result_type(input_weights, inputs.time, float)
    inputs = Spikes(jnp.asarray(inputs.time, dtype), inputs.idx, dropped_of(inputs))
    outputs = Spikes(jnp.asarray(outputs.time, dtype), outputs.idx, dropped_of(outputs))
    t_max = jnp.asarray(t_max, dtype)
    frozen = jax.lax.stop_gradient((outputs, t_max))
    return _attach(backward, plan, input_weights, recurrent_weights, params, inputs, *frozen)


def _frozen(tree):
    """``tree`` with every traced leaf gradient-stopped; concrete leaves stay concrete (so that
    XLA can fold them as constants)."""
    return jax.tree.map(
        lambda x: x if concrete_values(x) is not None else jax.lax.stop_gradient(x), tree
    )


def software_forward(
    input_weights: Array,
    recurrent_weights: Array | None,
    params: LIFParameters,
    inputs: Spikes,
    t_max: ArrayLike,
    max_events: int,
    plan: SolverPlan,
    key: jax.Array | None = None,
) -> Spikes:
    """The default :data:`SpikeSource`: the event simulation without its derivative-only
    terms, stopping at the last event (``simulate_population(..., differentiable=False)``);
    deterministic, so ``key`` is not used."""
    return simulate_population(
        input_weights,
        recurrent_weights,
        params,
        inputs,
        t_max,
        max_events,
        plan,
        differentiable=False,
    )


def eventprop_population(
    input_weights: Array,
    recurrent_weights: Array | None,
    params: LIFParameters,
    inputs: Spikes,
    t_max: ArrayLike,
    max_events: int,
    plan: SolverPlan | None = None,
    forward: SpikeSource | None = None,
    key: jax.Array | None = None,
    backward: Backward | None = None,
) -> Spikes:
    """:func:`jaxsnn.event.step.simulate_population` with EventProp gradients.

    ``forward`` (default :func:`software_forward`) computes the spikes on gradient-stopped
    copies of the arguments (nothing of it is kept for the backward pass but the spikes;
    ``key``, where given, goes to ``forward`` for its randomness);
    :func:`~jaxsnn.event.eventprop.scan.eventprop_backward` (or ``backward``) gives the
    gradients. Spikes lost to a full buffer (``dropped > 0``) make the gradient incomplete.
    """
    if plan is None:
        plan = solver_plan(params, t_max)
    if forward is None:
        forward = software_forward
    frozen_w, frozen_rec, frozen_time = jax.lax.stop_gradient(
        (input_weights, recurrent_weights, inputs.time)
    )
    arguments = (
        frozen_w,
        frozen_rec,
        _frozen(params),
        Spikes(frozen_time, inputs.idx, inputs.dropped),
        t_max,
        max_events,
        plan,
    )
    outputs = forward(*arguments) if key is None else forward(*arguments, key=key)
    return with_eventprop_gradient(
        input_weights,
        recurrent_weights,
        params,
        inputs,
        outputs,
        t_max,
        plan=plan,
        backward=backward,
    )


def eventprop_first_spikes(
    weights: Array,
    params: LIFParameters,
    inputs: Spikes,
    t_max: ArrayLike,
    plan: SolverPlan | None = None,
) -> Spikes:
    """First spikes by the fast path (:func:`jaxsnn.event.ttfs.ttfs_first_spikes`) with the
    closed-form EventProp backward pass
    :func:`~jaxsnn.event.eventprop.first_spike.first_spike_backward`."""
    if plan is None:
        plan = solver_plan(params, t_max)
    frozen_w, frozen_time = jax.lax.stop_gradient((weights, inputs.time))
    outputs = ttfs_first_spikes(
        frozen_w, params, Spikes(frozen_time, inputs.idx, inputs.dropped), t_max, plan
    )
    return with_eventprop_gradient(weights, None, params, inputs, outputs, t_max, True, plan)
