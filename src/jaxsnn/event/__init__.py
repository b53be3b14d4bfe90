"""Event-based simulation of LIF networks with exact spike times and exact gradients.

* :mod:`jaxsnn.event.types` -- the :class:`Spikes` container and the tie order of events;
* :mod:`jaxsnn.event.plan` -- the :class:`SolverPlan`: static solver choices, made once;
* :mod:`jaxsnn.event.root` -- next-threshold-crossing solvers (implicit-function gradients);
* :mod:`jaxsnn.event.step` -- the event step and the ``lax.scan`` population simulator;
* :mod:`jaxsnn.event.ttfs` -- the vectorised first-spike fast path;
* :mod:`jaxsnn.event.eventprop` -- EventProp: the adjoint backward pass (also on given spikes);
* :mod:`jaxsnn.event.gradient` -- the gradient methods a layer takes (``gradient=``);
* :mod:`jaxsnn.event.leaky_integrate_and_fire` -- init/apply layers ``LIF``,
  ``RecurrentLIF``, ``TTFSLIF`` (and their EventProp aliases ``EventPropLIF``,
  ``RecurrentEventPropLIF``, ``EventPropTTFSLIF``);
* :mod:`jaxsnn.event.checks` -- checks of input spikes and weights (eager, or ``checked``);
* :mod:`jaxsnn.event.models` -- networks shared by tasks (the first-spike classifier);
* :mod:`jaxsnn.event.hardware` -- BrainScaleS-2: mapping, artifacts, mock, chip backend;
* :mod:`jaxsnn.event.nir` -- NIR export and import (the optional package ``nir``);
* :func:`simulate` -- a validated plain-array entry point for one sample.
"""

from jaxsnn.event.eventprop import with_eventprop_gradient
from jaxsnn.event.gradient import EventProp, Implicit
from jaxsnn.event.plan import SolverPlan, solver_plan
from jaxsnn.event.root import next_crossing
from jaxsnn.event.simulate import SimulationResult, simulate
from jaxsnn.event.ttfs import ttfs_first_spikes, ttfs_spike_times
from jaxsnn.event.types import EventKind, Spikes, sort_spikes

__all__ = [
    "EventKind",
    "EventProp",
    "Implicit",
    "SimulationResult",
    "SolverPlan",
    "Spikes",
    "next_crossing",
    "simulate",
    "solver_plan",
    "sort_spikes",
    "ttfs_first_spikes",
    "ttfs_spike_times",
    "with_eventprop_gradient",
]
