"""EventProp backward pass in closed form for a recurrent population that is a chain of
feed-forward populations whose neurons spike at most once (hardware in the loop).

A layered network placed onto one hardware population (:class:`~jaxsnn.event.hardware.
mapping.NetworkMapping` with ``is_layered``) has block-structured weights: population ``k``
receives only the inputs and the spikes of earlier populations. When every neuron spikes at
most once (``t_refrac >= t_max``), the adjoint of each population is that of a first-spike
layer (:func:`~jaxsnn.event.eventprop.first_spike.first_spike_backward`), whose sources are
the input spikes and the recorded spikes of the earlier populations (rows ``n_in + j`` of
``[W_in; W_rec]``; the first population hears the inputs only). The
populations are visited from the last to the first; each adds the gradient with respect to
its sources' times to the time cotangent of the spikes of the populations before it::

    g_j  <-  g_j + dL/dt_j (through every later population),   then population(j) backward

Same result as :func:`~jaxsnn.event.eventprop.scan.eventprop_backward` on the whole
population (tested to 1e-10) for every weight from the inputs or an earlier population; the
weights the layering fixes at zero (into a population from itself or a later one: synapses the
mapping does not place) get a zero gradient instead of the scan's. The cost is one
``[K_in, n_0]`` array for the first population and ``[K_in + E, n_k]`` for the others,
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
    mapping's masks); their gradient is returned as zero (module docstring).
    """
    populations = tuple(sorted(populations, key=lambda cols: cols.start))
    stops = [0] + [cols.stop for cols in populations[:-1]]
    if not populations or any(
        cols.step not in (None, 1) or cols.start != stop
        for cols, stop in zip(populations, stops, strict=True)
    ):
        raise ValueError(
            f"populations must be contiguous slices covering the neurons from 0, got {populations}"
        )

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
        if populations[-1].stop != n:
            raise ValueError(
                f"the populations cover neurons 0..{populations[-1].stop - 1}, but the "
                f"population has {n}"
            )
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
        d_input_times = jnp.zeros((n_sources,), dtype)
        blocks = []  # last population first: (d_input_weights [n_in, n_k], d_recurrent [n, n_k])
        for cols in reversed(populations):
            rows = n_in + cols.start  # the inputs and every earlier population
            own = fired & (outputs.idx >= cols.start) & (outputs.idx < cols.stop)
            own_spikes = Spikes(outputs.time, jnp.where(own, outputs.idx - cols.start, -1))
            # the first population hears the inputs only: its [K_in, n] arrays, not [K_in + E, n]
            heard = (
                Spikes(sources.time[:n_sources], sources.idx[:n_sources])
                if cols.start == 0
                else Spikes(sources.time, jnp.where(sources.idx < rows, sources.idx, -1))
            )
            grads = first_spike_backward(
                weights[:rows, cols],
                None,
                LIFParameters(*(f[cols] for f in p)),
                heard,
                own_spikes,
                jnp.where(own, cotangent, 0.0),
                t_max,
            )
            d_block = grads.input_weights
            blocks.append((d_block[:n_in], jnp.pad(d_block[n_in:], ((0, n - cols.start), (0, 0)))))
            d_input_times = d_input_times + grads.input_times[:n_sources]
            if cols.start > 0:
                cotangent = cotangent + grads.input_times[n_sources:]
        # column blocks side by side (no zero-filled [n_in + n, n] buffer updated in place: under
        # vmap that buffer is per sample, and XLA fuses pads and concatenations into the batch sum)
        d_in, d_rec = (jnp.concatenate(parts, axis=1) for parts in zip(*blocks[::-1], strict=True))
        return AdjointGradients(d_in, d_rec, d_input_times)

    return backward
