"""Surrogate threshold functions: exact Heaviside forward, the chosen surrogate backward."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxsnn.discrete import surrogate as S

X = np.array([-0.5, -0.1, -0.02, 0.0, 0.03, 0.1, 0.7])


def _superspike(x, alpha):
    return 1.0 / (1.0 + alpha * abs(x)) ** 2


def _triangle(x, width):
    return max(0.0, 1.0 - abs(x) / width) / width


def _arctan(x, alpha):
    return 0.5 * alpha / (1.0 + (0.5 * math.pi * alpha * x) ** 2)


def _sigmoid(x, alpha):
    s = 1.0 / (1.0 + math.exp(-alpha * x))
    return alpha * s * (1.0 - s)


def _straight_through(x, scale):
    return scale


#: name, parameters, expected derivative (written out independently of the module)
CASES = [
    ("superspike", {"alpha": 10.0}, _superspike, "alpha"),
    ("fast_sigmoid", {"alpha": 50.0}, _superspike, "alpha"),
    ("triangle", {"width": 0.2}, _triangle, "width"),
    ("arctan", {"alpha": 5.0}, _arctan, "alpha"),
    ("sigmoid", {"alpha": 8.0}, _sigmoid, "alpha"),
    ("straight_through", {"scale": 0.7}, _straight_through, "scale"),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "params", "expected", "key"), CASES)
def test_forward_is_exact_heaviside(name, params, expected, key, dtype):
    with jax.enable_x64(dtype == "float64"):
        fn = S.surrogate(name, **params)
        x = jnp.asarray(X, dtype)
        y = fn(x)
        assert y.dtype == x.dtype
        np.testing.assert_array_equal(np.asarray(y), (X > 0).astype(float))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "params", "expected", "key"), CASES)
def test_backward_is_the_surrogate(name, params, expected, key, dtype):
    with jax.enable_x64(dtype == "float64"):
        fn = S.surrogate(name, **params)
        grads = jax.vmap(jax.grad(fn))(jnp.asarray(X, dtype))
        want = [expected(x, params[key]) for x in X]
        rtol = 2e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(np.asarray(grads), want, rtol=rtol, atol=1e-12)


def test_known_values():
    """A few values by hand: superspike(10) at 0.1 is 1/4, triangle(0.5) at 0.25 is 1."""
    assert float(jax.grad(S.superspike(10.0))(0.1)) == pytest.approx(0.25)
    assert float(jax.grad(S.superspike(10.0))(0.0)) == pytest.approx(1.0)
    assert float(jax.grad(S.triangle(0.5))(0.25)) == pytest.approx(1.0)
    assert float(jax.grad(S.triangle(0.5))(0.6)) == 0.0
    assert float(jax.grad(S.arctan(2.0))(0.0)) == pytest.approx(1.0)
    assert float(jax.grad(S.sigmoid(4.0))(0.0)) == pytest.approx(1.0)
    assert float(jax.grad(S.straight_through())(3.0)) == 1.0


@pytest.mark.parametrize("name", ["triangle", "arctan", "sigmoid"])
def test_smooth_steps_integrate_to_one(name):
    fn = S.surrogate(name)
    x = np.linspace(-50.0, 50.0, 1000001)
    area = np.sum(np.asarray(jax.vmap(jax.grad(fn))(jnp.asarray(x, jnp.float32)), float))
    assert area * (x[1] - x[0]) == pytest.approx(1.0, abs=0.002)


def test_default_is_superspike_with_alpha_100():
    assert float(jax.grad(S.surrogate())(0.01)) == pytest.approx(0.25)


def test_jvp_jit_vmap_and_vjp_agree():
    fn = S.surrogate("superspike", alpha=20.0)
    x = jnp.asarray(X, jnp.float32)
    primal, tangent = jax.jvp(fn, (x,), (jnp.ones_like(x),))
    _, vjp = jax.vjp(fn, x)
    (cotangent,) = vjp(jnp.ones_like(x))
    np.testing.assert_allclose(tangent, cotangent)
    np.testing.assert_allclose(jax.jit(jax.vmap(jax.grad(fn)))(x), tangent, rtol=1e-6)
    np.testing.assert_array_equal(jax.jit(fn)(x), primal)


def test_pass_a_function_and_custom_derivative():
    derivative = lambda x: 3.0 * jnp.exp(-jnp.abs(x))  # noqa: E731
    fn = S.custom(derivative, "laplace")
    assert S.surrogate(fn) is fn
    assert float(fn(0.2)) == 1.0 and float(fn(-0.2)) == 0.0
    assert float(jax.grad(fn)(0.0)) == pytest.approx(3.0)
    # a plain function (here a hard step without surrogate) is accepted as well
    assert S.surrogate(S.heaviside) is S.heaviside


# float32 values without subnormals: XLA on CPU flushes subnormals to zero
@settings(max_examples=50, deadline=None, derandomize=True)
@given(st.floats(-10, 10, width=32, allow_subnormal=False), st.floats(0.1, 500))
def test_superspike_property(x, alpha):
    fn = S.superspike(alpha)
    assert float(fn(x)) == (1.0 if np.float32(x) > 0 else 0.0)
    assert float(jax.grad(fn)(x)) == pytest.approx(
        _superspike(float(np.float32(x)), alpha), rel=1e-5
    )


def test_unknown_name_raises():
    with pytest.raises(ValueError, match="unknown name 'spikey'"):
        S.surrogate("spikey")


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("superspike", {"alpha": 0.0}),
        ("triangle", {"width": -1.0}),
        ("sigmoid", {"alpha": math.nan}),
    ],
)
def test_bad_parameters_raise(name, params):
    with pytest.raises(ValueError, match=next(iter(params))):
        S.surrogate(name, **params)


def test_wrong_parameter_name_raises():
    with pytest.raises(ValueError, match="triangle"):
        S.surrogate("triangle", alpha=3.0)
    with pytest.raises(ValueError, match="parameters"):
        S.surrogate(S.superspike(), alpha=3.0)
