"""Every bad spike gets a clear answer (jaxsnn.event.checks), never a plausible wrong one.

Each kind of bad input -- unsorted times, NaN, +inf that is not padding, negative times,
sources out of range, non-finite weights -- to ``simulate`` and to every layer (``LIF``,
``RecurrentLIF``, ``TTFSLIF``, each with ``gradient="implicit"`` and ``"eventprop"``):

* eagerly (concrete values): a ``ValueError`` naming the argument;
* traced under ``checks.checked``: the same message from ``checkify``;
* traced with checks off: an output marked invalid (NaN times, ``types.is_invalid``);

and a hypothesis property: random malformed inputs either give the result of the sanitised
input or raise a ``ValueError`` that names a broken argument -- no other exception.
Also: ``v_leak >= v_th`` (tonic firing) warns, and the encoder checks a data set once.
"""

import re
import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from jax.experimental import checkify
from lif_reference import TAU_SYN

from jaxsnn.encoding import LatencyEncoder
from jaxsnn.event import checks, models, simulate
from jaxsnn.event.leaky_integrate_and_fire import LIF, TTFSLIF, RecurrentLIF
from jaxsnn.event.step import simulate_population
from jaxsnn.event.ttfs import ttfs_first_spikes
from jaxsnn.event.types import Spikes, is_invalid
from jaxsnn.neuron import LIFParameters

T_MAX = 8 * TAU_SYN
PARAMS = LIFParameters(tau_mem=2 * TAU_SYN, tau_syn=TAU_SYN, v_leak=-0.1, v_reset=-0.2)
N_IN, N, MAX_EVENTS = 3, 4, 12
RNG = np.random.default_rng(0)
# irrational scale: no exactly grazing trajectories (see test_ttfs)
W_IN = RNG.normal(1.5, 1.0, (N_IN, N)) * (np.pi / 3)
W_REC = RNG.normal(0.0, 0.5, (N, N)) * (np.pi / 3) * (1 - np.eye(N))

INF, NAN = np.inf, np.nan
GOOD = ([1e-3, 2e-3, 2e-3, 4e-3, INF], [0, 2, 1, 0, -1])
# kind: (times, sources, message of the layers' ValueError)
BAD = {
    "unsorted": ([2e-3, 1e-3, 2e-3, 4e-3, INF], GOOD[1], r"spikes\.time must be sorted"),
    "nan": ([1e-3, NAN, 2e-3, 4e-3, INF], GOOD[1], r"spikes\.time contains NaN"),
    "inf_not_padding": ([1e-3, INF, 2e-3, 4e-3, INF], GOOD[1], r"spikes\.time must be sorted"),
    "minus_inf": ([-INF, 2e-3, 2e-3, 4e-3, INF], GOOD[1], r"spikes\.time must be >= 0"),
    "negative": ([-1e-3, 2e-3, 2e-3, 4e-3, INF], GOOD[1], r"spikes\.time must be >= 0"),
    "source_too_large": (GOOD[0], [0, 3, 1, 0, -1], r"spikes\.idx must lie in \[0, 3\)"),
    "source_negative": (GOOD[0], [0, -1, 1, 0, -1], r"spikes\.idx must lie in \[0, 3\)"),
    "padding_source": (GOOD[0], [0, 2, 1, 0, 7], r"spikes\.idx of padding entries"),
}
KINDS = list(BAD)
LAYERS = {"LIF": LIF, "RecurrentLIF": RecurrentLIF, "TTFSLIF": TTFSLIF}


def make_layer(name, gradient):
    if name == "TTFSLIF":
        return TTFSLIF(N, PARAMS, T_MAX, gradient=gradient)
    return LAYERS[name](N, PARAMS, T_MAX, max_events=MAX_EVENTS, gradient=gradient)


def weights_of(name, w_in=W_IN, w_rec=W_REC):
    if name == "RecurrentLIF":
        return {"input_weights": jnp.asarray(w_in), "recurrent_weights": jnp.asarray(w_rec)}
    return {"weights": jnp.asarray(w_in)}


def spikes(times, sources):
    return Spikes(np.asarray(times, np.float32), np.asarray(sources, np.int32))


