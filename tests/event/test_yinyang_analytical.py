"""The event-based Yin-Yang task: gradient sign through the simulator, and a smoke run."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.datasets import yinyang_split
from jaxsnn.event.tasks import yinyang_analytical as task


@pytest.fixture(scope="module")
def model():
    # a stronger output drive than the default, so that every output neuron spikes at first
    return task.build_model({**task.DEFAULTS, "output_mean": 10.0})


@pytest.mark.slow
def test_one_gradient_step_moves_label_earlier_and_others_later(model):
    data = yinyang_split("test")
    with jax.enable_x64(True):
        weights = jax.tree_util.tree_map(
            lambda w: w.astype(jnp.float64), model.init(jax.random.PRNGKey(0))
        )
        features = jnp.asarray(data.features[:40], jnp.float64)
        labels = jnp.asarray(data.labels[:40])
        times = np.asarray(jax.jit(model.evaluate)(weights, features)["output_times"])
        usable = np.flatnonzero(np.all(np.isfinite(times), axis=1))
        assert len(usable) >= 10

        @jax.jit
        def times_after_one_step(x, y):
            grads = jax.grad(lambda w: model.loss(w, x, y)[0])(weights)
            stepped = jax.tree_util.tree_map(lambda w, g: w - 1e-3 * g, weights, grads)
            return model.evaluate(stepped, x)["output_times"][0]

        for n in usable[:10]:
            x, y = features[n : n + 1], labels[n : n + 1]
            after = np.asarray(times_after_one_step(x, y))
            label = int(y[0])
            others = [k for k in range(3) if k != label]
            assert after[label] < times[n, label]
            assert np.all(after[others] > times[n, others])


@pytest.mark.slow
def test_small_training_run_beats_chance(tmp_path):
    out = tmp_path / "run"
    metrics = task.main(
        ["--epochs", "3", "--hidden", "30", "--lr", "5e-3", "--output", str(out), "--quiet"]
    )
    assert metrics["completed"] and metrics["epochs_completed"] == 3
    assert metrics["test_accuracy"] > 0.55  # chance is 1/3
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["config"]["task_config"]["hidden"] == 30
    for name in ("params.npz", "predictions.npz", "spikes.npz"):
        assert (out / name).stat().st_size > 0
    with np.load(out / "predictions.npz", allow_pickle=False) as predictions:
        assert predictions["output_times"].shape == (1000, 3)
