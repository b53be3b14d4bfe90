"""The event step: jump from one event to the next, looped with ``lax.scan``.

A population of ``n`` current-based LIF neurons receives input spikes (sorted, weights
``W_in[source, neuron]``) and, when recurrent, its own spikes (weights ``W_rec[i, j]`` from
neuron ``i`` to neuron ``j``, no delay). One step has three parts:

1. :func:`next_event` -- the next threshold crossing of every neuron
   (:func:`jaxsnn.event.root.next_crossing`, refractory aware) and the next input spike;
   the earlier one is the event (if it lies before ``t_max``);
2. :func:`integrate` -- all neurons to the event time with the closed form
   :func:`jaxsnn.neuron.propagate` (a refractory neuron holds ``V`` until its refractory
   period ends, while ``I`` decays);
3. :func:`apply_crossing` or :func:`apply_input` -- the discontinuity: an input spike adds
   ``W_in[source]`` to ``I``; a crossing records the spike, sets ``V = v_reset``, starts the
   refractory period ``t_refrac`` and adds ``W_rec[i]`` to ``I``.

**Forward only** (``differentiable=False``, EventProp's forward): the same steps in shorter
forms of equal value, chosen by the plan's ``refractory`` mode (:func:`crossing_times`,
:func:`integrate`): with ``t_refrac = 0`` or ``t_refrac >= t_max`` the decays over ``dt`` are
one exponential per sample and time constant, not per neuron, and a neuron refractory beyond
``t_max`` is never solved for again; the spiking neurons fire one by one (:func:`fire`),
``O(n)`` per spike instead of a product with ``W_rec``. The spikes are those of the scan.
Under ``vmap`` it is one loop over the batch that stops at the batch's last event
(:func:`forward_loop`).

**Order at equal times** (exact ties, no noise is added; the order is
:class:`jaxsnn.event.types.EventKind`): threshold crossings come before input spikes. All
neurons whose crossing times are exactly equal to the earliest one spike in the same step,
at that time, and only then are the recurrent weights of all of them added
(so a simultaneous inhibitory spike cannot veto a crossing that is due). Input spikes with
equal times are applied one per step, in their list order, with no time passing between
them; a neuron at threshold at that time has already spiked.

**Buffers**: spikes are written in time order (ties by neuron index) into a buffer of
``max_events`` entries; the scan runs ``n_inputs + max_events`` steps (the forward-only
``lax.while_loop``, ``differentiable=False``, stops earlier, at the last event). Spikes before
``t_max`` that find the buffer full are counted in ``dropped`` (their dynamics -- reset,
recurrent input -- is still simulated). Those steps suffice whenever the buffer does not
overflow (each step is an input spike or a crossing, and crossings fill the buffer); after an
overflow events may still be due when they run out, and :func:`count_overflow` carries on
from there: a ``lax.while_loop`` that only advances and counts (no stores, no derivative
terms, its arguments gradient-stopped) until no event is left before ``t_max``. When nothing
was dropped its condition is false at once. So ``dropped`` is exact: ``0`` exactly when the
output is complete, otherwise the number of lost spikes -- up to :data:`COUNT_LIMIT`, where
the counting stops (a count ``>= COUNT_LIMIT`` is a lower bound): with ``t_refrac = 0`` a
neuron driven hard enough fires so fast that time no longer advances in floating point,
and it would fire forever.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxsnn.event.plan import SolverPlan, solver_plan
from jaxsnn.event.root import next_crossing
from jaxsnn.event.types import EventKind, Spikes, comes_first, dropped_of
from jaxsnn.neuron import LIFParameters, LIFState, as_float_params, propagate

Array = jnp.ndarray

#: :func:`count_overflow` stops counting lost spikes here: a ``dropped`` count of at least
#: ``COUNT_LIMIT`` is a lower bound (see the module docstring, "Buffers")
COUNT_LIMIT = 2**16


class PopulationState(NamedTuple):
    """Simulation state between two events.

    ``t``: time of the last event; ``neurons``: ``(V, I)`` at ``t``; ``refractory_until``:
    absolute end of each neuron's refractory period; ``next_input``: index of the next
    unprocessed input spike; ``spikes``: output buffer; ``count``: spikes emitted so far
    (stored or not); ``dropped``: spikes that did not fit.
    """

    t: Array
    neurons: LIFState
    refractory_until: Array
    next_input: Array
    spikes: Spikes
    count: Array
    dropped: Array


class Event(NamedTuple):
    """The next event: its ``time``, kind flags, and every neuron's crossing time."""

    time: Array
    is_crossing: Array
    is_input: Array
    crossing_times: Array