LAYER_CASES = [(name, g) for name in LAYERS for g in ("implicit", "eventprop")]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("name", "gradient"), LAYER_CASES)
def test_eager_bad_spikes_raise_naming_the_argument(name, gradient, kind):
    times, sources, match = BAD[kind]
    layer = make_layer(name, gradient)
    with pytest.raises(ValueError, match=match):
        layer.apply(weights_of(name), spikes(times, sources))


@pytest.mark.parametrize(("name", "gradient"), LAYER_CASES)
def test_eager_bad_weights_and_shapes_raise_naming_the_argument(name, gradient):
    layer = make_layer(name, gradient)
    good = spikes(*GOOD)
    bad_in = W_IN.copy()
    bad_in[1, 2] = np.nan
    first = "input_weights" if name == "RecurrentLIF" else "weights"
    with pytest.raises(ValueError, match=rf"^{first} contains NaN or inf"):
        layer.apply(weights_of(name, w_in=bad_in), good)
    if name == "RecurrentLIF":
        with pytest.raises(ValueError, match="^recurrent_weights contains NaN or inf"):
            layer.apply(weights_of(name, w_rec=W_REC + np.inf), good)
    batch = Spikes(np.stack([good.time] * 2), np.stack([good.idx] * 2))
    with pytest.raises(ValueError, match=r"spikes\.time must be a 1-D array .*jax\.vmap"):
        layer.apply(weights_of(name), batch)
    with pytest.raises(ValueError, match=r"spikes\.idx has 4 entries"):
        layer.apply(weights_of(name), Spikes(good.time, good.idx[:4]))
    with pytest.raises(ValueError, match=r"spikes\.idx must be integers"):
        layer.apply(weights_of(name), Spikes(good.time, good.idx.astype(np.float32)))


SIMULATE_MATCH = {
    "unsorted": "input_times must be sorted",
    "nan": "input_times contains NaN",
    "inf_not_padding": "input_times must be sorted",
    "minus_inf": "input_times must be >= 0",
    "negative": "input_times must be >= 0",
    "source_too_large": r"input_sources must lie in \[0, 3\)",
    "source_negative": r"input_sources must lie in \[0, 3\)",
    "padding_source": "input_sources of padding entries",
}


@pytest.mark.parametrize("kind", KINDS)
def test_simulate_bad_spikes_raise_naming_the_argument(kind):
    times, sources, _ = BAD[kind]
    with pytest.raises(ValueError, match=SIMULATE_MATCH[kind]):
        simulate(W_IN, PARAMS, times, sources, T_MAX, MAX_EVENTS)
    with pytest.raises(ValueError, match="^weights contains NaN or inf"):
        simulate(W_IN * np.nan, PARAMS, *GOOD, T_MAX, MAX_EVENTS)
    # simulate checks concrete values: inside jit it says so (the layers serve there)
    with pytest.raises(ValueError, match="input_times is traced"):
        jax.jit(lambda t: simulate(W_IN, PARAMS, t, GOOD[1], T_MAX, MAX_EVENTS))(
            jnp.asarray(GOOD[0])
        )


def batch_of(rows):
    times, sources = zip(*rows, strict=True)
    return Spikes(jnp.asarray(times, jnp.float32), jnp.asarray(sources, jnp.int32))


NEXT_LAYER = jax.jit(jax.vmap(TTFSLIF(2, PARAMS, T_MAX).apply, in_axes=(None, 0)))


@pytest.mark.parametrize(("name", "gradient"), LAYER_CASES)
def test_traced_bad_spikes_without_checks_give_an_invalid_output(name, gradient):
    """Checks off (the default): a bad sample's output is all NaN (never a plausible list);
    the good samples of the same batch are untouched; the next layer passes the mark on."""
    layer = make_layer(name, gradient)
    apply = jax.jit(jax.vmap(layer.apply, in_axes=(None, 0)))
    rows = [GOOD] + [BAD[kind][:2] for kind in KINDS]
    reference = apply(weights_of(name), batch_of([GOOD] * len(rows)))
    out = apply(weights_of(name), batch_of(rows))
    marked = np.asarray(is_invalid(out))
    assert not marked[0] and marked[1:].all()
    np.testing.assert_array_equal(out.time[0], reference.time[0])
    np.testing.assert_array_equal(out.idx[0], reference.idx[0])
    assert np.all(np.isnan(out.time[1:]))
    # every neuron of an invalid list appears, so a decoding by neuron sees NaN, not silence
    assert set(np.asarray(out.idx[1]).tolist()) == set(range(N))
    # non-finite weights: every sample invalid
    bad = apply(weights_of(name, w_in=W_IN * np.inf), batch_of([GOOD] * len(rows)))
    assert np.asarray(is_invalid(bad)).all()
    # an invalid list makes the next layer's output invalid too
    after = NEXT_LAYER({"weights": jnp.ones((N, 2))}, out)
    np.testing.assert_array_equal(is_invalid(after), marked)


