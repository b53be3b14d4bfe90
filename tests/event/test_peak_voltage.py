"""Peak membrane voltage of the fast path (used to give silent neurons a gradient)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.event.ttfs import peak_voltage, ttfs_spike_times
from jaxsnn.event.types import Spikes
from jaxsnn.neuron import LIFParameters

TAU_SYN = 5e-3
T_MAX = 6 * TAU_SYN


def dense_voltage(weights, params, times, sources, grid):
    """V on a grid from the closed-form kernel, summed over the inputs (no spikes)."""
    v = np.full((len(grid), weights.shape[1]), params.v_leak)
    for t, s in zip(times, sources, strict=True):
        if not np.isfinite(t):
            continue
        lag = grid - t
        k = np.where(
            lag >= 0,
            params.tau_syn
            / (params.tau_syn - params.tau_mem)
            * (
                np.exp(-np.maximum(lag, 0) / params.tau_syn)
                - np.exp(-np.maximum(lag, 0) / params.tau_mem)
            ),
            0.0,
        )
        v += k[:, None] * weights[s][None, :]
    return v


@pytest.mark.parametrize("ratio", [2.0, 1.37, 3.0])
def test_peak_matches_dense_sampling_in_float64(ratio):
    params = LIFParameters(tau_mem=ratio * TAU_SYN, tau_syn=TAU_SYN, v_leak=0.0)
    rng = np.random.default_rng(1)
    times = np.sort(rng.uniform(0, 0.7 * T_MAX, 8))
    times[-1] = np.inf
    sources = rng.integers(0, 3, 8).astype(np.int32)
    sources[-1] = -1
    weights = rng.normal(0.3, 1.0, (3, 5))
    # V has kinks at the input times: put them on the grid, so that between grid points V is
    # smooth and the sampled maximum misses the true one by O(step^2) only
    grid = np.union1d(np.linspace(times[0], T_MAX, 200001), times[np.isfinite(times)])
    reference = dense_voltage(weights, params, times, sources, grid).max(axis=0)
    with jax.enable_x64(True):
        peak = np.asarray(peak_voltage(jnp.asarray(weights), params, Spikes(times, sources), T_MAX))
    # the grid can only miss the true maximum from below, by O(step^2)
    assert np.all(peak >= reference - 1e-12)
    np.testing.assert_allclose(peak, reference, atol=1e-8)


def test_peak_reaches_threshold_exactly_when_the_neuron_spikes():
    params = LIFParameters(tau_mem=2 * TAU_SYN, tau_syn=TAU_SYN)
    rng = np.random.default_rng(2)
    for _ in range(5):
        times = np.sort(rng.uniform(0, T_MAX / 2, 6))
        sources = rng.integers(0, 4, 6).astype(np.int32)
        weights = jnp.asarray(rng.normal(1.0, 2.0, (4, 8)))
        inputs = Spikes(jnp.asarray(times), jnp.asarray(sources))
        with jax.enable_x64(True):
            peak = np.asarray(peak_voltage(weights, params, inputs, T_MAX))
            first = np.asarray(ttfs_spike_times(weights, params, inputs, T_MAX))
        np.testing.assert_array_equal(peak >= params.v_th, np.isfinite(first))


def test_peak_gradient_matches_finite_differences():
    params = LIFParameters(tau_mem=1.37 * TAU_SYN, tau_syn=TAU_SYN)
    times = jnp.array([0.0, 2e-3, 2e-3, 7e-3])
    sources = jnp.array([0, 1, 2, 1])
    rng = np.random.default_rng(3)
    with jax.enable_x64(True):
        weights = jnp.asarray(rng.normal(0.2, 0.5, (3, 4)))

        def f(w):
            return jnp.sum(peak_voltage(w, params, Spikes(times, sources), T_MAX))

        grad = np.asarray(jax.jit(jax.grad(f))(weights))
        f = jax.jit(f)  # one program for the eight evaluations
        h = 1e-6
        for i, j in [(0, 0), (1, 2), (2, 3), (1, 1)]:
            e = jnp.zeros_like(weights).at[i, j].set(h)
            fd = (f(weights + e) - f(weights - e)) / (2 * h)
            np.testing.assert_allclose(grad[i, j], fd, rtol=1e-6, atol=1e-10)
