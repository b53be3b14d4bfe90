"""The result folder of a training run, written atomically, read without pickle.

Files (all in the run's folder)::

    metrics.json             config, per-epoch metrics, final test_accuracy, timings, versions
    params.npz               trained parameters, one array per leaf, keys like "0/weights"
    predictions.npz          test set: features, labels, prediction, [output_times], ...
    spikes.npz               spike rasters of a few test samples: "<layer>/times",
                             "<layer>/neurons" [samples, events] and "layers" (their order)
    checkpoint.npz           last completed epoch: params, optimiser state, history (--resume)
    checkpoint.previous.npz  the checkpoint before it (--resume-previous, when the last one is
                             damaged)
    checkpoint.damaged.npz   a damaged checkpoint.npz, set aside by --resume-previous

Every file is read through the checked readers of :mod:`jaxsnn.training.io` and the loaders
here, which also check that the file is the jaxsnn file it should be: a missing, damaged or
foreign file raises a :class:`ResultsError` (:class:`MissingFileError`,
:class:`DamagedFileError`) with a one-line message naming the file.

This module needs only numpy and the standard library, so that plotting can read a folder
without importing JAX or a simulator.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jaxsnn.training.io import (
    DamagedFileError,
    MissingFileError,
    ResultsError,
    WriteError,
    arrays_to_pytree,
    atomic_copy,
    atomic_write_bytes,
    load_arrays,
    load_json,
    npz_bytes,
    parse_json_text,
    pytree_to_arrays,
    save_arrays,
    save_json,
)

__all__ = [
    "CHECKPOINT",
    "DAMAGED_CHECKPOINT",
    "METRICS",
    "PARAMS",
    "PREDICTIONS",
    "PREVIOUS_CHECKPOINT",
    "SPIKES",
    "Checkpoint",
    "DamagedFileError",
    "MissingFileError",
    "ResultsError",
    "WriteError",
    "checkpoint_epoch",
    "load_checkpoint",
    "load_metrics",
    "load_params",
    "load_predictions",
    "load_spikes",
    "metrics_record",
    "prepare_output_folder",
    "save_checkpoint",
    "saved_config",
    "set_aside_checkpoint",
    "write_final",
    "write_metrics",
]

METRICS = "metrics.json"
PARAMS = "params.npz"
PREDICTIONS = "predictions.npz"
SPIKES = "spikes.npz"
CHECKPOINT = "checkpoint.npz"
PREVIOUS_CHECKPOINT = "checkpoint.previous.npz"
DAMAGED_CHECKPOINT = "checkpoint.damaged.npz"
_STATE_KEY = "__state_json__"


def prepare_output_folder(output: Path) -> None:
    """Create ``output`` and check that files can be written into it; refuse a folder that
    already holds a run (use resume instead).

    Raises:
        ResultsError: naming ``--output``: the path is a file or lies under one, the folder
            cannot be created or written into, or it holds a run.
    """
    if output.exists() and not output.is_dir():
        raise ResultsError(f"--output {output} exists and is not a folder")
    for parent in output.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ResultsError(f"--output {output}: {parent} is a file, not a folder")
            break
    if (output / METRICS).exists() or (output / CHECKPOINT).exists():
        raise ResultsError(
            f"--output {output} already holds a run; pass --resume {output} to continue it, "
            "or choose another folder"
        )
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        culprit = error.filename or output
        raise ResultsError(
            f"--output {output}: cannot create the folder {culprit} ({error.strerror})"
        ) from None
    try:  # a read-only file system or folder shows up now, not after the first epoch
        fd, probe = tempfile.mkstemp(dir=output, prefix=".jaxsnn-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise ResultsError(
            f"--output {output}: cannot write into the folder ({error.strerror})"
        ) from None


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


def write_metrics(output: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """Write ``metrics`` (a :func:`metrics_record`) as ``output/metrics.json``; return it."""
    save_json(output / METRICS, metrics)
    return metrics


def metrics_record(
    config: Mapping[str, Any],
    history: list[dict[str, Any]],
    wall_time_s: float,
    compile_time_s: float,
    *,
    completed: bool,
) -> dict[str, Any]:
    """The content of ``metrics.json``; ``test_accuracy`` is that of the last completed
    epoch."""
    return {
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


def save_checkpoint(
    output: Path, config: Mapping[str, Any], tree: Any, history: list, wall_time_s: float
) -> None:
    """Atomically save ``tree`` (params and optimiser state) with the run's history, keeping
    the checkpoint it replaces as ``checkpoint.previous.npz``.

    Order of the steps: (1) the new checkpoint's bytes are prepared in memory; (2) the current
    ``checkpoint.npz``, if any, becomes ``checkpoint.previous.npz`` by an atomic copy (a hard
    link renamed into place; ``checkpoint.npz`` itself stays); (3) the new bytes replace
    ``checkpoint.npz`` atomically. At every moment ``checkpoint.npz`` is a complete
    checkpoint: a kill between (2) and (3) leaves both files holding the same epoch.
    """
    arrays = {f"tree/{name}": value for name, value in pytree_to_arrays(tree).items()}
    state = {"config": dict(config), "history": history, "wall_time_s": wall_time_s}
    arrays[_STATE_KEY] = np.array(json.dumps(state))
    data = npz_bytes(arrays)
    current = output / CHECKPOINT
    if current.exists():
        atomic_copy(current, output / PREVIOUS_CHECKPOINT)
    atomic_write_bytes(current, data)


@dataclass
class Checkpoint:
    """A loaded checkpoint: the pytree (params, optimiser state), history and wall time."""

    tree: Any
    history: list[dict[str, Any]]
    wall_time_s: float


def _read_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The tree arrays (``tree/`` prefix removed) and the state dict of a checkpoint file.

    Raises:
        MissingFileError, DamagedFileError: the file is missing, damaged or no checkpoint.
    """
    arrays = load_arrays(path, required=(_STATE_KEY,), kind="jaxsnn checkpoint")
    raw = arrays.pop(_STATE_KEY)
    if raw.dtype.kind != "U" or raw.ndim != 0:
        raise DamagedFileError(path, f"is not a jaxsnn checkpoint ({_STATE_KEY!r} is no text)")
    state = parse_json_text(path, str(raw))
    fields = {"config": dict, "history": list, "wall_time_s": (int, float)}
    for name, kind in fields.items():
        if not isinstance(state, dict) or not isinstance(state.get(name), kind):
            raise DamagedFileError(path, f"is not a jaxsnn checkpoint (its state lacks {name!r})")
    if not all(isinstance(record, dict) for record in state["history"]):
        raise DamagedFileError(
            path, "is not a jaxsnn checkpoint (its history is no list of epochs)"
        )
    foreign = sorted(name for name in arrays if not name.startswith("tree/"))
    if foreign:
        raise DamagedFileError(path, f"is not a jaxsnn checkpoint (it holds {foreign[0]!r})")
    return {name.removeprefix("tree/"): value for name, value in arrays.items()}, state