def initial_state(n: int, max_events: int, params: LIFParameters, dtype) -> PopulationState:
    """All neurons at rest (``V = v_leak``, ``I = 0``) at ``t = 0``, empty buffer."""
    v = jnp.broadcast_to(jnp.asarray(params.v_leak, dtype), (n,))
    return PopulationState(
        t=jnp.zeros((), dtype),
        neurons=LIFState(v, jnp.zeros((n,), dtype)),
        refractory_until=jnp.zeros((n,), dtype),
        next_input=jnp.zeros((), jnp.int32),
        spikes=Spikes(
            jnp.full((max_events,), jnp.inf, dtype), jnp.full((max_events,), -1, jnp.int32)
        ),
        count=jnp.zeros((), jnp.int32),
        dropped=jnp.zeros((), jnp.int32),
    )


def crossing_times(state: PopulationState, params: LIFParameters, plan: SolverPlan) -> Array:
    """Absolute time ``t + dt_j`` of every neuron's next threshold crossing (``+inf``: none).

    ``plan.refractory`` decides how refractory neurons are treated, each choice equal in
    value to the general one (:func:`jaxsnn.event.root.next_crossing` with
    ``refractory_left = refractory_until - t``):

    * ``"events"``: the general solver, refractory aware;
    * ``"none"``: no neuron is ever held (``refractory_until <= t``), so the solver runs on
      ``(V, I)`` directly (the general form would multiply ``I`` by ``e^0``);
    * ``"beyond"``: a neuron still refractory stays so past ``t_max`` (``t_refrac >= t_max``):
      it never crosses again, ``+inf`` without a solve.
    """
    left = state.refractory_until - state.t
    if plan.refractory == "events":
        return state.t + next_crossing(state.neurons, params, left, plan.crossing)
    dt = next_crossing(state.neurons, params, None, plan.crossing)
    if plan.refractory == "beyond":
        dt = jnp.where(left > 0, jnp.inf, dt)
    return state.t + dt


def next_event(
    state: PopulationState,
    inputs: Spikes,
    params: LIFParameters,
    t_max: ArrayLike,
    plan: SolverPlan,
) -> Event:
    """Part 1: earliest of the next crossing (:func:`crossing_times`) and the next input spike.

    ``is_crossing = t_cross <= t_input and t_cross < t_max`` (crossings first at ties,
    :func:`~jaxsnn.event.types.comes_first`); ``is_input = not is_crossing and
    t_input < t_max``; with neither, ``time = t``. ``plan.crossing`` picks the solver.
    """
    crossing = crossing_times(state, params, plan)
    t_cross = jnp.min(crossing)
    n_inputs = inputs.time.shape[0]
    if n_inputs == 0:
        t_input = jnp.asarray(jnp.inf, state.t.dtype)
    else:
        k = jnp.minimum(state.next_input, n_inputs - 1)
        pending = (state.next_input < n_inputs) & (inputs.idx[k] >= 0)
        t_input = jnp.where(pending, inputs.time[k], jnp.inf)
    is_crossing = comes_first(t_cross, EventKind.CROSSING, t_input, EventKind.INPUT)
    is_crossing = is_crossing & (t_cross < t_max)
    is_input = ~is_crossing & (t_input < t_max)
    time = jnp.where(is_crossing, t_cross, jnp.where(is_input, t_input, state.t))
    return Event(time, is_crossing, is_input, crossing)


