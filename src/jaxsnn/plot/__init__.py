"""Figures drawn from a saved result folder alone (no simulator, no JAX).

``jaxsnn plot DIR`` or ``python -m jaxsnn.plot DIR`` writes PNG files into ``DIR/plots/``:

* ``curves.png``: train/test loss and accuracy per epoch (from ``metrics.json``);
* ``predictions.png``: the test set in the (x, y) plane coloured by predicted class, errors
  marked (from ``predictions.npz``);
* ``raster.png``: spike rasters of a few test samples, every layer (from ``spikes.npz``);
* ``output_times.png``: distribution of the output neurons' first spike times, per true
  class (from ``predictions.npz``, when the run recorded output spike times).

A figure whose data is missing (an old or interrupted run) is skipped with a message that
says which file is missing and why. A damaged or foreign file (truncated, empty, random
bytes, another program's file) is an error: one line names the file and what is wrong with
it; the figures that do not need it are still drawn. Every file is read through the checked
loaders of :mod:`jaxsnn.training.results`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaxsnn.training.results import (
    METRICS,
    PREDICTIONS,
    SPIKES,
    DamagedFileError,
    MissingFileError,
    ResultsError,
    WriteError,
    load_metrics,
    load_predictions,
    load_spikes,
)

DEFAULT_CLASS_NAMES = ("yang", "yin", "dot")
CLASS_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


@dataclass
class PlotReport:
    """Which figures were written, which were skipped (with the reason), and the errors.

    Attributes:
        written: the figure files drawn.
        skipped: figure name -> why it was not drawn (data missing, not an error).
        errors: one-line message about a damaged file or a failed write -> the figures it
            cost.
    """

    written: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_info(folder: Path) -> dict:
    if not (folder / SPIKES).exists():
        return {}
    return load_spikes(folder)[1]


def plot_curves(folder: Path, target: Path) -> None:
    """Loss and accuracy per epoch, train and test."""
    history = load_metrics(folder)["history"]
    if not history:
        raise ResultsError(f"{METRICS} holds no completed epoch yet")
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax_loss.plot(epochs, [h["test_loss"] for h in history], label="test")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_acc.plot(epochs, [h["train_accuracy"] for h in history], label="train")
    ax_acc.plot(epochs, [h["test_accuracy"] for h in history], label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(target, dpi=120)
    plt.close(fig)


def _load_predictions(folder: Path) -> dict[str, np.ndarray]:
    if not (folder / PREDICTIONS).exists():
        raise ResultsError(
            f"no {PREDICTIONS}: the run has not finished (continue it with --resume {folder})"
        )
    return load_predictions(folder)


def plot_predictions(folder: Path, target: Path) -> None:
    """Test samples at their (x, y) coordinates, coloured by prediction; errors marked."""
    data = _load_predictions(folder)
    names = _plot_info(folder).get("class_names", DEFAULT_CLASS_NAMES)
    xy, labels, prediction = data["features"][:, :2], data["labels"], data["prediction"]
    wrong = prediction != labels
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    for cls, name in enumerate(names):
        chosen = prediction == cls
        ax.scatter(*xy[chosen].T, s=10, color=CLASS_COLOURS[cls % 5], label=f"predicted {name}")
    ax.scatter(*xy[wrong].T, s=40, marker="x", color="black", label=f"error ({wrong.sum()})")
    accuracy = 1.0 - wrong.mean()
    ax.set(xlabel="x", ylabel="y", title=f"Test set predictions, accuracy {accuracy:.2%}")
    ax.set_aspect("equal")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
    fig.tight_layout()
    fig.savefig(target, dpi=120)
    plt.close(fig)


def plot_raster(folder: Path, target: Path) -> None:
    """Spike rasters of the recorded test samples: one panel per sample, layers stacked."""
    if not (folder / SPIKES).exists():
        raise ResultsError(f"no {SPIKES}: the run has not finished or recorded no spikes")
    rasters, info = load_spikes(folder)
    layers = list(rasters)
    if not layers:
        raise ResultsError(f"{SPIKES} holds no spike raster (the task records none)")
    n_samples = min(len(rasters[layer][0]) for layer in layers)
    if n_samples == 0:
        raise ResultsError(f"{SPIKES} holds rasters of no sample")
    n_panels = min(n_samples, 4)
    plt = _pyplot()
    fig, axes = plt.subplots(1, n_panels, figsize=(3.2 * n_panels, 3.5), squeeze=False)
    for sample, ax in enumerate(axes[0]):
        offset = 0
        for colour, layer in enumerate(layers):
            times = rasters[layer][0][sample]
            neurons = rasters[layer][1][sample]
            valid = np.isfinite(times) & (neurons >= 0)
            ax.scatter(
                times[valid] * 1e3,
                neurons[valid] + offset,
                s=8,
                color=CLASS_COLOURS[colour % 5],
                label=layer,
            )
            size = int(info.get("layer_sizes", {}).get(layer, (neurons.max(initial=-1) + 1)))
            offset += size + 1
        ax.set(xlabel="time [ms]", title=f"test sample {sample}")
        if "t_max" in info:
            ax.set_xlim(0, info["t_max"] * 1e3)
    axes[0][0].set_ylabel("neuron (layers stacked)")
    axes[0][-1].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(target, dpi=120)
    plt.close(fig)


def plot_output_times(folder: Path, target: Path) -> None:
    """Histogram of each output neuron's first spike time, one panel per true class."""
    data = _load_predictions(folder)
    if "output_times" not in data:
        raise ResultsError(f"{PREDICTIONS} has no output spike times (the readout does not spike)")
    names = _plot_info(folder).get("class_names", DEFAULT_CLASS_NAMES)
    times, labels = data["output_times"], data["labels"]
    finite = times[np.isfinite(times)]
    bins = np.linspace(finite.min(), finite.max(), 30) if finite.size else 10
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(3.5 * len(names), 3.2), squeeze=False)
    for cls, ax in enumerate(axes[0]):
        rows = times[labels == cls]
        for neuron in range(times.shape[1]):
            values = rows[:, neuron]
            silent = int(np.sum(~np.isfinite(values)))
            ax.hist(
                values[np.isfinite(values)] * 1e3,
                bins=bins * 1e3 if finite.size else bins,
                alpha=0.6,
                color=CLASS_COLOURS[neuron % 5],
                label=f"neuron {names[neuron] if neuron < len(names) else neuron}"
                + (f" ({silent} silent)" if silent else ""),
            )
        ax.set(xlabel="first spike time [ms]", title=f"true class: {names[cls]}")
        ax.legend(fontsize="x-small")
    axes[0][0].set_ylabel("samples")
    fig.tight_layout()
    fig.savefig(target, dpi=120)
    plt.close(fig)


