"""Overflow is never understated: ``dropped`` is the exact number of lost spikes.

The reference count of every case is the number of spikes the same input produces with a
buffer large enough for all of them; a buffer of ``max_events`` then keeps the first
``max_events`` of those spikes (bit for bit, with their gradients) and must report
``dropped == reference - max_events``, on both loops of the simulator (the differentiable
``lax.scan`` and the forward-only ``while_loop``), through the layers and in ``simulate``.
(Few buffer sizes, each one compiled once: compiling dominates the run time here.)
"""

import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.event import simulate
from jaxsnn.event import step as step_module
from jaxsnn.event.leaky_integrate_and_fire import LIF, RecurrentLIF
from jaxsnn.event.plan import solver_plan
from jaxsnn.event.step import COUNT_LIMIT, simulate_population
from jaxsnn.event.types import Spikes
from jaxsnn.neuron import LIFParameters

T_MAX = 3e-2
# the README's neuron with a short refractory period: the neurons fire many times
PARAMS = LIFParameters(tau_mem=1e-2, tau_syn=5e-3, v_th=1.0, v_reset=0.0, t_refrac=5e-4)
PLAN = solver_plan(PARAMS, T_MAX)
W_IN = np.array([[5.0, 4.0, 3.0], [2.0, -1.0, 3.0]]) * 8.0
W_REC = np.array([[0.0, 1.0, -2.0], [0.5, 0.0, 1.0], [-1.0, 2.0, 0.0]])
TIMES = np.array([1e-3, 2e-3, 2e-3, 6e-3])
SOURCES = np.array([0, 1, 0, 1], np.int32)
BIG = 128  # a buffer that holds every spike of the cases below


@partial(jax.jit, static_argnames=("max_events", "differentiable", "recurrent"))
def run(times, sources, upstream, max_events, differentiable=True, recurrent=False):
    w_rec = jnp.asarray(W_REC) if recurrent else None
    inputs = Spikes(times, sources, upstream)
    return simulate_population(
        jnp.asarray(W_IN), w_rec, PARAMS, inputs, T_MAX, max_events, PLAN, differentiable
    )


def case(upstream=0):
    return jnp.asarray(TIMES), jnp.asarray(SOURCES), jnp.int32(upstream)


def n_spikes(times) -> int:
    return int(np.sum(np.isfinite(np.asarray(times))))


@pytest.mark.parametrize("recurrent", [False, True])
def test_dropped_is_the_exact_number_of_lost_spikes(recurrent):
    with jax.enable_x64(True):
        full = run(*case(), BIG, recurrent=recurrent)
        reference = n_spikes(full.time)
        assert int(full.dropped) == 0 and 40 <= reference < BIG
        sizes = [(5, True), (5, False)] if recurrent else [(1, True), (7, True), (7, False)]
        for max_events, differentiable in sizes:
            out = run(*case(), max_events, differentiable, recurrent)
            assert int(out.dropped) == reference - max_events, (differentiable, max_events)
            # the buffer keeps exactly the first spikes, bit for bit
            np.testing.assert_array_equal(out.time, full.time[:max_events])
            np.testing.assert_array_equal(out.idx, full.idx[:max_events])


def test_upstream_count_is_added_and_batches_count_per_sample():
    with jax.enable_x64(True):
        reference = n_spikes(run(*case(), BIG).time)
        assert int(run(*case(upstream=7), 7).dropped) == 7 + reference - 7
        # sample 0 overflows, sample 1 (no input) is silent: the counting loop of a batch
        # runs for the busiest sample and leaves the others' counts alone
        times = jnp.asarray([TIMES, np.full(4, np.inf)])
        sources = jnp.asarray([SOURCES, np.full(4, -1, np.int32)])
        batched = jax.vmap(partial(run, max_events=7), in_axes=(0, 0, None))(
            times, sources, jnp.int32(0)
        )
        np.testing.assert_array_equal(batched.dropped, [reference - 7, 0])