def checkpoint_epoch(path: str | Path) -> int:
    """The number of completed epochs saved in the checkpoint file ``path`` (checked).

    Raises:
        MissingFileError, DamagedFileError: the file is missing, damaged or no checkpoint.
    """
    return len(_read_checkpoint(Path(path))[1]["history"])


def _checkpoint_path(output: Path, previous: bool) -> Path:
    """``output/checkpoint.npz`` (or ``checkpoint.previous.npz``); ``ResultsError`` if the
    folder does not exist, :class:`MissingFileError` if the file does not."""
    option = "--resume-previous" if previous else "--resume"
    if not output.is_dir():
        raise ResultsError(f"{option} {output}: no such folder")
    path = output / (PREVIOUS_CHECKPOINT if previous else CHECKPOINT)
    if not path.exists():
        why = "the run saved fewer than two epochs" if previous else "the run saved no epoch yet"
        raise MissingFileError(path, f"{option} {output}: no {path.name} ({why})")
    return path


def load_checkpoint(
    output: Path, config: Mapping[str, Any], template: Any, *, previous: bool = False
) -> Checkpoint:
    """Load the checkpoint in ``output`` (``previous``: ``checkpoint.previous.npz``); its
    config must equal ``config`` and its arrays must fit ``template``.

    Raises:
        ResultsError: the folder or file is missing (:class:`MissingFileError`), the file is
            damaged or does not fit the network (:class:`DamagedFileError`), or the saved run
            used another configuration.
    """
    path = _checkpoint_path(output, previous)
    arrays, state = _read_checkpoint(path)
    saved = json.loads(json.dumps(dict(config)))  # normalise tuples to lists
    if state["config"] != saved:
        differing = _differences(state["config"], saved)
        option = "--resume-previous" if previous else "--resume"
        raise ResultsError(
            f"{option} {output}: the saved run used another configuration ({differing})"
        )
    try:
        tree = arrays_to_pytree(arrays, template)
    except (ValueError, TypeError) as error:
        raise DamagedFileError(path, f"does not fit this network: {error}") from None
    return Checkpoint(tree=tree, history=state["history"], wall_time_s=state["wall_time_s"])