@pytest.mark.parametrize(("name", "gradient"), LAYER_CASES)
def test_checked_mode_reports_each_bad_spike(name, gradient):
    layer = make_layer(name, gradient)
    run = jax.jit(checks.checked(layer.apply))
    err, out = run(weights_of(name), spikes(*GOOD))
    assert err.get() is None and not bool(is_invalid(out))
    for kind in KINDS:
        times, sources, match = BAD[kind]
        err, out = run(weights_of(name), spikes(times, sources))
        assert err.get() is not None, kind
        assert re.search(match, err.get()), (kind, err.get())
        with pytest.raises(checkify.JaxRuntimeError, match=match):
            err.throw()
        assert bool(is_invalid(out))
    first = "input_weights" if name == "RecurrentLIF" else "weights"
    err, _ = run(weights_of(name, w_in=W_IN * np.nan), spikes(*GOOD))
    assert err.get().startswith(f"{first} contains NaN or inf")


def test_checked_mode_with_batches_and_gradients():
    """Batches: ``jax.vmap`` inside ``checked`` for the first-spike layers, ``jax.lax.map``
    for event-loop layers (checkify does not support a vmapped while loop); the error
    names the first bad sample's rule. ``checked(jax.grad(...))`` checks too."""
    rows = [GOOD, BAD["nan"][:2], BAD["source_too_large"][:2]]
    batch = batch_of(rows)
    ttfs = make_layer("TTFSLIF", "eventprop")
    err, out = jax.jit(checks.checked(jax.vmap(ttfs.apply, in_axes=(None, 0))))(
        weights_of("TTFSLIF"), batch
    )
    assert "spikes.time contains NaN" in err.get()
    np.testing.assert_array_equal(is_invalid(out), [False, True, True])

    def loss(weights, one):
        out = ttfs.apply(weights, one)
        return jnp.sum(jnp.where(out.idx >= 0, out.time, 0.0))

    checked_grad = jax.jit(checks.checked(jax.grad(loss)))
    err, grads = checked_grad(weights_of("TTFSLIF"), spikes(*rows[2]))
    assert "spikes.idx must lie in [0, 3)" in err.get()
    err, grads = checked_grad(weights_of("TTFSLIF"), spikes(*GOOD))
    assert err.get() is None and np.all(np.isfinite(grads["weights"]))

    lif = make_layer("LIF", "implicit")
    mapped = jax.jit(checks.checked(lambda w, b: jax.lax.map(lambda one: lif.apply(w, one), b)))
    err, out = mapped(weights_of("LIF"), batch)
    assert "spikes.time contains NaN" in err.get()
    np.testing.assert_array_equal(is_invalid(out), [False, True, True])
    with checks.enable():
        assert checks.enabled()
    assert not checks.enabled()


# ---- property: malformed inputs give the sanitised result or a ValueError naming them ----

SIZE = 5
CORRUPTIONS = [
    "none", "none", "none", "padding_keeps_source", "swap", "nan", "negative", "minus_inf",
    "inf_inside", "source_high", "source_negative", "padding_source", "weights",
]  # fmt: skip


