"""EventProp backward pass in closed form for a recurrent population that is a chain of
feed-forward populations whose neurons spike at most once (hardware in the loop).

A layered network placed onto one hardware population (:class:`~jaxsnn.event.hardware.
mapping.NetworkMapping` with ``is_layered``) has block-structured weights: population ``k``
receives only the inputs and the spikes of earlier populations. When every neuron spikes at
most once (``t_refrac >= t_max``), the adjoint of each population is that of a first-spike
layer (:func:`~jaxsnn.event.eventprop.first_spike.first_spike_backward`), whose sources are
the input spikes and all recorded spikes (rows ``n_in + j`` of ``[W_in; W_rec]``). The
populations are visited from the last to the first; each adds the gradient with respect to
its sources' times to the time cotangent of the spikes of the populations before it::

    g_j  <-  g_j + dL/dt_j (through every later population),   then population(j) backward

Same result as :func:`~jaxsnn.event.eventprop.scan.eventprop_backward` on the whole
population (tested to 1e-10), at the cost of one ``[K_in + E, n_k]`` array per population
instead of an event-by-event scan with ``[N, N]`` work per event.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxsnn.event.eventprop.attach import Backward
from jaxsnn.event.eventprop.common import AdjointGradients
from jaxsnn.event.eventprop.first_spike import first_spike_backward
from jaxsnn.event.plan import SolverPlan
from jaxsnn.event.types import Spikes, is_valid
from jaxsnn.neuron import LIFParameters, as_float_params

Array = jnp.ndarray


def layered_backward(populations: Sequence[slice]) -> Backward:
    """A backward pass (the signature of
    :func:`~jaxsnn.event.eventprop.scan.eventprop_backward`) for a recurrent population made
    of the feed-forward ``populations`` (hardware neuron slices in placement order, e.g.
    ``[mapping.neurons(name) for name, _ in mapping.populations]``), every neuron spiking at
    most once. Weights from a population to itself or to an earlier one must be zero (the
    mapping's masks).
    """
    populations = tuple(populations)

    def backward(
        input_weights: Array,
        recurrent_weights: Array,
        params: LIFParameters,
        inputs: Spikes,
        outputs: Spikes,
        time_cotangent: Array,
        t_max: ArrayLike,
        plan: SolverPlan | None = None,
    ) -> AdjointGradients:
        """Populations from last to first, each by the first-spike adjoint (module
        docstring)."""
        dtype = jnp.result_type(input_weights, inputs.time, float)
        n_in, n = input_weights.shape
        p = as_float_params(params, dtype, n)
        weights = jnp.concatenate([input_weights, recurrent_weights]).astype(dtype)
        # every source: the inputs (rows 0 .. n_in-1), then the recorded spikes (n_in + j)
        fired = is_valid(outputs)
        sources = Spikes(
            jnp.concatenate([inputs.time, outputs.time]).astype(dtype),
            jnp.concatenate(
                [jnp.asarray(inputs.idx, jnp.int32), jnp.where(fired, outputs.idx + n_in, -1)]
            ),
        )
        n_sources = inputs.time.shape[0]
        cotangent = jnp.where(fired, time_cotangent, 0.0).astype(dtype)
        d_weights = jnp.zeros_like(weights)
        d_input_times = jnp.zeros((n_sources,), dtype)
        for cols in reversed(populations):
            own = fired & (outputs.idx >= cols.start) & (outputs.idx < cols.stop)
            own_spikes = Spikes(outputs.time, jnp.where(own, outputs.idx - cols.start, -1))
            grads = first_spike_backward(
                weights[:, cols],
                None,
                LIFParameters(*(f[cols] for f in p)),
                sources,
                own_spikes,
                jnp.where(own, cotangent, 0.0),
                t_max,
            )
            d_weights = d_weights.at[:, cols].add(grads.input_weights)
            d_input_times = d_input_times + grads.input_times[:n_sources]
            cotangent = cotangent + grads.input_times[n_sources:]
        return AdjointGradients(d_weights[:n_in], d_weights[n_in:], d_input_times)

    return backward