def set_aside_checkpoint(output: Path) -> Path | None:
    """Rename ``checkpoint.npz`` (damaged) to ``checkpoint.damaged.npz`` before a run continues
    from ``checkpoint.previous.npz``, so that the next save cannot copy it over the intact
    previous checkpoint. Returns the new path, or ``None`` when there was no file."""
    current, aside = output / CHECKPOINT, output / DAMAGED_CHECKPOINT
    try:
        os.replace(current, aside)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise WriteError(aside, error) from None
    return aside


def _differences(saved: Any, new: Any, prefix: str = "") -> str:
    if isinstance(saved, dict) and isinstance(new, dict):
        parts = [
            _differences(saved.get(k), new.get(k), f"{prefix}{k}.")
            for k in sorted(set(saved) | set(new))
            if saved.get(k) != new.get(k)
        ]
        return "; ".join(parts)
    return f"{prefix.rstrip('.')}: saved {saved!r}, now {new!r}"


def saved_config(output: Path, *, previous: bool = False) -> dict[str, Any]:
    """The configuration stored in a run folder's checkpoint (for ``--resume``; with
    ``previous``, in ``checkpoint.previous.npz``). Raises as :func:`load_checkpoint`."""
    state = _read_checkpoint(_checkpoint_path(output, previous))[1]
    config = state["config"]
    if not all(isinstance(config.get(key), dict) for key in ("train", "task_config")):
        raise DamagedFileError(
            output / (PREVIOUS_CHECKPOINT if previous else CHECKPOINT),
            "is not a jaxsnn checkpoint (its config lacks 'train' or 'task_config')",
        )
    return config


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


def _unfinished(output: Path, name: str) -> MissingFileError:
    return MissingFileError(
        Path(output) / name,
        f"{output}: no {name}: the run has not finished (continue it with --resume {output})",
    )


def load_params(output: str | Path, template: Any = None) -> Any:
    """The trained parameters of a run: a dict ``{path: array}``, or a pytree like ``template``.

    Raises:
        MissingFileError: the run wrote no ``params.npz`` (it has not finished).
        DamagedFileError: ``params.npz`` is damaged, holds something else than numeric
            arrays, or does not fit ``template`` (without a template, another network's
            parameters cannot be told apart from this one's).
    """
    path = Path(output) / PARAMS
    if not path.exists():
        raise _unfinished(Path(output), PARAMS)
    arrays = load_arrays(path)
    text = sorted(name for name, value in arrays.items() if value.dtype.kind not in "biufc")
    if text:
        raise DamagedFileError(path, f"holds no numeric array in entry {text[0]!r}")
    if template is None:
        return arrays
    try:
        return arrays_to_pytree(arrays, template)
    except (ValueError, TypeError) as error:
        raise DamagedFileError(path, f"does not fit the given network: {error}") from None


