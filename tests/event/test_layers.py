"""init/apply layers: shapes, batching by vmap, composition, recurrent emulation of layers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from lif_reference import TAU_SYN

from jaxsnn.base import serial
from jaxsnn.event.leaky_integrate_and_fire import LIF, TTFSLIF, RecurrentLIF, threshold_weight
from jaxsnn.event.types import Spikes, sort_spikes, spike_count
from jaxsnn.neuron import LIFParameters, LIFState, propagate

T_MAX = 10 * TAU_SYN
PARAMS = LIFParameters(tau_mem=2 * TAU_SYN, tau_syn=TAU_SYN, v_leak=-0.1, v_reset=-0.2)


def batch_of_inputs(seed, batch, n_in, k):
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0, 5 * TAU_SYN, (batch, k)), axis=1)
    sources = rng.integers(0, n_in, (batch, k))
    return Spikes(jnp.asarray(times, jnp.float32), jnp.asarray(sources, jnp.int32))


def test_threshold_weight_fires_exactly_at_threshold():
    for ratio in (1.0, 2.0, 1.37, 0.7):
        p = PARAMS._replace(tau_mem=ratio * TAU_SYN)
        w = threshold_weight(p)
        ts = jnp.linspace(0.0, 10 * TAU_SYN, 20001)
        peak = float(jnp.max(propagate(LIFState(p.v_leak, w), ts, p).v))
        np.testing.assert_allclose(peak, p.v_th, rtol=1e-4)


@pytest.mark.parametrize("make", [LIF, RecurrentLIF, TTFSLIF])
def test_init_shapes_and_vmapped_batch(make):
    layer = make(7, PARAMS, T_MAX)
    out_shape, params = layer.init(jax.random.PRNGKey(0), (5,))
    assert out_shape == (7,)
    assert all(isinstance(v, jax.Array) for v in params.values())
    if make is RecurrentLIF:
        assert params["input_weights"].shape == (5, 7)
        assert params["recurrent_weights"].shape == (7, 7)
        np.testing.assert_array_equal(jnp.diag(params["recurrent_weights"]), 0.0)
    else:
        assert params["weights"].shape == (5, 7)
    inputs = batch_of_inputs(0, 4, 5, 6)
    batched = jax.jit(jax.vmap(layer.apply, in_axes=(None, 0)))(params, inputs)
    assert batched.time.ndim == 2 and batched.time.shape[0] == 4
    assert batched.dropped.shape == (4,)
    one = jax.jit(layer.apply)(params, Spikes(inputs.time[1], inputs.idx[1]))
    np.testing.assert_allclose(batched.time[1], one.time, rtol=1e-6)
    assert int(jnp.sum(spike_count(batched))) > 0  # default initialisation makes spikes


def test_serial_network_of_mixed_layers():
    net = serial(LIF(6, PARAMS, T_MAX, max_events=40), TTFSLIF(3, PARAMS, T_MAX))
    out_shape, params = net.init(jax.random.PRNGKey(1), (4,))
    assert out_shape == (3,)
    batch = batch_of_inputs(1, 1, 4, 5)
    out = jax.jit(net.apply)(params, Spikes(batch.time[0], batch.idx[0]))
    assert out.time.shape == (3,) and out.idx.shape == (3,)
    assert int(out.dropped) == 0
    assert np.all(np.diff(np.asarray(out.time)[np.isfinite(out.time)]) >= 0)


def test_recurrent_population_emulates_two_feed_forward_layers():
    """Block weights (input -> A, A -> B, no other connections) give the same spikes as
    ``serial(LIF(A), LIF(B))``: both are zero-delay and handle ties the same way."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(3)
        n_in, n_a, n_b = 3, 5, 2
        w1 = rng.normal(2.0, 1.0, (n_in, n_a))
        w2 = rng.normal(1.5, 1.0, (n_a, n_b))
        chain = serial(LIF(n_a, PARAMS, T_MAX, 30), LIF(n_b, PARAMS, T_MAX, 30))
        population = RecurrentLIF(n_a + n_b, PARAMS, T_MAX, 60)
        w_in = np.concatenate([w1, np.zeros((n_in, n_b))], axis=1)
        w_rec = np.zeros((n_a + n_b, n_a + n_b))
        w_rec[:n_a, n_a:] = w2
        inputs = sort_spikes(rng.uniform(0, 5 * TAU_SYN, 8), rng.integers(0, n_in, 8))
        out_chain = jax.jit(chain.apply)(({"weights": w1}, {"weights": w2}), inputs)
        out_pop = jax.jit(population.apply)(
            {"input_weights": w_in, "recurrent_weights": w_rec}, inputs
        )
        t_pop, j_pop = np.asarray(out_pop.time), np.asarray(out_pop.idx)
        second = j_pop >= n_a
        t_chain = np.asarray(out_chain.time)
        assert second.sum() >= 2 and int(out_pop.dropped) == 0 == int(out_chain.dropped)
        np.testing.assert_allclose(t_pop[second], t_chain[np.isfinite(t_chain)], rtol=1e-13)
        np.testing.assert_array_equal(
            j_pop[second] - n_a, np.asarray(out_chain.idx)[: second.sum()]
        )


def test_sort_spikes_normalises_padding_and_sizes():
    s = sort_spikes(jnp.asarray([3.0, jnp.inf, 1.0, 2.0]), jnp.asarray([0, 4, -1, 2]), size=5)
    np.testing.assert_array_equal(s.time, [2.0, 3.0, np.inf, np.inf, np.inf])
    np.testing.assert_array_equal(s.idx, [2, 0, -1, -1, -1])
    assert int(spike_count(s)) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_hidden": 0}, "n_hidden"),
        ({"t_max": -1.0}, "t_max"),
        ({"params": PARAMS._replace(tau_syn=0.0)}, "tau_syn"),
        ({"max_events": 0}, "max_events"),
    ],
)
def test_layer_arguments_are_validated(kwargs, match):
    args = {"n_hidden": 3, "params": PARAMS, "t_max": T_MAX, **kwargs}
    with pytest.raises(ValueError, match=match):
        LIF(**args)
