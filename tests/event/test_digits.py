"""The digits data set (scikit-learn's bundled images) and the EventProp digits task."""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.datasets import digits
from jaxsnn.event.tasks import digits as task


def test_splits_are_fixed_disjoint_stratified_and_cover_the_data():
    images, labels = digits._load_bundled()
    assert images.shape == (1797, 64) and images.max() == 16
    parts = digits.split_indices(labels)
    sizes = {name: len(index) for name, index in parts.items()}
    assert sizes == {"train": 1079, "validation": 359, "test": 359}
    everything = np.concatenate(list(parts.values()))
    assert np.array_equal(np.sort(everything), np.arange(1797))  # disjoint and complete
    for name in ("validation", "test"):  # each class holds 20 % of its samples (rounded)
        counts = np.bincount(labels[parts[name]], minlength=10)
        np.testing.assert_array_equal(counts, np.round(0.2 * np.bincount(labels)))
    again = digits.split_indices(labels)
    for name in parts:  # the same indices on every call (the documented seed)
        np.testing.assert_array_equal(parts[name], again[name])
    other = digits.split_indices(labels, seed=digits.SPLIT_SEED + 1)
    assert not np.array_equal(parts["test"], other["test"])


def test_split_features_are_the_scaled_pixels():
    images, labels = digits._load_bundled()
    test = digits.digits_split("test")
    index = digits.split_indices(labels)["test"]
    assert test.features.shape == (359, 64) and test.features.dtype == np.float32
    np.testing.assert_allclose(test.features, images[index] / 16.0, rtol=1e-7)
    np.testing.assert_array_equal(test.labels, labels[index])
    with pytest.raises(ValueError, match="split must be one of"):
        digits.digits_split("dev")


def test_each_pixel_spikes_twice_into_ten_output_neurons():
    model = task.build_model(dict(task.DEFAULTS, hidden=8))
    weights = model.init(jax.random.PRNGKey(0))
    assert weights[0]["weights"].shape == (129, 8)  # 64 pixels x and 1 - x, a bias spike
    assert weights[1]["weights"].shape == (8, 10)
    features = np.zeros((1, 64), np.float32)
    features[0, 5] = 1.0  # one fully inked pixel on blank paper
    times, sources = model.record(weights, jnp.asarray(features))["input"]
    t_early, t_late = task.DEFAULTS["t_early"], task.DEFAULTS["t_late"]
    early = set(np.asarray(sources[0])[np.asarray(times[0]) == t_early].tolist())
    assert early == set(range(64)) - {5} | {64 + 5}  # x of the blank pixels, 1 - x of the ink
    late = set(np.asarray(sources[0])[np.asarray(times[0]) == t_late].tolist())
    assert late == set(range(64, 128)) - {64 + 5} | {5}
    assert model.plot_info["class_names"] == [str(d) for d in range(10)]
    with pytest.raises(ValueError, match="64 features per sample"):
        model.check_data(np.zeros((3, 4)))


def test_without_scikit_learn_the_task_stops_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import fails
    with pytest.raises(SystemExit) as stop:
        task.main(["--epochs", "1", "--output", str(tmp_path / "run")])
    assert stop.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "scikit-learn" in message and 'pip install "jaxsnn[digits]"' in message


@pytest.mark.slow
def test_the_task_learns_the_digits(tmp_path):
    """A few epochs of a small network lift the validation accuracy far above chance (10 %)
    and write the usual result folder (with the default training noise: distorted images and
    jittered spikes)."""
    out = tmp_path / "run"
    metrics = task.main(
        ["--epochs", "6", "--hidden", "30", "--lr", "1e-2", "--eval-split", "validation"]
        + ["--quiet", "--output", str(out)]
    )
    history = metrics["history"]
    assert metrics["test_accuracy"] > 0.35, history  # 0.50 (6 epochs, distortions on)
    assert history[-1]["train_loss"] < 0.75 * history[0]["train_loss"], history
    assert metrics["history"][-1]["dropped_events"] == 0
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["task"] == "digits"
    assert saved["config"]["task_config"]["eval_split"] == "validation"
