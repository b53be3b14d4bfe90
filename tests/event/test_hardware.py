"""The hardware layer: the mapping, each artifact of the mock chip, and the mock against the
software simulation with every artifact off."""

import json
import subprocess
import sys
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.event.eventprop import eventprop_backward
from jaxsnn.event.eventprop.layered import layered_backward
from jaxsnn.event.hardware import (
    CLOCK_PERIOD,
    INPUT,
    Artifacts,
    MockBackend,
    NetworkMapping,
    add_jitter,
    cap_readout,
    hardware_weights,
    mismatched_parameters,
    quantize_times,
    quantize_weights,
    synapse_rows,
)
from jaxsnn.event.leaky_integrate_and_fire import (
    LIF,
    HardwareRecurrentLIF,
    RecurrentLIF,
    hardware_gradient,
)
from jaxsnn.event.models import sample_gradient_by_blocks
from jaxsnn.event.step import simulate_population
from jaxsnn.event.tasks.hardware import yinyang_mock
from jaxsnn.event.types import Spikes, compact_spikes, merge_sorted, sort_spikes
from jaxsnn.neuron import LIFParameters

TAU_SYN, TAU_MEM = 6e-6, 12e-6
T_MAX = 10 * TAU_SYN
ONCE = LIFParameters(tau_mem=TAU_MEM, tau_syn=TAU_SYN, t_refrac=2 * T_MAX)


def layered_network(seed, sizes=(10, 3), n_inputs=5):
    mapping = NetworkMapping.layered(n_inputs, list(sizes))
    rng = np.random.default_rng(seed)
    weights = {
        key: rng.normal(3.0 / shape[0], 1.5 / np.sqrt(shape[0]), shape) * 4.0
        for key, shape in mapping.weight_shapes().items()
    }
    return mapping, weights


def input_spikes(seed, n_inputs=5, n_spikes=8, dtype=jnp.float64):
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0.0, 3 * TAU_SYN, n_spikes))
    return Spikes(jnp.asarray(times, dtype), jnp.asarray(rng.integers(0, n_inputs, n_spikes)))


# --- mapping ----------------------------------------------------------------------------------


def test_mapping_places_populations_and_projections():
    mapping, weights = layered_network(0)
    weights = {key: w.astype(np.float32) for key, w in weights.items()}
    assert mapping.populations == (("hidden", 10), ("output", 3))
    assert mapping.projections == ((INPUT, "hidden"), ("hidden", "output"))
    assert mapping.size == 13 and mapping.is_layered
    assert mapping.neurons("output") == slice(10, 13)
    w_in, w_rec = mapping.to_hardware(weights)
    assert w_in.shape == (5, 13) and w_rec.shape == (13, 13)
    np.testing.assert_array_equal(w_in[:, :10], weights[(INPUT, "hidden")])
    np.testing.assert_array_equal(w_rec[:10, 10:], weights[("hidden", "output")])
    assert np.count_nonzero(w_in[:, 10:]) == 0 and np.count_nonzero(w_rec[:, :10]) == 0
    back = mapping.from_hardware(w_in, w_rec)
    for key, value in weights.items():
        np.testing.assert_array_equal(back[key], value)
    mask_in, mask_rec = mapping.masks()
    assert float(mask_in.sum()) == 50 and float(mask_rec.sum()) == 30


def test_mapping_splits_recorded_spikes_per_population():
    mapping, _ = layered_network(0)
    recorded = Spikes(
        jnp.array([1e-6, 2e-6, 2e-6, 3e-6, jnp.inf]), jnp.array([11, 0, 9, 12, -1]), jnp.int32(2)
    )
    split = mapping.split_spikes(recorded)
    assert list(np.asarray(split["hidden"].idx)) == [0, 9, -1, -1, -1]
    assert list(np.asarray(split["output"].idx)) == [1, 2, -1, -1, -1]
    np.testing.assert_array_equal(split["output"].time[:2], recorded.time[jnp.array([0, 3])])
    assert int(split["hidden"].dropped) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"populations": (("a", 400), ("b", 200))}, "chip has 512"),
        ({"projections": (("a", INPUT),)}, "nothing projects into the input"),
        ({"projections": ((INPUT, "c"),)}, "unknown target"),
        ({"projections": (("c", "a"),)}, "unknown source"),
        ({"populations": (("a", 3), ("a", 2))}, "unique"),
        ({"populations": (("a", 0),)}, "at least one neuron"),
        ({"n_inputs": 0}, "n_inputs"),
    ],
)
def test_bad_mappings_are_clear_errors(kwargs, match):
    arguments = {"n_inputs": 4, "populations": (("a", 3),), "projections": ((INPUT, "a"),)}
    with pytest.raises(ValueError, match=match):
        NetworkMapping(**{**arguments, **kwargs})


