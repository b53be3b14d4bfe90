"""The shared harness: result folder, checkpoint/resume after SIGKILL, atomic writes, errors."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import optax
import pytest

from jaxsnn.training import io, results

TOY = Path(__file__).with_name("toy_task.py")

#: Runs the toy task's command line (argv after the script name) with a training loop that
#: SIGKILLs its own process once epoch 2 is checkpointed, as a crash or an OOM kill would.
KILLED_AFTER_EPOCH_2 = """
import functools, os, signal, sys

sys.path.insert(0, {tests_dir!r})
import toy_task
from jaxsnn.training import harness


def kill_after_epoch_2(epoch, record):
    if epoch == 2:
        os.kill(os.getpid(), signal.SIGKILL)


# run_task looks harness.train up when it is called, so this reaches the toy task's run.
harness.train = functools.partial(harness.train, on_epoch_end=kill_after_epoch_2)
toy_task.main(sys.argv[1:])
"""


def run_toy(*args, script=TOY, check=True):
    proc = subprocess.run(
        [sys.executable, str(script), "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"toy task failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "uninterrupted"
    run_toy("--epochs", "4", "--seed", "3", "--output", str(out))
    return out


def test_result_folder_contents(finished_run):
    metrics = json.loads((finished_run / "metrics.json").read_text())
    assert metrics["completed"] is True
    assert metrics["epochs_completed"] == 4
    assert len(metrics["history"]) == 4
    assert metrics["test_accuracy"] == metrics["history"][-1]["test_accuracy"]
    assert metrics["test_accuracy"] > 0.4  # above chance (1/3)
    assert metrics["config"]["train"]["seed"] == 3
    assert metrics["config"]["task_config"]["lr"] == 0.01
    for key in ("train_loss", "train_accuracy", "test_loss", "epoch_time_s", "dropped_events"):
        assert key in metrics["history"][0]
    assert metrics["wall_time_s"] > 0 and metrics["compile_time_s"] > 0
    params = io.load_arrays(finished_run / "params.npz")
    assert set(params) == {"hidden/w", "hidden/b", "out/w", "out/b"}
    predictions = io.load_arrays(finished_run / "predictions.npz")
    assert predictions["prediction"].shape == predictions["labels"].shape == (200,)
    accuracy = np.mean(predictions["prediction"] == predictions["labels"])
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-6)


def test_sigkilled_run_resumes_to_identical_parameters(finished_run, tmp_path):
    out = tmp_path / "killed"
    script = tmp_path / "killed_toy_task.py"
    script.write_text(KILLED_AFTER_EPOCH_2.format(tests_dir=str(TOY.parent)))
    proc = run_toy("--epochs", "4", "--seed", "3", "--output", str(out), script=script, check=False)
    assert proc.returncode == -signal.SIGKILL
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["completed"] is False and metrics["epochs_completed"] == 2
    assert not (out / "params.npz").exists()
    assert not list(out.glob(".*.tmp"))  # no half-written file left behind

    resumed = run_toy("--resume", str(out))
    assert "after 4 epochs" in resumed.stdout
    final = io.load_arrays(out / "params.npz")
    reference = io.load_arrays(finished_run / "params.npz")
    assert final.keys() == reference.keys()
    for name in final:
        np.testing.assert_array_equal(final[name], reference[name], err_msg=name)
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]


def test_on_epoch_end_is_called_after_each_saved_epoch(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TOY.parent))
    import toy_task

    from jaxsnn.datasets import yinyang_dataset
    from jaxsnn.training.harness import Model, TrainConfig, train

    out = tmp_path / "run"
    calls = []

    def on_epoch_end(epoch, record):
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["epochs_completed"] == epoch  # written before the call
        assert (out / results.CHECKPOINT).exists()
        calls.append((epoch, record))

    run = train(
        Model(init=toy_task.init, loss=toy_task.loss, evaluate=toy_task.evaluate),
        optax.adam(1e-2),
        yinyang_dataset(size=100, seed=42),
        yinyang_dataset(size=50, seed=40),
        TrainConfig(epochs=3, batch_size=50, eval_batch_size=50),
        out,
        task="toy",
        progress=False,
        on_epoch_end=on_epoch_end,
    )
    assert [epoch for epoch, _ in calls] == [1, 2, 3]
    assert [record for _, record in calls] == run.metrics["history"]


def test_resume_refuses_conflicting_options_and_missing_folder(finished_run, tmp_path):
    proc = run_toy("--resume", str(finished_run), "--lr", "0.5", check=False)
    assert proc.returncode == 2
    assert "--lr=0.5 differs" in proc.stderr
    proc = run_toy("--resume", str(tmp_path / "nope"), check=False)
    assert proc.returncode == 2
    assert "no such folder" in proc.stderr.strip().splitlines()[-1]


def test_output_folder_with_a_run_is_not_overwritten(finished_run):
    proc = run_toy("--output", str(finished_run), check=False)
    assert proc.returncode == 2
    assert "already holds a run" in proc.stderr


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["--epochs", "-2"], "--epochs"),
        (["--batch-size", "0"], "--batch-size"),
        (["--lr", "nan"], "--lr"),
        (["--batch-size", "600"], "--batch-size"),
    ],
)
def test_invalid_options_give_one_line_naming_the_option(args, name, tmp_path):
    proc = run_toy(*args, "--output", str(tmp_path / "x"), check=False)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert "error" in last and name in last
    assert "Traceback" not in proc.stderr


def test_atomic_write_keeps_old_file_when_interrupted(tmp_path):
    target = tmp_path / "data.json"
    io.save_json(target, {"a": 1})

    class Boom(Exception):
        pass

    original = os.fsync

    def failing_fsync(fd):
        raise Boom

    os.fsync = failing_fsync
    try:
        with pytest.raises(Boom):
            io.save_json(target, {"a": 2})
    finally:
        os.fsync = original
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_pytree_roundtrip_and_mismatch():
    import jax.numpy as jnp

    tree = ({"w": jnp.arange(6.0).reshape(2, 3)}, {"w": jnp.ones(3), "b": jnp.zeros(())})
    arrays = io.pytree_to_arrays(tree)
    assert set(arrays) == {"0/w", "1/w", "1/b"}
    back = io.arrays_to_pytree(arrays, tree)
    np.testing.assert_array_equal(back[0]["w"], tree[0]["w"])
    with pytest.raises(ValueError, match="shape"):
        io.arrays_to_pytree({**arrays, "0/w": np.zeros((3, 2))}, tree)
    with pytest.raises(ValueError, match="lack"):
        io.arrays_to_pytree({"0/w": arrays["0/w"]}, tree)


def test_save_arrays_refuses_object_arrays(tmp_path):
    with pytest.raises(TypeError, match="pickle"):
        io.save_arrays(tmp_path / "x.npz", {"a": np.array([{"x": 1}], dtype=object)})


def test_load_metrics_of_a_non_result_folder(tmp_path):
    with pytest.raises(results.ResultsError, match="metrics.json"):
        results.load_metrics(tmp_path)


def test_stochastic_model_gets_fresh_keys_and_resumes_bit_identically(tmp_path):
    """A random forward pass (a mock chip's jitter) gets a key per batch from the seed, the
    epoch and the batch: training is reproducible, and a resumed run draws the same noise."""
    import jax
    import jax.numpy as jnp

    from jaxsnn.datasets import Dataset
    from jaxsnn.training.harness import Model, TrainConfig, train

    def loss(params, features, labels, key):
        noise = jax.random.normal(key, features.shape[:1])
        value = jnp.mean((features[:, 0] * params["w"] + noise - labels) ** 2)
        return value, {"accuracy": jnp.mean(jnp.abs(noise) < 1.0)}

    def evaluate(params, features, key):
        return {"prediction": (features[:, 0] * params["w"] > 0).astype(jnp.int32)}

    model = Model(lambda key: {"w": jnp.ones(())}, loss, evaluate, stochastic=True)
    rng = np.random.default_rng(0)
    data = Dataset(rng.uniform(size=(40, 2)).astype(np.float32), rng.integers(0, 2, 40))
    config = TrainConfig(epochs=3, batch_size=10, seed=1)

    class Stop(Exception):
        pass

    def stop_after_first(epoch, record):
        if epoch == 1:
            raise Stop

    def run(output, resume=False, on_epoch_end=None):
        return train(
            model,
            optax.sgd(0.1),
            data,
            data,
            config,
            output,
            task="noisy",
            resume=resume,
            progress=False,
            on_epoch_end=on_epoch_end,
        )

    whole = run(tmp_path / "whole")
    with pytest.raises(Stop):
        run(tmp_path / "split", on_epoch_end=stop_after_first)
    resumed = run(tmp_path / "split", resume=True)
    assert float(resumed.params["w"]) == float(whole.params["w"])
    losses = [record["train_loss"] for record in whole.metrics["history"]]
    assert len(set(losses)) == 3  # the noise differs between epochs
    deterministic = Model(
        model.init, lambda p, f, lab: loss(p, f, lab, jax.random.PRNGKey(0)), None
    )
    assert not deterministic.stochastic


def test_training_noise_gets_keys_in_training_and_none_in_evaluation(tmp_path):
    """A model whose training only is random (a regulariser) gets a key per training batch
    and none in the evaluations: its test figures are those of the deterministic model."""
    import jax
    import jax.numpy as jnp

    from jaxsnn.datasets import Dataset
    from jaxsnn.training.harness import Model, TrainConfig, train

    keys_seen = []

    def loss(params, features, labels, key=None):
        keys_seen.append(key is not None)  # once per trace
        shift = 0.0 if key is None else jax.random.normal(key, ())
        value = jnp.mean((features[:, 0] * params["w"] + shift - labels) ** 2)
        return value, {"accuracy": jnp.mean(features[:, 0] * params["w"] > 0)}

    def evaluate(params, features, key=None):
        assert key is None
        return {"prediction": (features[:, 0] * params["w"] > 0).astype(jnp.int32)}

    model = Model(lambda key: {"w": jnp.ones(())}, loss, evaluate, training_noise=True)
    assert model.noisy_training and not model.stochastic
    rng = np.random.default_rng(0)
    data = Dataset(rng.uniform(size=(40, 2)).astype(np.float32), rng.integers(0, 2, 40))
    config = TrainConfig(epochs=2, batch_size=10, seed=1)
    result = train(
        model, optax.sgd(0.1), data, data, config, tmp_path / "run", task="noisy", progress=False
    )
    assert True in keys_seen and False in keys_seen  # the epoch with keys, the tests without
    w = float(result.params["w"])
    x, y = jnp.asarray(data.features), jnp.asarray(data.labels)
    expected = float(jnp.mean((x[:, 0] * w - y) ** 2))  # deterministic: no shift
    assert result.metrics["history"][-1]["test_loss"] == pytest.approx(expected, rel=1e-5)
    clean = Model(model.init, lambda p, f, lab: loss(p, f, lab, None), evaluate)
    trained_clean = train(
        clean, optax.sgd(0.1), data, data, config, tmp_path / "clean", task="c", progress=False
    )
    assert float(trained_clean.params["w"]) != w  # the noise changed the training


def test_weight_decay_option_makes_the_optimiser_adamw():
    """``--weight-decay WD`` gives AdamW: with a zero gradient the weights shrink by
    ``lr WD w`` per step; without the option (or 0) Adam leaves them where they are."""
    import argparse

    import jax.numpy as jnp

    from jaxsnn.datasets import Dataset
    from jaxsnn.training.cli import split_experiment

    data = Dataset(np.zeros((4, 2), np.float32), np.zeros(4, np.int32))
    params = {"w": jnp.full((3,), 2.0)}
    zero = {"w": jnp.zeros(3)}
    for weight_decay, expected in [(0.5, 2.0 - 0.1 * 0.5 * 2.0), (0.0, 2.0), (None, 2.0)]:
        options = dict(epochs=1, batch_size=2, lr=0.1)
        if weight_decay is not None:
            options["weight_decay"] = weight_decay
        experiment = split_experiment(None, argparse.Namespace(**options), 1.0, lambda _: data, "x")
        optimizer = experiment["optimizer"]
        updates, _ = optimizer.update(zero, optimizer.init(params), params)
        moved = optax.apply_updates(params, updates)
        np.testing.assert_allclose(np.asarray(moved["w"]), expected, rtol=1e-6)