FIGURES: dict[str, Callable[[Path, Path], None]] = {
    "curves.png": plot_curves,
    "predictions.png": plot_predictions,
    "raster.png": plot_raster,
    "output_times.png": plot_output_times,
}


def plot_run(folder: str | Path) -> PlotReport:
    """Draw every figure the files in ``folder`` allow into ``folder/plots``.

    Raises:
        ResultsError: ``folder`` is no result folder (it or its ``metrics.json`` is missing),
            ``metrics.json`` is damaged or foreign (:class:`DamagedFileError`), or
            ``folder/plots`` cannot be created (:class:`WriteError`). A damaged file that
            only some figures need is reported in :attr:`PlotReport.errors` instead.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(folder, f"result folder {folder} does not exist")
    load_metrics(folder)  # refuses a folder that is no result folder, or a damaged file
    out = folder / "plots"
    try:
        out.mkdir(exist_ok=True)
    except OSError as error:
        raise WriteError(out, error) from None
    report = PlotReport()
    for name, draw in FIGURES.items():
        try:
            try:
                draw(folder, out / name)
            except OSError as error:
                raise WriteError(out / name, error) from None
        except (DamagedFileError, WriteError) as error:
            report.errors.setdefault(str(error), []).append(name)
        except (ResultsError, KeyError) as error:
            report.skipped[name] = (
                str(error)
                if isinstance(error, ResultsError)
                else (f"missing entry {error} in {METRICS} (written by an older version?)")
            )
        else:
            report.written.append(out / name)
    return report
