"""First-spike layers with per-neuron parameters (issue "First-spike layers fail with per-neuron
parameters").

``TTFSLIF`` / ``EventPropTTFSLIF`` and the fast path of :mod:`jaxsnn.event.ttfs` take every
``LIFParameters`` field as a scalar or one value per neuron, like :func:`jaxsnn.event.simulate`:
the first spikes equal those of ``simulate`` (float64, rtol 1e-12), EventProp gradients equal
the analytical ones (autodiff through the fast path) and finite differences, and
``peak_voltage`` equals a fine-grid maximum of each neuron's voltage.

To keep the compile time small, each case compiles one program that returns the outputs, the
losses and the gradients of both layer types; the finite differences reuse it.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gradient_check import RTOL, STEP, T_MAX, input_spikes, lif_params, weighted_times
from lif_reference import TAU_SYN

from jaxsnn.base import serial
from jaxsnn.event import simulate
from jaxsnn.event.leaky_integrate_and_fire import TTFSLIF, EventPropTTFSLIF
from jaxsnn.event.plan import solver_plan
from jaxsnn.event.ttfs import peak_voltage, ttfs_spike_times
from jaxsnn.event.types import Spikes
from jaxsnn.neuron import LIFParameters, LIFState, propagate

N_IN, N_HIDDEN, N_OUT, N_SPIKES = 4, 6, 3, 10
FIRST_SPIKE_RTOL = 1e-12
PARITY_RTOL = 1e-6
FIELDS = ("tau_mem", "tau_syn", "v_th", "v_reset", "v_leak", "t_refrac")


# --- parameters --------------------------------------------------------------------------------


def per_neuron_values(field: str, n: int) -> np.ndarray:
    """``n`` distinct values of ``field`` around the ratio-2 base (``lif_params(2.0)``)."""
    spread = {
        "tau_mem": TAU_SYN * np.linspace(1.3, 3.0, n),  # ratios 1.3 .. 3 (general solver)
        # tau_mem = 1e-2 fixed: ratios 0.5 .. 3.3, membrane faster or slower than the synapse
        "tau_syn": 1e-2 / np.linspace(0.5, 3.3, n),
        "v_th": np.linspace(0.8, 1.2, n),
        "v_reset": np.linspace(-0.5, 0.5, n),
        "v_leak": np.linspace(-0.1, 0.1, n),
        "t_refrac": np.linspace(0.0, 2 * T_MAX, n),
    }
    return spread[field]


def per_neuron_params(field: str, n: int) -> LIFParameters:
    """The ratio-2 base with ``field`` replaced by ``n`` distinct values (others scalar)."""
    return lif_params(2.0)._replace(**{field: jnp.asarray(per_neuron_values(field, n))})


def mixed_ratio_params(ratios, seed: int) -> LIFParameters:
    """Every field per neuron; ``tau_mem = ratio * tau_syn`` with per-neuron ``tau_syn``."""
    n = len(ratios)
    rng = np.random.default_rng(seed)
    tau_syn = TAU_SYN * rng.uniform(0.8, 1.2, n)
    return LIFParameters(
        tau_mem=jnp.asarray(np.asarray(ratios) * tau_syn),
        tau_syn=jnp.asarray(tau_syn),
        v_th=jnp.asarray(rng.uniform(0.9, 1.1, n)),
        v_reset=jnp.asarray(rng.uniform(-0.4, 0.2, n)),
        v_leak=jnp.asarray(rng.uniform(-0.1, 0.1, n)),
        t_refrac=jnp.asarray(rng.uniform(0.0, 2e-3, n)),
    )


# ratios 1 and 2 have closed forms, 1.37 needs the general solver; 1.02 is near 1 and 0.6 a
# membrane faster than the synapse: in one layer, general crossing solver and pairwise sums
MIXED_HIDDEN, MIXED_OUTPUT = (1.0, 2.0, 1.37, 1.0, 2.0, 1.37), (1.02, 0.6, 2.0)
# every ratio away from 1: general crossing solver, separable prefix sums
SEPARABLE = (2.0, 1.37, 3.0, 0.5, 2.0, 1.6)


# --- references and assertions ----------------------------------------------------------------


def simulated_first_spikes(weights, params, inputs: Spikes, t_max) -> np.ndarray:
    """First spike of every neuron from :func:`jaxsnn.event.simulate`.

    The parameters are passed with every field broadcast to ``[n]`` (the same physics), so
    that cases of equal shapes and solver plan share one compiled simulation.
    """
    weights = np.asarray(weights)
    n = weights.shape[1]
    params = LIFParameters(*(np.broadcast_to(np.asarray(f, np.float64), (n,)) for f in params))
    result = simulate(weights, params, inputs.time, inputs.idx, t_max, max_events=20 * n)
    times, neurons = np.asarray(result.times), np.asarray(result.neurons)
    # a full buffer holds the earliest spikes: complete for first spikes if every neuron is in it
    assert int(result.dropped) == 0 or np.all(np.isin(np.arange(n), neurons))
    return np.array([np.min(times[neurons == j], initial=np.inf) for j in range(n)])


def layer_first_spikes(spikes: Spikes, n: int) -> np.ndarray:
    """Each neuron's spike time from a first-spike layer's output (one spike per neuron)."""
    times, idx = np.asarray(spikes.time), np.asarray(spikes.idx)
    assert np.all(np.isfinite(times) == (idx >= 0))
    assert len(set(idx[idx >= 0].tolist())) == int(np.sum(idx >= 0))
    return np.array([np.min(times[idx == j], initial=np.inf) for j in range(n)])


def assert_same_first_spikes(actual, expected, rtol=FIRST_SPIKE_RTOL):
    actual, expected = np.asarray(actual), np.asarray(expected)
    np.testing.assert_array_equal(np.isfinite(actual), np.isfinite(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=rtol, atol=0)


def compile_both(analytical, eventprop, n_out: int, inputs: Spikes, hidden=None):
    """One jitted ``w -> dict``: the outputs, losses (``weighted_times``) and gradients of the
    ``analytical`` and ``eventprop`` networks, and with ``hidden`` that layer's output for
    ``w[0]``."""

    def loss(network):
        def f(w):
            out = network.apply(w, inputs)
            return weighted_times(out, n_out)[0], out

        return jax.value_and_grad(f, has_aux=True)

    @jax.jit
    def run(w):
        (loss_a, out_a), grad_a = loss(analytical)(w)
        (loss_e, out_e), grad_e = loss(eventprop)(w)
        result = dict(out_a=out_a, out_e=out_e, loss_a=loss_a, loss_e=loss_e)
        result.update(grad_a=grad_a, grad_e=grad_e)
        if hidden is not None:
            result["hidden"] = hidden.apply(w[0], inputs)
        return result

    return run


def assert_gradients(run, weights, seed=0, n_directions=3):
    """EventProp gradient == analytical gradient (``PARITY_RTOL`` of the largest entry), and
    == central finite differences of the loss along random directions (``RTOL``; directions
    that change the spike count are skipped), as in ``gradient_check``."""
    base = run(weights)
    count = int(np.sum(np.isfinite(base["out_e"].time)))
    assert count >= 3
    np.testing.assert_allclose(base["loss_e"], base["loss_a"], rtol=1e-14)
    leaves_a, leaves_e = jax.tree.leaves(base["grad_a"]), jax.tree.leaves(base["grad_e"])
    for a, e in zip(leaves_a, leaves_e, strict=True):
        a, e = np.asarray(a), np.asarray(e)
        assert np.all(np.isfinite(e))
        scale = np.max(np.abs(a))
        assert scale > 0
        np.testing.assert_allclose(e, a, rtol=PARITY_RTOL, atol=PARITY_RTOL * scale)

    weights = jax.tree.map(np.asarray, weights)
    rng = np.random.default_rng(seed)
    checked = 0
    for _ in range(4 * n_directions):
        direction = jax.tree.map(lambda w: rng.normal(size=w.shape), weights)
        plus = run(jax.tree.map(lambda w, d: w + STEP * d, weights, direction))
        minus = run(jax.tree.map(lambda w, d: w - STEP * d, weights, direction))
        counts = [int(np.sum(np.isfinite(r["out_e"].time))) for r in (plus, minus)]
        if counts != [count, count]:
            continue
        fd = (float(plus["loss_e"]) - float(minus["loss_e"])) / (2 * STEP)
        analytic = sum(
            float(np.vdot(g, d)) for g, d in zip(leaves_e, jax.tree.leaves(direction), strict=True)
        )
        np.testing.assert_allclose(analytic, fd, rtol=RTOL)
        checked += 1
        if checked == n_directions:
            break
    assert checked >= 1


def random_weights(seed: int, shape, mean=3.0, std=2.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, std, shape)


# --- per field, mixed ratios ------------------------------------------------------------------


@pytest.mark.parametrize("field", FIELDS)
def test_per_neuron_field(field):
    """One field per neuron (distinct values), the others scalar: ``TTFSLIF`` and
    ``EventPropTTFSLIF`` give the first spikes of ``simulate`` (rtol 1e-12); the EventProp
    gradient equals the analytical one and finite differences."""
    with jax.enable_x64(True):
        params = per_neuron_params(field, N_HIDDEN)
        if field in ("tau_mem", "tau_syn"):  # neurons of different ratios: the general solver
            assert solver_plan(params, T_MAX).crossing == "general"
        seed = FIELDS.index(field)
        weights = {"weights": random_weights(seed, (N_IN, N_HIDDEN))}
        inputs = input_spikes(seed + 1, N_IN, N_SPIKES)
        analytical = TTFSLIF(N_HIDDEN, params, T_MAX)
        eventprop = EventPropTTFSLIF(N_HIDDEN, params, T_MAX)
        run = compile_both(analytical, eventprop, N_HIDDEN, inputs)

        result = run(weights)
        first = layer_first_spikes(result["out_a"], N_HIDDEN)
        assert np.sum(np.isfinite(first)) >= 4  # no vacuous pass
        np.testing.assert_array_equal(result["out_e"].time, result["out_a"].time)
        np.testing.assert_array_equal(result["out_e"].idx, result["out_a"].idx)
        reference = simulated_first_spikes(weights["weights"], params, inputs, T_MAX)
        assert_same_first_spikes(first, reference)
        assert_gradients(run, weights, seed=seed)


def test_mixed_tau_ratios_two_layers():
    """Neurons of tau ratios 1, 2, 1.37 (closed forms and general solver mixed; output layer:
    1.02, 0.6, 2), every other field per neuron too, in ``serial(TTFSLIF(6), TTFSLIF(3))``:
    both layers give the first spikes of ``simulate``; the EventProp network (whose
    input-time adjoint crosses the per-neuron output layer) has the analytical gradient and
    that of finite differences."""
    with jax.enable_x64(True):
        hidden = mixed_ratio_params(MIXED_HIDDEN, seed=1)
        output = mixed_ratio_params(MIXED_OUTPUT, seed=2)
        for p in (hidden, output):
            plan = solver_plan(p, T_MAX)
            assert (plan.crossing, plan.prefix_sums) == ("general", "pairwise")
        seed = 10
        weights = (
            {"weights": random_weights(seed, (N_IN, N_HIDDEN))},
            {"weights": random_weights(seed + 1, (N_HIDDEN, N_OUT), mean=2.0)},
        )
        inputs = input_spikes(seed, N_IN, N_SPIKES)

        def net(layer_type):
            return serial(layer_type(N_HIDDEN, hidden, T_MAX), layer_type(N_OUT, output, T_MAX))

        run = compile_both(
            net(TTFSLIF), net(EventPropTTFSLIF), N_OUT, inputs, TTFSLIF(N_HIDDEN, hidden, T_MAX)
        )
        result = run(weights)
        np.testing.assert_array_equal(result["out_e"].time, result["out_a"].time)
        hidden_first = layer_first_spikes(result["hidden"], N_HIDDEN)
        assert np.sum(np.isfinite(hidden_first)) >= 4
        reference = simulated_first_spikes(weights[0]["weights"], hidden, inputs, T_MAX)
        assert_same_first_spikes(hidden_first, reference)
        output_first = layer_first_spikes(result["out_a"], N_OUT)
        assert np.sum(np.isfinite(output_first)) >= 2
        reference = simulated_first_spikes(weights[1]["weights"], output, result["hidden"], T_MAX)
        assert_same_first_spikes(output_first, reference)
        assert_gradients(run, weights, seed=seed)


def test_mixed_ratios_match_each_neuron_alone():
    """A neuron of a mixed layer (ratios 1, 2, 1.37: general solver, pairwise sums) spikes
    when it does alone with scalar parameters, where the closed forms of ratios 1 and 2 and
    the equal / separable prefix sums apply."""
    ratios = MIXED_HIDDEN
    with jax.enable_x64(True):
        params = mixed_ratio_params(ratios, seed=3)
        weights = jnp.asarray(random_weights(3, (N_IN, len(ratios)), mean=2.0, std=1.5))
        inputs = input_spikes(4, N_IN, N_SPIKES)
        fast = jax.jit(ttfs_spike_times, static_argnames="plan")
        mixed = np.asarray(fast(weights, params, inputs, T_MAX, plan=solver_plan(params, T_MAX)))
        assert np.sum(np.isfinite(mixed)) >= 4
        alone = []
        for j, ratio in enumerate(ratios):
            p = LIFParameters(*(field[j] for field in params))
            plan = solver_plan(p, T_MAX)
            assert plan.crossing == {1.0: "equal", 2.0: "double", 1.37: "general"}[ratio]
            alone.append(fast(weights[:, j : j + 1], p, inputs, T_MAX, plan=plan)[0])
        assert_same_first_spikes(mixed, np.asarray(alone))
        assert_same_first_spikes(mixed, simulated_first_spikes(weights, params, inputs, T_MAX))


# --- the examples of the issue ----------------------------------------------------------------


def test_issue_two_neurons_one_source():
    """Per-neuron time constants, two inputs from source 0: 3.92058 ms and 6.27133 ms."""
    params = LIFParameters(tau_mem=[1e-2, 2e-2], tau_syn=[5e-3, 1e-2])
    with jax.enable_x64(True):
        weights = jnp.asarray([[3.0, 3.0]])
        inputs = Spikes(jnp.asarray([1e-3, 2e-3]), jnp.asarray([0, 0], jnp.int32))
        expected = simulated_first_spikes(weights, params, inputs, 5e-2)
        np.testing.assert_allclose(expected, [3.92058e-3, 6.27133e-3], rtol=1e-5)
        layers = [layer_type(2, params, 5e-2) for layer_type in (TTFSLIF, EventPropTTFSLIF)]
        outputs = jax.jit(lambda w: [layer.apply(w, inputs) for layer in layers])
        for out in outputs({"weights": weights}):
            assert_same_first_spikes(layer_first_spikes(out, 2), expected)


def test_issue_three_neurons_four_inputs():
    """The issue's layer of 3 neurons with 4 inputs (K != n): equals ``simulate``, and the
    EventProp gradient equals the analytical one and finite differences."""
    p = LIFParameters(
        tau_mem=jnp.array([1e-2, 2e-2, 8e-3]),
        tau_syn=jnp.array([5e-3, 1e-2, 5e-3]),
        v_th=1.0,
        v_reset=0.0,
    )
    inp = Spikes(jnp.array([1e-3, 2e-3, 3e-3, 4e-3]), jnp.array([0, 1, 0, 1]))
    with jax.enable_x64(True):
        layer = TTFSLIF(3, p, t_max=3e-2)
        weights = {"weights": np.array([[3.3, 1.7, 8.9], [4.4, 4.1, 2.9]])}
        run = compile_both(layer, EventPropTTFSLIF(3, p, t_max=3e-2), 3, inp)
        first = layer_first_spikes(run(weights)["out_a"], 3)
        assert np.all(np.isfinite(first))
        assert_same_first_spikes(first, simulated_first_spikes(weights["weights"], p, inp, 3e-2))
        assert_gradients(run, weights)


# --- peak voltage -------------------------------------------------------------------------------


def grid_voltage(weights, params: LIFParameters, inputs: Spikes, grid) -> np.ndarray:
    """``V`` of every neuron (no spikes) at the times ``grid``, ``[len(grid), n]``, by
    :func:`jaxsnn.neuron.propagate` from the state just after the last input at or before
    each time (the per-neuron ``params`` broadcast over the grid)."""
    weights = jnp.asarray(weights)
    n = weights.shape[1]
    valid = np.isfinite(np.asarray(inputs.time))
    edges = np.concatenate([[0.0], np.asarray(inputs.time)[valid]])
    sources = np.asarray(inputs.idx)[valid]
    evolve = jax.jit(propagate)
    states = [LIFState(jnp.broadcast_to(params.v_leak, (n,)), jnp.zeros(n))]  # rest at t = 0
    for k, source in enumerate(sources):
        state = evolve(states[-1], edges[k + 1] - edges[k], params)
        states.append(LIFState(state.v, state.i + weights[source]))
    v0, i0 = (jnp.stack(x) for x in zip(*states, strict=True))
    segment = np.searchsorted(edges, grid, side="right") - 1
    dt = jnp.asarray(np.asarray(grid) - edges[segment])[:, None]
    return np.asarray(evolve(LIFState(v0[segment], i0[segment]), dt, params).v)


@partial(jax.jit, static_argnames=("t_max", "plan"))
def peak_and_first_spikes(weights, params, inputs, t_max, plan):
    return (
        peak_voltage(weights, params, inputs, t_max, plan),
        ttfs_spike_times(weights, params, inputs, t_max, plan),
    )


@pytest.mark.parametrize("ratios", [MIXED_HIDDEN, SEPARABLE], ids=["pairwise", "separable"])
def test_peak_voltage_per_neuron(ratios):
    """``peak_voltage`` with every field per neuron (mixed ratios) equals the maximum of ``V``
    on a fine grid (``propagate``) to 1e-9, is at least ``V`` at each first spike, and reaches
    threshold exactly for the neurons that spike."""
    t_max = 6 * TAU_SYN
    with jax.enable_x64(True):
        params = mixed_ratio_params(ratios, seed=5)
        rng = np.random.default_rng(6)
        weights = jnp.asarray(rng.normal(0.6, 1.2, (3, N_HIDDEN)))
        times = np.sort(rng.uniform(0.0, 0.7 * t_max, 8))
        sources = rng.integers(0, 3, 8).astype(np.int32)
        times[-1], sources[-1] = np.inf, -1  # padding
        inputs = Spikes(jnp.asarray(times), jnp.asarray(sources))
        # the plan of the concrete parameters (pairwise or separable sums), params traced
        plan = solver_plan(params, t_max)
        peak, first = map(np.asarray, peak_and_first_spikes(weights, params, inputs, t_max, plan))
        spiked = np.isfinite(first)
        assert 1 <= np.sum(spiked) < N_HIDDEN  # some spike, some stay silent

        # V has kinks at the inputs: on the grid, so the sampled maximum is off by O(step^2);
        # the first spike times too, to evaluate V there
        grid = np.linspace(times[0], t_max, 200001)
        grid = np.union1d(grid, np.concatenate([times[np.isfinite(times)], first[spiked]]))
        voltage = grid_voltage(weights, params, inputs, grid)
        reference = voltage.max(axis=0)
        assert np.all(peak >= reference - 1e-12)  # a grid only misses the maximum from below
        np.testing.assert_allclose(peak, reference, rtol=0, atol=1e-9)

        v_th = np.asarray(params.v_th)
        np.testing.assert_array_equal(peak >= v_th, spiked)
        at_spike = voltage[np.searchsorted(grid, first[spiked]), np.flatnonzero(spiked)]
        np.testing.assert_allclose(at_spike, v_th[spiked], rtol=0, atol=1e-9)
        assert np.all(peak[spiked] >= at_spike - 1e-12)


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("layer_type", [TTFSLIF, EventPropTTFSLIF])
def test_per_neuron_field_of_wrong_length_is_rejected(layer_type, field):
    """Two values for three neurons: ``ValueError`` naming the field, at construction (as
    ``simulate`` does)."""
    params = LIFParameters()._replace(**{field: jnp.asarray(per_neuron_values(field, 2))})
    with pytest.raises(ValueError, match=field):
        layer_type(3, params, 3e-2)
    with pytest.raises(ValueError, match=field):
        simulate(np.ones((1, 3)), params, [1e-3], [0], 3e-2, max_events=4)


@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_list_valued_fields_are_accepted_without_deprecation_warning():
    """The issue writes per-neuron values as Python lists; validation must not rely on
    ``jnp.shape`` of a list (deprecated: a future JAX raises)."""
    params = LIFParameters(tau_mem=[1e-2, 2e-2], tau_syn=[5e-3, 1e-2])
    for layer_type in (TTFSLIF, EventPropTTFSLIF):
        layer_type(2, params, 5e-2)
        with pytest.raises(ValueError, match="tau_mem"):
            layer_type(3, params, 5e-2)