def test_recurrent_projection_is_not_layered():
    mapping = NetworkMapping(3, (("a", 4), ("b", 2)), ((INPUT, "a"), ("a", "b"), ("b", "a")))
    assert not mapping.is_layered
    with pytest.raises(ValueError, match="shape"):
        mapping.to_hardware(
            {(INPUT, "a"): np.ones((3, 4)), ("a", "b"): np.ones((4, 2)), ("b", "a"): np.ones(3)}
        )


def test_synapse_rows_split_sign():
    rows, magnitude = synapse_rows(jnp.array([0, 0, 3]), jnp.array([5.0, -7.0, 0.0]))
    assert list(np.asarray(rows)) == [0, 1, 6]
    assert list(np.asarray(magnitude)) == [5.0, 7.0, 0.0]


# --- artifacts --------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [4, 6])
def test_weights_take_at_most_2_wmax_plus_1_values_and_saturate(bits):
    w_max, scale = 2**bits - 1, 50.0
    w = jnp.linspace(-3.0, 3.0, 20001)
    q = np.asarray(quantize_weights(w, scale, bits))
    assert len(np.unique(q)) == 2 * w_max + 1
    assert q.max() == pytest.approx(w_max / scale) and q.min() == pytest.approx(-w_max / scale)
    inside = np.abs(np.asarray(w)) < w_max / scale
    assert np.max(np.abs(q[inside] - np.asarray(w)[inside])) <= 0.5 / scale * (1 + 1e-5)
    integers = np.asarray(hardware_weights(w, scale, bits))
    np.testing.assert_array_equal(integers, np.round(integers))
    artifacts = Artifacts(weight_bits=bits, weight_scale=scale)
    assert artifacts.weight_range == pytest.approx(q.max())  # what the task clips to
    assert replace(artifacts, weight_bits=None).weight_range is None


def test_compact_spikes_is_a_stable_partition_of_a_sorted_list():
    rng = np.random.default_rng(3)
    time = np.sort(rng.uniform(0, 1, (4, 12)), axis=1)
    time[:, 9:] = np.inf
    time[:, 2] = time[:, 3]  # a tie
    idx = np.where(np.isfinite(time), rng.integers(0, 6, (4, 12)), -1)
    keep = (idx >= 2) & (idx < 5)
    got = compact_spikes(time, idx, keep)
    want = sort_spikes(np.where(keep, time, np.inf), np.where(keep, idx, -1), 12)
    np.testing.assert_array_equal(got.time, want.time)
    np.testing.assert_array_equal(got.idx, want.idx)
    weights = jnp.arange(12.0)

    def weighted(t):
        kept = compact_spikes(t, idx, keep).time
        return jnp.sum(jnp.where(jnp.isfinite(kept), kept, 0.0) * weights)

    grad = np.asarray(jax.grad(weighted)(jnp.asarray(time[0])[None].repeat(4, 0)))
    assert np.all(grad[~keep] == 0) and np.all(grad[keep & np.isfinite(time)] >= 0)
    rank = np.cumsum(keep, axis=1) - 1
    np.testing.assert_array_equal(grad[keep], rank[keep])  # d/dt_m = weight of its new place


