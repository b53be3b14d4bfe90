"""Smoke test of ``python -m jaxsnn.discrete.tasks.yinyang`` (small config, few epochs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.datasets import yinyang_split
from jaxsnn.discrete.tasks import yinyang

SRC = Path(yinyang.__file__).resolve().parents[3]


def test_small_run_learns(tmp_path):
    out = tmp_path / "run"
    metrics = yinyang.main(
        ["--epochs", "3", "--hidden", "40", "--seed", "1", "--output", str(out), "--quiet"]
    )
    assert metrics["test_accuracy"] > 0.6  # chance is 1/3
    assert len(metrics["history"]) == 3
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["config"]["task_config"]["hidden"] == 40
    assert saved["config"]["task_config"]["surrogate"] == "superspike"
    for name in ("params.npz", "predictions.npz", "spikes.npz"):
        assert (out / name).exists()
    with np.load(out / "spikes.npz", allow_pickle=False) as spikes:
        assert list(spikes["layers"]) == ["hidden", "output_peak"]
        times, neurons = spikes["hidden/times"], spikes["hidden/neurons"]
        assert times.shape == neurons.shape and times.shape[0] == 8
        valid = neurons >= 0
        assert valid.any()
        assert np.all(np.isfinite(times[valid])) and np.all(np.isinf(times[~valid]))
        assert np.all(neurons[valid] < 40)
        for row_times, row_valid in zip(times, valid, strict=True):
            assert np.all(np.diff(row_times[row_valid]) >= 0)  # sorted by time
        info = json.loads(str(spikes["plot_info"]))
        assert info["class_names"] == ["yang", "yin", "dot"]
        assert np.all(spikes["output_peak/times"] <= info["t_max"])
    with np.load(out / "predictions.npz", allow_pickle=False) as predictions:
        assert predictions["prediction"].shape == (1000,)


def test_model_functions_directly():
    config = {**yinyang.DEFAULTS, "hidden": 10, "surrogate": "triangle", "surrogate_scale": 0.4}
    model = yinyang.build_model(config)
    import jax

    params = model.init(jax.random.PRNGKey(0))
    data = yinyang_split("validation")
    features, labels = jnp.asarray(data.features[:16]), jnp.asarray(data.labels[:16])
    loss, aux = jax.jit(model.loss)(params, features, labels)
    assert np.isfinite(float(loss)) and 0.0 <= float(aux["accuracy"]) <= 1.0
    evaluated = jax.jit(model.evaluate)(params, features)
    assert evaluated["prediction"].shape == (16,)
    assert evaluated["max_membrane"].shape == (16, 3)
    rasters = model.record(params, features[:4])
    assert set(rasters) == {"hidden", "output_peak"}
    assert rasters["output_peak"][0].shape == (4, 3)


def test_options_reach_the_config():
    args = yinyang.parser().parse_args(["--dt", "2.5e-4", "--surrogate", "arctan", "--hidden", "7"])
    config = yinyang.task_config(args)
    assert config["dt"] == 2.5e-4 and config["surrogate"] == "arctan" and config["hidden"] == 7
    assert json.loads(json.dumps(config)) == config


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dt", "0"], "--dt"),
        (["--hidden", "-2"], "--hidden"),
        (["--surrogate", "nope"], "--surrogate"),
        (["--dt", "0.02"], "dt"),  # longer than tau_syn
        (["--t-max", "0.01"], "n_steps"),  # ends before the latest input spike
    ],
)
def test_bad_options_end_with_a_message(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        yinyang.main([*argv, "--epochs", "1", "--output", str(tmp_path / "x"), "--quiet"])
    assert message in capsys.readouterr().err


def test_module_runs_as_a_script():
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run(
        [sys.executable, "-m", "jaxsnn.discrete.tasks.yinyang", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for option in ("--hidden", "--dt", "--surrogate", "--epochs", "--seed", "--output"):
        assert option in result.stdout