def integrate(
    neurons: LIFState,
    refractory_until: Array,
    t: Array,
    t_next: Array,
    params: LIFParameters,
    refractory: str = "events",
) -> LIFState:
    """Part 2: every neuron from ``t`` to ``t_next`` (finite, ``>= t``).

    A neuron still refractory for ``h = min(refractory_until - t, dt)`` (if positive) holds
    ``V`` for ``h`` while ``I`` decays, then evolves freely:
    ``propagate((V, I e^{-h / tau_syn}), dt - h)``. ``refractory`` (the plan's mode, see
    :func:`crossing_times`) picks an equal-valued form whose exponentials depend on ``dt``
    alone -- one per sample and time constant, not one per neuron: ``"none"`` (``h = 0``):
    ``propagate((V, I), dt)``; ``"beyond"`` (``h`` is ``0`` or ``dt``): a held neuron keeps
    ``V`` and its ``I e^{-dt/tau_syn}`` is the free neuron's current (``propagate`` over
    ``0`` is the identity).
    """
    dt = t_next - t
    left = refractory_until - t
    if refractory == "events":
        held = jnp.where(left > 0, jnp.minimum(left, dt), 0.0)
        current = neurons.i * jnp.exp(-held / params.tau_syn)
        return propagate(LIFState(neurons.v, current), dt - held, params)
    free = propagate(neurons, dt, params)
    if refractory == "none":
        return free
    return LIFState(jnp.where(left > 0, neurons.v, free.v), free.i)


def apply_crossing(
    state: PopulationState,
    event: Event,
    params: LIFParameters,
    recurrent_weights: Array | None,
    differentiable: bool = True,
    store: bool = True,
) -> PopulationState:
    """Part 3a: all neurons with ``crossing_time == event.time`` spike at that time.

    Each spiking neuron ``j`` is recorded with its own crossing time (equal in value, but
    carrying its own derivative), gets ``V = v_reset`` and ``refractory_until = t_j +
    t_refrac``; then ``I += sum_j W_rec[j]``. Spikes past the buffer end count as dropped.
    ``differentiable=False`` leaves out the terms that only carry derivatives (zero in value)
    and fires spike by spike (:func:`fire`); ``store=False`` (counting after an overflow, the
    buffer full) records nothing and counts every spike as dropped.
    """
    if not differentiable:
        return fire(state, event, params, recurrent_weights, store)
    spiking = event.is_crossing & (event.crossing_times == event.time)
    # lag = event.time - t_j is exactly 0 for each spiking neuron j; the first-order terms in
    # lag below add nothing to the values but give every neuron's reset and recurrent jump the
    # derivative of its own spike time (exact gradients also at simultaneous crossings)
    lag = jnp.where(spiking, event.time - event.crossing_times, 0.0)
    refractory_until = jnp.where(
        spiking, event.crossing_times + params.t_refrac, state.refractory_until
    )
    free = refractory_until <= event.time
    current = state.neurons.i
    restart = (params.v_leak - params.v_reset + current) / params.tau_mem
    v = jnp.where(spiking, params.v_reset + jnp.where(free, lag * restart, 0.0), state.neurons.v)
    if recurrent_weights is not None:
        weight = spiking.astype(current.dtype)
        current = current + weight @ recurrent_weights
        early = (weight * lag) @ recurrent_weights  # d/dt_j of W e^{-lag/tau_syn}, W k(lag)
        current = current - early / params.tau_syn
        v = v + jnp.where(free, early / params.tau_mem, 0.0)
    n_spiking = jnp.sum(spiking, dtype=jnp.int32)
    updated = state._replace(
        neurons=LIFState(v, current),
        refractory_until=refractory_until,
        count=state.count + n_spiking,
    )
    if not store:
        return updated._replace(dropped=state.dropped + n_spiking)
    max_events = state.spikes.time.shape[0]
    position = state.count + jnp.cumsum(spiking) - 1
    stored = spiking & (position < max_events)
    slot = jnp.where(stored, position, max_events)
    neurons = jnp.arange(spiking.shape[0], dtype=jnp.int32)
    spikes = Spikes(
        state.spikes.time.at[slot].set(event.crossing_times, mode="drop"),
        state.spikes.idx.at[slot].set(neurons, mode="drop"),
    )
    return updated._replace(
        spikes=spikes, dropped=state.dropped + n_spiking - jnp.sum(stored, dtype=jnp.int32)
    )