@pytest.mark.parametrize("sizes", [(12, 5), (3, 40), (0, 4), (300, 300)])
def test_merge_sorted_is_a_stable_sort_of_the_concatenation(sizes):
    """Two sorted lists with ties inside and between them (clock read-outs), padding last:
    the merge equals the stable sort of their concatenation, cut or padded to ``size``, with
    the dropped counts added."""
    rng = np.random.default_rng(sum(sizes))
    lists = []
    for n, dropped in zip(sizes, (2, 3), strict=True):
        time = np.sort(np.floor(rng.uniform(0, 20, n)))  # integer times: many ties
        time[n - n // 4 :] = np.inf
        idx = np.where(np.isfinite(time), rng.integers(0, 50, n), -1)
        lists.append(Spikes(jnp.asarray(time), jnp.asarray(idx, jnp.int32), jnp.int32(dropped)))
    total = sum(sizes)
    for size in (None, total // 2, total + 3):
        got = merge_sorted(*lists, size=size)
        want = sort_spikes(
            np.concatenate([s.time for s in lists]), np.concatenate([s.idx for s in lists]), size
        )
        np.testing.assert_array_equal(got.time, want.time)
        np.testing.assert_array_equal(got.idx, want.idx)
        assert int(got.dropped) == 5


def test_read_out_times_are_multiples_of_the_clock():
    with jax.enable_x64(True):
        times = jnp.sort(jax.random.uniform(jax.random.PRNGKey(0), (50,), maxval=T_MAX))
        spikes = Spikes(jnp.concatenate([times, jnp.full(3, jnp.inf)]), jnp.arange(53) % 7)
        spikes = spikes._replace(idx=jnp.where(jnp.isfinite(spikes.time), spikes.idx, -1))
        read = quantize_times(spikes)
        cycles = np.asarray(read.time[:50]) / CLOCK_PERIOD
        np.testing.assert_allclose(cycles, np.round(cycles), rtol=0, atol=1e-6)
        assert np.all(np.asarray(read.time[:50]) <= np.asarray(times))
        assert np.all(np.asarray(times) - np.asarray(read.time[:50]) < CLOCK_PERIOD)
        assert np.all(np.isinf(read.time[50:])) and np.all(np.diff(cycles) >= 0)


def test_jitter_has_the_requested_sigma_and_bias():
    with jax.enable_x64(True):
        n = 20000
        times = jnp.full((n,), 30e-6)
        spikes = Spikes(times, jnp.zeros(n, jnp.int32))
        sigma, bias = 1e-7, 2e-7
        jittered = add_jitter(spikes, jax.random.PRNGKey(3), sigma, bias)
        shift = np.asarray(jittered.time) - 30e-6
        assert abs(shift.mean() - bias) < 4 * sigma / np.sqrt(n)
        assert abs(shift.std() / sigma - 1.0) < 0.03
        assert np.all(np.diff(np.asarray(jittered.time)) >= 0)  # re-sorted
        again = add_jitter(spikes, jax.random.PRNGKey(4), sigma, bias)
        assert not np.array_equal(again.time, jittered.time)  # trial to trial


def test_mismatch_is_fixed_per_chip_and_differs_between_chips():
    a = mismatched_parameters(ONCE, 512, 1, 0.05, 0.05, 0.05)
    b = mismatched_parameters(ONCE, 512, 1, 0.05, 0.05, 0.05)
    c = mismatched_parameters(ONCE, 512, 2, 0.05, 0.05, 0.05)
    for field in ("tau_mem", "tau_syn", "v_th"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert not np.array_equal(getattr(a, field), getattr(c, field))
    spread = np.asarray(a.tau_mem) / TAU_MEM - 1.0
    assert abs(spread.std() - 0.05) < 0.01 and abs(spread.mean()) < 0.01
    assert np.all(np.asarray(a.t_refrac) == 2 * T_MAX)


def test_readout_cap_drops_and_counts():
    spikes = Spikes(jnp.array([1.0, 2.0, 3.0, 4.0, jnp.inf]), jnp.array([0, 1, 2, 0, -1]))
    capped = cap_readout(spikes, 2)
    assert list(np.asarray(capped.idx)) == [0, 1, -1, -1, -1]
    assert int(capped.dropped) == 2
    assert int(cap_readout(spikes, 10).dropped) == 0


# --- the mock against the software simulation ---------------------------------------------------


@pytest.mark.parametrize("once", [True, False])
def test_mock_with_every_artifact_off_is_the_software_simulation(once):
    """Layer by layer (fast path, or stepping with several spikes per neuron) equals the
    hardware population simulated event by event (float64)."""
    params = ONCE if once else ONCE._replace(t_refrac=0.5 * TAU_SYN)
    with jax.enable_x64(True):
        mock_run = jax.jit(
            lambda m, w_in, w_rec, inputs: m(w_in, w_rec, params, inputs, T_MAX, 100),
            static_argnums=0,
        )
        software_run = jax.jit(
            lambda w_in, w_rec, inputs: simulate_population(w_in, w_rec, params, inputs, T_MAX, 100)
        )
        for seed in range(3):
            mapping, weights = layered_network(seed)
            w_in, w_rec = mapping.to_hardware(weights)
            inputs = input_spikes(seed)
            mock = MockBackend(mapping, params, T_MAX, Artifacts.off())
            got = mock_run(mock, w_in, w_rec, inputs)
            ref = software_run(w_in, w_rec, inputs)
            assert int(got.dropped) == 0 and int(ref.dropped) == 0
            assert int(jnp.sum(ref.idx >= 0)) >= 5
            np.testing.assert_array_equal(got.idx, ref.idx)
            finite = np.isfinite(np.asarray(ref.time))
            np.testing.assert_allclose(got.time[finite], ref.time[finite], rtol=1e-12)


def test_mock_artifacts_change_spikes_as_configured():
    with jax.enable_x64(True):
        mapping, weights = layered_network(1)
        w_in, w_rec = mapping.to_hardware(weights)
        inputs = input_spikes(1)
        key = jax.random.PRNGKey(0)
        clocked = MockBackend(
            mapping, ONCE, T_MAX, replace(Artifacts.off(), clock_period=CLOCK_PERIOD)
        )
        out = clocked(w_in, w_rec, ONCE, inputs, T_MAX, 13)
        valid = np.asarray(out.idx) >= 0
        cycles = np.asarray(out.time)[valid] / CLOCK_PERIOD
        np.testing.assert_allclose(cycles, np.round(cycles), atol=1e-6)
        default = MockBackend(mapping, ONCE, T_MAX)
        with pytest.raises(ValueError, match="key"):
            default(w_in, w_rec, ONCE, inputs, T_MAX, 13)
        a = default(w_in, w_rec, ONCE, inputs, T_MAX, 13, key=key)
        b = default(w_in, w_rec, ONCE, inputs, T_MAX, 13, key=jax.random.PRNGKey(1))
        assert not np.array_equal(a.time, b.time)  # jitter differs from trial to trial
        run = default.run(w_in, w_rec, jax.tree.map(lambda x: x[None], inputs), key)
        assert run.spikes.time.shape == (1, 13)
        assert set(run.diagnostics) == {"hidden_spikes", "output_spikes"}
        unsorted = sort_spikes(run.spikes.time[0], run.spikes.idx[0])
        np.testing.assert_array_equal(unsorted.time, run.spikes.time[0])


# --- hardware in the loop -----------------------------------------------------------------------


def weighted_times(spikes, n):
    c = jnp.linspace(0.5, 1.5, n)
    valid = spikes.idx >= 0
    return jnp.sum(jnp.where(valid, spikes.time * c[jnp.maximum(spikes.idx, 0)], 0.0)) / TAU_SYN


def test_in_the_loop_gradients_with_every_artifact_off_equal_software_eventprop():
    """All artifacts off: HardwareRecurrentLIF on the mock gives the software population's
    spikes and EventProp gradient (float64, 1e-10), for the network the mapping places (its
    weights times the mapping's masks, as in training: the mock's spikes do not depend on the
    weights the layering leaves out, so both gradients are zero there)."""
    with jax.enable_x64(True):
        mapping, weights = layered_network(2)
        w = dict(
            zip(("input_weights", "recurrent_weights"), mapping.to_hardware(weights), strict=True)
        )
        inputs = input_spikes(2)
        mock = MockBackend(mapping, ONCE, T_MAX, Artifacts.off())
        in_the_loop = HardwareRecurrentLIF(13, ONCE, T_MAX, mock, max_events=13)
        software = RecurrentLIF(13, ONCE, T_MAX, max_events=13, gradient="eventprop")

        masks = dict(zip(w, mapping.masks(), strict=True))

        def placed(w):
            return {name: w[name] * masks[name] for name in w}

        def gradient(layer):
            loss = lambda w: weighted_times(layer.apply(placed(w), inputs), 13)  # noqa: E731
            return jax.jit(jax.grad(loss))(w)

        g_hw, g_sw = gradient(in_the_loop), gradient(software)
        for name in w:
            scale = float(np.max(np.abs(g_sw[name])))
            assert scale > 0
            np.testing.assert_allclose(g_hw[name], g_sw[name], rtol=1e-10, atol=1e-10 * scale)
        with pytest.raises(ValueError, match="population size"):
            HardwareRecurrentLIF(12, ONCE, T_MAX, mock)


def test_layered_backward_equals_the_event_scan_on_chip_spikes():
    """The closed-form per-population adjoint of a layered hardware network (every neuron
    spiking once) gives the event-by-event scan's gradients at the mock's spikes -- clocked
    (a coarse 0.5 us clock, so that ties abound), jittered, 6-bit weights -- for three
    layers (float64, 1e-10); HardwareRecurrentLIF takes it for such a mapping only."""
    with jax.enable_x64(True):
        mapping, weights = layered_network(1, sizes=(8, 6, 3))
        w_in, w_rec = mapping.to_hardware({k: 1.5 * w for k, w in weights.items()})
        inputs = input_spikes(4)
        clock = 5e-7
        inputs = Spikes(jnp.round(inputs.time / clock) * clock, inputs.idx)
        mock = MockBackend(mapping, ONCE, T_MAX, replace(Artifacts(), clock_period=clock))
        outputs = mock(w_in, w_rec, ONCE, inputs, T_MAX, mapping.size, key=jax.random.key(5))
        fired = np.asarray(outputs.idx) >= 0
        times = np.asarray(outputs.time)[fired]
        assert len(np.unique(times)) < len(times)  # ties on the clock
        counts = mapping.spike_counts(outputs)
        assert all(int(c) > 0 for c in counts.values()), counts  # every population spikes
        cotangent = jnp.asarray(np.random.default_rng(0).normal(size=mapping.size))
        populations = [mapping.neurons(name) for name, _ in mapping.populations]
        args = (w_in, w_rec, ONCE, inputs, outputs, cotangent, T_MAX)
        layered = jax.jit(layered_backward(populations))(*args)
        scan = jax.jit(eventprop_backward)(*args)
        # the weights the layering places: from the inputs or an earlier population (rows of
        # [W_in; W_rec] below each population's first neuron); the others get a zero gradient
        rows = np.arange(mapping.n_inputs + mapping.size)[:, None]
        starts = np.concatenate([np.full(c.stop - c.start, c.start) for c in populations])
        placed = rows < mapping.n_inputs + starts[None, :]
        placed = (placed[: mapping.n_inputs], placed[mapping.n_inputs :], True)
        for a, b, where in zip(scan, layered, placed, strict=True):
            scale = float(np.max(np.abs(a)))
            assert scale > 0
            np.testing.assert_allclose(b, np.where(where, a, 0.0), rtol=1e-10, atol=1e-10 * scale)
        assert np.any(np.asarray(scan[1])[~placed[1]] != 0)  # unplaced: the scan's is not 0
        with pytest.raises(ValueError, match="contiguous"):
            layered_backward([slice(0, 8), slice(9, 17)])
        assert hardware_gradient(mock, ONCE, T_MAX).backward is not None
        assert hardware_gradient(mock, ONCE._replace(t_refrac=0.0), T_MAX).backward is None


def test_clock_ties_give_finite_gradients_equal_to_finite_differences():
    """Read-out times on the 8 ns clock make exact ties routine: inputs on the clock (with
    simultaneous spikes) give finite EventProp gradients that equal central finite
    differences of the software model fed those clocked spikes (float64)."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(7)
        cycles = np.sort(rng.integers(0, 2000, 10))
        cycles[3] = cycles[2]  # a tie between two inputs
        cycles[7] = cycles[6]
        inputs = Spikes(jnp.asarray(cycles * CLOCK_PERIOD), jnp.asarray(rng.integers(0, 4, 10)))
        layer = LIF(5, ONCE._replace(t_refrac=0.0), T_MAX, max_events=20, gradient="eventprop")
        w = {"weights": jnp.asarray(rng.normal(1.5, 1.0, (4, 5)))}

        def loss(w):
            return weighted_times(layer.apply(w, inputs), 5)

        grad = np.asarray(jax.jit(jax.grad(loss))(w)["weights"])
        assert np.all(np.isfinite(grad)) and np.max(np.abs(grad)) > 0
        f = jax.jit(loss)
        step = 1e-7
        for _ in range(3):
            d = {"weights": jnp.asarray(rng.normal(size=(4, 5)))}
            plus = f(jax.tree.map(lambda a, b: a + step * b, w, d))
            minus = f(jax.tree.map(lambda a, b: a - step * b, w, d))
            fd = (float(plus) - float(minus)) / (2 * step)
            np.testing.assert_allclose(np.vdot(grad, d["weights"]), fd, rtol=1e-5)


@pytest.mark.slow
def test_mock_task_trains_and_chip_task_fails_cleanly(tmp_path):
    out = tmp_path / "mock"
    metrics = yinyang_mock.main(
        ["--epochs", "2", "--hidden", "20", "--output", str(out), "--quiet"]
    )
    # above chance (1/3; 0.40 is 4.5 standard errors above it on the 1000 test samples), and
    # the training loss falls
    assert metrics["completed"] and metrics["test_accuracy"] > 0.40
    losses = [epoch["train_loss"] for epoch in metrics["history"]]
    assert losses[-1] < 0.75 * losses[0], losses
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["config"]["task_config"]["jitter"] == 1e-7
    chip = subprocess.run(
        [sys.executable, "-m", "jaxsnn.event.tasks.hardware.yinyang", "--epochs", "1"],
        capture_output=True,
        text=True,
    )
    assert chip.returncode == 2
    assert "Traceback" not in chip.stderr and len(chip.stderr.strip().splitlines()) == 1
    assert "pynn_brainscales" in chip.stderr and "yinyang_mock" in chip.stderr


@pytest.mark.slow
def test_gradient_by_blocks_equals_the_gradient_of_the_hardware_matrices():
    """sample_gradient_by_blocks only moves the batch sum of the weight gradient to the
    mapping's blocks: same loss gradient (float64, 1e-12) on a jittered, clocked mock."""
    with jax.enable_x64(True):
        mapping, weights = layered_network(3)
        mock = MockBackend(mapping, ONCE, T_MAX)
        layer = HardwareRecurrentLIF(13, ONCE, T_MAX, mock, max_events=13)
        samples = [input_spikes(seed) for seed in range(4)]
        batch = Spikes(jnp.stack([s.time for s in samples]), jnp.stack([s.idx for s in samples]))
        keys = jax.random.split(jax.random.key(7), 4)

        def apply(blocks, inputs, key):
            w_in, w_rec = mapping.to_hardware(blocks)
            return layer.apply({"input_weights": w_in, "recurrent_weights": w_rec}, inputs, key=key)

        def loss(blocks, apply):
            spikes = jax.vmap(lambda s, k: apply(blocks, s, k))(batch, keys)
            return jnp.sum(jax.vmap(lambda s: weighted_times(s, 13))(spikes))

        direct = jax.jit(jax.grad(lambda b: loss(b, apply)))(weights)
        by_blocks = jax.jit(jax.grad(lambda b: loss(b, sample_gradient_by_blocks(apply))))(weights)
        for key in weights:
            scale = float(np.max(np.abs(direct[key])))
            assert scale > 0
            np.testing.assert_allclose(by_blocks[key], direct[key], rtol=1e-12, atol=1e-12 * scale)


def test_hardware_tasks_do_not_offer_the_feed_forward_only_options(capsys):
    """The hardware tasks train the recurrent population: ``--input-jitter`` and
    ``--hidden-jitter`` (feed-forward network only) are not among their options, so the
    command line refuses them."""
    parser = yinyang_mock.parser()
    assert "--hidden " in parser.format_help()
    for flag in ("--input-jitter", "--hidden-jitter"):
        assert flag not in parser.format_help()
        with pytest.raises(SystemExit):
            parser.parse_args([flag, "1e-3"])
        assert f"unrecognized arguments: {flag}" in capsys.readouterr().err
