"""Decoding and losses: max over time, cross-entropy, spike counts, first-spike times, rasters."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.discrete import decoding as D

DT = 1e-3


def test_max_over_time_and_loss():
    v = jnp.asarray([[[0.0, 1.0, 0.5]], [[2.0, -1.0, 0.1]], [[1.0, 0.0, 0.7]]])  # [T=3, B=1, 3]
    peak = D.max_over_time(v)
    np.testing.assert_allclose(peak, [[2.0, 1.0, 0.7]])
    loss = D.max_over_time_loss(v, jnp.asarray([1]))
    want = -(1.0 - math.log(math.exp(2.0) + math.exp(1.0) + math.exp(0.7)))
    assert float(loss) == pytest.approx(want, rel=1e-6)
    assert float(D.accuracy(peak, jnp.asarray([0]))) == 1.0
    assert float(D.accuracy(peak, jnp.asarray([2]))) == 0.0


def test_max_over_time_gradient_goes_to_the_peak_step():
    v = jnp.asarray([[0.0, 1.0], [2.0, -1.0], [1.0, 3.0]])[:, None, :]
    g = jax.grad(lambda v: D.max_over_time_loss(v, jnp.asarray([0])))(v)
    np.testing.assert_array_equal(np.asarray(g[:, 0, 0]) != 0, [False, True, False])
    np.testing.assert_array_equal(np.asarray(g[:, 0, 1]) != 0, [False, False, True])


def test_cross_entropy_shape_mismatch_raises():
    with pytest.raises(ValueError, match="labels"):
        D.cross_entropy(jnp.zeros((4, 3)), jnp.zeros(5, jnp.int32))


def test_spike_counts_and_first_spike_time():
    z = np.zeros((6, 2, 3), np.float32)
    z[1, 0, 0] = z[4, 0, 0] = 1.0
    z[5, 1, 2] = 1.0
    z[0, 1, 0] = 1.0
    counts = D.spike_counts(jnp.asarray(z))
    np.testing.assert_array_equal(counts, [[2, 0, 0], [1, 0, 1]])
    index = D.first_spike_index(jnp.asarray(z))
    np.testing.assert_array_equal(index, [[1, 6, 6], [0, 6, 5]])
    times = D.first_spike_time(jnp.asarray(z), DT)
    np.testing.assert_allclose(times, [[2e-3, np.inf, np.inf], [1e-3, np.inf, 6e-3]])


def test_spike_counts_are_differentiable():
    g = jax.grad(lambda z: D.spike_counts(z).sum())(jnp.zeros((4, 3)))
    np.testing.assert_array_equal(g, 1.0)


def test_spike_raster():
    z = np.zeros((5, 2, 3), np.float32)
    z[3, 0, 1] = z[0, 0, 2] = z[3, 0, 0] = 1.0
    times, neurons = D.spike_raster(jnp.asarray(z), DT)
    assert times.shape == neurons.shape == (2, 15)
    np.testing.assert_allclose(times[0, :3], [1e-3, 4e-3, 4e-3])
    np.testing.assert_array_equal(neurons[0, :3], [2, 0, 1])
    assert np.all(np.isinf(times[0, 3:])) and np.all(neurons[0, 3:] == -1)
    assert np.all(np.isinf(times[1])) and np.all(neurons[1] == -1)
    times2, neurons2 = D.spike_raster(jnp.asarray(z), DT, max_events=2)
    np.testing.assert_array_equal(neurons2[0], [2, 0])
    jitted = jax.jit(lambda z: D.spike_raster(z, DT, max_events=4))(jnp.asarray(z))
    np.testing.assert_array_equal(jitted[1][0], [2, 0, 1, -1])


def test_spike_raster_wrong_shape_raises():
    with pytest.raises(ValueError, match="spikes"):
        D.spike_raster(jnp.zeros((5, 3)), DT)