def fire(
    state: PopulationState,
    event: Event,
    params: LIFParameters,
    recurrent_weights: Array | None,
    store: bool = True,
) -> PopulationState:
    """Part 3a without the derivative-only terms: :func:`apply_crossing` with
    ``differentiable=False`` (its value), spike by spike.

    The spiking neurons ``S = {j: crossing_time_j == event.time}`` get ``V = v_reset`` and
    ``refractory_until = t_j + t_refrac`` (vectorised). Then they fire in ascending index
    order, each ``j`` stored at the next buffer position (or counted as dropped) and adding its
    row to the current, ``I += W_rec[j]`` (:func:`record_spike`): the lowest one directly, the
    others -- ties, rare -- in a ``lax.while_loop`` that usually runs no iteration. That is
    ``O(n)`` work per spike instead of the product ``1_S @ W_rec`` (``O(n^2)`` per event) and
    two scatters of ``n`` entries, with the same value (exactly for a single spike; for ties
    the sum may round in another order). Bit for bit so only if the decayed current of
    :func:`integrate` is rounded before the jump is added: the forward loop of
    :func:`simulate_population` stores it in its carry (XLA would otherwise fuse the decay and
    the jump into one multiply-add, one rounding instead of two).
    """
    spiking = event.is_crossing & (event.crossing_times == event.time)
    refractory_until = jnp.where(
        spiking, event.crossing_times + params.t_refrac, state.refractory_until
    )
    v = jnp.where(spiking, params.v_reset, state.neurons.v)
    record = partial(
        record_spike,
        crossing_times=event.crossing_times,
        recurrent_weights=recurrent_weights,
        max_events=state.spikes.time.shape[0] if store else 0,
    )
    first = record((spiking, state.neurons.i, state.spikes, state.count, state.dropped))
    _, current, spikes, count, dropped = jax.lax.while_loop(
        lambda carry: jnp.any(carry[0]), record, first
    )
    return state._replace(
        neurons=LIFState(v, current),
        refractory_until=refractory_until,
        spikes=spikes,
        count=count,
        dropped=dropped,
    )


def record_spike(
    carry: tuple[Array, Array, Spikes, Array, Array],
    crossing_times: Array,
    recurrent_weights: Array | None,
    max_events: int,
) -> tuple[Array, Array, Spikes, Array, Array]:
    """Fire the lowest neuron ``j`` of ``to_fire`` (nothing when it is empty).

    ``carry = (to_fire, current, spikes, count, dropped)``: ``j`` leaves ``to_fire``,
    ``I += W_rec[j]``, and the spike ``(crossing_times[j], j)`` is stored at ``count`` if
    ``count < max_events``, else counted in ``dropped``; ``count`` grows by one.
    """
    to_fire, current, spikes, count, dropped = carry
    n = to_fire.shape[0]
    # the lowest index still to fire (a plain min: cheaper than argmax's two-operand reduce)
    lowest = jnp.min(jnp.where(to_fire, jnp.arange(n, dtype=jnp.int32), n))
    fires = lowest < n
    j = jnp.minimum(lowest, n - 1)
    if recurrent_weights is not None:
        current = current + jnp.where(fires, recurrent_weights[j], 0.0)
    kept = fires & (count < max_events)
    if max_events > 0:
        slot = jnp.where(kept, count, max_events)  # out of range: dropped by the scatter
        spikes = Spikes(
            spikes.time.at[slot].set(crossing_times[j], mode="drop"),
            spikes.idx.at[slot].set(j, mode="drop"),
        )
    lost = (fires & ~kept).astype(jnp.int32)
    return (
        to_fire.at[j].set(False),
        current,
        spikes,
        count + fires.astype(jnp.int32),
        dropped + lost,
    )


