"""Handwritten digits (scikit-learn's 8 x 8 images), event-based simulator, EventProp gradients.

The first-spike classifier of :mod:`jaxsnn.event.models` on a second data set: each of the 64
pixels ``x`` (scaled to ``[0, 1]``) becomes two latency spikes, ``x`` and ``1 - x`` (so that
ink and blank paper both spike early somewhere), plus a bias spike; a hidden layer and ten
output neurons fire at most once, and the class is the output neuron that fires first. The
splits are fixed and stratified (:mod:`jaxsnn.datasets.digits`: 1079 train, 359 validation,
359 test); the defaults were chosen on the validation split (``benchmarks/RESULTS.md``),
among them three regularisers of the training only: a random affine distortion of each
training image (shifts up to 0.3 pixels, rotations up to 5 degrees, sizes 95-105 %:
``--distort-shift``, ``--distort-rotation``, ``--distort-scale``), Gaussian jitter of 0.5 ms
on the input spike times (``--input-jitter``) and of 1.5 ms on the hidden spike times that the
output layer receives (``--hidden-jitter``), with 1000 hidden neurons, 150 epochs and no
penalty on late label spikes (``--regularization 0``).
Needs scikit-learn (``pip install "jaxsnn[digits]"``)::

    python -m jaxsnn.event.tasks.digits --seed 1 --output runs/digits
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from jaxsnn.datasets import digits
from jaxsnn.event import models
from jaxsnn.training.cli import run_task, split_experiment
from jaxsnn.training.harness import Model

TASK = "digits"
#: the data set as the classifier sees it: 64 pixels, each as x and 1 - x
DATA = models.DataSpec(digits.N_FEATURES, digits.CLASS_NAMES, mirror=True, image_shape=(8, 8))
DEFAULTS: dict[str, Any] = dict(
    models.DEFAULTS,
    epochs=150,
    hidden=1000,
    lr=5e-3,
    regularization=0.0,
    input_jitter=5e-4,
    hidden_jitter=1.5e-3,
    distort_shift=0.3,
    distort_rotation=5.0,
    distort_scale=0.05,
)


def parser() -> argparse.ArgumentParser:
    """The task's command line (run options and network settings, with :data:`DEFAULTS`)."""
    return models.classifier_parser(
        "python -m jaxsnn.event.tasks.digits", __doc__.splitlines()[0], DEFAULTS
    )


def build_model(config: dict[str, Any]) -> Model:
    """The feed-forward first-spike classifier on the digits, with EventProp gradients."""
    return models.feed_forward_classifier({**config, "data": DATA}, gradient="eventprop")


def build(args: argparse.Namespace) -> dict[str, Any]:
    """Model, optimiser and data for :func:`jaxsnn.training.cli.run_task`."""
    config = {key: getattr(args, key) for key in DEFAULTS}
    model = build_model(config)
    try:
        return split_experiment(model, args, config["lr_decay"], digits.digits_split, "digits")
    except digits.MissingScikitLearnError as error:  # one line, exit status 2 (run_task)
        raise ValueError(str(error)) from error


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the task from the command line (``argv`` defaults to ``sys.argv[1:]``)."""
    return run_task(TASK, parser(), build, argv)


if __name__ == "__main__":
    main()
