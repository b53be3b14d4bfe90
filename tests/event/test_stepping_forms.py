"""The short forms of the event step and of the backward scan against independent references.

* the EventProp forward (``differentiable=False``) with ``t_refrac >= t_max`` (the plan's
  ``"beyond"`` form: refractory neurons never solved for, decays per sample, spikes fired
  one by one) against the float64 ODE reference of :mod:`lif_reference`;
* every short form (``"none"``, ``"beyond"``) against the general form (``"events"``) of the
  same simulation: same spikes, bit for bit where the forms compute the same operations;
* the currents of the backward scan (one forward scan over the events) against the direct
  sum :func:`~jaxsnn.event.eventprop.scan.currents_before`;
* the scans over the leading events only (:func:`~jaxsnn.event.eventprop.scan.scan_leading`)
  against ``lax.scan`` over all entries, alone and under ``vmap``, and the batched EventProp
  backward pass against the per-sample one.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gradient_check import lif_params
from lif_reference import TAU_SYN, random_network, reference_spikes, spikes_per_neuron

from jaxsnn.event.eventprop.scan import (
    _event_list,
    currents_before,
    eventprop_backward,
    scan_leading,
)
from jaxsnn.event.plan import solver_plan
from jaxsnn.event.step import simulate_population
from jaxsnn.event.types import Spikes
from jaxsnn.neuron import as_float_params

T_MAX = 10 * TAU_SYN


def network(seed: int = 3, n_in: int = 4, n: int = 8, n_spikes: int = 16):
    w_in, w_rec, times, sources = random_network(seed, n_in, n, n_spikes, True)
    return w_in, w_rec, Spikes(jnp.asarray(times), jnp.asarray(sources, jnp.int32))


@pytest.mark.parametrize("ratio", [2.0, 1.37])
def test_forward_with_refractory_beyond_t_max_matches_ode_reference(ratio):
    """Each neuron fires at most once (``t_refrac = 2 t_max``), recurrent weights: the
    EventProp forward gives the spikes of the ODE reference."""
    params = lif_params(ratio, 2 * T_MAX)
    assert solver_plan(params, T_MAX).refractory == "beyond"
    with jax.enable_x64(True):
        w_in, w_rec, inputs = network()
        ref_t, ref_j = reference_spikes(
            w_in, w_rec, params, np.asarray(inputs.time), np.asarray(inputs.idx), T_MAX, 1e-12
        )
        assert len(ref_t) >= 4
        out = simulate_population(
            w_in, w_rec, params, inputs, T_MAX, w_in.shape[1], differentiable=False
        )
    assert int(out.dropped) == 0
    expected = spikes_per_neuron(ref_t, ref_j, w_in.shape[1])
    got = spikes_per_neuron(out.time, out.idx, w_in.shape[1])
    for a, b in zip(got, expected, strict=True):
        assert len(a) == len(b) <= 1
        np.testing.assert_allclose(a, b, rtol=1e-7)


@pytest.mark.parametrize("t_refrac", [0.0, 2 * T_MAX], ids=["none", "beyond"])
@pytest.mark.parametrize("differentiable", [False, True])
def test_short_forms_give_the_spikes_of_the_general_form(t_refrac, differentiable):
    """Same network, the plan's short form against the general one (``refractory="events"``):
    the same spikes (times at rtol 1e-12 in float64 -- bit for bit with XLA's CPU fusion
    emitters, within 2 ulp with the elemental ones the suite compiles with -- the same
    neurons, the same count of dropped spikes, also when the buffer overflows)."""
    params = lif_params(2.0, t_refrac)
    plan = solver_plan(params, T_MAX)
    general = dataclasses.replace(plan, refractory="events")
    assert plan.refractory != "events"
    with jax.enable_x64(True):
        w_in, w_rec, inputs = network(seed=11)
        for max_events in (40, 3):  # room for all; an overflow
            runs = [
                simulate_population(
                    w_in, w_rec, params, inputs, T_MAX, max_events, p, differentiable
                )
                for p in (plan, general)
            ]
            short, full = runs
            assert int(jnp.sum(jnp.isfinite(full.time))) >= 3
            np.testing.assert_array_equal(short.idx, full.idx)
            np.testing.assert_allclose(short.time, full.time, rtol=1e-12)
            assert int(short.dropped) == int(full.dropped)


@pytest.mark.parametrize("t_refrac", [0.0, 2e-3], ids=["none", "events"])
def test_currents_of_the_backward_scan_match_the_direct_sum(t_refrac):
    """``I_n(t^-)`` at every crossing and refractory end, by the forward scan over the sorted
    events, equals the direct sum over all strictly earlier inputs and spikes -- also at ties
    (an input at a spike time, and two inputs at once)."""
    params = lif_params(2.0, t_refrac)
    with jax.enable_x64(True):
        w_in, w_rec, inputs = network(seed=5)
        out = simulate_population(w_in, w_rec, params, inputs, T_MAX, 40, differentiable=False)
        spikes = np.asarray(out.time)[np.isfinite(out.time)]
        assert len(spikes) >= 3
        # ties: an input exactly at a spike time, two inputs at the same time
        times = np.sort(np.concatenate([np.asarray(inputs.time)[:-2], spikes[[1, 1]]]))
        inputs = Spikes(jnp.asarray(times), inputs.idx)
        out = simulate_population(w_in, w_rec, params, inputs, T_MAX, 40, differentiable=False)
        p = as_float_params(params, jnp.float64, w_in.shape[1])
        events = _event_list(
            jnp.asarray(w_in),
            jnp.asarray(w_rec),
            p,
            inputs,
            out,
            jnp.zeros(out.time.shape),
            T_MAX,
            t_refrac > 0,
            p.tau_syn,
        )
        queried = (events.kind == 0) | (events.kind == 1)  # refractory ends, crossings
        direct = currents_before(
            jnp.where(queried, events.time, 0.0),
            events.neuron,
            jnp.asarray(w_in),
            jnp.asarray(w_rec),
            p.tau_syn,
            inputs,
            out,
        )
    assert int(jnp.sum(queried)) >= 3
    np.testing.assert_allclose(events.current[queried], direct[queried], rtol=1e-12)


def _decay_step(carry, entry, rate):
    """A step that leaves its carry unchanged at padding (``valid`` False) and outputs 0 there;
    ``calls`` counts every step taken, padding or not."""
    total, calls = carry
    value, valid = entry
    total = jnp.where(valid, total * rate + value, total)
    return (total, calls + 1), jnp.where(valid, total, 0.0)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_over_leading_entries_matches_the_full_scan(reverse):
    """``scan_leading`` gives ``lax.scan``'s carry and outputs when the entries past
    ``length`` are padding; it takes ``length`` steps alone and the batch's longest
    ``length`` under ``vmap`` (which is why the padding must leave the carry unchanged)."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        lengths = np.array([0, 2, 5, 3])
        values = jnp.asarray(rng.normal(size=(4, 5, 3)))
        valid = jnp.asarray(np.arange(5)[None, :] < lengths[:, None])
        rates = jnp.asarray(rng.uniform(0.5, 0.9, (4, 3)))
        start = (jnp.ones(3), jnp.zeros((), jnp.int32))

        def full(x, v, rate):
            return jax.lax.scan(
                lambda c, e: _decay_step(c, e, rate), start, (x, v), reverse=reverse
            )

        def leading(x, v, rate, length):
            return scan_leading(_decay_step, start, (x, v), rate, length, reverse)

        for b in range(4):
            ((want, _), want_ys), ((got, calls), got_ys) = (
                full(values[b], valid[b], rates[b]),
                jax.jit(leading)(values[b], valid[b], rates[b], lengths[b]),
            )
            np.testing.assert_allclose(got, want, rtol=1e-15)
            np.testing.assert_allclose(got_ys, want_ys, rtol=1e-15)
            assert int(calls) == lengths[b]
        for rate_axis in (0, None):  # per-sample and shared constants
            rate = rates if rate_axis == 0 else rates[1]
            (got, calls), got_ys = jax.jit(jax.vmap(leading, in_axes=(0, 0, rate_axis, 0)))(
                values, valid, rate, jnp.asarray(lengths)
            )
            (want, _), want_ys = jax.vmap(full, in_axes=(0, 0, rate_axis))(values, valid, rate)
            np.testing.assert_allclose(got, want, rtol=1e-15)
            np.testing.assert_allclose(got_ys, want_ys, rtol=1e-15)
            np.testing.assert_array_equal(calls, lengths.max())


