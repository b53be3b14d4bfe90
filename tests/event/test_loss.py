"""Losses and decoding on output spike times."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.event.loss import (
    clip_silent,
    first_spike_times,
    predict_first_spike,
    target_times,
    ttfs_cross_entropy,
    ttfs_mse,
)

INF = np.inf


def test_first_spike_times_from_spike_list():
    times = jnp.array([1.0, 2.0, 2.5, 3.0, INF])
    neurons = jnp.array([2, 0, 2, 0, -1])
    np.testing.assert_array_equal(first_spike_times(times, neurons, 4), [2.0, INF, 1.0, INF])


def test_prediction_handles_silence_and_ties():
    assert predict_first_spike(jnp.array([3.0, 1.0, 2.0])) == 1
    assert predict_first_spike(jnp.array([INF, INF, INF])) == -1
    assert predict_first_spike(jnp.array([2.0, 2.0, INF])) == 0


def test_cross_entropy_value_and_sign_of_gradient():
    tau, t_max = 5e-3, 2e-2
    t = jnp.array([4e-3, 6e-3, 9e-3])
    loss = ttfs_cross_entropy(t, 1, tau=tau, t_max=t_max)
    logits = -np.asarray(t) / tau
    expected = -(logits[1] - np.log(np.sum(np.exp(logits))))
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    grad = jax.grad(ttfs_cross_entropy)(t, 1, tau=tau, t_max=t_max)
    assert grad[1] > 0  # descending moves the label neuron earlier
    assert grad[0] < 0 and grad[2] < 0  # and the others later


def test_regulariser_pushes_label_earlier():
    t = jnp.array([4e-3, 6e-3, 9e-3])
    kw = {"tau": 5e-3, "t_max": 2e-2}
    plain = jax.grad(ttfs_cross_entropy)(t, 1, **kw)
    reg = jax.grad(ttfs_cross_entropy)(t, 1, regularization=0.1, **kw)
    assert reg[1] > plain[1]
    np.testing.assert_allclose(np.asarray(reg)[[0, 2]], np.asarray(plain)[[0, 2]])


def test_silent_neurons_keep_losses_and_gradients_finite():
    t = jnp.array([INF, 5e-3, INF])
    for fn in (
        lambda x: ttfs_cross_entropy(x, 0, tau=5e-3, t_max=2e-2, regularization=0.01),
        lambda x: ttfs_mse(x, target_times(0, 3, 1e-3, 1e-2), t_max=2e-2, scale=5e-3),
    ):
        value, grad = jax.value_and_grad(fn)(t)
        assert np.isfinite(value)
        assert np.all(np.isfinite(grad))
        assert grad[0] == 0 and grad[2] == 0
    np.testing.assert_allclose(clip_silent(t, 2e-2), [2e-2, 5e-3, 2e-2], rtol=1e-6)


def test_mse_value():
    t = jnp.array([1.0, 3.0])
    np.testing.assert_allclose(ttfs_mse(t, jnp.array([0.0, 1.0]), t_max=10.0, scale=2.0), 0.625)


@pytest.mark.parametrize("label", [0, 1, 2])
def test_target_times(label):
    tt = np.asarray(target_times(label, 3, 1.0, 5.0))
    assert tt[label] == 1.0 and np.sum(tt == 5.0) == 2


def test_invalid_times_give_a_nan_loss_and_no_prediction():
    """An invalid spike list (NaN times) never yields a plausible loss or class."""
    import jax.numpy as jnp
    import numpy as np

    from jaxsnn.event.loss import predict_first_spike, ttfs_cross_entropy

    times = jnp.array([jnp.nan, 1e-3, 2e-3])
    assert np.isnan(float(ttfs_cross_entropy(times, 1, tau=1e-3, t_max=1e-2)))
    assert int(predict_first_spike(times)) == -1
    assert int(predict_first_spike(jnp.array([jnp.inf, 1e-3, 2e-3]))) == 1


def test_first_spike_model_checks_the_data_once():
    import numpy as np
    import pytest

    from jaxsnn.event import models

    model = models.feed_forward_classifier({**models.DEFAULTS, "hidden": 4})
    with pytest.raises(ValueError, match="training features"):
        model.check_data(np.array([[0.5, np.nan, 0.5, 0.1]]), "training features")
    assert model.check_data(np.array([[0.5, 0.4, 0.5, 0.6]]), "test features").shape == (1, 4)
