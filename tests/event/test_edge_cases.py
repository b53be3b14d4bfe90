"""Edge cases: exact ties, silent neurons, refractoriness, buffer overflow, bad inputs."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lif_reference import TAU_SYN

from jaxsnn.base import serial
from jaxsnn.event import simulate
from jaxsnn.event import step as step_module
from jaxsnn.event.leaky_integrate_and_fire import LIF
from jaxsnn.event.plan import SolverPlan
from jaxsnn.event.step import simulate_population
from jaxsnn.event.ttfs import ttfs_spike_times
from jaxsnn.event.types import Spikes
from jaxsnn.neuron import LIFParameters

T_MAX = 10 * TAU_SYN
PARAMS = LIFParameters(tau_mem=2 * TAU_SYN, tau_syn=TAU_SYN, v_reset=-0.2, v_leak=-0.1)


@partial(jax.jit, static_argnames=("max_events", "method"))
def run(w_in, w_rec, params, times, sources, max_events=16, method="double"):
    plan = SolverPlan(crossing=method)
    return simulate_population(w_in, w_rec, params, Spikes(times, sources), T_MAX, max_events, plan)


def masked_time_sum(w_in, w_rec, params, times, sources, method="double"):
    """Sum of all spike times (silent entries masked), a smooth loss where counts are fixed."""
    plan = SolverPlan(crossing=method)
    out = simulate_population(w_in, w_rec, params, Spikes(times, sources), T_MAX, 16, plan)
    return jnp.sum(jnp.where(jnp.isfinite(out.time), out.time, 0.0)) / TAU_SYN


grad_all = jax.jit(jax.grad(masked_time_sum, argnums=(0, 1, 3)), static_argnames="method")


def trains(out, n=2):
    t, j = np.asarray(out.time), np.asarray(out.idx)
    return [t[j == k] for k in range(n)]


# Every network below has 2 input channels, 2 neurons and 4 input spikes (padded where
# fewer are needed, unused neurons silent), so that one compilation serves all tests.
PAD = (jnp.inf, -1)


def spikes(times, sources):
    times = list(times) + [PAD[0]] * (4 - len(times))
    sources = list(sources) + [PAD[1]] * (4 - len(sources))
    return jnp.asarray(times, jnp.float64), jnp.asarray(sources, jnp.int32)


def test_identical_neurons_spike_at_exactly_the_same_time():
    with jax.enable_x64(True):
        w = jnp.asarray([[3.0, 3.0], [2.0, 2.0]])
        times, sources = spikes([1e-3, 4e-3, 9e-3, 2e-2], [0, 1, 0, 1])
        out = run(w, None, PARAMS, times, sources)
        a, b = trains(out)
        assert len(a) >= 2
        np.testing.assert_array_equal(a, b)  # bit-identical times, both recorded
        t = np.asarray(out.time)[: 2 * len(a)]
        np.testing.assert_array_equal(t[0::2], t[1::2])  # adjacent entries: one event
        grads = grad_all(w, None, PARAMS, times, sources)
        assert all(np.all(np.isfinite(g)) for g in grads if g is not None)


def test_simultaneous_crossings_all_spike_before_recurrent_inhibition():
    """Two identical neurons inhibiting each other behave like one neuron inhibiting itself.

    Crossings come before the inputs they cause: both spike at the same time, then each
    receives the other's inhibition -- exactly what a single self-inhibiting neuron sees.
    """
    with jax.enable_x64(True):
        times, sources = spikes([1e-3, 3e-3, 6e-3, 8e-3], [0, 0, 0, 0])
        w_pair = jnp.asarray([[4.0, 4.0], [0.0, 0.0]])
        rec_pair = jnp.asarray([[0.0, -1.5], [-1.5, 0.0]])
        pair = run(w_pair, rec_pair, PARAMS, times, sources)
        w_single = jnp.asarray([[4.0, 0.0], [0.0, 0.0]])  # neuron 1 stays silent
        single = run(w_single, jnp.asarray([[-1.5, 0.0], [0.0, 0.0]]), PARAMS, times, sources)
        a, b = trains(pair)
        s, silent = trains(single)
        assert len(s) >= 2 and len(silent) == 0
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, s, rtol=1e-14)
        grads = grad_all(w_pair, rec_pair, PARAMS, times, sources)
        assert all(np.all(np.isfinite(g)) for g in grads)


def test_simultaneous_inputs_act_like_their_sum():
    with jax.enable_x64(True):
        times, sources = spikes([2e-3, 2e-3, 7e-3, 7e-3], [0, 1, 0, 1])
        w_split = jnp.asarray([[1.7, 2.5], [2.1, 0.9]])
        w_sum = jnp.stack([jnp.sum(w_split, axis=0), jnp.zeros(2)])
        merged_times, merged_sources = spikes([2e-3, 7e-3], [0, 0])
        split = run(w_split, None, PARAMS, times, sources)
        merged = run(w_sum, None, PARAMS, merged_times, merged_sources)
        np.testing.assert_array_equal(np.asarray(split.idx), np.asarray(merged.idx))
        np.testing.assert_allclose(split.time, merged.time, rtol=1e-13)
        assert np.isfinite(split.time[0])
        g_split, _, g_times = grad_all(w_split, None, PARAMS, times, sources)
        g_merged, _, _ = grad_all(w_sum, None, PARAMS, merged_times, merged_sources)
        assert np.all(np.isfinite(g_split)) and np.all(np.isfinite(g_times))
        # d/dw of either tied input equals d/dw of their sum
        np.testing.assert_allclose(g_split[0], g_merged[0], rtol=1e-10)
        np.testing.assert_allclose(g_split[1], g_merged[0], rtol=1e-10)


fast_times = jax.jit(lambda w, t, s: ttfs_spike_times(w, PARAMS, Spikes(t, s), T_MAX))


def test_input_at_the_exact_crossing_time_comes_after_the_crossing():
    with jax.enable_x64(True):
        w = jnp.asarray([[5.0, 0.0], [-20.0, 0.0]])
        t_spike = run(w, None, PARAMS, *spikes([1e-3], [0])).time[0]
        assert np.isfinite(t_spike)
        # strong inhibition arriving exactly at the crossing time cannot veto the spike
        tied = spikes([1e-3, t_spike], [0, 1])
        out = run(w, None, PARAMS, *tied)
        assert out.time[0] == t_spike and np.isinf(out.time[1])
        assert fast_times(w, *tied)[0] == t_spike
        # a hair earlier, it does
        early = run(w, None, PARAMS, *spikes([1e-3, t_spike - 1e-9], [0, 1]))
        assert np.isinf(early.time[0])


def test_silent_neurons_give_inf_and_finite_gradients():
    with jax.enable_x64(True):
        w = jnp.asarray([[0.1, 5.0], [0.2, 0.0]])
        times, sources = spikes([1e-3, 2e-3, 3e-3, 4e-3], [0, 1, 0, 1])
        out = run(w, None, PARAMS, times, sources)
        silent, active = trains(out)
        assert len(silent) == 0 and len(active) >= 1
        assert np.all(np.isinf(np.asarray(out.time)[len(active) :]))
        g_w, _, g_t = grad_all(w, None, PARAMS, times, sources)
        assert np.all(np.isfinite(g_w)) and np.all(np.isfinite(g_t))
        np.testing.assert_array_equal(g_w[:, 0], 0.0)  # the silent neuron has no influence
        assert np.all(g_w[0, 1] < 0)

        def masked_first_times(w):
            t = ttfs_spike_times(w, PARAMS, Spikes(times, sources), T_MAX)
            return jnp.sum(jnp.where(jnp.isfinite(t), t, 0.0))

        g_fast = jax.jit(jax.grad(masked_first_times))(w)
        assert np.all(np.isfinite(g_fast))
        np.testing.assert_array_equal(g_fast[:, 0], 0.0)


STRONG = jnp.asarray([[40.0, 0.0], [0.0, 0.0]])  # neuron 0 fires repeatedly


def test_refractory_period_is_honoured():
    with jax.enable_x64(True):
        params = PARAMS._replace(t_refrac=4e-3)
        inputs = spikes([0.0], [0])
        free = trains(run(STRONG, None, PARAMS, *inputs))[0]
        held = trains(run(STRONG, None, params, *inputs))[0]
        assert np.min(np.diff(free)) < 4e-3 <= np.min(np.diff(held)) and len(held) >= 2
        assert free[0] == held[0]
        assert len(held) < len(free)


def test_overflow_is_counted_never_silent():
    with jax.enable_x64(True):
        inputs = spikes([0.0], [0])
        full = run(STRONG, None, PARAMS, *inputs)
        assert int(full.dropped) == 0
        assert int(np.isfinite(full.time).sum()) >= 6
        small = run(STRONG, None, PARAMS, *inputs, max_events=3)
        assert int(small.dropped) >= 1
        np.testing.assert_array_equal(small.time, full.time[:3])
        # the public function reports it too
        result = simulate(np.asarray(STRONG), PARAMS, [0.0], [0], T_MAX, 3)
        assert int(result.dropped) >= 1
        # and the count accumulates through a network of layers
        layer = LIF(2, PARAMS, T_MAX, max_events=3)
        net = serial(layer, layer)
        out = jax.jit(net.apply)(({"weights": STRONG}, {"weights": STRONG}), Spikes(*inputs))
        assert int(out.dropped) >= 2


GOOD = {
    "weights": np.ones((2, 3)),
    "params": PARAMS,
    "input_times": [1e-3, 2e-3],
    "input_sources": [0, 1],
    "t_max": T_MAX,
    "max_events": 8,
}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"weights": np.array([[1.0, np.nan, 0.0], [0.0, 0.0, 0.0]])}, "weights"),
        ({"weights": np.array([[1.0, np.inf, 0.0], [0.0, 0.0, 0.0]])}, "weights"),
        ({"weights": np.ones(3)}, "weights must be a 2-D"),
        ({"input_times": [2e-3, 1e-3]}, "input_times must be sorted"),
        ({"input_times": [-1e-3, 1e-3]}, "input_times must be >= 0"),
        ({"input_times": [np.nan, 1e-3]}, "input_times contains NaN"),
        ({"input_times": [[1e-3, 2e-3]]}, "input_times must be a 1-D"),
        ({"input_sources": [0, 1, 1]}, "input_sources has 3 entries"),
        ({"input_sources": [0, 2]}, r"input_sources must lie in \[0, 2\)"),
        ({"input_sources": [-1, 0]}, "input_sources must lie"),
        ({"input_sources": [0.0, 1.0]}, "input_sources must be integers"),
        ({"params": PARAMS._replace(tau_mem=0.0)}, "params.tau_mem"),
        ({"params": PARAMS._replace(tau_syn=-1e-3)}, "params.tau_syn"),
        ({"t_max": 0.0}, "t_max"),
        ({"t_max": np.inf}, "t_max"),
        ({"max_events": 0}, "max_events"),
        ({"params": PARAMS._replace(v_th=np.ones(2))}, "params.v_th must be a scalar"),
        ({"max_events": 2.5}, "max_events"),
        ({"recurrent_weights": np.ones((2, 2))}, r"recurrent_weights must have shape \(3, 3\)"),
        ({"recurrent_weights": np.full((3, 3), np.nan)}, "recurrent_weights"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_argument(change, match):
    with pytest.raises(ValueError, match=match):
        simulate(**{**GOOD, **change})


def test_valid_call_and_padding_are_accepted():
    result = simulate(**GOOD)
    assert result.times.shape == (8,) and result.neurons.dtype == jnp.int32
    padded = simulate(**{**GOOD, "input_times": [1e-3, np.inf], "input_sources": [0, -1]})
    assert int(padded.dropped) == 0


# forward-only simulation (the EventProp forward pass): a while_loop that stops at the last
# event must give the scan's spikes and counts, also under vmap where the samples of a batch
# need different numbers of steps, with ties, refractoriness and overflow
@partial(jax.jit, static_argnames=("max_events", "differentiable"))
def run_batch(w_in, w_rec, params, times, sources, max_events, differentiable):
    plan = SolverPlan(crossing="double")

    def one(t, s):
        return simulate_population(
            w_in, w_rec, params, Spikes(t, s), T_MAX, max_events, plan, differentiable
        )

    return jax.vmap(one)(times, sources)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    t_refrac=st.sampled_from([0.0, 0.3 * TAU_SYN, T_MAX]),
    max_events=st.sampled_from([3, 24]),
)
def test_forward_only_simulation_gives_the_scans_spikes(seed, t_refrac, max_events):
    rng = np.random.default_rng(seed)
    n_in, n, batch, k = 3, 4, 6, 8
    with jax.enable_x64(True):
        w_in = jnp.asarray(rng.normal(1.0, 1.5, (n_in, n)) * (np.pi / 3))
        w_rec = jnp.asarray(rng.normal(0.0, 1.0, (n, n)) * (np.pi / 3))
        grid = np.arange(0, 9) * (T_MAX / 16)  # coarse: ties between input spikes are frequent
        times = np.sort(rng.choice(grid, (batch, k)), axis=1)
        times[: batch // 2, k // 2 :] = np.inf  # half of the samples have fewer inputs
        sources = np.where(np.isfinite(times), rng.integers(0, n_in, (batch, k)), -1)
        params = PARAMS._replace(t_refrac=t_refrac)
        args = (w_in, w_rec, params, jnp.asarray(times), jnp.asarray(sources, jnp.int32))
        scan = run_batch(*args, max_events=max_events, differentiable=True)
        loop = run_batch(*args, max_events=max_events, differentiable=False)
        # the same events; the last bits may differ between the two compiled loops
        np.testing.assert_allclose(loop.time, scan.time, rtol=1e-12)
        np.testing.assert_array_equal(loop.dropped, scan.dropped)
        for j in range(n):
            np.testing.assert_array_equal(
                np.sum(loop.idx == j, axis=1), np.sum(scan.idx == j, axis=1)
            )


def test_batched_forward_loop_gives_each_sample_its_own_run(monkeypatch):
    """Under ``vmap`` the forward-only loop is one loop over the batch (its ``custom_vmap``
    rule) that masks the samples whose events are done: each sample gets the spikes, neurons
    and ``dropped`` of its own unbatched run -- with shared weights, with per-sample weights,
    under two nested ``vmap`` s, beside a sample without input and one that fires without end
    until the (lowered) count limit stops it."""
    monkeypatch.setattr(step_module, "COUNT_LIMIT", 7)
    params = PARAMS._replace(t_refrac=0.0)
    plan = SolverPlan(crossing="double")
    rng = np.random.default_rng(4)
    n_in, n, batch, k = 3, 4, 5, 6

    def one(w_in, w_rec, times, sources):
        inputs = Spikes(times, sources)
        return simulate_population(w_in, w_rec, params, inputs, T_MAX, 5, plan, False)

    with jax.enable_x64(True):
        w_in = rng.normal(1.0, 1.5, (batch, n_in, n)) * (np.pi / 3)
        w_in[0] = 0.0
        w_in[1, :, 2] = 1e9  # fires without end: time no longer advances
        w_rec = rng.normal(0.0, 1.0, (batch, n, n)) * (np.pi / 3)
        times = np.sort(rng.uniform(0, T_MAX / 2, (batch, k)), axis=1)
        times[2, 3:] = np.inf
        sources = np.where(np.isfinite(times), rng.integers(0, n_in, (batch, k)), -1)
        times[0], sources[0] = np.inf, -1  # no input at all
        args = [jnp.asarray(a) for a in (w_in, w_rec, times, sources.astype(np.int32))]
        runs = {
            "per-sample weights": jax.jit(jax.vmap(one))(*args),
            "shared weights": jax.jit(jax.vmap(one, in_axes=(None, None, 0, 0)))(
                args[0][3], args[1][3], *args[2:]
            ),
            "nested": jax.jit(jax.vmap(jax.vmap(one)))(*(a[None] for a in args)),
        }
        for name, out in runs.items():
            for b in range(batch):
                w = (
                    (args[0][3], args[1][3])
                    if name == "shared weights"
                    else (args[0][b], args[1][b])
                )
                alone = jax.jit(one)(*w, args[2][b], args[3][b])
                np.testing.assert_array_equal(
                    np.asarray(out.idx).reshape(batch, -1)[b], alone.idx, name
                )
                np.testing.assert_allclose(
                    np.asarray(out.time).reshape(batch, -1)[b], alone.time, rtol=1e-12, err_msg=name
                )
                assert int(np.asarray(out.dropped).reshape(batch)[b]) == int(alone.dropped), name
        counts = np.asarray(runs["per-sample weights"].dropped)
        assert counts[1] >= 7 and counts[0] == 0  # the limit stopped the endless sample
        assert np.sum(np.asarray(runs["per-sample weights"].idx) >= 0) >= 10


@pytest.mark.parametrize("ratio", [1.0, 2.0, 1.37])
@pytest.mark.parametrize("differentiable", [True, False])
def test_identical_neurons_keep_exact_ties_after_resets(ratio, differentiable):
    """Two neurons with equal weights spike at bit-identical times, every spike, on both
    paths (a specialised propagation once split such ties in the last bit)."""
    params = LIFParameters(tau_mem=ratio * TAU_SYN, tau_syn=TAU_SYN, v_reset=-0.2, v_leak=-0.1)
    with jax.enable_x64(True):
        w = np.random.default_rng(1).normal(1.5, 1.0, (4, 4))
        w[:, 1] = w[:, 0]
        inputs = Spikes(
            jnp.asarray([1e-3, 1e-3, 2e-3, 2e-3, 2e-3, 5e-3]),
            jnp.asarray([0, 1, 2, 0, 3, 1], jnp.int32),
        )
        run = jax.jit(
            lambda w: simulate_population(w, None, params, inputs, T_MAX, 30, None, differentiable)
        )
        out = run(jnp.asarray(w))
        times, idx = np.asarray(out.time), np.asarray(out.idx)
        assert np.sum(idx == 0) >= 3 and int(out.dropped) == 0
        np.testing.assert_array_equal(times[idx == 0], times[idx == 1])