def test_batched_backward_pass_gives_each_sample_its_own_gradients():
    """EventProp's backward pass under ``vmap`` (its scans run the batch's longest event list)
    gives each sample the gradients of its own unbatched pass: samples with many, few and no
    events, recurrent weights, refractory periods."""
    params = lif_params(2.0, 2e-3)
    with jax.enable_x64(True):
        w_in, w_rec, inputs = network(seed=5)
        batch = 3
        times = np.tile(np.asarray(inputs.time), (batch, 1))
        times[1, 4:] = np.inf  # fewer inputs
        times[2, :] = np.inf  # none
        idx = np.where(np.isfinite(times), np.asarray(inputs.idx)[None, :], -1)
        spikes = Spikes(jnp.asarray(times), jnp.asarray(idx, jnp.int32))

        def backward(sample_inputs, cotangent):
            out = simulate_population(
                w_in, w_rec, params, sample_inputs, T_MAX, 40, differentiable=False
            )
            return out, eventprop_backward(
                w_in, w_rec, params, sample_inputs, out, cotangent, T_MAX
            )

        cotangents = jnp.asarray(np.random.default_rng(2).normal(size=(batch, 40)))
        outs, grads = jax.jit(jax.vmap(backward))(spikes, cotangents)
        counts = np.sum(np.isfinite(np.asarray(outs.time)), axis=1)
        assert counts[0] > counts[1] >= 1 and counts[2] == 0
        for b in range(batch):
            sample = Spikes(spikes.time[b], spikes.idx[b])
            _, alone = jax.jit(backward)(sample, cotangents[b])
            for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(alone), strict=True):
                np.testing.assert_allclose(got[b], want, rtol=1e-12, atol=1e-300)
            assert np.any(np.asarray(alone.input_weights) != 0) == (b < 2)
