"""Yin-Yang trained hardware-in-the-loop against a software mock of BrainScaleS-2.

The first-spike classifier at the chip's operating point (tau_syn 6 µs, tau_mem 12 µs) runs on
:class:`~jaxsnn.event.hardware.MockBackend` -- the event simulator plus 6-bit weights, the
8 ns read-out clock, spike-time jitter and fixed-pattern mismatch, each an option (0 switches
it off) -- and learns from the software model's EventProp gradient at the mock's spikes::

    python -m jaxsnn.event.tasks.hardware.yinyang_mock --epochs 100 --jitter 2e-7
    python -m jaxsnn.event.tasks.hardware.yinyang_mock --calib calib/calibration.json
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from jaxsnn.event import models
from jaxsnn.event.hardware import experiment
from jaxsnn.training.cli import run_task, yinyang_experiment

TASK = "yinyang-mock"
DEFAULTS = experiment.DEFAULTS


def parser() -> argparse.ArgumentParser:
    """The task's command line: run options, network settings and the chip's artifacts."""
    return experiment.parser(
        "python -m jaxsnn.event.tasks.hardware.yinyang_mock", __doc__.splitlines()[0]
    )


def build(args: argparse.Namespace) -> dict[str, Any]:
    """Model, optimiser and data for :func:`jaxsnn.training.cli.run_task`."""
    config = experiment.config_of(args)
    model = models.recurrent_classifier(config, forward=experiment.mock_backend(config))
    return yinyang_experiment(model, args, config["lr_decay"])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the task from the command line (``argv`` defaults to ``sys.argv[1:]``)."""
    return run_task(TASK, parser(), build, argv)


if __name__ == "__main__":
    main()
