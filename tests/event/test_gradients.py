"""Exact gradients: d(loss)/d(weights) against central finite differences in float64."""

import jax
import jax.numpy as jnp
import numpy as np
from lif_reference import TAU_SYN

from jaxsnn.base import serial
from jaxsnn.event.leaky_integrate_and_fire import LIF, TTFSLIF, RecurrentLIF
from jaxsnn.event.step import simulate_population
from jaxsnn.event.types import Spikes
from jaxsnn.neuron import LIFParameters

T_MAX = 10 * TAU_SYN
STEP = 1e-6
RTOL = 1e-5


def lif_params(ratio, t_refrac=0.0):
    return LIFParameters(
        tau_mem=ratio * TAU_SYN,
        tau_syn=TAU_SYN,
        v_th=1.0,
        v_reset=-0.2,
        v_leak=-0.1,
        t_refrac=t_refrac,
    )


def weighted_times(spikes: Spikes, n: int, seed: int = 0):
    """Smooth loss of all spike times: ``sum_e c[idx_e] t_e / tau_syn``; and the spike count."""
    c = jnp.asarray(np.random.default_rng(seed).uniform(0.5, 1.5, n))
    valid = jnp.isfinite(spikes.time) & (spikes.idx >= 0)
    coefficient = c[jnp.maximum(spikes.idx, 0)]
    value = jnp.sum(jnp.where(valid, spikes.time * coefficient, 0.0)) / TAU_SYN
    return value, jnp.sum(valid)


def input_spikes(seed, n_in, n_spikes):
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0.0, 6 * TAU_SYN, n_spikes))
    return Spikes(jnp.asarray(times), jnp.asarray(rng.integers(0, n_in, n_spikes), jnp.int32))


def assert_gradient_matches_finite_differences(loss, weights, seed=0, n_directions=3):
    """Directional derivatives along random directions; skip those that change spike counts.

    Perturbations are done in numpy so that only the loss and its gradient get compiled.
    """
    loss = jax.jit(loss)
    weights = jax.tree.map(np.asarray, weights)
    grad = jax.tree.map(np.asarray, jax.jit(jax.grad(lambda w: loss(w)[0]))(weights))
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grad))
    _, count = loss(weights)
    assert int(count) >= 3
    rng = np.random.default_rng(seed)
    checked = 0
    for _ in range(4 * n_directions):
        direction = jax.tree.map(lambda w: rng.normal(size=w.shape), weights)
        plus = jax.tree.map(lambda w, d: w + STEP * d, weights, direction)
        minus = jax.tree.map(lambda w, d: w - STEP * d, weights, direction)
        (f_plus, n_plus), (f_minus, n_minus) = loss(plus), loss(minus)
        if int(n_plus) != int(count) or int(n_minus) != int(count):
            continue
        fd = (float(f_plus) - float(f_minus)) / (2 * STEP)
        analytic = sum(
            float(np.vdot(g, d))
            for g, d in zip(jax.tree.leaves(grad), jax.tree.leaves(direction), strict=True)
        )
        np.testing.assert_allclose(analytic, fd, rtol=RTOL)
        checked += 1
        if checked == n_directions:
            break
    assert checked >= 1


def init_numpy(layer, seed, input_shape):
    """Weights of ``layer`` drawn by its own ``init`` (jitted: one small compile)."""
    return jax.jit(layer.init, static_argnums=1)(jax.random.PRNGKey(seed), input_shape)[1]


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
