"""Yin-Yang with the time-discrete simulator and surrogate gradients.

The max-over-time classifier of :mod:`jaxsnn.discrete.models`: latency-encoded inputs
(4 features and a bias spike) -> dense -> LIF hidden layer -> dense -> leaky-integrator
readout; the class is the readout neuron with the highest membrane peak, trained with the
cross-entropy of those peaks (max-over-time)::

    python -m jaxsnn.discrete.tasks.yinyang --epochs 30 --seed 1 --output runs/a
    python -m jaxsnn.discrete.tasks.yinyang --hidden 200 --dt 2.5e-4 --surrogate triangle
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from jaxsnn.discrete import models
from jaxsnn.training.cli import run_task, yinyang_experiment
from jaxsnn.training.harness import Model

TASK = "yinyang-discrete"
#: The task's settings: the run defaults (epochs, batch size, lr) and the network's.
DEFAULTS: dict[str, Any] = dict(models.DEFAULTS)


def parser() -> argparse.ArgumentParser:
    """The task's command line (run options and network settings, with :data:`DEFAULTS`)."""
    return models.classifier_parser(
        "python -m jaxsnn.discrete.tasks.yinyang", __doc__.splitlines()[0], DEFAULTS
    )


def build_model(config: dict[str, Any]) -> Model:
    """The network, loss, evaluation and recorder for one task configuration."""
    return models.max_over_time_classifier(config)


def task_config(args: argparse.Namespace) -> dict[str, Any]:
    """The task's own options from parsed arguments (JSON-able)."""
    keys = [k for k in DEFAULTS if k not in ("epochs", "batch_size", "lr")]
    return {k: getattr(args, k) for k in keys}


def build(args: argparse.Namespace) -> dict[str, Any]:
    """Model, optimiser and data for :func:`jaxsnn.training.cli.run_task`."""
    config = task_config(args)
    return yinyang_experiment(build_model(config), args, config["lr_decay"])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the task from the command line (``argv`` defaults to ``sys.argv[1:]``)."""
    return run_task(TASK, parser(), build, argv)


if __name__ == "__main__":
    main()