def apply_input(state: PopulationState, event: Event, inputs: Spikes, weights: Array):
    """Part 3b: ``I += W_in[source]`` for the input spike ``next_input``; advance the pointer."""
    n_inputs = inputs.time.shape[0]
    if n_inputs == 0:
        return state
    k = jnp.minimum(state.next_input, n_inputs - 1)
    source = inputs.idx[k]
    row = weights[jnp.maximum(source, 0)]
    current = state.neurons.i + jnp.where(event.is_input, row, 0.0)
    return state._replace(
        neurons=state.neurons._replace(i=current),
        next_input=state.next_input + event.is_input.astype(jnp.int32),
    )


def move_to(
    state: PopulationState, event: Event, params: LIFParameters, refractory: str = "events"
) -> PopulationState:
    """Part 2: the state at ``event.time`` (:func:`integrate` in the form of ``refractory``)."""
    neurons = integrate(
        state.neurons, state.refractory_until, state.t, event.time, params, refractory
    )
    return state._replace(t=event.time, neurons=neurons)


def apply_event(
    state: PopulationState,
    event: Event,
    inputs: Spikes,
    input_weights: Array,
    recurrent_weights: Array | None,
    params: LIFParameters,
    differentiable: bool = True,
    store: bool = True,
) -> PopulationState:
    """Part 3, at ``event.time``: the crossings (:func:`apply_crossing`), then the input spike
    (:func:`apply_input`)."""
    state = apply_crossing(state, event, params, recurrent_weights, differentiable, store)
    return apply_input(state, event, inputs, input_weights)


def advance(
    state: PopulationState,
    event: Event,
    inputs: Spikes,
    input_weights: Array,
    recurrent_weights: Array | None,
    params: LIFParameters,
    plan: SolverPlan,
    differentiable: bool = True,
    store: bool = True,
) -> PopulationState:
    """Parts 2 and 3: :func:`move_to` ``event.time``, then :func:`apply_event`
    (``differentiable``, ``store``: see :func:`apply_crossing`).

    Without derivatives, :func:`integrate` takes ``plan.refractory``'s short form. The
    differentiable scan keeps the general form: XLA fuses the decay ``I e^{-dt/tau_syn}``
    with the recurrent jump into one multiply-add (one rounding instead of two) or not,
    depending on the form, and the general one keeps the spikes bit for bit as they were.
    """
    refractory = "events" if differentiable else plan.refractory
    state = move_to(state, event, params, refractory)
    args = (inputs, input_weights, recurrent_weights, params, differentiable, store)
    return apply_event(state, event, *args)


def step(
    state: PopulationState,
    inputs: Spikes,
    input_weights: Array,
    recurrent_weights: Array | None,
    params: LIFParameters,
    t_max: ArrayLike,
    plan: SolverPlan,
) -> PopulationState:
    """One event: :func:`next_event`, then :func:`advance` to it."""
    event = next_event(state, inputs, params, t_max, plan)
    return advance(state, event, inputs, input_weights, recurrent_weights, params, plan)


