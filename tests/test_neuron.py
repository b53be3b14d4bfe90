"""The shared LIF physics: parameter validation and the closed-form propagator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from jaxsnn.neuron import LIFParameters, LIFState, propagate, validate_parameters


def ode_reference(v0, i0, t, p):
    def rhs(_, y):
        v, i = y
        return [(-(v - p.v_leak) + i) / p.tau_mem, -i / p.tau_syn]

    sol = solve_ivp(rhs, (0.0, t), [v0, i0], method="DOP853", rtol=1e-12, atol=1e-14)
    return sol.y[:, -1]


@pytest.mark.parametrize("ratio", [1.0, 2.0, 3.0, 1.37, 0.5])
def test_propagate_matches_ode_in_float64(ratio):
    p = LIFParameters(tau_mem=ratio * 5e-3, tau_syn=5e-3, v_leak=-0.2, v_reset=-0.5)
    with jax.enable_x64(True):
        for v0, i0, t in [(0.3, 1.5, 2e-3), (-0.1, -0.7, 9e-3), (0.0, 2.0, 0.0)]:
            state = propagate(LIFState(jnp.float64(v0), jnp.float64(i0)), t, p)
            ref = ode_reference(v0, i0, t, p)
            np.testing.assert_allclose([state.v, state.i], ref, rtol=1e-10, atol=1e-12)


def test_propagate_gradient_finite_at_equal_time_constants():
    p = LIFParameters(tau_mem=5e-3, tau_syn=5e-3)
    g = jax.grad(lambda i0: propagate(LIFState(0.0, i0), 3e-3, p).v)(1.0)
    assert np.isfinite(g)
    # closed form for equal taus: dV/dI0 = (t / tau) exp(-t / tau)
    np.testing.assert_allclose(g, 0.6 * np.exp(-0.6), rtol=1e-5)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tau_mem", 0.0, "tau_mem must be a positive"),
        ("tau_syn", -1e-3, "tau_syn must be a positive"),
        ("t_refrac", -1e-3, "t_refrac must be >= 0"),
        ("v_th", float("nan"), "v_th must be finite"),
        ("v_reset", 2.0, "v_reset"),
    ],
)
def test_invalid_parameters_are_refused(field, value, message):
    params = LIFParameters()._replace(**{field: value})
    with pytest.raises(ValueError, match=message):
        validate_parameters(params)


def test_per_neuron_parameters_are_validated_elementwise():
    validate_parameters(LIFParameters(tau_mem=np.array([1e-2, 2e-2])))
    with pytest.raises(ValueError, match="tau_mem"):
        validate_parameters(LIFParameters(tau_mem=np.array([1e-2, -2e-2])))
