"""Yin-Yang trained hardware-in-the-loop on BrainScaleS-2 (needs the chip's software stack).

The same network and options as :mod:`jaxsnn.event.tasks.hardware.yinyang_mock`, with the
forward spikes from the chip (:class:`~jaxsnn.event.hardware.bss2.BSS2Backend`, called through
``jax.pure_callback``). Where the platform's software stack is not installed the task stops at
once with one line naming the missing package and pointing to the mock::

    python -m jaxsnn.event.tasks.hardware.yinyang --calib calib/calibration.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from jaxsnn.event import models
from jaxsnn.event.hardware import experiment
from jaxsnn.event.hardware.bss2 import BSS2Backend, HardwareUnavailableError, require_stack
from jaxsnn.training.cli import run_task, yinyang_experiment

TASK = "yinyang-hardware"
PROG = "python -m jaxsnn.event.tasks.hardware.yinyang"
DEFAULTS = experiment.DEFAULTS


def parser() -> argparse.ArgumentParser:
    """The task's command line (that of the mock task; the chip's own artifacts apply)."""
    return experiment.parser(PROG, __doc__.splitlines()[0])


def build(args: argparse.Namespace) -> dict[str, Any]:
    """Model, optimiser and data for :func:`jaxsnn.training.cli.run_task`."""
    from jaxsnn.event.hardware.calib import load_calibration

    config = experiment.config_of(args)
    params = models.neuron_parameters(config)._replace(t_refrac=2.0 * config["t_max"])
    calibration = load_calibration(config["calib"]) if config["calib"] else None
    backend = BSS2Backend(
        models.classifier_mapping(config),
        params,
        config["t_max"],
        calibration=calibration,
        weight_scale=config["weight_scale"],
    )
    model = models.recurrent_classifier(config, forward=backend)
    return yinyang_experiment(model, args, config["lr_decay"])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the task from the command line; without the chip's stack: one line, exit 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not {"-h", "--help"} & set(argv):
        try:
            require_stack()
        except HardwareUnavailableError as error:
            print(f"{PROG}: error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
    return run_task(TASK, parser(), build, argv)


if __name__ == "__main__":
    main()
