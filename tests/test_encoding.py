"""Latency encoding for both simulators."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.encoding import LatencyEncoder


def test_times_are_linear_in_features_with_bias_and_mirror():
    enc = LatencyEncoder(t_early=1e-3, t_late=5e-3, bias_times=(2e-3,), mirror=True)
    t = np.asarray(enc.times(jnp.array([[0.0, 1.0, 0.25]])))
    assert t.shape == (1, enc.n_channels(3)) == (1, 7)
    np.testing.assert_allclose(t[0], [1e-3, 5e-3, 2e-3, 5e-3, 1e-3, 4e-3, 2e-3], rtol=1e-6)


def test_events_sorted_with_sources():
    enc = LatencyEncoder(t_early=0.0, t_late=1.0, bias_times=(0.5,))
    times, sources = enc.events(jnp.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.0]]))
    assert np.all(np.diff(np.asarray(times), axis=-1) >= 0)
    np.testing.assert_array_equal(sources[0], [1, 2, 3, 0])  # ties keep channel order
    np.testing.assert_array_equal(sources[1], [2, 0, 1, 3])
    np.testing.assert_allclose(
        np.take_along_axis(np.asarray(enc.times(jnp.array([[0.9, 0.1, 0.5]]))), sources[:1], -1),
        times[:1],
    )


def test_jittered_events_are_sorted_noisy_copies_of_the_events():
    """t' = max(t + sigma z, 0), sorted again; every channel spikes once; sigma = 0 gives
    the events themselves; the same key gives the same noise."""
    import jax

    enc = LatencyEncoder(t_early=0.0, t_late=1e-2, bias_times=(4.5e-3,), mirror=True)
    features = jnp.asarray(np.random.default_rng(0).uniform(size=(50, 8)))
    key = jax.random.PRNGKey(3)
    times, sources = enc.jittered_events(features, key, 1e-3)
    assert np.all(np.diff(np.asarray(times), axis=-1) >= 0) and np.all(np.asarray(times) >= 0)
    every_channel = np.broadcast_to(np.arange(enc.n_channels(8)), (50, 17))
    np.testing.assert_array_equal(np.sort(np.asarray(sources), axis=-1), every_channel)
    clean = np.asarray(enc.times(features))
    noisy = np.empty_like(clean)
    np.put_along_axis(noisy, np.asarray(sources), np.asarray(times), axis=-1)
    shift = (noisy - clean)[clean > 5e-3]  # away from the clip at 0
    assert abs(float(np.mean(shift))) < 2e-4 and 0.8e-3 < float(np.std(shift)) < 1.2e-3
    again = enc.jittered_events(features, key, 1e-3)
    np.testing.assert_array_equal(np.asarray(again[0]), np.asarray(times))
    for a, b in zip(enc.jittered_events(features, key, 0.0), enc.events(features), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_spike_trains_match_times():
    enc = LatencyEncoder(t_early=1e-3, t_late=9e-3, bias_times=(0.0,))
    features = jnp.array([[0.0, 0.5], [1.0, 0.25]])
    trains = np.asarray(enc.spike_trains(features, dt=1e-3, n_steps=12))
    assert trains.shape == (12, 2, 3)
    np.testing.assert_array_equal(trains.sum(axis=0), 1)  # one spike per channel
    steps = trains.argmax(axis=0)
    np.testing.assert_array_equal(steps, [[1, 5, 0], [9, 3, 0]])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"t_early": 2.0, "t_late": 1.0}, "t_early"),
        ({"t_early": 1.0, "t_late": 1.0}, "t_early"),
        ({"t_early": -1.0, "t_late": 1.0}, "t_early"),
        ({"t_early": 0.0, "t_late": float("nan")}, "t_late"),
        ({"t_early": 0.0, "t_late": 1.0, "bias_times": (-1.0,)}, "bias_times"),
    ],
)
def test_bad_encoder_settings(kwargs, name):
    with pytest.raises(ValueError, match=name):
        LatencyEncoder(**kwargs)


def test_grid_too_short_is_refused():
    enc = LatencyEncoder(t_early=0.0, t_late=1e-2)
    with pytest.raises(ValueError, match="n_steps"):
        enc.spike_trains(jnp.zeros((1, 2)), dt=1e-3, n_steps=5)
    with pytest.raises(ValueError, match="dt"):
        enc.spike_trains(jnp.zeros((1, 2)), dt=0.0, n_steps=5)
