"""The EventProp Yin-Yang task: same loss and gradient as the analytical task, smoke runs."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.datasets import yinyang_split
from jaxsnn.event.tasks import yinyang_analytical, yinyang_event_prop

SMALL = {"hidden": 12, "output_mean": 10.0}


def batch(n=8, dtype=jnp.float64):
    data = yinyang_split("test")
    return jnp.asarray(data.features[:n], dtype), jnp.asarray(data.labels[:n])


def loss_and_gradient(model, weights, features, labels):
    (loss, aux), grads = jax.jit(jax.value_and_grad(model.loss, has_aux=True))(
        weights, features, labels
    )
    return float(loss), float(aux["accuracy"]), grads


@pytest.mark.slow
@pytest.mark.parametrize("recurrent", [False, True])
def test_eventprop_task_matches_analytical_task(recurrent):
    """Float64: the EventProp network (feed-forward or the recurrent emulation) has the same
    output times, loss and gradient as the analytical network with the same weights."""
    config = {**yinyang_event_prop.DEFAULTS, **SMALL, "recurrent": recurrent}
    analytical = yinyang_analytical.build_model(config)
    eventprop = yinyang_event_prop.build_model(config)
    key = jax.random.PRNGKey(3)
    with jax.enable_x64(True):
        features, labels = batch()
        w_ff = jax.tree.map(lambda w: w.astype(jnp.float64), analytical.init(key))
        w_ep = jax.tree.map(lambda w: w.astype(jnp.float64), eventprop.init(key))
        times_ff = np.asarray(jax.jit(analytical.evaluate)(w_ff, features)["output_times"])
        times_ep = np.asarray(jax.jit(eventprop.evaluate)(w_ep, features)["output_times"])
        assert np.sum(np.isfinite(times_ff)) >= 8
        np.testing.assert_allclose(times_ep, times_ff, rtol=1e-12)
        loss_ff, acc_ff, grad_ff = loss_and_gradient(analytical, w_ff, features, labels)
        loss_ep, acc_ep, grad_ep = loss_and_gradient(eventprop, w_ep, features, labels)
        assert loss_ep == pytest.approx(loss_ff, rel=1e-12) and acc_ep == acc_ff
        if recurrent:
            n_hidden = config["hidden"]
            # the block structure holds: no gradient outside the two weight blocks
            assert np.all(grad_ep["input_weights"][:, n_hidden:] == 0)
            assert np.all(grad_ep["recurrent_weights"][:, :n_hidden] == 0)
            assert np.all(grad_ep["recurrent_weights"][n_hidden:] == 0)
            grad_ep = (
                {"weights": grad_ep["input_weights"][:, :n_hidden]},
                {"weights": grad_ep["recurrent_weights"][:n_hidden, n_hidden:]},
            )
        for a, e in zip(jax.tree.leaves(grad_ff), jax.tree.leaves(grad_ep), strict=True):
            scale = float(np.max(np.abs(a)))
            assert scale > 0
            np.testing.assert_allclose(e, a, rtol=1e-6, atol=1e-6 * scale)


@pytest.mark.parametrize(
    ("argv", "hidden"),
    [
        ([], 200),
        (["--recurrent"], 120),
        (["--recurrent", "--hidden", "7"], 7),
        (["--hidden", "9"], 9),
    ],
)
def test_hidden_default_depends_on_the_variant(argv, hidden):
    """200 hidden neurons feed-forward, 120 for the (quadratically costly) recurrent variant."""
    args = yinyang_event_prop.parser().parse_args(argv)
    config = yinyang_event_prop.task_config(args)
    assert config["hidden"] == hidden and config["recurrent"] == ("--recurrent" in argv)
    assert yinyang_event_prop.DEFAULTS["hidden"] == 200
    # the run's saved configuration holds the resolved number (so --resume restores it)
    assert yinyang_event_prop.build(args)["task_config"] == {"hidden": hidden}


@pytest.mark.slow
def test_small_training_run_beats_chance(tmp_path):
    out = tmp_path / "run"
    args = ["--epochs", "3", "--hidden", "30", "--lr", "5e-3", "--output", str(out), "--quiet"]
    metrics = yinyang_event_prop.main(args)
    assert metrics["completed"] and metrics["epochs_completed"] == 3
    assert metrics["test_accuracy"] > 0.55  # chance is 1/3
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["config"]["task_config"]["recurrent"] is False
    with np.load(out / "spikes.npz", allow_pickle=False) as spikes:
        assert spikes["hidden/times"].shape[-1] == 30


@pytest.mark.slow
def test_small_recurrent_training_run_beats_chance(tmp_path):
    out = tmp_path / "run"
    args = ["--recurrent", "--epochs", "3", "--hidden", "30", "--lr", "5e-3"]
    metrics = yinyang_event_prop.main([*args, "--output", str(out), "--quiet"])
    assert metrics["completed"] and metrics["epochs_completed"] == 3
    assert metrics["test_accuracy"] > 0.55  # chance is 1/3
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["config"]["task_config"]["recurrent"] is True
    with np.load(out / "spikes.npz", allow_pickle=False) as spikes:
        # hidden and output spikes are separated out of the population, renumbered from 0
        hidden_idx, output_idx = spikes["hidden/neurons"], spikes["output/neurons"]
        assert hidden_idx.max() < 30 and output_idx.max() < 3


@pytest.mark.parametrize("option", ["input_jitter", "hidden_jitter"])
def test_training_jitter_is_refused_for_the_recurrent_network(option):
    """Input and hidden jitter are regularisers of the feed-forward network only: asking for
    them with ``--recurrent`` is a clear error, not a silent no-op."""
    config = {**yinyang_event_prop.DEFAULTS, **SMALL, "recurrent": True, option: 1e-3}
    flag = "--" + option.replace("_", "-")
    with pytest.raises(ValueError, match=f"{flag} applies to the feed-forward"):
        yinyang_event_prop.build_model(config)
    feed_forward = yinyang_event_prop.build_model({**config, "recurrent": False})
    assert feed_forward.training_noise and not feed_forward.stochastic


def test_hidden_jitter_perturbs_training_only():
    """``hidden_jitter`` moves the hidden spikes that the output layer receives during
    training (the loss depends on the key, and a key gives the same loss twice), while
    evaluations see the clean network: the outputs of the model without jitter."""
    features, labels = batch(n=4, dtype=jnp.float32)
    config = {**yinyang_event_prop.DEFAULTS, **SMALL}
    clean = yinyang_event_prop.build_model(config)
    noisy = yinyang_event_prop.build_model({**config, "hidden_jitter": 1e-3})
    assert noisy.training_noise and not clean.training_noise
    weights = noisy.init(jax.random.PRNGKey(0))
    noisy_loss = jax.jit(jax.value_and_grad(lambda w, key: noisy.loss(w, features, labels, key)[0]))
    loss_a, grad = noisy_loss(weights, jax.random.PRNGKey(3))
    assert float(loss_a) == float(noisy_loss(weights, jax.random.PRNGKey(3))[0])
    assert float(loss_a) != float(noisy_loss(weights, jax.random.PRNGKey(4))[0])
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grad))
    assert float(jnp.abs(grad[0]["weights"]).max()) > 0

    def deterministic(model):  # what the harness calls without a key
        return model.loss(weights, features, labels)[0], model.evaluate(weights, features)

    (loss_noisy, eval_noisy), (loss_clean, eval_clean) = jax.jit(
        lambda: (deterministic(noisy), deterministic(clean))
    )()
    assert float(loss_a) != float(loss_clean)
    assert float(loss_noisy) == float(loss_clean)
    np.testing.assert_array_equal(eval_noisy["output_times"], eval_clean["output_times"])
