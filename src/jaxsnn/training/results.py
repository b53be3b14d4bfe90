"""The result folder of a training run, written atomically, read without pickle.

Files (all in the run's folder)::

    metrics.json     config, per-epoch metrics, final test_accuracy, timings, versions
    params.npz       trained parameters, one array per leaf, keys like "0/weights"
    predictions.npz  test set: features, labels, prediction, [output_times], ...
    spikes.npz       spike rasters of a few test samples: "<layer>/times",
                     "<layer>/neurons" [samples, events] and "layers" (their order)
    checkpoint.npz   last completed epoch: params, optimiser state, history (for --resume)

This module needs only numpy and the standard library, so that plotting can read a folder
without importing JAX or a simulator.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jaxsnn.training.io import (
    arrays_to_pytree,
    load_arrays,
    load_json,
    pytree_to_arrays,
    save_arrays,
    save_json,
)

METRICS = "metrics.json"
PARAMS = "params.npz"
PREDICTIONS = "predictions.npz"
SPIKES = "spikes.npz"
CHECKPOINT = "checkpoint.npz"
_STATE_KEY = "__state_json__"


class ResultsError(ValueError):
    """A result folder is missing or incomplete; the message says what is missing."""


def prepare_output_folder(output: Path) -> None:
    """Create ``output``; refuse a folder that already holds a run (use resume instead)."""
    if output.exists() and not output.is_dir():
        raise ResultsError(f"--output {output} exists and is not a folder")
    if (output / METRICS).exists() or (output / CHECKPOINT).exists():
        raise ResultsError(
            f"--output {output} already holds a run; pass --resume {output} to continue it, "
            "or choose another folder"
        )
    output.mkdir(parents=True, exist_ok=True)


def _versions() -> dict[str, str]:
    import jax

    from jaxsnn import __version__

    return {
        "jaxsnn": __version__,
        "jax": jax.__version__,
        "python": platform.python_version(),
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0].device_kind),
    }


def write_metrics(
    output: Path,
    config: Mapping[str, Any],
    history: list[dict[str, Any]],
    wall_time_s: float,
    compile_time_s: float,
    *,
    completed: bool,
) -> dict[str, Any]:
    """Write ``metrics.json``; ``test_accuracy`` is that of the last completed epoch."""
    metrics = {
        "task": config["task"],
        "completed": completed,
        "epochs_completed": len(history),
        "test_accuracy": history[-1]["test_accuracy"] if history else None,
        "wall_time_s": wall_time_s,
        "compile_time_s": compile_time_s,
        "config": dict(config),
        "versions": _versions(),
        "history": history,
    }
    save_json(output / METRICS, metrics)
    return metrics


def save_checkpoint(
    output: Path, config: Mapping[str, Any], tree: Any, history: list, wall_time_s: float
) -> None:
    """Atomically save ``tree`` (params and optimiser state) with the run's history."""
    arrays = {f"tree/{name}": value for name, value in pytree_to_arrays(tree).items()}
    state = {"config": dict(config), "history": history, "wall_time_s": wall_time_s}
    arrays[_STATE_KEY] = np.array(json.dumps(state))
    save_arrays(output / CHECKPOINT, arrays)


@dataclass
class Checkpoint:
    tree: Any
    history: list[dict[str, Any]]
    wall_time_s: float


def load_checkpoint(output: Path, config: Mapping[str, Any], template: Any) -> Checkpoint:
    """Load the checkpoint in ``output``; its config must equal ``config``."""
    if not output.is_dir():
        raise ResultsError(f"--resume {output}: no such folder")
    path = output / CHECKPOINT
    if not path.exists():
        raise ResultsError(f"--resume {output}: no {CHECKPOINT} (the run saved no epoch yet)")
    arrays = load_arrays(path)
    state = json.loads(str(arrays.pop(_STATE_KEY)))
    saved = json.loads(json.dumps(dict(config)))  # normalise tuples to lists
    if state["config"] != saved:
        differing = _differences(state["config"], saved)
        raise ResultsError(
            f"--resume {output}: the saved run used another configuration ({differing})"
        )
    tree_arrays = {name.removeprefix("tree/"): value for name, value in arrays.items()}
    tree = arrays_to_pytree(tree_arrays, template)
    return Checkpoint(tree=tree, history=state["history"], wall_time_s=state["wall_time_s"])


def _differences(saved: Any, new: Any, prefix: str = "") -> str:
    if isinstance(saved, dict) and isinstance(new, dict):
        parts = [
            _differences(saved.get(k), new.get(k), f"{prefix}{k}.")
            for k in sorted(set(saved) | set(new))
            if saved.get(k) != new.get(k)
        ]
        return "; ".join(parts)
    return f"{prefix.rstrip('.')}: saved {saved!r}, now {new!r}"


def saved_config(output: Path) -> dict[str, Any]:
    """The configuration stored in a run folder's checkpoint (for ``--resume``)."""
    path = output / CHECKPOINT
    if not output.is_dir():
        raise ResultsError(f"--resume {output}: no such folder")
    if not path.exists():
        raise ResultsError(f"--resume {output}: no {CHECKPOINT} (the run saved no epoch yet)")
    with np.load(path, allow_pickle=False) as data:
        return json.loads(str(data[_STATE_KEY]))["config"]


def write_final(
    output: Path,
    *,
    params: Any,
    test_data: Any,
    predictions: Mapping[str, np.ndarray],
    rasters: Mapping[str, tuple[Any, Any]],
    plot_info: Mapping[str, Any],
) -> None:
    """Write ``params.npz``, ``predictions.npz`` and ``spikes.npz``."""
    save_arrays(output / PARAMS, pytree_to_arrays(params))
    save_arrays(
        output / PREDICTIONS,
        {
            "features": test_data.features,
            "labels": test_data.labels,
            **{k: np.asarray(v) for k, v in predictions.items()},
        },
    )
    spikes = {"layers": np.array(list(rasters), dtype=str)}
    for layer, (times, neurons) in rasters.items():
        spikes[f"{layer}/times"] = np.asarray(times)
        spikes[f"{layer}/neurons"] = np.asarray(neurons)
    spikes["plot_info"] = np.array(json.dumps(dict(plot_info)))
    save_arrays(output / SPIKES, spikes)


def load_params(output: str | Path, template: Any = None) -> Any:
    """The trained parameters of a run: a dict ``{path: array}``, or a pytree like ``template``."""
    arrays = load_arrays(Path(output) / PARAMS)
    return arrays if template is None else arrays_to_pytree(arrays, template)


def load_metrics(output: str | Path) -> dict[str, Any]:
    """``metrics.json`` of a run folder."""
    path = Path(output) / METRICS
    if not path.exists():
        raise ResultsError(f"{output}: no {METRICS}; is this a jaxsnn result folder?")
    return load_json(path)
