"""Run trained Yin-Yang networks on mock chips: what hardware-in-the-loop training buys.

Each run folder (written by ``python -m jaxsnn.event.tasks.hardware.yinyang_mock``) holds a
network trained with some set of chip artifacts -- all off (``--weight-bits 0 --clock 0
--jitter 0 --mismatch 0``: trained in software) or the default ones (trained in the loop).
This script evaluates every network on every mock chip named by ``--chip`` (artifact options
as the task takes them, one quoted string per chip) and prints a Markdown table of test
accuracies; a chip with jitter is evaluated ``--trials`` times (new noise each time) and the
mean is shown::

    python benchmarks/hardware_transfer.py RUN_SOFTWARE RUN_IN_THE_LOOP \\
        --chip "--weight-bits 0 --clock 0 --jitter 0 --mismatch 0" --chip ""

The networks' own settings (hidden size, time constants, weight scale) come from each run's
saved configuration; ``--chip`` changes only the artifacts.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxsnn.datasets import yinyang_split
from jaxsnn.event.hardware import experiment
from jaxsnn.event.tasks.hardware import yinyang_mock
from jaxsnn.training import results

ARTIFACTS = [name for name, _, _ in experiment.ARTIFACT_OPTIONS]


def chip_label(options: str) -> str:
    """A short name of a chip's artifact options (``default`` for none)."""
    return options.strip() or "default artifacts"


def trained_with(saved: dict) -> str:
    """How a run was trained: in software (every artifact off) or in the loop (the artifacts
    that differ from the defaults)."""
    off = ("weight_bits", "clock", "jitter", "jitter_bias", "mismatch", "readout_cap")
    if all(not saved.get(k) for k in off):
        return "in software, no artifacts"
    changed = [f"{k}={saved[k]}" for k in ARTIFACTS if saved.get(k) != experiment.DEFAULTS[k]]
    return "in the loop" + (": " + ", ".join(changed) if changed else ", default artifacts")


def accuracy_on_chip(run: Path, options: str, split: str, trials: int) -> float:
    """Mean accuracy over ``trials`` noise draws of the network of ``run`` on the mock chip with
    the run's network settings and the artifacts of ``options`` (defaults elsewhere)."""
    saved = results.saved_config(run)["task_config"]
    network = {k: v for k, v in saved.items() if k not in ARTIFACTS and k in yinyang_mock.DEFAULTS}
    args = yinyang_mock.parser().parse_args(shlex.split(options))
    for key, value in network.items():
        setattr(args, key, value)
    if "--weight-scale" not in options:
        args.weight_scale = saved["weight_scale"]  # the network's scale unless the chip differs
    model = yinyang_mock.build(args)["model"]
    params = results.load_params(run, model.init(jax.random.PRNGKey(0)))
    data = yinyang_split(split)
    features, labels = jnp.asarray(data.features), jnp.asarray(data.labels)
    loss = jax.jit(model.loss)
    if not model.stochastic:
        return float(loss(params, features, labels, None)[1]["accuracy"])
    scores = [
        float(loss(params, features, labels, jax.random.PRNGKey(trial))[1]["accuracy"])
        for trial in range(trials)
    ]
    return float(np.mean(scores))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="result folders of yinyang_mock runs")
    parser.add_argument(
        "--chip",
        action="append",
        required=True,
        help='artifact options of a mock chip, e.g. "--jitter 0" ("" = the defaults)',
    )
    parser.add_argument("--split", default="test", choices=("test", "validation"))
    parser.add_argument("--trials", type=int, default=5, help="noise draws per jittered chip")
    args = parser.parse_args(argv)
    header = ["network (trained with)"] + [chip_label(c) for c in args.chip]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for run in args.runs:
        saved = results.saved_config(run)["task_config"]
        row = [f"{run.name} ({trained_with(saved)})"]
        for options in args.chip:
            row.append(f"{100 * accuracy_on_chip(run, options, args.split, args.trials):.1f} %")
        print("| " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
