"""Init/apply layers: shapes, composition with serial, trajectories, recurrence, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.base import serial, serial_trace
from jaxsnn.discrete import functional as F
from jaxsnn.discrete.layers import LI, LIF, Linear, RecurrentLIF
from jaxsnn.discrete.surrogate import superspike
from jaxsnn.neuron import LIFParameters

DT = 5e-4
P = LIFParameters()
KEY = jax.random.PRNGKey(0)


def spikes(shape, p=0.2, seed=1):
    return jax.random.bernoulli(jax.random.PRNGKey(seed), p, shape).astype(jnp.float32)


@pytest.mark.parametrize("batch", [(), (7,), (2, 3)])
def test_serial_network_shapes(batch):
    net = serial(Linear(16, scale=4.0), LIF(DT, P), Linear(3), LI(DT, P))
    out_shape, params = net.init(KEY, (5,))
    assert out_shape == (3,)
    assert params[0]["weights"].shape == (5, 16) and params[1] == ()
    x = spikes((40, *batch, 5))
    v = net.apply(params, x)
    assert v.shape == (40, *batch, 3)
    assert v.dtype == jnp.float32


def test_batch_axes_are_independent():
    net = serial(Linear(16, scale=4.0), LIF(DT, P), Linear(3), LI(DT, P))
    _, params = net.init(KEY, (5,))
    x = spikes((40, 4, 5))
    batched = net.apply(params, x)
    for b in range(4):
        np.testing.assert_allclose(net.apply(params, x[:, b]), batched[:, b], rtol=1e-5, atol=1e-6)
    mapped = jax.vmap(net.apply, in_axes=(None, 1), out_axes=1)(params, x)
    np.testing.assert_allclose(mapped, batched, rtol=1e-5, atol=1e-6)


def test_linear_is_one_product_over_time():
    layer = Linear(4, bias=True)
    _, params = layer.init(KEY, (3,))
    assert params["bias"].shape == (4,)
    x = spikes((10, 2, 3))
    y = layer.apply(params, x)
    for t in range(10):
        np.testing.assert_allclose(y[t], x[t] @ params["weights"] + params["bias"], rtol=1e-6)


def test_linear_init_statistics():
    _, params = Linear(400, scale=2.0, mean=0.5).init(KEY, (100,))
    w = np.asarray(params["weights"])
    assert abs(w.mean() - 0.5) < 0.01
    assert abs(w.std() - 2.0 / 10.0) < 0.01


def test_lif_layer_matches_step_function_and_returns_trajectory():
    layer = LIF(DT, P, threshold=superspike(50.0), reset="subtract")
    currents = 3.0 * spikes((60, 2, 8), p=0.3)
    z = layer.apply((), currents)
    z2, states = layer.apply((), currents, return_state=True)
    np.testing.assert_array_equal(z, z2)
    assert isinstance(states, F.DiscreteLIFState) and states.v.shape == (60, 2, 8)
    s = F.lif_initial_state((2, 8), P)
    for k in range(60):
        s, zk = F.lif_step(s, currents[k], P, DT, reset="subtract")
        np.testing.assert_array_equal(z[k], zk)
        np.testing.assert_allclose(states.v[k], s.v, rtol=1e-5, atol=1e-6)
    assert float(z.sum()) > 0


def test_li_layer_trajectory():
    layer = LI(DT, P)
    currents = spikes((30, 4))
    v = layer.apply((), currents)
    v2, states = layer.apply((), currents, return_state=True)
    np.testing.assert_array_equal(v, v2)
    np.testing.assert_array_equal(states.v, v)


def test_initial_state():
    layer = LIF(DT, P)
    s0 = F.lif_initial_state((3,), P)._replace(v=jnp.full((3,), 0.99))
    z = layer.apply((), jnp.zeros((5, 3)) + 10.0, initial_state=s0)
    assert float(layer.apply((), jnp.zeros((5, 3)) + 10.0)[0].sum()) == 0.0
    assert float(z[0].sum()) == 3.0


def test_serial_trace_gives_every_layer():
    net = serial_trace(Linear(10, scale=5.0), LIF(DT, P), Linear(2), LI(DT, P))
    _, params = net.init(KEY, (4,))
    outputs = net.apply(params, spikes((20, 3, 4)))
    assert [o.shape for o in outputs] == [(20, 3, 10), (20, 3, 10), (20, 3, 2), (20, 3, 2)]


def test_recurrent_lif_matches_manual_loop():
    layer = RecurrentLIF(6, DT, P, scale=6.0, recurrent_scale=3.0)
    out_shape, params = layer.init(KEY, (4,))
    assert out_shape == (6,)
    assert params["input"].shape == (4, 6) and params["recurrent"].shape == (6, 6)
    np.testing.assert_array_equal(np.diag(params["recurrent"]), 0.0)
    x = spikes((50, 2, 4), p=0.3)
    z, states = layer.apply(params, x, return_state=True)
    s = F.lif_initial_state((2, 6), P)
    z_prev = jnp.zeros((2, 6))
    for k in range(50):
        s, z_prev = F.lif_step(s, x[k] @ params["input"] + z_prev @ params["recurrent"], P, DT)
        np.testing.assert_array_equal(z[k], z_prev)
    np.testing.assert_allclose(states.v[-1], s.v, rtol=1e-5, atol=1e-6)
    assert float(z.sum()) > 0


def test_recurrent_lif_without_recurrence_equals_linear_lif():
    layer = RecurrentLIF(6, DT, P, scale=6.0)
    _, params = layer.init(KEY, (4,))
    params = {**params, "recurrent": jnp.zeros((6, 6))}
    x = spikes((50, 3, 4), p=0.3)
    ff = serial(Linear(6), LIF(DT, P))
    np.testing.assert_array_equal(
        layer.apply(params, x), ff.apply(({"weights": params["input"]}, ()), x)
    )


@pytest.mark.parametrize(
    "threshold", ["superspike", "triangle", "arctan", "sigmoid", "straight_through"]
)
def test_gradients_through_network(threshold):
    net = serial(Linear(12, scale=5.0), LIF(DT, P, threshold=threshold), Linear(3), LI(DT, P))
    _, params = net.init(KEY, (4,))
    x = spikes((40, 8, 4))

    def loss(params):
        return jnp.sum(jnp.max(net.apply(params, x), axis=0) ** 2)

    grads = jax.jit(jax.grad(loss))(params)
    for leaf in jax.tree.leaves(grads):
        assert np.all(np.isfinite(leaf))
    assert float(jnp.abs(grads[0]["weights"]).sum()) > 0


def test_threshold_function_changes_the_gradient():
    def grad_for(threshold):
        net = serial(Linear(12, scale=5.0), LIF(DT, P, threshold=threshold))
        _, params = net.init(KEY, (4,))
        return jax.grad(lambda p: net.apply(p, spikes((40, 8, 4))).sum())(params)[0]["weights"]

    assert not np.allclose(grad_for(superspike(10.0)), grad_for(superspike(100.0)))


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("dt", [0.0, -1e-4, float("nan")])
def test_non_positive_dt_raises(dt):
    for make in (lambda: LIF(dt), lambda: LI(dt), lambda: RecurrentLIF(3, dt)):
        with pytest.raises(ValueError, match="dt"):
            make()


@pytest.mark.parametrize("field", ["tau_mem", "tau_syn"])
def test_non_positive_time_constant_raises(field):
    params = P._replace(**{field: 0.0})
    for make in (
        lambda: LIF(DT, params),
        lambda: LI(DT, params),
        lambda: RecurrentLIF(3, DT, params),
    ):
        with pytest.raises(ValueError, match=field):
            make()


def test_unknown_surrogate_and_reset_raise():
    with pytest.raises(ValueError, match="nope"):
        LIF(DT, P, threshold="nope")
    with pytest.raises(ValueError, match="reset"):
        LIF(DT, P, reset="zero")
    with pytest.raises(ValueError, match="reset"):
        RecurrentLIF(3, DT, P, reset="zero")


@pytest.mark.parametrize("n_out", [0, -3, 2.5, True])
def test_bad_sizes_raise(n_out):
    with pytest.raises(ValueError, match="n_out"):
        Linear(n_out)
    with pytest.raises(ValueError, match="n_out"):
        RecurrentLIF(n_out, DT)


def test_wrong_shapes_raise():
    layer = Linear(3)
    with pytest.raises(ValueError, match="input_shape"):
        layer.init(KEY, ())
    with pytest.raises(ValueError, match="input_shape"):
        layer.init(KEY, 4)
    _, params = layer.init(KEY, (4,))
    with pytest.raises(ValueError, match="4 channels"):
        layer.apply(params, jnp.zeros((10, 5)))
    with pytest.raises(ValueError, match="inputs must be time-major"):
        LIF(DT).apply((), jnp.zeros(10))
    with pytest.raises(ValueError, match="inputs must be time-major"):
        LI(DT).apply((), jnp.zeros(10))
    rec = RecurrentLIF(3, DT)
    _, rec_params = rec.init(KEY, (4,))
    with pytest.raises(ValueError, match="expects 4"):
        rec.apply(rec_params, jnp.zeros((10, 2, 5)))


def test_integer_and_bool_inputs_become_float():
    z = LIF(DT, P).apply((), jnp.full((5, 2), 30, jnp.int32))
    assert z.dtype == jnp.float32 and float(z.sum()) > 0
    layer = RecurrentLIF(3, DT)
    _, params = layer.init(KEY, (4,))
    assert layer.apply(params, jnp.ones((5, 4), bool)).dtype == jnp.float32
