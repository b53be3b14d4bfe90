"""Pure step functions of the time-discrete simulator (forward Euler on a fixed grid).

The physics is that of :mod:`jaxsnn.neuron` (same :class:`~jaxsnn.neuron.LIFParameters`,
SI units)::

    tau_mem dV/dt = -(V - v_leak) + I
    tau_syn dI/dt = -I,          input spike of weight w:  I += w

Time grid and order of operations: the state at step ``k`` describes time ``t_k = k dt``.
One step (1) adds the input arriving at ``t_k`` to the current, (2) advances ``(V, I)`` to
``t_{k+1}`` with one forward-Euler step, (3) compares ``V(t_{k+1})`` with the threshold. A
spike found in step ``k`` is therefore emitted at ``t_{k+1} = (k + 1) dt`` (see
:func:`jaxsnn.discrete.decoding.spike_times`); a downstream layer receives it as input of
its own step ``k``. All discretisation errors are O(dt).

Every function works on arrays of any shape (neurons, batch, ...), is pure, and may be
``jit``-ed, ``vmap``-ed and differentiated; the threshold's derivative is the surrogate of
:mod:`jaxsnn.discrete.surrogate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxsnn.discrete.surrogate import ThresholdFn, superspike
from jaxsnn.neuron import LIFParameters, validate_parameters

Array = jax.Array
ResetMode = Literal["subtract", "reset"]
RESET_MODES: tuple[str, ...] = ("subtract", "reset")
State = TypeVar("State")

_DEFAULT_THRESHOLD = superspike()


class DiscreteLIFState(NamedTuple):
    """State of a discrete LIF neuron: membrane ``v``, synaptic current ``i`` and
    ``refrac``, the number of steps (int32) the membrane is still held at ``v_reset``.

    Unlike :class:`jaxsnn.neuron.LIFState` ``(v, i)``, which :func:`jaxsnn.neuron.propagate`
    advances in closed form between spikes (the event-based simulator's state), this state of
    the time-stepped simulation also carries the refractory counter ``refrac``.
    """

    v: Array
    i: Array
    refrac: Array


class LIState(NamedTuple):
    """State of a leaky integrator: membrane ``v`` and synaptic current ``i``."""

    v: Array
    i: Array


def check_dt(dt: float, params: LIFParameters | None = None, name: str = "dt") -> float:
    """Validate a time step: finite, ``> 0`` and not longer than a time constant.

    Forward Euler with ``dt > tau`` overshoots (the current changes sign), so such a step is
    refused with a ``ValueError`` naming ``name``. Time constants are only compared when
    they are concrete numbers.
    """
    try:
        value = float(dt)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive time step in seconds, got {dt!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive time step in seconds, got {dt!r}")
    if params is not None:
        validate_parameters(params)
        for field in ("tau_mem", "tau_syn"):
            try:
                tau = float(jnp.min(jnp.asarray(getattr(params, field))))
            except (TypeError, jax.errors.ConcretizationTypeError):
                continue
            if value > tau:
                raise ValueError(
                    f"{name}={value!r} s is longer than params.{field}={tau!r} s; forward "
                    "Euler needs dt <= tau (use a smaller dt)"
                )
    return value


def _statically_zero(value: Any) -> bool:
    """True when ``value`` is a plain Python number equal to 0 (known before tracing)."""
    return isinstance(value, (int, float)) and value == 0


def refractory_steps(params: LIFParameters, dt: float) -> Array:
    """Steps a neuron is held after a spike: ``round(t_refrac / dt)`` (int32)."""
    return jnp.round(jnp.asarray(params.t_refrac) / dt).astype(jnp.int32)


def lif_initial_state(
    shape: tuple[int, ...], params: LIFParameters, dtype: jnp.dtype = jnp.float32
) -> DiscreteLIFState:
    """Resting state: ``V = v_leak``, ``I = 0``, not refractory."""
    v = jnp.broadcast_to(jnp.asarray(params.v_leak, dtype=dtype), shape)
    return DiscreteLIFState(v=v, i=jnp.zeros(shape, dtype), refrac=jnp.zeros(shape, jnp.int32))


def li_initial_state(
    shape: tuple[int, ...], params: LIFParameters, dtype: jnp.dtype = jnp.float32
) -> LIState:
    """Resting state of a leaky integrator: ``V = v_leak``, ``I = 0``."""
    v = jnp.broadcast_to(jnp.asarray(params.v_leak, dtype=dtype), shape)
    return LIState(v=v, i=jnp.zeros(shape, dtype))


def euler_membrane(v: ArrayLike, i: ArrayLike, params: LIFParameters, dt: float) -> Array:
    """One Euler step of the membrane: ``V + dt / tau_mem (v_leak - V + I)``."""
    return v + (dt / params.tau_mem) * (params.v_leak - v + i)


def euler_current(i: ArrayLike, params: LIFParameters, dt: float) -> Array:
    """One Euler step of the synaptic current: ``I (1 - dt / tau_syn)``."""
    return i * (1.0 - dt / params.tau_syn)


def lif_step(
    state: DiscreteLIFState,
    input_current: ArrayLike,
    params: LIFParameters,
    dt: float,
    *,
    threshold: ThresholdFn = _DEFAULT_THRESHOLD,
    reset: ResetMode = "reset",
) -> tuple[DiscreteLIFState, Array]:
    """Advance a current-based LIF neuron from ``t_k`` to ``t_{k+1}``; return (state, spikes).

    With ``x`` the input arriving at ``t_k`` (the summed weights of the spikes that arrive
    in this step) and ``n_ref = round(t_refrac / dt)``::

        I'      = I_k + x
        V'      = V_k + dt / tau_mem (v_leak - V_k + I')     (V' = v_reset while refrac > 0)
        z       = H(V' - v_th)                                (surrogate derivative backward)
        V_{k+1} = V' - z (v_th - v_reset)                     reset="subtract"
        V_{k+1} = (1 - z) V' + z v_reset                      reset="reset"
        I_{k+1} = I' (1 - dt / tau_syn)
        refrac  = n_ref if z else max(refrac - 1, 0)

    A spike ``z`` of step ``k`` is emitted at ``t_{k+1}``. During the ``n_ref`` steps after
    a spike the membrane is held at ``v_reset`` (it cannot spike); the current keeps
    integrating its input. When ``params.t_refrac`` is the Python number 0 the counter is
    skipped altogether (``refrac`` is passed through), which saves work in long scans.
    """
    if reset not in RESET_MODES:
        raise ValueError(f"reset must be one of {RESET_MODES}, got {reset!r}")
    i_in = state.i + input_current
    v_free = euler_membrane(state.v, i_in, params, dt)
    refractory = not _statically_zero(params.t_refrac)
    if refractory:
        v_reset = jnp.asarray(params.v_reset, v_free.dtype)
        v_next = jnp.where(state.refrac > 0, v_reset, v_free)
    else:  # no refractory time: skip the counter (the state keeps zeros)
        v_next = v_free
    z = threshold(v_next - params.v_th)
    if reset == "subtract":
        v_new = v_next - z * (params.v_th - params.v_reset)
    else:
        v_new = (1.0 - z) * v_next + z * params.v_reset
    if refractory:
        n_ref = refractory_steps(params, dt)
        refrac = jnp.where(z > 0, n_ref, jnp.maximum(state.refrac - 1, 0)).astype(jnp.int32)
    else:
        refrac = state.refrac
    i_new = euler_current(i_in, params, dt)
    return DiscreteLIFState(v=v_new, i=i_new, refrac=jnp.broadcast_to(refrac, v_new.shape)), z


def li_step(
    state: LIState, input_current: ArrayLike, params: LIFParameters, dt: float
) -> tuple[LIState, Array]:
    """Advance a leaky integrator (an LIF neuron without threshold) by one step.

    ::

        I'      = I_k + x
        V_{k+1} = V_k + dt / tau_mem (v_leak - V_k + I')
        I_{k+1} = I' (1 - dt / tau_syn)

    Returns the new state and ``V_{k+1}`` (the readout at ``t_{k+1}``).
    """
    i_in = state.i + input_current
    v_new = euler_membrane(state.v, i_in, params, dt)
    return LIState(v=v_new, i=euler_current(i_in, params, dt)), v_new


def linear(x: ArrayLike, weights: ArrayLike, bias: ArrayLike | None = None) -> Array:
    """Dense input ``y = x W (+ b)`` over the last axis of ``x`` (any leading axes).

    ``x`` ``[..., n_in]`` holds spikes (or values), ``W`` ``[n_in, n_out]``: ``y[..., j]`` is
    the current increment of neuron ``j``. Applied to a whole ``[T, ..., n_in]`` spike train
    at once, it is one matrix product for all time steps.
    """
    y = jnp.matmul(x, weights)
    return y if bias is None else y + bias


def simulate(
    step: Callable[[State, Array], tuple[State, Array]],
    initial_state: State,
    inputs: ArrayLike,
    *,
    return_state: bool = False,
) -> Array | tuple[Array, State]:
    """Run ``step`` over the leading (time) axis of ``inputs`` with ``lax.scan``.

    ``step(state, x_k) -> (state_{k+1}, y_k)``. Returns ``y`` ``[T, ...]``, or
    ``(y, states)`` with ``return_state=True``, where ``states`` stacks ``state_{k+1}`` of
    every step (leaves ``[T, ...]``). Both results come from the same scan.
    """

    def body(state: State, x: Array) -> tuple[State, Any]:
        state, y = step(state, x)
        return state, ((y, state) if return_state else y)

    _, outputs = jax.lax.scan(body, initial_state, jnp.asarray(inputs))
    return outputs
