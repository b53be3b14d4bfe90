"""The solver plan: every static numerical choice of a layer, decided once from its parameters.

JAX compiles one program per choice, so these choices must be Python values, not traced
arrays. They are taken here, once per layer (or per call of a plain function), from the
*concrete* parameter values, and handed down as one small frozen :class:`SolverPlan`. When a
parameter is traced (an argument of a jitted function) its value is unknown at trace time, and
the plan falls back to the choice that is exact for every value (:data:`GENERAL`): a sweep over
parameter values then compiles once.

* ``crossing`` -- the next-threshold-crossing solver of :mod:`jaxsnn.event.root`:
  ``"equal"`` (``tau_mem == tau_syn``, Lambert W), ``"double"`` (``tau_mem == 2 tau_syn``,
  a quadratic) or ``"general"`` (bracketed Newton/bisection, any ratio, any ``v_leak``);
* ``prefix_sums`` -- how the first-spike fast path (:mod:`jaxsnn.event.ttfs`) sums the input
  prefixes: ``"equal"`` (ratio 1), ``"separable"`` (cumulative sums; ratios away from 1) or
  ``"pairwise"`` (``O(K^2)``, exact for every ratio);
* ``refractory`` -- how the EventProp backward pass treats refractory periods: ``"none"``
  (every ``t_refrac == 0``), ``"beyond"`` (every ``t_refrac >= t_max``: a neuron stays
  refractory from its only spike to the end) or ``"events"`` (each refractory end is an event);
* ``rest_can_spike`` -- whether a neuron at rest may be at threshold (``v_leak >= v_th``), so
  that the fast path must consider a spike at ``t = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jax.typing import ArrayLike

from jaxsnn.neuron import LIFParameters
from jaxsnn.numerics import concrete_values

CROSSING_SOLVERS = ("equal", "double", "general")
PREFIX_SUMS = ("equal", "separable", "pairwise")
REFRACTORY_MODES = ("none", "beyond", "events")

#: relative tolerance within which ``tau_mem / tau_syn`` counts as exactly 1 or 2
RATIO_RTOL = 1e-12
#: ratios within this distance of 1 (but not 1) are summed pairwise: the separable form cancels
NEAR_ONE = 0.05


@dataclass(frozen=True)
class SolverPlan:
    """Static numerical choices of a layer (see the module docstring); hashable."""

    crossing: str = "general"
    prefix_sums: str = "pairwise"
    refractory: str = "events"
    rest_can_spike: bool = True

    def __post_init__(self) -> None:
        for name, allowed in (
            ("crossing", CROSSING_SOLVERS),
            ("prefix_sums", PREFIX_SUMS),
            ("refractory", REFRACTORY_MODES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")


#: the plan that needs no concrete parameter values (the fallback for traced parameters)
GENERAL = SolverPlan()


def crossing_solver(params: LIFParameters) -> str:
    """``"equal"`` when every ``tau_mem == tau_syn``, ``"double"`` when every
    ``tau_mem == 2 tau_syn`` (relative tolerance :data:`RATIO_RTOL`), both only when
    ``v_leak < v_th`` everywhere; otherwise, or when a value is traced, ``"general"``."""
    values = [concrete_values(f) for f in (params.tau_mem, params.tau_syn, params.v_th)]
    values.append(concrete_values(params.v_leak))
    if any(v is None for v in values):
        return "general"
    tau_mem, tau_syn, v_th, v_leak = values
    if not np.all(v_leak < v_th):
        return "general"
    ratio = tau_mem / tau_syn
    if np.all(np.abs(ratio - 1.0) <= RATIO_RTOL):
        return "equal"
    if np.all(np.abs(ratio - 2.0) <= 2.0 * RATIO_RTOL):
        return "double"
    return "general"


def prefix_sum_mode(params: LIFParameters) -> str:
    """``"equal"`` (every ratio 1), ``"separable"`` (every ratio further than
    :data:`NEAR_ONE` from 1) or ``"pairwise"`` (otherwise, also for traced values)."""
    tau_mem, tau_syn = concrete_values(params.tau_mem), concrete_values(params.tau_syn)
    if tau_mem is None or tau_syn is None:
        return "pairwise"
    ratio = tau_mem / tau_syn
    if np.all(np.abs(ratio - 1.0) <= RATIO_RTOL):
        return "equal"
    if np.all(np.abs(ratio - 1.0) > NEAR_ONE):
        return "separable"
    return "pairwise"


def refractory_mode(params: LIFParameters, t_max: ArrayLike | None = None) -> str:
    """``"none"`` (every ``t_refrac == 0``), ``"beyond"`` (every ``t_refrac >= t_max``) or
    ``"events"`` (otherwise, also for traced values or an unknown ``t_max``)."""
    t_refrac = concrete_values(params.t_refrac)
    end = None if t_max is None else concrete_values(t_max)
    if t_refrac is None:
        return "events"
    if not np.any(t_refrac > 0):
        return "none"
    if end is not None and bool(np.all(t_refrac >= end)):
        return "beyond"
    return "events"


def rest_can_spike(params: LIFParameters) -> bool:
    """Whether ``v_leak >= v_th`` is possible (``True`` for traced values)."""
    v_leak, v_th = concrete_values(params.v_leak), concrete_values(params.v_th)
    return v_leak is None or v_th is None or not bool(np.all(v_leak < v_th))


def solver_plan(params: LIFParameters, t_max: ArrayLike | None = None) -> SolverPlan:
    """The fastest exact :class:`SolverPlan` for ``params`` (and ``t_max``), from concrete
    values; traced values get the general choice of each field."""
    return SolverPlan(
        crossing=crossing_solver(params),
        prefix_sums=prefix_sum_mode(params),
        refractory=refractory_mode(params, t_max),
        rest_can_spike=rest_can_spike(params),
    )