def test_layers_report_the_exact_count_through_a_network():
    with jax.enable_x64(True):
        inputs = Spikes(jnp.asarray(TIMES), jnp.asarray(SOURCES))
        reference = n_spikes(run(*case(), BIG).time)
        for gradient in ("implicit", "eventprop"):
            layer = LIF(3, PARAMS, T_MAX, max_events=7, gradient=gradient)
            out = jax.jit(layer.apply)({"weights": jnp.asarray(W_IN)}, inputs)
            assert int(out.dropped) == reference - 7, gradient
        recurrent = RecurrentLIF(3, PARAMS, T_MAX, max_events=5)
        weights = {"input_weights": jnp.asarray(W_IN), "recurrent_weights": jnp.asarray(W_REC)}
        out = jax.jit(recurrent.apply)(weights, inputs)
        assert int(out.dropped) == n_spikes(run(*case(), BIG, recurrent=True).time) - 5
        # (a network adds up its layers' counts: the upstream test above, test_edge_cases)


def test_gradients_of_the_kept_spikes_are_those_of_the_complete_run():
    """The counting after an overflow carries no derivative: the stored spikes have exactly
    the gradient they have when nothing is dropped."""
    with jax.enable_x64(True):

        def first_times(w, times, max_events):
            out = simulate_population(w, None, PARAMS, Spikes(times, SOURCES), T_MAX, max_events)
            return jnp.sum(out.time[:7] * jnp.arange(1.0, 8.0))

        grad = jax.jit(jax.grad(first_times, argnums=(0, 1)), static_argnums=2)
        w, times = jnp.asarray(W_IN), jnp.asarray(TIMES)
        for small, full in zip(grad(w, times, 7), grad(w, times, BIG), strict=True):
            assert np.all(np.isfinite(small)) and np.any(small != 0)
            np.testing.assert_allclose(small, full, rtol=1e-12, atol=0)


def test_simulate_reports_and_warns():
    """The issue's cases: a 1e6 weight with max_events=10 loses 19 spikes (it reported 1), an
    input with many spikes and max_events=1 loses all but one."""
    params = LIFParameters(tau_mem=1e-2, tau_syn=5e-3, t_refrac=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning when nothing is dropped
        full = simulate([[1e6]], params, [1e-3], [0], T_MAX, 100)
    assert int(full.dropped) == 0 and n_spikes(full.times) == 29
    with pytest.warns(RuntimeWarning, match=r"simulate: 19 spikes .*max_events=10 .*=29 keeps"):
        out = simulate([[1e6]], params, [1e-3], [0], T_MAX, 10)
    assert int(out.dropped) == 19
    np.testing.assert_array_equal(out.times, full.times[:10])

    with jax.enable_x64(True):
        reference = n_spikes(run(*case(), BIG).time)
        match = rf"simulate: {reference - 1} spikes .*max_events=1 "
        with pytest.warns(RuntimeWarning, match=match):
            out = simulate(W_IN, PARAMS, TIMES, SOURCES, T_MAX, 1)
    assert int(out.dropped) == reference - 1


def test_counting_stops_at_the_limit_and_says_it_is_a_lower_bound():
    """With ``t_refrac = 0`` a huge weight makes the neuron fire so fast that time stops
    advancing in float32: it would fire forever. The count stops at COUNT_LIMIT."""
    params = LIFParameters(tau_mem=1e-2, tau_syn=5e-3)
    with pytest.warns(RuntimeWarning, match=rf"at least {COUNT_LIMIT} spikes"):
        out = simulate([[1e12]], params, [1e-3], [0], T_MAX, 10)
    assert int(out.dropped) == COUNT_LIMIT
    assert np.all(np.isfinite(out.times))


def test_count_limit_is_read_when_traced(monkeypatch):
    """A finite case above a (lowered) limit reports at least the limit, a lower bound."""
    monkeypatch.setattr(step_module, "COUNT_LIMIT", 5)
    with jax.enable_x64(True):
        out = jax.jit(
            lambda t, s: simulate_population(
                jnp.asarray(W_IN), None, PARAMS, Spikes(t, s), T_MAX, 3, PLAN
            )
        )(jnp.asarray(TIMES), jnp.asarray(SOURCES))
    # each counting step adds the spikes of one event (ties: several) until >= the limit
    assert 5 <= int(out.dropped) <= 7