@st.composite
def spike_lists(draw):
    """A valid list of 5 entries (spikes, then padding), with up to two corruptions."""
    k = draw(st.integers(0, SIZE))
    slots = draw(st.lists(st.integers(0, 16), min_size=k, max_size=k))
    times = np.concatenate([np.sort(np.asarray(slots) * (2 * T_MAX / 16)), np.full(SIZE - k, INF)])
    sources = np.asarray(
        draw(st.lists(st.integers(0, N_IN - 1), min_size=k, max_size=k)) + [-1] * (SIZE - k)
    )
    weights = np.array(W_IN)
    for corruption in draw(st.lists(st.sampled_from(CORRUPTIONS), min_size=1, max_size=2)):
        e = draw(st.integers(0, SIZE - 1))
        if corruption == "padding_keeps_source" and k < SIZE:
            sources[-1] = draw(st.integers(0, N_IN - 1))  # valid: padding may name a channel
        elif corruption == "swap" and k >= 2:
            times[[0, k - 1]] = times[[k - 1, 0]]
        elif corruption in ("nan", "negative", "minus_inf", "inf_inside"):
            value = {"nan": NAN, "negative": -1e-3, "minus_inf": -INF, "inf_inside": INF}
            times[min(e, SIZE - 2) if corruption == "inf_inside" else e] = value[corruption]
        elif corruption in ("source_high", "source_negative", "padding_source"):
            value = {"source_high": N_IN, "source_negative": -2, "padding_source": N_IN + 4}
            sources[e] = value[corruption]
        elif corruption == "weights":
            weights[e % N_IN, 0] = draw(st.sampled_from([NAN, INF, -INF]))
    times, sources = times.astype(np.float64), sources.astype(np.int32)
    shape = draw(st.sampled_from(["ok"] * 10 + ["2d", "short", "float"]))
    if shape == "2d":
        times = times[None]
    elif shape == "short":
        sources = sources[:-1]
    elif shape == "float":
        sources = sources.astype(np.float64)
    return times, sources, weights


def broken(times, sources, weights):
    """The arguments that break a rule: an independent statement of the contract."""
    bad = set()
    if not np.all(np.isfinite(weights)):
        bad.add("weights")
    if times.ndim != 1:
        return bad | {"times"}
    if sources.ndim != 1 or sources.shape != times.shape or sources.dtype.kind != "i":
        return bad | {"sources"}
    with np.errstate(invalid="ignore"):  # inf - inf in diff
        if np.any(np.isnan(times)) or np.any(times < 0) or np.any(np.diff(times) < 0):
            bad.add("times")
    for t, s in zip(times, sources, strict=True):
        if (np.isfinite(t) and not 0 <= s < N_IN) or (t == INF and s != -1 and not 0 <= s < N_IN):
            bad.add("sources")
    return bad


def sanitised(times, sources):
    return jnp.asarray(times), jnp.asarray(np.where(np.isfinite(times), sources, -1), jnp.int32)


@partial(jax.jit, static_argnames="recurrent")
def reference(w_in, w_rec, times, sources, recurrent=False):
    w_rec = w_rec if recurrent else None
    return simulate_population(w_in, w_rec, PARAMS, Spikes(times, sources), T_MAX, MAX_EVENTS)


def expect_raise_or_result(call, names, bad, compare):
    try:
        result = call()
    except ValueError as error:
        message = str(error)
        assert bad, f"valid input refused: {message}"
        assert any(message.startswith(names[b]) for b in bad), (message, bad)
        return
    assert not bad, f"bad input {bad} accepted"
    event("valid input")
    compare(result)


SIMULATE_NAMES = {"times": "input_times", "sources": "input_sources", "weights": "weights"}


