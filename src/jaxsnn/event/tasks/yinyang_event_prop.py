"""Yin-Yang with the event-based simulator and EventProp (adjoint) gradients.

The network and loss are those of the analytical task (the first-spike classifier of
:mod:`jaxsnn.event.models`); the gradients come from the EventProp adjoint backward pass
(:mod:`jaxsnn.event.eventprop`) instead of implicit differentiation -- the same gradient,
computed from the spikes alone.

``--recurrent`` trains the same two-layer network as one recurrent EventProp population,
simulated event by event (:func:`jaxsnn.event.models.recurrent_classifier`). Its cost grows
with the square of the population (every event updates every neuron, and there are as many
events as neurons), so ``--recurrent`` defaults to :data:`RECURRENT_HIDDEN` = 120 hidden
neurons instead of 200 (batch 25 and lr 5e-3 gave 97.9 % on the validation split with 120
hidden neurons, the same as with lr 3e-3; ``benchmarks/RESULTS.md``)::

    python -m jaxsnn.event.tasks.yinyang_event_prop --epochs 300 --seed 1 --output runs/e
    python -m jaxsnn.event.tasks.yinyang_event_prop --recurrent --output runs/r
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from jaxsnn.event import models
from jaxsnn.training.cli import run_task, yinyang_experiment
from jaxsnn.training.harness import Model

TASK = "yinyang-event-prop"
# the analytical task's network, loss and training: the two differ only in the gradient
DEFAULTS: dict[str, Any] = dict(models.DEFAULTS, recurrent=False)
#: hidden neurons of the ``--recurrent`` variant when ``--hidden`` is not given
RECURRENT_HIDDEN = 120


def parser() -> argparse.ArgumentParser:
    """The analytical task's command line plus ``--recurrent`` (``--hidden`` defaults to
    ``None``: :data:`DEFAULTS`' 200, or :data:`RECURRENT_HIDDEN` with ``--recurrent``)."""
    p = models.classifier_parser(
        "python -m jaxsnn.event.tasks.yinyang_event_prop",
        __doc__.splitlines()[0],
        dict(DEFAULTS, hidden=None),
        hidden_help=f"hidden neurons (default: {DEFAULTS['hidden']}; "
        f"{RECURRENT_HIDDEN} with --recurrent, whose cost grows as the square)",
    )
    p.add_argument(
        "--recurrent",
        action="store_true",
        help="train one recurrent population that emulates the two-layer network",
    )
    return p


def build_model(config: dict[str, Any]) -> Model:
    """The feed-forward EventProp network, or with ``config["recurrent"]`` the recurrent one."""
    if config["recurrent"]:
        return models.recurrent_classifier(config)
    return models.feed_forward_classifier(config, gradient="eventprop")


def task_config(args: argparse.Namespace) -> dict[str, Any]:
    """The network's settings from the command line, ``hidden`` resolved (see :func:`parser`)."""
    config = {key: getattr(args, key) for key in DEFAULTS}
    if config["hidden"] is None:
        config["hidden"] = RECURRENT_HIDDEN if config["recurrent"] else DEFAULTS["hidden"]
    return config


def build(args: argparse.Namespace) -> dict[str, Any]:
    """Model, optimiser and data for :func:`jaxsnn.training.cli.run_task`."""
    config = task_config(args)
    experiment = yinyang_experiment(build_model(config), args, config["lr_decay"])
    return {**experiment, "task_config": {"hidden": config["hidden"]}}  # saved resolved


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the task from the command line (``argv`` defaults to ``sys.argv[1:]``)."""
    return run_task(TASK, parser(), build, argv)


if __name__ == "__main__":
    main()
