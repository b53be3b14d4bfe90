"""How an event layer gets its gradient: the ``gradient=`` argument of the layers.

The layers of :mod:`jaxsnn.event.leaky_integrate_and_fire` differ in topology (feed-forward,
recurrent, first spike only); *how* their gradient is computed is a separate choice, passed as
``gradient=`` (as diffrax passes ``adjoint=``):

* ``"implicit"`` (:class:`Implicit`) -- autodiff through the exact simulation, with the
  implicit function theorem at every threshold crossing ("analytical" gradients);
* ``"eventprop"`` (:class:`EventProp`) -- the EventProp adjoint backward pass
  (:mod:`jaxsnn.event.eventprop`), which needs only the spikes of the forward pass. Those
  spikes come from :attr:`EventProp.forward`: the software simulation by default, or any other
  source with the same signature -- a hardware backend or a mock of one.

A gradient method is an object with two methods, one per simulator::

    population(input_weights, recurrent_weights, params, inputs, t_max, max_events, plan,
               key=None)
        -> Spikes      # event stepping (jaxsnn.event.step); key: for a random forward source
    first_spikes(weights, params, inputs, t_max, plan)
        -> Spikes      # first-spike fast path (jaxsnn.event.ttfs)

A new gradient method is a new class with these two methods; no new layer constructor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxsnn.event.eventprop import eventprop_first_spikes, eventprop_population
from jaxsnn.event.eventprop.attach import Backward, SpikeSource
from jaxsnn.event.plan import SolverPlan
from jaxsnn.event.step import simulate_population
from jaxsnn.event.ttfs import ttfs_first_spikes
from jaxsnn.event.types import Spikes
from jaxsnn.neuron import LIFParameters

Array = jnp.ndarray


class GradientMethod(Protocol):
    """What a layer needs of a gradient method (see the module docstring)."""

    def population(
        self,
        input_weights: Array,
        recurrent_weights: Array | None,
        params: LIFParameters,
        inputs: Spikes,
        t_max: ArrayLike,
        max_events: int,
        plan: SolverPlan,
        key: jax.Array | None = None,
    ) -> Spikes:
        """Output spikes of a population simulated event by event
        (:func:`jaxsnn.event.step.simulate_population`'s contract), differentiable with
        respect to both weight matrices and ``inputs.time`` by this method's rule."""
        ...

    def first_spikes(
        self,
        weights: Array,
        params: LIFParameters,
        inputs: Spikes,
        t_max: ArrayLike,
        plan: SolverPlan,
    ) -> Spikes:
        """Each neuron's first output spike (:func:`jaxsnn.event.ttfs.ttfs_first_spikes`'s
        contract), differentiable with respect to ``weights`` and ``inputs.time``."""
        ...


@dataclass(frozen=True)
class Implicit:
    """Differentiate the simulation itself: every spike time carries its implicit-function
    derivative ``dt*/dtheta = -(dV/dtheta) / (dV/dt)`` at the crossing."""

    def population(
        self, input_weights, recurrent_weights, params, inputs, t_max, max_events, plan, key=None
    ):
        """:func:`jaxsnn.event.step.simulate_population` (autodiff through the scan; the
        simulation is deterministic: ``key`` is not used)."""
        return simulate_population(
            input_weights, recurrent_weights, params, inputs, t_max, max_events, plan
        )

    def first_spikes(self, weights, params, inputs, t_max, plan):
        """:func:`jaxsnn.event.ttfs.ttfs_first_spikes` (autodiff through the fast path)."""
        return ttfs_first_spikes(weights, params, inputs, t_max, plan)


@dataclass(frozen=True)
class EventProp:
    """The EventProp adjoint: the forward spikes from ``forward``, the gradient from the
    software model's adjoint evaluated at those spikes.

    ``forward``: a :data:`~jaxsnn.event.eventprop.attach.SpikeSource` (the signature of
    ``simulate_population`` without ``differentiable``); ``None`` is the software simulation.
    ``backward``: a :data:`~jaxsnn.event.eventprop.attach.Backward` for the population layers;
    ``None`` is the event-by-event adjoint scan (a layered hardware network whose neurons
    spike once takes :func:`~jaxsnn.event.eventprop.layered.layered_backward`).
    A first-spike layer computes its spikes by the fast path, so it takes no ``forward``.
    """

    forward: SpikeSource | None = None
    backward: Backward | None = None

    def population(
        self, input_weights, recurrent_weights, params, inputs, t_max, max_events, plan, key=None
    ):
        """:func:`jaxsnn.event.eventprop.eventprop_population` with this ``forward`` (and
        ``key`` for a random one)."""
        return eventprop_population(
            input_weights,
            recurrent_weights,
            params,
            inputs,
            t_max,
            max_events,
            plan,
            self.forward,
            key,
            self.backward,
        )

    def first_spikes(self, weights, params, inputs, t_max, plan):
        """:func:`jaxsnn.event.eventprop.eventprop_first_spikes` (closed-form adjoint)."""
        if self.forward is not None:
            raise ValueError(
                "a first-spike layer computes its spikes by the fast path; "
                "EventProp(forward=...) applies to LIF and RecurrentLIF layers"
            )
        return eventprop_first_spikes(weights, params, inputs, t_max, plan)


#: the gradient methods by name (the strings ``gradient=`` accepts)
GRADIENTS: dict[str, GradientMethod] = {"implicit": Implicit(), "eventprop": EventProp()}


def as_gradient(gradient: str | GradientMethod) -> GradientMethod:
    """The gradient method named by ``gradient`` (see :data:`GRADIENTS`), or ``gradient``
    itself when it is a method object; ``ValueError`` naming the choices otherwise."""
    if isinstance(gradient, str):
        if gradient not in GRADIENTS:
            raise ValueError(f"gradient must be one of {sorted(GRADIENTS)}, got {gradient!r}")
        return GRADIENTS[gradient]
    if not (
        callable(getattr(gradient, "population", None))
        and callable(getattr(gradient, "first_spikes", None))
    ):
        raise ValueError(
            f"gradient must be one of {sorted(GRADIENTS)} or an object with population() and "
            f"first_spikes() methods, got {gradient!r}"
        )
    return gradient
