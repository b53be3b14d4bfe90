"""Exact gradients: d(loss)/d(weights) against central finite differences in float64."""

import jax
import jax.numpy as jnp
import numpy as np
from gradient_check import (
    T_MAX,
    assert_gradient_matches_finite_differences,
    init_numpy,
    input_spikes,
    lif_params,
    weighted_times,
)

from jaxsnn.base import serial
from jaxsnn.event.leaky_integrate_and_fire import LIF, TTFSLIF, RecurrentLIF
from jaxsnn.event.step import simulate_population
from jaxsnn.event.types import Spikes


def test_single_neuron_several_spikes():
    with jax.enable_x64(True):
        for ratio, t_refrac in [(1.0, 1e-3)]:
            params = lif_params(ratio, t_refrac)
            inputs = input_spikes(1, 3, 12)
            w = np.array([[2.5], [1.5], [3.0]])

            def loss(w, params=params, inputs=inputs):
                out = simulate_population(w, None, params, inputs, T_MAX, 20)
                return weighted_times(out, 1)

            assert_gradient_matches_finite_differences(loss, w)


def test_one_layer():
    with jax.enable_x64(True):
        layer = LIF(5, lif_params(2.0), T_MAX, max_events=40)
        weights = init_numpy(layer, 1, (4,))
        inputs = input_spikes(2, 4, 10)

        def loss(w):
            return weighted_times(layer.apply(w, inputs), 5)

        assert_gradient_matches_finite_differences(loss, weights)


def test_two_layers():
    with jax.enable_x64(True):
        params = lif_params(2.0, t_refrac=5e-4)
        net = serial(LIF(6, params, T_MAX, max_events=40), LIF(3, params, T_MAX, max_events=30))
        weights = init_numpy(net, 2, (4,))
        inputs = input_spikes(3, 4, 10)

        def loss(w):
            return weighted_times(net.apply(w, inputs), 3)

        assert_gradient_matches_finite_differences(loss, weights)


def test_recurrent_population():
    with jax.enable_x64(True):
        layer = RecurrentLIF(5, lif_params(1.37), T_MAX, max_events=60, recurrent_std=1.0)
        weights = init_numpy(layer, 3, (3,))
        inputs = input_spikes(4, 3, 10)

        def loss(w):
            return weighted_times(layer.apply(w, inputs), 5)

        assert_gradient_matches_finite_differences(loss, weights)


def test_fast_path_two_layers():
    with jax.enable_x64(True):
        for ratio in (2.0,):
            params = lif_params(ratio)
            net = serial(TTFSLIF(8, params, T_MAX), TTFSLIF(3, params, T_MAX))
            weights = init_numpy(net, 4, (4,))
            inputs = input_spikes(5, 4, 6)

            def loss(w, net=net, inputs=inputs):
                return weighted_times(net.apply(w, inputs), 3)

            assert_gradient_matches_finite_differences(loss, weights)


def test_simultaneous_crossings_carry_their_own_derivatives():
    """Two identical neurons cross at exactly the same time; each reset (and later spike)
    must follow its own spike time's derivative, not the shared event time's."""
    with jax.enable_x64(True):
        params = lif_params(1.37)
        rng = np.random.default_rng(1)
        w = rng.normal(1.5, 1.0, (4, 4))
        w[:, 1] = w[:, 0]
        inputs = Spikes(
            jnp.asarray([1e-3, 1e-3, 2e-3, 2e-3, 2e-3, 5e-3]),
            jnp.asarray([0, 1, 2, 0, 3, 1], jnp.int32),
        )
        out = simulate_population(w, None, params, inputs, T_MAX, 30)
        times, idx = np.asarray(out.time), np.asarray(out.idx)
        assert np.array_equal(times[idx == 0], times[idx == 1]) and int(out.dropped) == 0
        assert np.sum(np.asarray(out.idx) == 0) >= 2  # later spikes depend on the reset

        def loss(w):
            return weighted_times(simulate_population(w, None, params, inputs, T_MAX, 30), 4)

        assert_gradient_matches_finite_differences(loss, w)
