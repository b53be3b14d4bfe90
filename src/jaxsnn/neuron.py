"""The one home of the current-based leaky integrate-and-fire (LIF) physics.

Every simulator in jaxsnn (time-discrete, event-based, hardware mock) uses these parameters
and this closed-form propagator. Units are SI: seconds for times, arbitrary (but consistent)
units for voltages; a synaptic current ``I`` is measured in the same unit as the voltage.

Dynamics between events::

    tau_mem dV/dt = -(V - v_leak) + I
    tau_syn dI/dt = -I

An input spike of weight ``w`` makes ``I += w``. When ``V`` crosses ``v_th`` from below the
neuron spikes, ``V`` is set to ``v_reset`` and held there for ``t_refrac`` seconds.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxsnn.numerics import concrete_values, expm1_ratio

Array = jnp.ndarray


class LIFParameters(NamedTuple):
    """Parameters of a current-based LIF neuron (SI units).

    A NamedTuple, hence a pytree: it can be passed through ``jax.jit``/``vmap`` and its
    fields may be arrays (e.g. one value per neuron, as for hardware mismatch).
    """

    tau_mem: float = 1e-2
    tau_syn: float = 5e-3
    v_th: float = 1.0
    v_reset: float = 0.0
    v_leak: float = 0.0
    t_refrac: float = 0.0

    @property
    def tau_ratio(self) -> float:
        """``tau_mem / tau_syn``; 1 and 2 have closed-form spike times."""
        return self.tau_mem / self.tau_syn


def validate_parameters(
    params: LIFParameters, name: str = "params", n: int | None = None, stacklevel: int = 2
) -> LIFParameters:
    """Check that ``params`` describe a physical neuron; raise ``ValueError`` otherwise.

    Requires ``tau_mem > 0``, ``tau_syn > 0``, ``t_refrac >= 0``, all values finite, and
    ``v_reset < v_th`` (a reset above threshold would spike forever); with ``n``, every field
    a scalar or one value per neuron (shape ``(n,)``). Traced values (inside ``jit``) are
    skipped, so validate before jitting. ``stacklevel`` is that of the warning below (2: the
    caller of this function).

    ``v_leak >= v_th`` is allowed, with a deliberate meaning, and warned about
    (``UserWarning`` naming ``params.v_leak`` and ``params.v_th``): the neuron is at or above
    threshold at rest, so it spikes at ``t = 0`` without any input. For ``v_leak > v_th`` it
    then fires tonically: after each reset ``V`` relaxes towards ``v_leak`` and crosses
    ``v_th`` again, every ``t_refrac + tau_mem ln((v_leak - v_reset) / (v_leak - v_th))``
    without input. For ``v_leak == v_th`` it spikes once at ``t = 0`` and afterwards only
    with excitatory input. Every solver handles both (``SolverPlan.rest_can_spike``).
    """
    if not isinstance(params, LIFParameters):
        raise TypeError(f"{name} must be a jaxsnn.neuron.LIFParameters, got {type(params)!r}")
    for field in params._fields if n is not None else ():
        shape = np.shape(getattr(params, field))
        if shape not in ((), (1,), (n,)):
            raise ValueError(
                f"{name}.{field} must be a scalar or have one value per neuron, shape ({n},); "
                f"got shape {shape}"
            )
    values = {}
    for field in params._fields:
        vals = concrete_values(getattr(params, field))
        values[field] = None if vals is None else vals.ravel()
    for field, vals in values.items():
        if vals is None:
            continue
        if not all(math.isfinite(v) for v in vals):
            raise ValueError(f"{name}.{field} must be finite, got {getattr(params, field)!r}")
    for field in ("tau_mem", "tau_syn"):
        vals = values[field]
        if vals is not None and not all(v > 0 for v in vals):
            raise ValueError(
                f"{name}.{field} must be a positive time constant in seconds, "
                f"got {getattr(params, field)!r}"
            )
    vals = values["t_refrac"]
    if vals is not None and not all(v >= 0 for v in vals):
        raise ValueError(f"{name}.t_refrac must be >= 0 seconds, got {params.t_refrac!r}")
    th, reset = values["v_th"], values["v_reset"]
    if th is not None and reset is not None and not (reset < th).all():
        raise ValueError(
            f"{name}.v_reset ({params.v_reset!r}) must lie below {name}.v_th ({params.v_th!r})"
        )
    leak = values["v_leak"]
    if th is not None and leak is not None and (leak >= th).any():
        warnings.warn(
            f"{name}.v_leak ({params.v_leak!r}) >= {name}.v_th ({params.v_th!r}): the neuron "
            "rests at or above threshold, so it spikes at t = 0 without input and, for "
            "v_leak > v_th, fires tonically (see jaxsnn.neuron.validate_parameters); "
            "use v_leak < v_th for a neuron that is silent without input",
            UserWarning,
            stacklevel=stacklevel,
        )
    return params


def as_float_params(params: LIFParameters, dtype, n: int | None = None) -> LIFParameters:
    """``params`` with every field an array of the floating ``dtype``; with ``n``, each field
    broadcast to one value per neuron, shape ``[n]``."""
    params = LIFParameters(*(jnp.asarray(field, dtype=dtype) for field in params))
    if n is None:
        return params
    return LIFParameters(*(jnp.broadcast_to(field, (n,)) for field in params))


class LIFState(NamedTuple):
    """Membrane voltage ``v`` and synaptic current ``i`` (arrays of equal shape)."""

    v: Array
    i: Array


def synaptic_kernel(dt: ArrayLike, params: LIFParameters) -> Array:
    """Voltage response at ``dt >= 0`` to a unit current ``I0 = 1`` at ``dt = 0`` (``V0 = v_leak``).

    ``k(dt) = tau_syn / (tau_syn - tau_mem) (exp(-dt/tau_syn) - exp(-dt/tau_mem))``, which
    tends to ``(dt / tau) exp(-dt / tau)`` for ``tau_mem == tau_syn = tau``. It is evaluated
    without cancellation as ``(dt / tau_mem) exp(-dt / tau_slow) phi(-dt |1/tau_mem -
    1/tau_syn|)`` with ``phi(z) = expm1(z) / z`` and ``tau_slow = max(tau_mem, tau_syn)``, so
    it is exact to float precision for every ratio, including ratios close to 1, and smooth
    (finite gradients) across ``tau_mem == tau_syn``.
    """
    tau_mem, tau_syn = params.tau_mem, params.tau_syn
    mem_slower = tau_mem >= tau_syn
    rate_gap = 1.0 / tau_mem - 1.0 / tau_syn  # <= 0 when the membrane is slower
    z = dt * jnp.where(mem_slower, rate_gap, -rate_gap)
    exp_slow = jnp.exp(-dt / jnp.where(mem_slower, tau_mem, tau_syn))
    return dt / tau_mem * exp_slow * expm1_ratio(z)


def propagate(state: LIFState, dt: ArrayLike, params: LIFParameters) -> LIFState:
    """Exact solution of the LIF equations over ``dt >= 0`` with no input spikes.

    For ``tau_mem != tau_syn``, with ``a = I0 tau_syn / (tau_syn - tau_mem)``::

        V(dt) = v_leak + (V0 - v_leak - a) exp(-dt/tau_mem) + a exp(-dt/tau_syn)

    and for ``tau_mem == tau_syn = tau``::

        V(dt) = v_leak + (V0 - v_leak + I0 dt / tau) exp(-dt/tau)

    ``I(dt) = I0 exp(-dt/tau_syn)``. Both cases are one formula,
    ``V(dt) = V0 exp(-dt/tau_mem) - v_leak expm1(-dt/tau_mem) + I0 k(dt)`` with the
    cancellation-free kernel :func:`synaptic_kernel`, exact to float precision for every
    ratio (also close to 1), with ``V(0) == V0`` bit for bit. Differentiable in every
    argument with finite gradients everywhere, also at ``tau_mem == tau_syn``.
    ``dt = +inf`` gives the resting state ``(v_leak, 0)``.
    """
    v0, i0 = state
    finite = jnp.isfinite(dt)
    dt_safe = jnp.where(finite, dt, 0.0)
    x_mem = dt_safe / params.tau_mem
    v = (
        v0 * jnp.exp(-x_mem)
        - params.v_leak * jnp.expm1(-x_mem)
        + i0 * synaptic_kernel(dt_safe, params)
    )
    i = i0 * jnp.exp(-dt_safe / params.tau_syn)
    v = jnp.where(finite, v, params.v_leak)
    i = jnp.where(finite, i, 0.0 * i)
    return LIFState(v=v, i=i)


def adjoint_propagate(adjoint: LIFState, dt: ArrayLike, params: LIFParameters) -> LIFState:
    """Adjoint variables ``(lambda_V, lambda_I)`` carried backwards over ``dt >= 0`` (no events).

    The adjoint of :func:`propagate` (its transpose): with ``lambda = dL/d(V, I)`` at time
    ``t``, the sensitivities at ``t - dt`` are::

        lambda_V(t - dt) = lambda_V(t) exp(-dt / tau_mem)
        lambda_I(t - dt) = lambda_I(t) exp(-dt / tau_syn) + lambda_V(t) k(dt)

    (``k``: :func:`synaptic_kernel`), the closed-form solution of
    ``-d lambda_V/dt = -lambda_V / tau_mem`` and
    ``-d lambda_I/dt = lambda_V / tau_mem - lambda_I / tau_syn`` backwards in time.
    ``adjoint.v`` holds ``lambda_V``, ``adjoint.i`` holds ``lambda_I``.
    """
    lam_v, lam_i = adjoint
    return LIFState(
        v=lam_v * jnp.exp(-dt / params.tau_mem),
        i=lam_i * jnp.exp(-dt / params.tau_syn) + lam_v * synaptic_kernel(dt, params),
    )
