"""Yin-Yang with the event-based simulator and analytical (exact) spike-time gradients.

The first-spike classifier of :mod:`jaxsnn.event.models` (latency-coded features and a bias
spike, a hidden layer and three output neurons that fire at most once, computed in closed form
by the fast path), trained with ``gradient="implicit"``: implicit differentiation of the
analytically computed spike times::

    python -m jaxsnn.event.tasks.yinyang_analytical --epochs 300 --seed 1 --output runs/a
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from jaxsnn.event import models
from jaxsnn.training.cli import run_task, yinyang_experiment
from jaxsnn.training.harness import Model

TASK = "yinyang-analytical"
DEFAULTS: dict[str, Any] = dict(models.DEFAULTS)


def parser() -> argparse.ArgumentParser:
    """The task's command line (run options and network settings, with :data:`DEFAULTS`)."""
    return models.classifier_parser(
        "python -m jaxsnn.event.tasks.yinyang_analytical", __doc__.splitlines()[0], DEFAULTS
    )


def build_model(config: dict[str, Any]) -> Model:
    """The feed-forward first-spike classifier with implicit (analytical) gradients."""
    return models.feed_forward_classifier(config, gradient="implicit")


def build(args: argparse.Namespace) -> dict[str, Any]:
    """Model, optimiser and data for :func:`jaxsnn.training.cli.run_task`."""
    config = {key: getattr(args, key) for key in DEFAULTS}
    return yinyang_experiment(build_model(config), args, config["lr_decay"])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the task from the command line (``argv`` defaults to ``sys.argv[1:]``)."""
    return run_task(TASK, parser(), build, argv)


if __name__ == "__main__":
    main()