def count_overflow(
    state: PopulationState,
    pending: Event,
    inputs: Spikes,
    input_weights: Array,
    recurrent_weights: Array | None,
    params: LIFParameters,
    t_max: ArrayLike,
    plan: SolverPlan,
) -> Array:
    """``state.dropped`` plus every spike that the events still due after ``state`` make.

    ``pending = next_event(state, ...)``; when it is no event (the normal case: nothing was
    dropped) the ``lax.while_loop`` stops before its first step and ``state.dropped`` is
    returned. Otherwise it goes on from event to event up to ``t_max`` with the same physics
    as the scan (:func:`advance`), but stores no spikes (the buffer is full) and carries no
    derivatives (every argument is gradient-stopped), counting each crossing as dropped.
    It stops early once the count reaches :data:`COUNT_LIMIT` (then a lower bound). Each
    iteration is an input spike (at most ``n_inputs``) or at least one counted spike, so it
    ends after at most ``n_inputs + COUNT_LIMIT`` iterations, also on invalid values.
    """
    frozen = (state, pending, inputs, input_weights, recurrent_weights, params, t_max)
    state, pending, inputs, input_weights, recurrent_weights, params, t_max = jax.lax.stop_gradient(
        frozen
    )
    empty = Spikes(jnp.zeros((0,), state.t.dtype), jnp.zeros((0,), jnp.int32))
    state = state._replace(spikes=empty)  # nothing is stored: no buffer in the loop's carry

    def due(carry):
        state, event = carry
        return (event.is_crossing | event.is_input) & (state.dropped < COUNT_LIMIT)

    def count_next(carry):
        state, event = carry
        state = advance(
            state, event, inputs, input_weights, recurrent_weights, params, plan, False, False
        )
        return state, next_event(state, inputs, params, t_max, plan)

    state, _ = jax.lax.while_loop(due, count_next, (state, pending))
    return state.dropped


def simulate_population(
    input_weights: Array,
    recurrent_weights: Array | None,
    params: LIFParameters,
    inputs: Spikes,
    t_max: ArrayLike,
    max_events: int,
    plan: SolverPlan | None = None,
    differentiable: bool = True,
) -> Spikes:
    """Simulate one sample from ``t = 0`` (rest) to ``t_max``; return the sorted output spikes.

    ``input_weights``: ``[n_in, n]``; ``recurrent_weights``: ``[n, n]`` or ``None``
    (feed-forward); ``inputs``: sorted spike list of sources in ``[0, n_in)`` (padding
    ``inf``/``-1``). Output: ``Spikes`` with ``max_events`` entries and ``dropped`` = this
    population's lost spikes (exact, see "Buffers" in the module docstring) plus
    ``inputs.dropped``. Pure and traceable (``jit``, ``vmap``, ``grad``); no input validation
    -- the layers and :func:`jaxsnn.event.simulate` validate (:mod:`jaxsnn.event.checks`).
    ``plan`` defaults to :func:`~jaxsnn.event.plan.solver_plan` of ``params``.

    ``differentiable=False`` computes the same spikes for a forward pass whose gradient comes
    from elsewhere (EventProp): a ``lax.while_loop`` that stops as soon as no event is left
    before ``t_max`` (the ``lax.scan`` always runs all ``n_inputs + max_events`` steps, most of
    them idle when the buffer is generous), without the terms that only carry derivatives;
    after an overflow the same loop goes on counting (no separate :func:`count_overflow`).
    It cannot be differentiated in reverse mode (pass gradient-stopped arguments).
    """
    if plan is None:
        plan = solver_plan(params, t_max)
    dtype = jnp.result_type(input_weights, inputs.time, float)
    params = as_float_params(params, dtype)
    input_weights = jnp.asarray(input_weights, dtype)
    if recurrent_weights is not None:
        recurrent_weights = jnp.asarray(recurrent_weights, dtype)
    upstream = dropped_of(inputs)
    inputs = Spikes(jnp.asarray(inputs.time, dtype), jnp.asarray(inputs.idx, jnp.int32))
    t_max = jnp.asarray(t_max, dtype)
    n = input_weights.shape[1]
    n_steps = inputs.time.shape[0] + max_events
    start = initial_state(n, max_events, params, dtype)

    if differentiable:

        def body(state, _):
            return step(state, inputs, input_weights, recurrent_weights, params, t_max, plan), None

        state, _ = jax.lax.scan(body, start, None, n_steps)
        pending = next_event(state, inputs, params, t_max, plan)
    else:
        first = next_event(start, inputs, params, t_max, plan)
        moved = move_to(start, first, params, plan.refractory)
        constants = (inputs, input_weights, recurrent_weights, params, t_max)
        state = forward_loop(moved, first, constants, plan, n_steps + COUNT_LIMIT)
        return Spikes(state.spikes.time, state.spikes.idx, upstream + state.dropped)
    dropped = count_overflow(
        state, pending, inputs, input_weights, recurrent_weights, params, t_max, plan
    )
    return Spikes(state.spikes.time, state.spikes.idx, upstream + dropped)


