"""The discrete simulator converges to the exact LIF dynamics as dt -> 0.

Reference: a float64 ``scipy.integrate.solve_ivp`` integration of

    tau_mem dV/dt = -(V - v_leak) + I,   tau_syn dI/dt = -I,   I += w at each input spike,

with event detection of ``V = v_th`` (spike, ``V = v_reset`` held for ``t_refrac``), one
neuron at a time and one layer after the other. The discrete spike time of step ``k`` is
``(k + 1) dt``. Input spikes lie on the coarsest grid, so they are exact on every grid.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from jaxsnn.discrete import functional as F
from jaxsnn.neuron import LIFParameters, LIFState, propagate

PARAMS = LIFParameters(tau_mem=1e-2, tau_syn=5e-3, t_refrac=2e-3)
T_END = 0.04
#: dt = tau_syn / 40 ... tau_syn / 320
DTS = [PARAMS.tau_syn / n for n in (40, 80, 160, 320)]


def exact_neuron(times, weights, p: LIFParameters, t_end: float) -> np.ndarray:
    """Spike times of one LIF neuron receiving ``weights`` at ``times`` (float64)."""
    order = np.argsort(times, kind="stable")
    times, weights = np.asarray(times, float)[order], np.asarray(weights, float)[order]

    def rhs(t, y):
        return [(-(y[0] - p.v_leak) + y[1]) / p.tau_mem, -y[1] / p.tau_syn]

    def crossing(t, y):
        return y[0] - p.v_th

    crossing.terminal = True
    crossing.direction = 1
    v, i, t, k = p.v_leak, 0.0, 0.0, 0
    hold_until = -np.inf
    spikes = []
    while t < t_end:
        while k < len(times) and times[k] <= t:
            i += weights[k]
            k += 1
        t_next = times[k] if k < len(times) else t_end
        if t < hold_until:  # refractory: V held at v_reset, I decays exactly
            t_stop = min(hold_until, t_next)
            i *= np.exp(-(t_stop - t) / p.tau_syn)
            t = t_stop
            continue
        sol = solve_ivp(
            rhs, (t, t_next), [v, i], method="DOP853", events=crossing, rtol=1e-11, atol=1e-13
        )
        if sol.t_events[0].size:
            t = float(sol.t_events[0][0])
            v, i = p.v_reset, float(sol.y_events[0][0][1])
            spikes.append(t)
            hold_until = t + p.t_refrac
        else:
            t = t_next
            v, i = sol.y[:, -1]
    return np.asarray(spikes)


def exact_network(input_times, weights, p, t_end):
    """Spike times per layer and neuron of a feed-forward network (list of lists)."""
    spikes = input_times
    layers = []
    for w in weights:
        times = np.concatenate([np.asarray(s, float) for s in spikes])
        sources = np.concatenate([np.full(len(s), j, int) for j, s in enumerate(spikes)])
        spikes = [exact_neuron(times, w[sources, m], p, t_end) for m in range(w.shape[1])]
        layers.append(spikes)
    return layers


def discrete_network(input_times, weights, p, dt, t_end, dtype, reset="reset"):
    """The same network on the grid; spike times per layer and neuron."""
    n_steps = int(round(t_end / dt))
    trains = np.zeros((n_steps, len(input_times)))
    for j, spikes in enumerate(input_times):
        for t in spikes:
            trains[int(round(t / dt)), j] += 1.0
    z = jnp.asarray(trains, dtype)
    step = jax.jit(lambda s, x: F.lif_step(s, x, p, dt, reset=reset))
    layers = []
    for w in weights:
        current = F.linear(z, jnp.asarray(w, dtype))
        z = F.simulate(step, F.lif_initial_state(current.shape[1:], p, dtype), current)
        grid = np.asarray(z)
        layers.append([(np.nonzero(grid[:, m])[0] + 1) * dt for m in range(w.shape[1])])
    return layers


def spike_time_errors(reference, discrete):
    """Absolute errors of all spikes, and the number of neurons whose count differs."""
    errors, mismatched = [], 0
    for ref_layer, dis_layer in zip(reference, discrete, strict=True):
        for ref, dis in zip(ref_layer, dis_layer, strict=True):
            if len(ref) != len(dis):
                mismatched += 1
            else:
                errors.extend(np.abs(ref - dis))
    return np.asarray(errors), mismatched


def _network(seed: int, n_in: int, sizes: tuple[int, ...], mean: float, std: float):
    rng = np.random.default_rng(seed)
    input_times = [list(rng.integers(0, 20, 2) * 1e-3) for _ in range(n_in)]
    shapes = list(zip((n_in, *sizes[:-1]), sizes, strict=True))
    weights = [rng.normal(mean, std, shape) for shape in shapes]
    return input_times, weights


#: one-layer cases: 10 inputs (2 spikes each) -> 60 LIF neurons, most spiking several times
ONE_LAYER = {
    "refractory": (PARAMS, 0.8),
    "no_refractory": (PARAMS._replace(t_refrac=0.0), 0.5),
}


@functools.cache
def one_layer(case: str):
    params, mean = ONE_LAYER[case]
    inputs, weights = _network(0, 10, (60,), mean, 1.0)
    return params, inputs, weights, exact_network(inputs, weights, params, T_END)


@pytest.fixture(scope="module")
def two_layers():
    """8 inputs -> 12 LIF -> 4 LIF."""
    inputs, weights = _network(3, 8, (12, 4), 0.7, 1.0)
    return inputs, weights, exact_network(inputs, weights, PARAMS, T_END)


def test_reference_matches_closed_form():
    """The solve_ivp reference agrees with jaxsnn.neuron.propagate + a root search."""
    from scipy.optimize import brentq

    p = LIFParameters(tau_mem=1e-2, tau_syn=5e-3)
    w = 5.0
    (t_ref,) = exact_neuron([0.0], [w], p, 0.02)

    def v(t):
        return float(propagate(LIFState(np.float64(0.0), np.float64(w)), t, p).v) - p.v_th

    with jax.enable_x64(True):
        t_closed = brentq(v, 0.0, 5e-3, xtol=1e-15)
    assert abs(t_ref - t_closed) < 1e-9


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("case", "reset"),
    [("refractory", "reset"), ("no_refractory", "reset"), ("no_refractory", "subtract")],
)
def test_one_layer_converges_linearly(case, reset, dtype):
    """Both reset modes converge to the same limit (V = v_reset right at the crossing)."""
    params, inputs, weights, reference = one_layer(case)
    assert sum(len(s) for s in reference[0]) > 150  # a meaningful number of spikes
    errors = []
    with jax.enable_x64(dtype == "float64"):
        for dt in DTS:
            found = discrete_network(inputs, weights, params, dt, T_END, dtype, reset)
            err, mismatched = spike_time_errors(reference, found)
            assert mismatched == 0, f"dt={dt}: {mismatched} neurons with a wrong spike count"
            errors.append(err.mean())
    errors = np.asarray(errors)
    # halving dt at least (nearly) halves the mean error ...
    assert np.all(errors[:-1] / errors[1:] > 1.5), errors
    # ... the fitted order of convergence is at least 1 ...
    order = np.polyfit(np.log(DTS), np.log(errors), 1)[0]
    assert order > 0.9, (order, errors)
    # ... and at tau_syn / 320 the mean error is well below 1 % of tau_syn
    assert errors[-1] < 0.01 * PARAMS.tau_syn
    assert np.all(errors / np.asarray(DTS) < 1.5)  # about one time step at most, on average


@pytest.mark.parametrize("case", list(ONE_LAYER))
def test_one_layer_max_error_small_at_fine_dt(case):
    """Every single spike time lies within 1 % of tau_syn at dt = tau_syn / 2560."""
    params, inputs, weights, reference = one_layer(case)
    dt = PARAMS.tau_syn / 2560
    found = discrete_network(inputs, weights, params, dt, T_END, "float32")
    err, mismatched = spike_time_errors(reference, found)
    assert mismatched == 0
    assert err.max() < 0.01 * PARAMS.tau_syn, err.max() / PARAMS.tau_syn


def test_two_layers_converge(two_layers):
    inputs, weights, reference = two_layers
    assert all(sum(len(s) for s in layer) > 5 for layer in reference)
    errors = []
    for dt in [*DTS, PARAMS.tau_syn / 1280]:
        found = discrete_network(inputs, weights, PARAMS, dt, T_END, "float32")
        err, mismatched = spike_time_errors(reference, found)
        assert mismatched == 0, f"dt={dt}: {mismatched} neurons with a wrong spike count"
        errors.append(err.max())
    errors = np.asarray(errors)
    order = np.polyfit(np.log([*DTS, PARAMS.tau_syn / 1280]), np.log(errors), 1)[0]
    assert order > 0.9, (order, errors)
    assert errors[-1] < 0.01 * PARAMS.tau_syn, errors
