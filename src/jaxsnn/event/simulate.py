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
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxsnn.event.plan import SolverPlan, solver_plan
from jaxsnn.event.step import simulate_population
from jaxsnn.event.types import Spikes
from jaxsnn.neuron import LIFParameters, validate_parameters

Array = jnp.ndarray


class SimulationResult(NamedTuple):
    """Output spikes of :func:`simulate`.

    ``times``: ``[max_events]`` spike times in seconds, ascending, padded with ``+inf``;
    ``neurons``: ``[max_events]`` int32 indices of the spiking neurons (``-1`` for padding;
    equal times in ascending neuron order); ``dropped``: int32 count of spikes before ``t_max``
    that did not fit into ``max_events``: ``0`` exactly when the output is complete. Spikes
    simulated after the buffer filled are counted exactly; if the fixed number of steps
    (``n_inputs + max_events``) ran out with events still due, one more is added -- so after
    an overflow it is a lower bound on the number of lost spikes.
    """

    times: Array
    neurons: Array
    dropped: Array


def _finite_matrix(value: ArrayLike, name: str) -> np.ndarray:
    """``value`` as a float64 2-D array; ``ValueError`` naming ``name`` otherwise."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a numeric array, got {type(value)!r}") from error
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf entries")
    return array


def _check_inputs(
    input_times: ArrayLike, input_sources: ArrayLike, n_inputs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Validate the input spike list; ``ValueError`` naming the offending argument."""
    try:
        times = np.asarray(input_times, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"input_times must be numeric, got {type(input_times)!r}") from error
    sources = np.asarray(input_sources)
    if times.ndim != 1:
        raise ValueError(f"input_times must be a 1-D array, got shape {times.shape}")
    if sources.ndim != 1:
        raise ValueError(f"input_sources must be a 1-D array, got shape {sources.shape}")
    if sources.shape != times.shape:
        raise ValueError(
            f"input_sources has {sources.shape[0]} entries but input_times has {times.shape[0]}"
        )
    if sources.size and not np.issubdtype(sources.dtype, np.integer):
        raise ValueError(f"input_sources must be integers, got dtype {sources.dtype}")
    if np.any(np.isnan(times)):
        raise ValueError("input_times contains NaN")
    if np.any(times < 0):
        raise ValueError(f"input_times must be >= 0 seconds, got minimum {times.min()!r}")
    if np.any(times[1:] < times[:-1]):
        raise ValueError("input_times must be sorted in ascending order")
    real = np.isfinite(times)
    bad = real & ((sources < 0) | (sources >= n_inputs))
    if np.any(bad):
        raise ValueError(
            f"input_sources must lie in [0, {n_inputs}) (rows of weights), got {sources[bad][0]!r}"
        )
    padding = ~real & ((sources < -1) | (sources >= n_inputs))
    if np.any(padding):
        raise ValueError("input_sources of padding entries (time +inf) must be -1 or valid")
    return times, np.where(real, sources, -1).astype(np.int32)


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
    of the wrong length, invalid ``params`` (see :func:`jaxsnn.neuron.validate_parameters`),
    ``t_max`` not positive and finite, or ``max_events < 1``.
    """
    w = _finite_matrix(weights, "weights")
    n_inputs, n = w.shape
    if n == 0:
        raise ValueError("weights must have at least one column (neuron)")
    rec = None
    if recurrent_weights is not None:
        rec = _finite_matrix(recurrent_weights, "recurrent_weights")
        if rec.shape != (n, n):
            raise ValueError(
                f"recurrent_weights must have shape ({n}, {n}) to match weights, got {rec.shape}"
            )
    validate_parameters(params, "params", n)
    times, sources = _check_inputs(input_times, input_sources, n_inputs)
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
    return _run(
        jnp.asarray(w, dtype),
        None if rec is None else jnp.asarray(rec, dtype),
        params_array,
        jnp.asarray(times, dtype),
        jnp.asarray(sources),
        jnp.asarray(t_max_value, dtype),
        int(max_events),
        plan,
    )
