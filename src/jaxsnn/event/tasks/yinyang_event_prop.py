"""Yin-Yang with the event-based simulator and EventProp (adjoint) gradients.

The network and loss are those of :mod:`jaxsnn.event.tasks.yinyang_analytical` (four
latency-coded features plus a bias spike, a hidden layer and three output neurons that fire
at most once, cross-entropy over the first output spikes); the gradients come from the
EventProp adjoint backward pass (:mod:`jaxsnn.event.eventprop`) instead of implicit
differentiation -- the same gradient, computed from the spikes alone.

``--recurrent`` trains one :func:`~jaxsnn.event.leaky_integrate_and_fire.RecurrentEventPropLIF`
population of ``hidden + 3`` neurons instead: input weights only into the hidden neurons,
recurrent weights only from the hidden to the output neurons (a fixed mask keeps this block
structure), and a refractory period longer than ``t_max`` so that every neuron fires at most
once. It is the two-layer network, simulated event by event as one recurrent population.
Its cost grows with the square of the population (every event updates every neuron, and there
are as many events as neurons), so ``--recurrent`` defaults to :data:`RECURRENT_HIDDEN` = 120
hidden neurons instead of 200 (batch 25 and lr 5e-3 gave 97.9 % on the validation split with
120 hidden neurons, the same as with lr 3e-3; ``benchmarks/RESULTS.md``)::

    python -m jaxsnn.event.tasks.yinyang_event_prop --epochs 300 --seed 1 --output runs/e
    python -m jaxsnn.event.tasks.yinyang_event_prop --recurrent --output runs/r
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxsnn.datasets import CLASS_NAMES
from jaxsnn.event.leaky_integrate_and_fire import EventPropTTFSLIF, RecurrentEventPropLIF
from jaxsnn.event.tasks import yinyang_analytical as analytical
from jaxsnn.event.types import Spikes, dropped_of, sort_spikes
from jaxsnn.training.cli import run_task, yinyang_experiment
from jaxsnn.training.harness import Model

TASK = "yinyang-event-prop"

# the analytical task's network, loss and training (chosen on the validation split, see
# benchmarks/RESULTS.md): the two tasks differ only in how the gradient is computed
DEFAULTS: dict[str, Any] = dict(analytical.DEFAULTS, recurrent=False)
#: hidden neurons of the ``--recurrent`` variant when ``--hidden`` is not given
RECURRENT_HIDDEN = 120


def parser() -> argparse.ArgumentParser:
    """The analytical task's command line plus ``--recurrent`` (``--hidden`` defaults to
    ``None``: :data:`DEFAULTS`' 200, or :data:`RECURRENT_HIDDEN` with ``--recurrent``)."""
    p = analytical.parser(
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


def neuron_range(spikes: Spikes, start: int, stop: int) -> Spikes:
    """The spikes of neurons ``start <= idx < stop``, renumbered from 0, sorted, same size."""
    inside = (spikes.idx >= start) & (spikes.idx < stop)
    selected = sort_spikes(
        jnp.where(inside, spikes.time, jnp.inf),
        jnp.where(inside, spikes.idx - start, -1),
        spikes.time.shape[-1],
    )
    return Spikes(selected.time, selected.idx, dropped_of(spikes))


def recurrent_model(config: dict[str, Any]) -> Model:
    """The two-layer network as one recurrent EventProp population (module docstring)."""
    t_max = config["t_max"]
    n_hidden, n_classes = config["hidden"], len(CLASS_NAMES)
    n = n_hidden + n_classes
    params = analytical.neuron_parameters(config)._replace(t_refrac=2.0 * t_max)
    encoder = analytical.encoder_of(config)
    n_inputs = encoder.n_channels(4)
    population = RecurrentEventPropLIF(n, params, t_max, max_events=n)
    # the feed-forward layers only draw the initial weights (same draw as the default task)
    hidden = EventPropTTFSLIF(n_hidden, params, t_max, config["hidden_mean"], config["hidden_std"])
    output = EventPropTTFSLIF(n_classes, params, t_max, config["output_mean"], config["output_std"])
    is_hidden = jnp.arange(n) < n_hidden
    input_mask = jnp.broadcast_to(is_hidden, (n_inputs, n)).astype(float)
    recurrent_mask = (is_hidden[:, None] & ~is_hidden[None, :]).astype(float)

    def init(key: jax.Array) -> dict:
        key_hidden, key_output = jax.random.split(key)
        w_hidden = hidden.init(key_hidden, (n_inputs,))[1]["weights"]
        w_output = output.init(key_output, (n_hidden,))[1]["weights"]
        return {
            "input_weights": jnp.zeros((n_inputs, n)).at[:, :n_hidden].set(w_hidden),
            "recurrent_weights": jnp.zeros((n, n)).at[:n_hidden, n_hidden:].set(w_output),
        }

    def masked(weights: dict) -> dict:
        return {
            "input_weights": weights["input_weights"] * input_mask,
            "recurrent_weights": weights["recurrent_weights"] * recurrent_mask,
        }

    def forward(weights, features):
        """Input, hidden and output spike lists of one sample."""
        inputs = Spikes(*encoder.events(features))
        spikes = population.apply(masked(weights), inputs)
        return inputs, neuron_range(spikes, 0, n_hidden), neuron_range(spikes, n_hidden, n)

    def output_weights(weights: dict) -> jax.Array:
        return masked(weights)["recurrent_weights"][:n_hidden, n_hidden:]

    return analytical.first_spike_model(config, init, forward, output_weights)


def build_model(config: dict[str, Any]) -> Model:
    """The feed-forward EventProp network, or with ``config["recurrent"]`` the recurrent one."""
    if config["recurrent"]:
        return recurrent_model(config)
    return analytical.build_model(config, first_spike_layer=EventPropTTFSLIF)


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