def load_metrics(output: str | Path) -> dict[str, Any]:
    """``metrics.json`` of a run folder, checked: a JSON object whose ``history`` is a list of
    per-epoch objects.

    Raises:
        MissingFileError: no ``metrics.json`` (not a jaxsnn result folder).
        DamagedFileError: ``metrics.json`` is damaged or no jaxsnn metrics file.
    """
    path = Path(output) / METRICS
    if not path.exists():
        raise MissingFileError(path, f"{output}: no {METRICS}; is this a jaxsnn result folder?")
    metrics = load_json(path)
    if not isinstance(metrics, dict) or not isinstance(metrics.get("history"), list):
        raise DamagedFileError(path, "is not a jaxsnn metrics file (it has no 'history' list)")
    if not all(isinstance(record, dict) for record in metrics["history"]):
        raise DamagedFileError(
            path, "is not a jaxsnn metrics file ('history' is no list of epochs)"
        )
    return metrics


def load_predictions(output: str | Path) -> dict[str, np.ndarray]:
    """``predictions.npz`` of a finished run, checked: ``features`` ``[N, F]`` (F >= 2),
    ``labels`` and ``prediction`` ``[N]``, optional ``output_times`` ``[N, n_out]``.

    Raises:
        MissingFileError: no ``predictions.npz`` (the run has not finished).
        DamagedFileError: the file is damaged, or its arrays are not the ones described.
    """
    path = Path(output) / PREDICTIONS
    if not path.exists():
        raise _unfinished(Path(output), PREDICTIONS)
    data = load_arrays(path, ("features", "labels", "prediction"), "jaxsnn predictions file")
    n = data["labels"].shape[0] if data["labels"].ndim == 1 else -1
    shapes_ok = (
        n >= 0
        and data["features"].ndim == 2
        and data["features"].shape[0] == n
        and data["features"].shape[1] >= 2
        and data["prediction"].shape == (n,)
        and all(data[k].dtype.kind in "iub" for k in ("labels", "prediction"))
        and data["features"].dtype.kind in "iuf"
    )
    if "output_times" in data:
        times = data["output_times"]
        shapes_ok = shapes_ok and times.ndim == 2 and len(times) == n and times.dtype.kind == "f"
    if not shapes_ok:
        shapes = ", ".join(f"{k} {v.shape} {v.dtype}" for k, v in data.items())
        raise DamagedFileError(path, f"holds arrays of unexpected shapes or types ({shapes})")
    return data


def load_spikes(output: str | Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """``spikes.npz`` of a finished run, checked: ``{layer: (times, neurons)}`` in the saved
    layer order (each ``[samples, events]``) and the ``plot_info`` dict (``{}`` if absent).

    Raises:
        MissingFileError: no ``spikes.npz`` (the run has not finished).
        DamagedFileError: the file is damaged, or its arrays are not the ones described.
    """
    path = Path(output) / SPIKES
    if not path.exists():
        raise _unfinished(Path(output), SPIKES)
    arrays = load_arrays(path, required=("layers",), kind="jaxsnn spike file")
    if arrays["layers"].dtype.kind != "U" or arrays["layers"].ndim != 1:
        raise DamagedFileError(path, "holds no list of layer names in 'layers'")
    layers = [str(name) for name in arrays["layers"]]
    required = [f"{layer}/{part}" for layer in layers for part in ("times", "neurons")]
    missing = [name for name in required if name not in arrays]
    if missing:
        raise DamagedFileError(path, f"is not a jaxsnn spike file (it lacks {missing[0]!r})")
    rasters = {}
    for layer in layers:
        times, neurons = arrays[f"{layer}/times"], arrays[f"{layer}/neurons"]
        if times.ndim != 2 or times.shape != neurons.shape or times.dtype.kind != "f":
            raise DamagedFileError(
                path,
                f"holds a raster of layer {layer!r} of unexpected shape "
                f"(times {times.shape} {times.dtype}, neurons {neurons.shape} {neurons.dtype})",
            )
        rasters[layer] = (times, neurons)
    info: Any = {}
    if "plot_info" in arrays:
        raw = arrays["plot_info"]
        if raw.dtype.kind != "U" or raw.ndim != 0:
            raise DamagedFileError(path, "holds no JSON text in 'plot_info'")
        info = parse_json_text(path, str(raw))
        if not isinstance(info, dict):
            raise DamagedFileError(path, "holds no JSON object in 'plot_info'")
    return rasters, info
