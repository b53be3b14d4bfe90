"""The first-spike fast path agrees spike for spike with the event-stepping simulator."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lif_reference import TAU_SYN

from jaxsnn.event.plan import solver_plan
from jaxsnn.event.step import simulate_population
from jaxsnn.event.ttfs import ttfs_first_spikes, ttfs_spike_times
from jaxsnn.event.types import Spikes
from jaxsnn.neuron import LIFParameters

T_MAX = 8 * TAU_SYN
N_IN, N, K = 4, 6, 10
# Two float32 paths: on CPU they agree to 2e-5 tau_syn; XLA's GPU exp/log differ slightly
# (measured on an H100: 1.3e-4 tau_syn at the ill-conditioned ratio 1.02), so the GPU gets
# the float32 tolerance the issue sets for exactness against a reference.
FLOAT32_ATOL = 2e-5 if jax.default_backend() == "cpu" else 1.5e-4


@partial(jax.jit, static_argnames="plan")
def fast(weights, params, times, sources, plan):
    return ttfs_spike_times(weights, params, Spikes(times, sources), T_MAX, plan)


@partial(jax.jit, static_argnames="plan")
def stepping_first_spikes(weights, params, times, sources, plan):
    """First spike of every neuron from the full event simulation."""
    out = simulate_population(weights, None, params, Spikes(times, sources), T_MAX, 80, plan)
    match = out.idx[None, :] == jnp.arange(N)[:, None]
    return jnp.min(jnp.where(match, out.time[None, :], jnp.inf), axis=1), out.dropped


def compare(weights, params, times, sources, atol):
    plan = solver_plan(params, T_MAX)
    a = np.asarray(fast(weights, params, times, sources, plan))
    b, dropped = stepping_first_spikes(weights, params, times, sources, plan)
    assert int(dropped) == 0
    b = np.asarray(b)
    np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
    np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=0, atol=atol)
    return np.isfinite(a).sum()


def random_case(rng, dtype):
    times = np.sort(rng.uniform(0.0, T_MAX, K))
    sources = rng.integers(0, N_IN, K).astype(np.int32)
    times[-2:], sources[-2:] = np.inf, -1  # padding
    weights = rng.normal(1.0, 1.5, (N_IN, N))
    return jnp.asarray(weights, dtype), jnp.asarray(times, dtype), jnp.asarray(sources)


@pytest.mark.parametrize(
    ("ratio", "v_leak"), [(1.0, -0.1), (2.0, 0.0), (1.37, 0.2), (1.02, 0.0), (1.37, 1.1)]
)
@pytest.mark.parametrize("x64", [True, False])
def test_fast_path_matches_stepping(ratio, v_leak, x64):
    params = LIFParameters(
        tau_mem=ratio * TAU_SYN, tau_syn=TAU_SYN, v_th=1.0, v_reset=-0.2, v_leak=v_leak
    )
    rng = np.random.default_rng(0)
    spiking = 0
    with jax.enable_x64(x64):
        dtype = jnp.float64 if x64 else jnp.float32
        for _ in range(6):
            spiking += compare_case(
                random_case(rng, dtype), params, (1e-10 if x64 else FLOAT32_ATOL) * TAU_SYN
            )
    assert spiking >= 10


def compare_case(case, params, atol):
    weights, times, sources = case
    return compare(weights, params, times, sources, atol)


# hypothesis: input times on a coarse grid, so that exact ties are frequent
GRID = np.arange(0, 33) * (T_MAX / 32)


@settings(max_examples=25, deadline=None)
@given(
    slots=st.lists(st.integers(0, 32), min_size=K, max_size=K),
    sources=st.lists(st.integers(0, N_IN - 1), min_size=K, max_size=K),
    weights=st.lists(st.floats(-2.0, 5.0), min_size=N_IN * N, max_size=N_IN * N),
)
def test_fast_path_matches_stepping_property(slots, sources, weights):
    params = LIFParameters(tau_mem=2 * TAU_SYN, tau_syn=TAU_SYN, v_leak=0.0, v_reset=-0.2)
    with jax.enable_x64(True):
        times = jnp.asarray(np.sort(GRID[slots]))
        # scaled by an irrational factor: "nice" weights would make exactly grazing
        # trajectories (peak == v_th), whose crossing times are ill-conditioned in any method
        w = jnp.asarray(np.reshape(weights, (N_IN, N)) * (np.pi / 3))
        compare(w, params, times, jnp.asarray(sources, jnp.int32), 1e-12)


def test_first_spikes_are_sorted_spike_list():
    params = LIFParameters(tau_mem=2 * TAU_SYN, tau_syn=TAU_SYN)
    weights = jnp.asarray([[8.0, 0.0, 6.0], [0.0, 0.0, 0.0]])
    inputs = Spikes(jnp.asarray([1e-3, 2e-3]), jnp.asarray([0, 1], jnp.int32), jnp.int32(2))
    out = jax.jit(lambda w, s: ttfs_first_spikes(w, params, s, T_MAX))(weights, inputs)
    assert list(np.asarray(out.idx)) == [0, 2, -1]
    assert np.isinf(out.time[2]) and out.time[0] < out.time[1]
    assert int(out.dropped) == 2  # passed through from the input
