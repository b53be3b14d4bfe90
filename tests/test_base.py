"""init/apply composition: params are plain pytrees for jit, grad, vmap and optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxsnn.base import Layer, serial, serial_trace


def Dense(n_out):
    def init(key, input_shape):
        w = jax.random.normal(key, (input_shape[-1], n_out)) / np.sqrt(input_shape[-1])
        return (n_out,), {"w": w, "b": jnp.zeros(n_out)}

    def apply(params, x, **kwargs):
        return x @ params["w"] + params["b"]

    return Layer(init, apply)


Tanh = Layer(lambda key, shape: (shape, ()), lambda params, x, **kw: jnp.tanh(x))


def test_serial_init_shapes_and_apply():
    net = serial(Dense(5), Tanh, Dense(2))
    shape, params = net.init(jax.random.PRNGKey(0), (3,))
    assert shape == (2,)
    assert len(params) == 3
    y = net.apply(params, jnp.ones(3))
    assert y.shape == (2,)
    trace = serial_trace(Dense(5), Tanh, Dense(2)).apply(params, jnp.ones(3))
    assert [t.shape for t in trace] == [(5,), (5,), (2,)]
    np.testing.assert_allclose(trace[-1], y)


def test_params_work_with_jit_grad_vmap_optax():
    net = serial(Dense(4), Tanh, Dense(1))
    _, params = net.init(jax.random.PRNGKey(1), (2,))
    x = jax.random.normal(jax.random.PRNGKey(2), (16, 2))
    target = jnp.sum(x, axis=1, keepdims=True)

    @jax.jit
    def loss(p):
        pred = jax.vmap(lambda xi: net.apply(p, xi))(x)
        return jnp.mean((pred - target) ** 2)

    opt = optax.adam(0.05)
    state = opt.init(params)
    first = loss(params)
    for _ in range(100):
        grads = jax.grad(loss)(params)
        updates, state = opt.update(grads, state)
        params = optax.apply_updates(params, updates)
    assert loss(params) < 0.2 * first


def test_serial_errors():
    with pytest.raises(ValueError, match="at least one layer"):
        serial()
    with pytest.raises(TypeError, match="argument 1"):
        serial(Dense(2), 3)
    net = serial(Dense(2), Dense(2))
    _, params = net.init(jax.random.PRNGKey(0), (2,))
    with pytest.raises(ValueError, match="params has 1 entries"):
        net.apply(params[:1], jnp.ones(2))
