"""Exactness: the event simulator against an independent float64 ODE reference (solve_ivp)."""

import itertools

import jax
import numpy as np
import pytest
from lif_reference import TAU_SYN, random_network, reference_spikes, spikes_per_neuron

from jaxsnn.event import simulate
from jaxsnn.neuron import LIFParameters

T_MAX = 10 * TAU_SYN
MAX_EVENTS = 100
SIZES = [(4, 5, 20), (3, 8, 12)]  # (inputs, neurons, input spikes)
PADDED = (4, 8, 20)  # every size is zero-padded to one shape: one compilation per solver
CASES = [
    (ratio, recurrent, t_refrac, SIZES[k % 2])
    for k, (ratio, recurrent, t_refrac) in enumerate(
        itertools.product([1.0, 2.0, 3.0, 1.37], [False, True], [0.0, 2e-3])
    )
]


def case_id(case):
    ratio, recurrent, t_refrac, size = case
    kind = "rec" if recurrent else "ff"
    return f"ratio{ratio}-{kind}-refrac{t_refrac}-{size[1]}n"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_spike_times_match_ode_reference(case):
    ratio, recurrent, t_refrac, (n_in, n, n_spikes) = case
    params = LIFParameters(
        tau_mem=ratio * TAU_SYN,
        tau_syn=TAU_SYN,
        v_th=1.0,
        v_reset=-0.2,
        v_leak=-0.1,
        t_refrac=t_refrac,
    )
    w_in, w_rec, times, sources = random_network(7, n_in, n, n_spikes, recurrent)
    ref_t, ref_j = reference_spikes(w_in, w_rec, params, times, sources, T_MAX, rtol=1e-12)
    expected = spikes_per_neuron(ref_t, ref_j, n)
    assert 5 <= len(ref_t) < MAX_EVENTS
    assert max(len(x) for x in expected) >= 2  # several spikes per neuron
    if t_refrac:
        for train in expected:
            assert np.all(np.diff(train) >= t_refrac)

    # pad: silent extra inputs and neurons (zero weights), padding input spikes (inf, -1)
    w_in_pad = np.zeros(PADDED[:2])
    w_in_pad[:n_in, :n] = w_in
    w_rec_pad = None
    if recurrent:
        w_rec_pad = np.zeros((PADDED[1], PADDED[1]))
        w_rec_pad[:n, :n] = w_rec
    times_pad = np.full(PADDED[2], np.inf)
    times_pad[:n_spikes] = times
    sources_pad = np.full(PADDED[2], -1, np.int32)
    sources_pad[:n_spikes] = sources

    for x64, tolerance in [(True, 1e-7), (False, 1e-4)]:
        with jax.enable_x64(x64):
            result = simulate(
                w_in_pad, params, times_pad, sources_pad, T_MAX, MAX_EVENTS, w_rec_pad
            )
        assert int(result.dropped) == 0
        got = spikes_per_neuron(result.times, result.neurons, PADDED[1])
        assert all(len(train) == 0 for train in got[n:])
        got = got[:n]
        for j in range(n):
            assert len(got[j]) == len(expected[j]), f"neuron {j}, x64={x64}"
            np.testing.assert_allclose(
                got[j], expected[j], rtol=0, atol=tolerance * TAU_SYN, err_msg=f"x64={x64}"
            )
        times_out = np.asarray(result.times)
        assert np.all(np.diff(times_out[np.isfinite(times_out)]) >= 0)  # sorted