@settings(max_examples=40, deadline=None)
@given(case=spike_lists())
def test_simulate_property(case):
    times, sources, weights = case
    bad = broken(times, sources, weights)

    def compare(result):
        ref = reference(jnp.asarray(weights), None, *sanitised(times, sources))
        np.testing.assert_allclose(result.times, ref.time, rtol=1e-12, atol=0)
        np.testing.assert_array_equal(result.neurons, ref.idx)
        assert int(result.dropped) == int(ref.dropped)

    with jax.enable_x64(True), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (overflow is test_overflow's)
        expect_raise_or_result(
            lambda: simulate(weights, PARAMS, times, sources, T_MAX, MAX_EVENTS),
            SIMULATE_NAMES,
            bad,
            compare,
        )


@partial(jax.jit, static_argnames=("max_events", "plan"))
def _population(w_in, w_rec, params, inputs, t_max, max_events, plan):
    return simulate_population(w_in, w_rec, params, inputs, t_max, max_events, plan)


@partial(jax.jit, static_argnames="plan")
def _first_spikes(weights, params, inputs, t_max, plan):
    return ttfs_first_spikes(weights, params, inputs, t_max, plan)


class CompiledImplicit:
    """``gradient="implicit"`` compiled once: an eager layer call runs its checks on the
    concrete values, then this (eager ``lax.scan`` would recompile on every call)."""

    def population(self, w_in, w_rec, params, inputs, t_max, max_events, plan, key=None):
        return _population(w_in, w_rec, params, inputs, t_max, max_events, plan)

    def first_spikes(self, *args):
        return _first_spikes(*args)


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(case=spike_lists(), name=st.sampled_from(list(LAYERS)))
def test_layers_property(case, name):
    times, sources, weights = case
    bad = broken(times, sources, weights)
    names = {"times": "spikes.time", "sources": "spikes.idx"}
    names["weights"] = "input_weights" if name == "RecurrentLIF" else "weights"
    with jax.enable_x64(True):
        if name == "TTFSLIF":
            layer = TTFSLIF(N, PARAMS, T_MAX, gradient=CompiledImplicit())
        else:
            layer = LAYERS[name](N, PARAMS, T_MAX, MAX_EVENTS, gradient=CompiledImplicit())

        def compare(out):
            ref = reference(
                jnp.asarray(weights),
                jnp.asarray(W_REC),
                *sanitised(times, sources),
                recurrent=name == "RecurrentLIF",
            )
            if name != "TTFSLIF":  # (two compiled programs: equal to the last bits or so)
                np.testing.assert_allclose(out.time, ref.time, rtol=1e-12, atol=0)
                np.testing.assert_array_equal(out.idx, ref.idx)
                return
            first = [np.min(ref.time[ref.idx == j], initial=np.inf) for j in range(N)]
            got = [np.min(out.time[out.idx == j], initial=np.inf) for j in range(N)]
            np.testing.assert_allclose(got, first, rtol=0, atol=1e-12)

        expect_raise_or_result(
            lambda: layer.apply(weights_of(name, w_in=weights), Spikes(times, sources)),
            names,
            bad,
            compare,
        )


# ---- parameters and data checked once ----


def test_v_leak_at_or_above_threshold_warns_and_fires_tonically():
    """A deliberate meaning, not an error: rest above threshold is tonic firing."""
    params = LIFParameters(tau_mem=1e-2, tau_syn=5e-3, v_leak=1.2, v_reset=0.0, t_refrac=1e-3)
    with pytest.warns(UserWarning, match=r"params\.v_leak \(1\.2\) >= params\.v_th \(1\.0\)"):
        out = simulate(np.zeros((1, 1)), params, [], np.zeros(0, int), 3e-2, 8)
    period = 1e-3 + 1e-2 * np.log(1.2 / 0.2)
    np.testing.assert_allclose(out.times[:2], [0.0, period], rtol=1e-5)
    with pytest.warns(UserWarning, match=r"params\.v_leak"):
        LIF(2, params, 3e-2)
    with pytest.warns(UserWarning, match="rests at or above threshold"):
        TTFSLIF(2, params._replace(v_leak=1.0), 3e-2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LIF(2, params._replace(v_leak=0.9), 3e-2)  # below threshold: silent


def test_encoder_checks_a_data_set_once():
    encoder = LatencyEncoder(0.0, 1e-2, bias_times=(4.5e-3,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = encoder.check_features([[0.0, 0.5], [1.0, 0.25]])
    assert x.dtype == np.float64
    with pytest.raises(
        ValueError, match=r"^train contains 1 NaN or inf values \(first at \(1, 0\)"
    ):
        encoder.check_features([[0.0, 0.5], [np.nan, 0.25]], "train")
    with pytest.raises(ValueError, match="^features must be a numeric array"):
        encoder.check_features([["a", "b"]])
    with pytest.raises(ValueError, match="^features must have a feature axis"):
        encoder.check_features(0.5)
    with pytest.warns(UserWarning, match=r"features: 2 of 4 values lie outside \[0, 1\]"):
        encoder.check_features([[-0.5, 0.5], [1.5, 0.25]])
    config = models.DEFAULTS
    features = np.full((3, 4), 0.5)
    assert models.check_features(config, features).shape == (3, 4)
    with pytest.raises(ValueError, match="^test must have 4 features"):
        models.check_features(config, features[:, :2], "test")
