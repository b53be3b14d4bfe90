"""A validated, plain-array entry point to the event-based simulator (one sample).

Use it to check the simulator against your own reference::

    from jaxsnn.event import simulate
    from jaxsnn.neuron import LIFParameters

    result = simulate(weights, LIFParameters(tau_mem=1e-2, tau_syn=5e-3),
                      input_times=[1e-3, 2e-3], input_sources=[0, 1],
                      t_max=3e-2, max_events=20)
    result.times, result.neurons, result.dropped
"""

from __future__ import annotations

import math
import warnings
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxsnn.event import step
from jaxsnn.event.checks import check_spike_list, finite_matrix, is_concrete
from jaxsnn.event.plan import SolverPlan, solver_plan
from jaxsnn.event.step import simulate_population
from jaxsnn.event.types import Spikes
from jaxsnn.neuron import LIFParameters, validate_parameters

Array = jnp.ndarray


class SimulationResult(NamedTuple):
    """Output spikes of :func:`simulate`.

    ``times``: ``[max_events]`` spike times in seconds, ascending, padded with ``+inf``;
    ``neurons``: ``[max_events]`` int32 indices of the spiking neurons (``-1`` for padding;
    equal times in ascending neuron order); ``dropped``: int32 number of spikes before
    ``t_max`` that did not fit into ``max_events`` (the simulation goes on to ``t_max``
    counting them): ``0`` exactly when the output is complete, otherwise the exact number of
    lost spikes -- the first ``max_events`` spikes are the ones returned -- unless it reaches
    :data:`jaxsnn.event.step.COUNT_LIMIT`, where counting stops and it is a lower bound.
    :func:`simulate` warns (``RuntimeWarning``) when ``dropped > 0``.
    """

    times: Array
    neurons: Array
    dropped: Array


@partial(jax.jit, static_argnames=("max_events", "plan"))
def _run(weights, recurrent_weights, params, times, sources, t_max, max_events, plan: SolverPlan):
    """The jitted simulation (parameters traced, solvers fixed by ``plan``)."""
    out = simulate_population(
        weights, recurrent_weights, params, Spikes(times, sources), t_max, max_events, plan
    )
    return SimulationResult(out.time, out.idx, out.dropped)


def simulate(
    weights: ArrayLike,
    params: LIFParameters,
    input_times: ArrayLike,
    input_sources: ArrayLike,
    t_max: float,
    max_events: int,
    recurrent_weights: ArrayLike | None = None,
) -> SimulationResult:
    """Simulate one LIF layer (or recurrent population) on one sample of input spikes.

    Neurons start at rest (``V = v_leak``, ``I = 0``) at ``t = 0`` and are simulated exactly
    (event by event, closed-form propagation, exact threshold crossings) up to ``t_max``:

    * ``tau_mem dV/dt = -(V - v_leak) + I``, ``tau_syn dI/dt = -I``;
    * input spike ``e`` adds ``weights[input_sources[e], j]`` to ``I_j`` at ``input_times[e]``;
    * ``V_j`` crossing ``v_th`` from below is a spike: ``V_j = v_reset``, held for ``t_refrac``;
      with ``recurrent_weights`` (``[n, n]``, row = source) it adds ``recurrent_weights[j, k]``
      to ``I_k`` at once.

    At equal times crossings come first (all neurons crossing at exactly that time spike
    together), then input spikes in list order. ``weights``: ``[n_inputs, n_neurons]``;
    ``input_times``: ascending seconds ``>= 0`` (``+inf`` entries are padding);
    ``input_sources``: ints in ``[0, n_inputs)``. Returns :class:`SimulationResult`. Uses
    float64 where ``jax.enable_x64`` is on, else float32.

    Raises ``ValueError`` (naming the argument) before any work for non-finite or
    wrongly shaped weights, NaN, negative or unsorted input times, sources out of range or
    of the wrong length (the rules of :mod:`jaxsnn.event.checks`), invalid ``params`` (see
    :func:`jaxsnn.neuron.validate_parameters`; ``v_leak >= v_th``, tonic firing, warns),
    ``t_max`` not positive and finite, or ``max_events < 1``. Warns (``RuntimeWarning``,
    naming the count and ``max_events``) when spikes were dropped. It needs concrete values
    (it checks them before any work): inside ``jit``/``vmap`` use the layers of
    :mod:`jaxsnn.event.leaky_integrate_and_fire` or
    :func:`jaxsnn.event.step.simulate_population`.
    """
    arguments = {"weights": weights, "input_times": input_times, "input_sources": input_sources}
    arguments.update(recurrent_weights=recurrent_weights, t_max=t_max, params=params)
    for name, value in arguments.items():
        if any(not is_concrete(leaf) for leaf in jax.tree.leaves(value)):
            raise ValueError(
                f"{name} is traced (simulate called inside jit/vmap/grad): simulate checks "
                "concrete values before any work; inside jit use the layers of "
                "jaxsnn.event.leaky_integrate_and_fire or jaxsnn.event.step.simulate_population"
            )
    w = finite_matrix(weights, "weights")
    n_inputs, n = w.shape
    if n == 0:
        raise ValueError("weights must have at least one column (neuron)")
    rec = None
    if recurrent_weights is not None:
        rec = finite_matrix(recurrent_weights, "recurrent_weights")
        if rec.shape != (n, n):
            raise ValueError(
                f"recurrent_weights must have shape ({n}, {n}) to match weights, got {rec.shape}"
            )
    validate_parameters(params, "params", n, stacklevel=3)  # warnings: the caller of simulate
    times, sources = check_spike_list(input_times, input_sources, n_inputs)
    if isinstance(max_events, bool) or not isinstance(max_events, int | np.integer):
        raise ValueError(f"max_events must be an integer >= 1, got {max_events!r}")
    if max_events < 1:
        raise ValueError(f"max_events must be an integer >= 1, got {max_events!r}")
    try:
        t_max_value = float(t_max)
    except (TypeError, ValueError) as error:
        raise ValueError(f"t_max must be a number, got {t_max!r}") from error
    if not (math.isfinite(t_max_value) and t_max_value > 0):
        raise ValueError(f"t_max must be a positive finite time in seconds, got {t_max!r}")

    plan = solver_plan(params, t_max_value)
    dtype = jnp.result_type(float)
    params_array = LIFParameters(*(jnp.asarray(field, dtype) for field in params))
    result = _run(
        jnp.asarray(w, dtype),
        None if rec is None else jnp.asarray(rec, dtype),
        params_array,
        jnp.asarray(times, dtype),
        jnp.asarray(sources),
        jnp.asarray(t_max_value, dtype),
        int(max_events),
        plan,
    )
    dropped = int(result.dropped)
    if dropped > 0:
        kept = f"only the first {max_events} spikes are returned"
        if dropped >= step.COUNT_LIMIT:
            message = (
                f"simulate: at least {dropped} spikes before t_max were dropped because "
                f"max_events={max_events} was too small ({kept}); counting stops there, at "
                "jaxsnn.event.step.COUNT_LIMIT -- so many spikes suggest a neuron that fires "
                "without end (t_refrac = 0 with a very strong input)"
            )
        else:
            message = (
                f"simulate: {dropped} spikes before t_max were dropped because "
                f"max_events={max_events} was too small ({kept}); "
                f"max_events={max_events + dropped} keeps them all"
            )
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return result