def forward_loop(
    moved: PopulationState,
    first: Event,
    constants: tuple,
    plan: SolverPlan,
    max_steps: int,
) -> PopulationState:
    """The forward-only loop of :func:`simulate_population` (``differentiable=False``).

    ``moved`` is the state moved to the pending event ``first``; each iteration applies the
    pending event (:func:`apply_event`), finds the next one (:func:`next_event`) and moves to
    it, so the decayed current is stored before a jump is added to it (the two round
    separately, as in the scan, with no fused multiply-add of decay and jump). It runs while
    an event is due before ``t_max`` -- past a full buffer it goes on counting, as
    :func:`count_overflow` does -- at most ``max_steps`` iterations (a safeguard: every
    iteration is an input or a counted spike) and until ``dropped`` reaches
    :data:`COUNT_LIMIT`. ``constants = (inputs, input_weights, recurrent_weights, params,
    t_max)``.

    Under ``vmap`` it is one loop over the batch (a ``custom_vmap`` rule) instead of the
    batched ``lax.while_loop`` that ``vmap`` would make, which selects every entry of the
    carry, per sample, in every iteration: here a sample whose events are done is kept
    unchanged by masking its pending event (an event that is neither a crossing nor an
    input changes no spike, count or ``dropped``), and the loop stops when no sample is due.
    The spikes are those of the per-sample loop.
    """

    def due(carry):
        state, event, steps = carry
        events_left = event.is_crossing | event.is_input
        return events_left & (state.dropped < COUNT_LIMIT) & (steps < max_steps)

    def apply_and_move_on(carry, constants, go=True):
        state, event, steps = carry
        inputs, input_weights, recurrent_weights, params, t_max = constants
        event = event._replace(is_crossing=event.is_crossing & go, is_input=event.is_input & go)
        state = apply_event(state, event, inputs, input_weights, recurrent_weights, params, False)
        event = next_event(state, inputs, params, t_max, plan)
        return move_to(state, event, params, plan.refractory), event, steps + 1

    @jax.custom_batching.custom_vmap
    def loop(carry, constants):
        return jax.lax.while_loop(due, partial(apply_and_move_on, constants=constants), carry)

    @loop.def_vmap
    def batched_loop(axis_size, in_batched, carry, constants):
        carry_batched, constants_batched = in_batched
        carry = batch_leaves(carry, carry_batched, axis_size)
        step_all = jax.vmap(apply_and_move_on, in_axes=(0, batch_axes(constants_batched), 0))

        def advance_active(loop_carry):
            carry, active = loop_carry
            carry = step_all(carry, constants, active)
            return carry, active & jax.vmap(due)(carry)

        carry, _ = jax.lax.while_loop(
            lambda loop_carry: jnp.any(loop_carry[1]),
            advance_active,
            (carry, jax.vmap(due)(carry)),
        )
        return carry, jax.tree.map(lambda _: True, carry)

    state, _, _ = loop((moved, first, jnp.zeros((), jnp.int32)), constants)
    return state


def batch_leaves(tree, batched, axis_size: int):
    """Every leaf of ``tree`` with a batch axis of ``axis_size`` in front: those that
    ``batched`` (a matching tree of flags, as a ``custom_vmap`` rule gets them) marks as
    unbatched are broadcast."""
    return jax.tree.map(
        lambda x, b: x if b else jnp.broadcast_to(x, (axis_size, *jnp.shape(x))), tree, batched
    )


def batch_axes(batched):
    """``vmap``'s ``in_axes`` for a tree of batched flags: ``0`` where batched, else ``None``."""
    return jax.tree.map(lambda b: 0 if b else None, batched)
