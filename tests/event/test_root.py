"""Next-threshold-crossing solvers: values, methods, gradients, transformations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
from scipy.optimize import brentq

from jaxsnn.event.plan import crossing_solver
from jaxsnn.event.root import lambertw0, next_crossing
from jaxsnn.neuron import LIFParameters, LIFState

TAU_SYN = 5e-3


def params_for(ratio, v_leak=-0.1):
    return LIFParameters(
        tau_mem=ratio * TAU_SYN, tau_syn=TAU_SYN, v_th=1.0, v_reset=-0.2, v_leak=v_leak
    )


def numpy_voltage(v0, i0, t, p):
    """V(t) from the textbook two-exponential solution, in numpy (independent of jaxsnn)."""
    if p.tau_mem == p.tau_syn:
        return p.v_leak + (v0 - p.v_leak + i0 * t / p.tau_mem) * np.exp(-t / p.tau_mem)
    a = i0 * p.tau_syn / (p.tau_syn - p.tau_mem)
    return p.v_leak + (v0 - p.v_leak - a) * np.exp(-t / p.tau_mem) + a * np.exp(-t / p.tau_syn)


def brute_force_crossing(v0, i0, p, horizon=60 * TAU_SYN, n=100001):
    """First sign change of V - v_th on a dense grid, refined by brentq (float64)."""
    ts = np.linspace(0.0, horizon, n)
    u = numpy_voltage(v0, i0, ts, p) - p.v_th
    if u[0] >= 0:
        return 0.0
    hits = np.nonzero((u[:-1] < 0) & (u[1:] >= 0))[0]
    if hits.size == 0:
        return np.inf
    k = hits[0]
    return brentq(
        lambda t: numpy_voltage(v0, i0, t, p) - p.v_th, ts[k], ts[k + 1], xtol=1e-20, rtol=1e-15
    )


crossing = jax.jit(next_crossing, static_argnames="method")


def test_lambertw_matches_scipy():
    x = np.concatenate(
        [-1 / np.e + np.logspace(-8, -0.5, 100), np.linspace(-0.3, 5.0, 100), [0.0, 1e3]]
    )
    ref = scipy.special.lambertw(x).real
    lambertw = jax.jit(lambertw0)
    with jax.enable_x64(True):
        w = np.asarray(lambertw(jnp.asarray(x)))
    np.testing.assert_allclose(w, ref, rtol=1e-11, atol=1e-14)
    w32 = np.asarray(lambertw(jnp.asarray(x[x > -0.36], jnp.float32)))
    np.testing.assert_allclose(w32, ref[x > -0.36], rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("ratio", "v_leak", "method"),
    [
        (1.0, -0.1, "equal"),
        (2.0, 0.1, "double"),
        (3.0, 0.0, "general"),
        (1.37, -0.3, "general"),
        (0.6, 0.0, "general"),
        (1.37, 1.2, "general"),  # v_leak above threshold: tonic firing
        (2.0, 1.5, "general"),
    ],
)
def test_crossing_matches_brute_force_float64(ratio, v_leak, method):
    p = params_for(ratio, v_leak)
    assert crossing_solver(p) == method
    rng = np.random.default_rng(0)
    v0 = rng.uniform(-0.5, 0.99, 60)
    i0 = rng.normal(2.5, 3.0, 60)
    with jax.enable_x64(True):
        state = LIFState(jnp.asarray(v0), jnp.asarray(i0))
        fast = np.asarray(crossing(state, p, method=method))
        general = np.asarray(crossing(state, p, method="general"))
        ref = np.array([brute_force_crossing(a, b, p) for a, b in zip(v0, i0, strict=True)])
    finite = np.isfinite(ref)
    assert finite.sum() >= 10 and (~finite).sum() >= 3 or v_leak > 1
    for got in (fast, general):
        np.testing.assert_array_equal(np.isfinite(got), finite)
        np.testing.assert_allclose(got[finite], ref[finite], rtol=0, atol=1e-11 * TAU_SYN)


@pytest.mark.parametrize("ratio", [1.0, 2.0, 1.37])
def test_crossing_float32_close_to_float64(ratio):
    p = params_for(ratio)
    rng = np.random.default_rng(1)
    v0 = rng.uniform(-0.5, 0.9, 200)
    i0 = rng.normal(2.0, 2.0, 200)
    method = crossing_solver(p)
    with jax.enable_x64(True):
        ref = np.asarray(crossing(LIFState(jnp.asarray(v0), jnp.asarray(i0)), p, method=method))
    state32 = LIFState(jnp.asarray(v0, jnp.float32), jnp.asarray(i0, jnp.float32))
    got = crossing(state32, p, method=method)
    assert got.dtype == jnp.float32
    got = np.asarray(got, np.float64)
    # skip nearly grazing cases (ill-conditioned in any precision)
    ts = np.linspace(0.0, 20 * TAU_SYN, 2001)[:, None]
    peak = numpy_voltage(v0[None], i0[None], ts, p).max(axis=0)
    clear = np.abs(peak - p.v_th) > 1e-2
    np.testing.assert_array_equal(np.isfinite(got)[clear], np.isfinite(ref)[clear])
    both = clear & np.isfinite(ref)
    np.testing.assert_allclose(got[both], ref[both], rtol=0, atol=1e-5 * TAU_SYN)


def test_at_or_above_threshold_is_immediate_and_no_drive_is_never():
    state = LIFState(jnp.array([1.0, 1.2, 0.5, 0.5]), jnp.array([0.0, -3, 0, -1]))
    for ratio in (1.0, 2.0, 1.37):
        p = params_for(ratio)
        dt = crossing(state, p, method=crossing_solver(p))
        np.testing.assert_array_equal(np.asarray(dt), [0.0, 0.0, np.inf, np.inf])


def test_refractory_delays_the_crossing():
    p = params_for(2.0)
    state = LIFState(jnp.float32(p.v_reset), jnp.float32(8.0))
    r = 1e-3
    delayed = jax.jit(next_crossing, static_argnames="method")
    got = delayed(state, p, refractory_left=r, method="double")
    held = LIFState(jnp.float32(p.v_reset), jnp.float32(8.0 * np.exp(-r / TAU_SYN)))
    expected = r + crossing(held, p, method="double")
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    not_refractory = delayed(state, p, refractory_left=-1.0, method="double")
    np.testing.assert_allclose(not_refractory, crossing(state, p, method="double"))


def _time(v0, i0, params, method):
    return next_crossing(LIFState(v0, i0), params, method=method)


grad_all = jax.jit(jax.grad(_time, argnums=(0, 1, 2)), static_argnames="method")
batched_grad = jax.jit(jax.vmap(jax.grad(_time, argnums=1), (0, 0, None, None)), static_argnums=3)


@pytest.mark.parametrize("ratio", [1.0, 2.0, 1.37])
def test_gradients_match_finite_differences(ratio):
    """IFT gradient w.r.t. state and every parameter vs central differences (float64).

    Both the ratio's own solver and the general one are differentiated. The closed forms hold
    only at their ratio, so the differences use the general solver: the IFT gradient of a
    closed form must equal the derivative of the true crossing time.
    """
    base = params_for(ratio, v_leak=-0.1)
    with jax.enable_x64(True):
        v0, i0 = jnp.float64(0.2), jnp.float64(6.0)
        base = LIFParameters(*(jnp.float64(x) for x in base))
        for method in {crossing_solver(params_for(ratio)), "general"}:
            g_v0, g_i0, g_p = grad_all(v0, i0, base, method=method)
            analytic = {"v0": g_v0, "i0": g_i0, **g_p._asdict()}
            for name in ["v0", "i0", "tau_mem", "tau_syn", "v_th", "v_leak"]:

                def shifted(h, name=name):
                    if name in ("v0", "i0"):
                        args = {"v0": v0, "i0": i0}
                        args[name] = args[name] + h
                        return crossing(LIFState(args["v0"], args["i0"]), base, method="general")
                    p = base._replace(**{name: getattr(base, name) + h})
                    return crossing(LIFState(v0, i0), p, method="general")

                scale = {"tau_mem": base.tau_mem, "tau_syn": base.tau_syn}.get(name, 1.0)
                h = 1e-6 * float(scale)
                fd = (shifted(h) - shifted(-h)) / (2 * h)
                np.testing.assert_allclose(
                    analytic[name], fd, rtol=1e-6, atol=1e-12, err_msg=f"{method}: {name}"
                )


def test_no_crossing_has_zero_finite_gradient():
    p = params_for(2.0)
    g_v0, g_i0, g_p = grad_all(jnp.float32(0.0), jnp.float32(0.5), p, method="double")
    assert np.isinf(crossing(LIFState(0.0, 0.5), p, method="double"))
    for g in (g_v0, g_i0, *g_p):
        assert float(g) == 0.0


def test_jit_vmap_grad_compose():
    p = params_for(1.37)
    v0 = jnp.linspace(-0.2, 0.5, 7)
    i0 = jnp.linspace(6.0, 12.0, 7)
    batched = batched_grad(v0, i0, p, "general")
    _, single, _ = grad_all(v0[3], i0[3], p, method="general")
    np.testing.assert_allclose(batched[3], single, rtol=1e-6)
    assert np.all(np.asarray(batched) < 0)  # more current, earlier spike


def test_crossing_solver():
    assert crossing_solver(params_for(1.0)) == "equal"
    assert crossing_solver(params_for(2.0)) == "double"
    assert crossing_solver(params_for(2.0 + 1e-9)) == "general"
    assert crossing_solver(params_for(1.0, v_leak=1.5)) == "general"
    per_neuron = LIFParameters(tau_mem=np.array([1e-2, 2e-2]), tau_syn=np.array([5e-3, 1e-2]))
    assert crossing_solver(per_neuron) == "double"
    with pytest.raises(ValueError, match="method"):
        next_crossing(LIFState(0.0, 1.0), params_for(2.0), method="newton")
