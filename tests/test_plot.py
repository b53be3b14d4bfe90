"""`jaxsnn plot DIR` draws from the saved files alone."""

import json
import subprocess
import sys

import numpy as np
import pytest

from jaxsnn.training import io, results


def make_run(folder, *, finished=True, with_output_times=True):
    """A result folder as the harness writes it, filled with plausible data."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    history = [
        {
            "epoch": e,
            "train_loss": 1.0 / e,
            "train_accuracy": 0.5 + 0.1 * e,
            "test_loss": 1.1 / e,
            "test_accuracy": 0.45 + 0.1 * e,
            "epoch_time_s": 0.1,
            "dropped_events": 0,
        }
        for e in (1, 2, 3)
    ]
    config = {"task": "synthetic", "train": {}, "task_config": {}}
    results.write_metrics(
        folder, results.metrics_record(config, history, 1.0, 0.5, completed=finished)
    )
    if not finished:
        return folder
    features = rng.random((60, 4)).astype(np.float32)
    labels = rng.integers(0, 3, 60)
    predictions = {"prediction": np.where(rng.random(60) < 0.8, labels, (labels + 1) % 3)}
    if with_output_times:
        times = rng.uniform(1e-3, 8e-3, (60, 3))
        times[0, 1] = np.inf  # a silent output neuron
        predictions["output_times"] = times
    hidden_t = np.sort(rng.uniform(0, 1e-2, (4, 12)), axis=1)
    hidden_t[:, -2:] = np.inf
    hidden_n = rng.integers(0, 10, (4, 12))
    hidden_n[:, -2:] = -1
    out_t = np.sort(rng.uniform(0, 1e-2, (4, 3)), axis=1)
    rasters = {
        "input": (np.sort(rng.uniform(0, 1e-2, (4, 5)), axis=1), np.tile(np.arange(5), (4, 1))),
        "hidden": (hidden_t, hidden_n),
        "output": (out_t, np.tile(np.arange(3), (4, 1))),
    }

    class Data:
        pass

    data = Data()
    data.features, data.labels = features, labels
    results.write_final(
        folder,
        params={"w": np.ones((2, 2))},
        test_data=data,
        predictions=predictions,
        rasters=rasters,
        plot_info={"t_max": 1e-2, "layer_sizes": {"input": 5, "hidden": 10, "output": 3}},
    )
    return folder


PLOT_AND_CHECK_IMPORTS = """
import sys
from jaxsnn.plot.__main__ import main
status = main(sys.argv[1:])
prefixes = ("jaxsnn.event", "jaxsnn.discrete", "jax.")
heavy = sorted(m for m in sys.modules if m == "jax" or m.startswith(prefixes))
print("HEAVY", heavy)
sys.exit(status)
"""


def run_plot(*folders):
    return subprocess.run(
        [sys.executable, "-c", PLOT_AND_CHECK_IMPORTS, *map(str, folders)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plot_writes_all_figures_without_simulator(tmp_path):
    folder = make_run(tmp_path / "run")
    proc = run_plot(folder)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout  # neither jax nor a simulator was imported
    for name in ("curves.png", "predictions.png", "raster.png", "output_times.png"):
        path = folder / "plots" / name
        assert path.exists(), name
        assert path.stat().st_size > 5000, name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_interrupted_run_gets_clear_messages(tmp_path):
    folder = make_run(tmp_path / "run", finished=False)
    proc = run_plot(folder)
    assert proc.returncode == 0  # the curves can still be drawn
    assert (folder / "plots" / "curves.png").exists()
    assert "skipped predictions.png: no predictions.npz" in proc.stderr
    assert "--resume" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_run_without_output_spikes_skips_that_figure(tmp_path):
    folder = make_run(tmp_path / "run", with_output_times=False)
    proc = run_plot(folder)
    assert proc.returncode == 0
    assert "skipped output_times.png" in proc.stderr
    assert (folder / "plots" / "raster.png").exists()


def test_missing_or_foreign_folder_is_an_error(tmp_path):
    proc = run_plot(tmp_path / "does-not-exist")
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_plot(tmp_path)
    assert proc.returncode == 2
    assert "no metrics.json" in proc.stderr


def test_console_script_dispatches_plot(tmp_path):
    folder = make_run(tmp_path / "run")
    proc = subprocess.run(
        [sys.executable, "-m", "jaxsnn.cli", "plot", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("wrote ") == 4


def test_old_metrics_file_without_history_entries(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    io.save_json(folder / "metrics.json", {"task": "x", "history": []})
    proc = run_plot(folder)
    assert proc.returncode == 1
    assert "no completed epoch" in proc.stderr


@pytest.mark.parametrize("argv", [["train", "nonexistent-task"], ["frobnicate"]])
def test_cli_unknown_task_or_command(argv):
    from jaxsnn.cli import main

    assert main(argv) == 2


def test_metrics_json_is_valid_json(tmp_path):
    folder = make_run(tmp_path / "run")
    assert json.loads((folder / "metrics.json").read_text())["completed"] is True
