"""Step functions: the Euler equations, reset modes, refractory counter, shapes, jit/vmap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.discrete import functional as F
from jaxsnn.discrete.surrogate import heaviside, superspike
from jaxsnn.neuron import LIFParameters

P = LIFParameters(tau_mem=1e-2, tau_syn=5e-3, v_th=1.0, v_reset=-0.2, v_leak=0.1, t_refrac=0.0)
DT = 1e-3


def state(v, i, refrac=0):
    v, i = np.atleast_1d(v), np.atleast_1d(i)
    return F.DiscreteLIFState(
        jnp.asarray(v, jnp.float32),
        jnp.asarray(i, jnp.float32),
        jnp.full(v.shape, refrac, jnp.int32),
    )


def test_rest_is_a_fixed_point():
    s0 = F.lif_initial_state((3,), P)
    s1, z = F.lif_step(s0, jnp.zeros(3), P, DT)
    np.testing.assert_allclose(s1.v, P.v_leak)
    np.testing.assert_array_equal(s1.i, 0.0)
    np.testing.assert_array_equal(z, 0.0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_euler_step(dtype):
    with jax.enable_x64(dtype == "float64"):
        v0, i0, x = 0.3, 2.0, 0.5
        s = F.DiscreteLIFState(
            jnp.asarray([v0], dtype), jnp.asarray([i0], dtype), jnp.zeros(1, jnp.int32)
        )
        s1, z = F.lif_step(s, jnp.asarray([x], dtype), P, DT)
        i_in = i0 + x
        v_want = v0 + DT / P.tau_mem * (P.v_leak - v0 + i_in)
        assert s1.v.dtype == jnp.dtype(dtype) and z.dtype == jnp.dtype(dtype)
        rtol = 1e-6 if dtype == "float32" else 1e-14
        np.testing.assert_allclose(s1.v, [v_want], rtol=rtol)
        np.testing.assert_allclose(s1.i, [i_in * (1 - DT / P.tau_syn)], rtol=rtol)
        assert float(z[0]) == 0.0


def test_reset_modes():
    # V' = 0.9 + 0.1 (0.1 - 0.9 + 10) = 1.82 > v_th
    s = state(0.9, 10.0)
    s_reset, z1 = F.lif_step(s, 0.0, P, DT, reset="reset")
    s_sub, z2 = F.lif_step(s, 0.0, P, DT, reset="subtract")
    assert float(z1[0]) == float(z2[0]) == 1.0
    v_free = 0.9 + 0.1 * (0.1 - 0.9 + 10.0)
    np.testing.assert_allclose(s_reset.v, [P.v_reset])
    np.testing.assert_allclose(s_sub.v, [v_free - (P.v_th - P.v_reset)], rtol=1e-6)
    np.testing.assert_allclose(s_reset.i, s_sub.i)


def test_no_spike_below_and_at_threshold():
    # V' == v_th exactly does not spike (H(0) = 0)
    p = P._replace(v_leak=0.0)
    v0 = 1.0  # stays at 1.0 with I = V: V' = V + dt/tau (0 - V + I) = V
    s1, z = F.lif_step(state(v0, v0), 0.0, p, DT)
    np.testing.assert_allclose(s1.v, [1.0])
    assert float(z[0]) == 0.0


def test_bad_reset_raises():
    with pytest.raises(ValueError, match="reset"):
        F.lif_step(state(0.0, 0.0), 0.0, P, DT, reset="zero")


def test_refractory_counter():
    """After a spike the membrane is held at v_reset for round(t_refrac / dt) steps."""
    p = P._replace(t_refrac=3.2e-3)  # 3 steps of 1 ms
    n_ref = 3
    assert int(F.refractory_steps(p, DT)) == n_ref
    drive = jnp.full((12, 1), 0.0).at[0].set(40.0)  # one strong input: spikes repeatedly
    _, states = F.simulate(
        lambda s, x: F.lif_step(s, x, p, DT), state(P.v_leak, 0.0), drive, return_state=True
    )
    spikes, traj = F.simulate(
        lambda s, x: F.lif_step(s, x, p, DT), state(P.v_leak, 0.0), drive, return_state=True
    )
    steps = np.nonzero(np.asarray(spikes)[:, 0])[0]
    assert len(steps) >= 2
    # consecutive spikes at least n_ref + 1 steps apart
    assert np.all(np.diff(steps) >= n_ref + 1)
    k = steps[0]
    np.testing.assert_array_equal(np.asarray(traj.refrac)[k : k + n_ref + 1, 0], [3, 2, 1, 0])
    np.testing.assert_allclose(np.asarray(traj.v)[k : k + n_ref + 1, 0], p.v_reset)
    # the current keeps decaying during the refractory period
    i = np.asarray(traj.i)[:, 0]
    np.testing.assert_allclose(
        i[k + 1 : k + n_ref + 1] / i[k : k + n_ref], 1 - DT / p.tau_syn, rtol=1e-6
    )
    # without refractory time the same input spikes more often
    spikes0 = F.simulate(lambda s, x: F.lif_step(s, x, P, DT), state(P.v_leak, 0.0), drive)
    assert float(spikes0.sum()) > float(spikes.sum())
    assert states.v.shape == (12, 1)


def test_refractory_blocks_spikes_even_with_strong_input():
    p = P._replace(t_refrac=2e-3)
    s = state(0.5, 0.0, refrac=2)
    s1, z = F.lif_step(s, 100.0, p, DT)
    assert float(z[0]) == 0.0 and int(s1.refrac[0]) == 1
    np.testing.assert_allclose(s1.v, [p.v_reset])


def test_li_step():
    s = F.LIState(jnp.asarray([0.3]), jnp.asarray([2.0]))
    s1, v = F.li_step(s, jnp.asarray([0.5]), P, DT)
    v_want = 0.3 + DT / P.tau_mem * (P.v_leak - 0.3 + 2.5)
    np.testing.assert_allclose(v, [v_want], rtol=1e-6)
    np.testing.assert_allclose(s1.v, v)
    np.testing.assert_allclose(s1.i, [2.5 * (1 - DT / P.tau_syn)], rtol=1e-6)
    # no threshold: large values are kept
    s2, v2 = F.li_step(F.LIState(jnp.asarray([50.0]), jnp.asarray([0.0])), 0.0, P, DT)
    assert float(v2[0]) > 40


def test_linear():
    x = jnp.ones((5, 2, 3))
    w = jnp.arange(12.0).reshape(3, 4)
    y = F.linear(x, w, bias=jnp.ones(4))
    assert y.shape == (5, 2, 4)
    np.testing.assert_allclose(y[0, 0], w.sum(0) + 1)


def test_shapes_broadcast_and_per_neuron_parameters():
    p = LIFParameters(tau_mem=jnp.asarray([1e-2, 2e-2]), tau_syn=5e-3, v_th=jnp.asarray([1.0, 0.5]))
    s = F.lif_initial_state((4, 2), p)
    s1, z = F.lif_step(s, jnp.ones((4, 2)) * 2.0, p, DT)
    assert s1.v.shape == s1.i.shape == s1.refrac.shape == z.shape == (4, 2)
    assert s1.refrac.dtype == jnp.int32
    # neuron 1 has the longer tau_mem: smaller Euler increment
    assert float(s1.v[0, 1]) < float(s1.v[0, 0])


def test_jit_and_vmap_match_batched_call():
    key = jax.random.PRNGKey(0)
    v = jax.random.uniform(key, (6, 5)) * 1.2
    i = jax.random.normal(jax.random.fold_in(key, 1), (6, 5))
    x = jax.random.normal(jax.random.fold_in(key, 2), (6, 5))
    s = F.DiscreteLIFState(v, i, jnp.zeros((6, 5), jnp.int32))
    batched = F.lif_step(s, x, P, DT)
    jitted = jax.jit(lambda s, x: F.lif_step(s, x, P, DT))(s, x)
    mapped = jax.vmap(lambda s, x: F.lif_step(s, x, P, DT))(s, x)
    for a, b, c in zip(
        jax.tree.leaves(batched), jax.tree.leaves(jitted), jax.tree.leaves(mapped), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6)
        np.testing.assert_allclose(a, c, rtol=1e-6)


def test_simulate_returns_states_from_the_same_scan():
    step = lambda s, x: F.lif_step(s, x, P, DT)  # noqa: E731
    x = jnp.zeros((20, 3)).at[2].set(jnp.asarray([5.0, 20.0, 60.0]))
    s0 = F.lif_initial_state((3,), P)
    spikes = F.simulate(step, s0, x)
    spikes2, states = F.simulate(step, s0, x, return_state=True)
    np.testing.assert_array_equal(spikes, spikes2)
    assert states.v.shape == (20, 3)
    # manual loop
    s = s0
    for k in range(20):
        s, z = step(s, x[k])
        np.testing.assert_allclose(states.v[k], s.v, rtol=1e-6)
        np.testing.assert_array_equal(spikes[k], z)


def test_surrogate_gradient_flows_through_the_step():
    def total_spikes(w, threshold):
        x = jnp.zeros((30, 1)).at[0].set(w)
        return F.simulate(
            lambda s, x: F.lif_step(s, x, P, DT, threshold=threshold),
            F.lif_initial_state((1,), P),
            x,
        ).sum()

    g = jax.grad(total_spikes)(jnp.asarray([6.0]), superspike(10.0))
    assert np.isfinite(g).all() and float(g[0]) > 0
    # a threshold without surrogate has zero gradient
    assert float(jax.grad(total_spikes)(jnp.asarray([6.0]), heaviside)[0]) == 0.0


@pytest.mark.parametrize("dt", [0.0, -1e-3, float("nan"), float("inf"), "x"])
def test_bad_dt_raises(dt):
    with pytest.raises(ValueError, match="dt"):
        F.check_dt(dt, P)


def test_dt_longer_than_tau_raises():
    with pytest.raises(ValueError, match="tau_syn"):
        F.check_dt(6e-3, P)


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="tau_mem"):
        F.check_dt(1e-3, P._replace(tau_mem=-1e-3))
    with pytest.raises(ValueError, match="tau_syn"):
        F.check_dt(1e-3, P._replace(tau_syn=0.0))


def test_zero_refractory_shortcut_matches_general_path():
    """t_refrac = 0 as a Python number skips the counter; as an array it runs the counter."""
    x = jnp.zeros((40, 3)).at[0].set(jnp.asarray([20.0, 40.0, 80.0]))
    s0 = F.lif_initial_state((3,), P)
    fast = F.simulate(lambda s, x: F.lif_step(s, x, P, DT), s0, x, return_state=True)
    p_array = P._replace(t_refrac=jnp.asarray(0.0))
    general = F.simulate(lambda s, x: F.lif_step(s, x, p_array, DT), s0, x, return_state=True)
    for a, b in zip(jax.tree.leaves(fast), jax.tree.leaves(general), strict=True):
        np.testing.assert_array_equal(a, b)
    assert float(fast[0].sum()) > 3
