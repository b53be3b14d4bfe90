"""Yin-Yang with the event-based simulator and analytical (exact) spike-time gradients.

Network (time-to-first-spike): the four features ``[x, y, 1-x, 1-y]`` become one spike each
between ``t_early`` and ``t_late``, plus a bias spike at ``t_bias``; a hidden layer of LIF
neurons and an output layer of three LIF neurons each fire (at most) once, computed in
closed form by the feed-forward fast path (:func:`jaxsnn.event.ttfs.ttfs_spike_times`). The
class is the output neuron that fires first; the loss is the cross-entropy of a softmax over
``-t / tau_loss`` plus a regulariser that pushes the label neuron earlier. Gradients are exact:
implicit differentiation of the analytically computed spike times::

    python -m jaxsnn.event.tasks.yinyang_analytical --epochs 300 --seed 1 --output runs/a
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxsnn.base import Layer
from jaxsnn.datasets import CLASS_NAMES
from jaxsnn.encoding import LatencyEncoder
from jaxsnn.event.leaky_integrate_and_fire import TTFSLIF
from jaxsnn.event.loss import first_spike_times, predict_first_spike, ttfs_cross_entropy
from jaxsnn.event.ttfs import peak_voltage
from jaxsnn.event.types import Spikes, dropped_of
from jaxsnn.neuron import LIFParameters
from jaxsnn.training.cli import (
    positive_float,
    positive_int,
    run_task,
    task_parser,
    yinyang_experiment,
)
from jaxsnn.training.harness import Model

TASK = "yinyang-analytical"

DEFAULTS: dict[str, Any] = {
    "epochs": 300,
    "batch_size": 25,
    "lr": 5e-3,
    "hidden": 200,
    "tau_syn": 5e-3,
    "tau_mem": 1e-2,
    "t_early": 0.0,
    "t_late": 1e-2,
    "t_bias": 4.5e-3,
    "t_max": 2e-2,
    "tau_loss": 2.5e-3,
    "regularization": 2e-3,
    "hidden_mean": 3.0,
    "hidden_std": 3.0,
    "output_mean": 3.0,
    "output_std": 3.0,
    "lr_decay": 0.05,
    "silence_penalty": 1.0,
}


def parser(
    prog: str = "python -m jaxsnn.event.tasks.yinyang_analytical",
    description: str = __doc__.splitlines()[0],
    defaults: dict[str, Any] | None = None,
    hidden_help: str = "hidden neurons",
) -> argparse.ArgumentParser:
    """The task's command line: the shared run options plus the network's.

    ``defaults`` (default :data:`DEFAULTS`) gives every option's default value;
    ``hidden_help`` is the help text of ``--hidden``.
    """
    defaults = DEFAULTS if defaults is None else defaults
    p = task_parser(
        prog,
        description,
        epochs=defaults["epochs"],
        batch_size=defaults["batch_size"],
        lr=defaults["lr"],
    )
    g = p.add_argument_group("network")
    g.add_argument("--hidden", type=positive_int, default=defaults["hidden"], help=hidden_help)
    for name, meaning in [
        ("tau_syn", "synaptic time constant (s)"),
        ("tau_mem", "membrane time constant (s)"),
        ("t_late", "input spike time of a feature of value 1 (s)"),
        ("t_max", "end of the simulation (s); later spikes count as missing"),
        ("tau_loss", "time scale of the softmax over -t (s)"),
    ]:
        flag = "--" + name.replace("_", "-")
        g.add_argument(flag, type=positive_float, default=defaults[name], help=meaning)
    for name, meaning in [
        ("t_early", "input spike time of a feature of value 0 (s)"),
        ("t_bias", "time of the bias spike (s)"),
        ("regularization", "weight of the term pushing the label neuron earlier"),
        ("hidden_mean", "initial mean input drive of a hidden neuron, in thresholds"),
        ("hidden_std", "initial spread of the hidden weights, in thresholds"),
        ("output_mean", "initial mean input drive of an output neuron, in thresholds"),
        ("output_std", "initial spread of the output weights, in thresholds"),
        ("lr_decay", "final learning rate as a fraction of --lr (cosine schedule)"),
        ("silence_penalty", "weight of (v_th - peak V)+ of a silent label neuron"),
    ]:
        flag = "--" + name.replace("_", "-")
        g.add_argument(flag, type=float, default=defaults[name], help=meaning)
    return p


def neuron_parameters(config: dict[str, Any]) -> LIFParameters:
    """The LIF parameters of every neuron of the network."""
    return LIFParameters(tau_mem=config["tau_mem"], tau_syn=config["tau_syn"])


def encoder_of(config: dict[str, Any]) -> LatencyEncoder:
    """Features ``[x, y]`` -> ``[x, y, 1-x, 1-y]`` latency spikes plus the bias spike."""
    return LatencyEncoder(config["t_early"], config["t_late"], bias_times=(config["t_bias"],))


def first_spike_loss(
    config: dict[str, Any],
    output_times: jax.Array,
    label: jax.Array,
    hidden_spikes: Spikes,
    output_weights: jax.Array,
) -> jax.Array:
    """Cross-entropy of the first output spikes plus the penalty on a silent label neuron.

    ``L = CE(-t / tau_loss) + regularization (exp(t_label / tau_syn) - 1)
    + silence_penalty * relu(v_th - V_peak[label])`` with the label neuron's exact peak
    voltage given the hidden spikes (:func:`jaxsnn.event.ttfs.peak_voltage`).
    """
    params = neuron_parameters(config)
    loss = ttfs_cross_entropy(
        output_times,
        label,
        tau=config["tau_loss"],
        t_max=config["t_max"],
        regularization=config["regularization"],
        tau_regularization=config["tau_syn"],
    )
    if config["silence_penalty"]:
        # only the label neuron's peak is needed: one weight column instead of all
        label_weights = jnp.take(output_weights, label[None], axis=1)
        v_peak = peak_voltage(label_weights, params, hidden_spikes, config["t_max"])[0]
        loss = loss + config["silence_penalty"] * jax.nn.relu(params.v_th - v_peak)
    return loss


def plot_info(config: dict[str, Any]) -> dict[str, Any]:
    """What ``jaxsnn plot`` needs to know about the network."""
    return {
        "t_max": config["t_max"],
        "class_names": list(CLASS_NAMES),
        "layer_sizes": {
            "input": encoder_of(config).n_channels(4),
            "hidden": config["hidden"],
            "output": len(CLASS_NAMES),
        },
    }


def first_spike_model(
    config: dict[str, Any],
    init: Callable[[jax.Array], Any],
    forward: Callable[[Any, jax.Array], tuple[Spikes, Spikes, Spikes]],
    output_weights: Callable[[Any], jax.Array],
) -> Model:
    """The harness's :class:`Model` of a network that classifies by its first output spike.

    ``forward(weights, features) -> (input, hidden, output)`` spike lists of one sample;
    ``output_weights(weights)`` ``[n_hidden, 3]`` for the silence penalty of
    :func:`first_spike_loss`. The loss is batched with ``vmap`` and reports the accuracy and
    the events dropped by full buffers.
    """
    n_classes = len(CLASS_NAMES)

    def output_times(weights, features):
        out = forward(weights, features)[2]
        return first_spike_times(out.time, out.idx, n_classes)

    def sample_loss(weights, features, label):
        _, hidden_spikes, out = forward(weights, features)
        t = first_spike_times(out.time, out.idx, n_classes)
        loss = first_spike_loss(config, t, label, hidden_spikes, output_weights(weights))
        return loss, (predict_first_spike(t) == label, dropped_of(out))

    def loss(weights, features, labels):
        losses, (correct, dropped) = jax.vmap(sample_loss, in_axes=(None, 0, 0))(
            weights, features, labels
        )
        return jnp.mean(losses), {"accuracy": jnp.mean(correct), "dropped_events": jnp.sum(dropped)}

    def evaluate(weights, features):
        t = jax.vmap(output_times, in_axes=(None, 0))(weights, features)
        return {"prediction": jax.vmap(predict_first_spike)(t), "output_times": t}

    def record(weights, features):
        layers = jax.vmap(forward, in_axes=(None, 0))(weights, features)
        return {
            name: (s.time, s.idx)
            for name, s in zip(("input", "hidden", "output"), layers, strict=True)
        }

    return Model(
        init=init, loss=loss, evaluate=evaluate, record=record, plot_info=plot_info(config)
    )


def build_model(config: dict[str, Any], first_spike_layer: Callable[..., Layer] = TTFSLIF) -> Model:
    """Network, loss, evaluation and spike recorder for one configuration.

    ``first_spike_layer`` builds both layers (signature of
    :func:`~jaxsnn.event.leaky_integrate_and_fire.TTFSLIF`); the EventProp task passes its
    EventProp counterpart, which gives the same spikes with adjoint gradients.
    """
    params = neuron_parameters(config)
    t_max = config["t_max"]
    encoder = encoder_of(config)
    n_inputs = encoder.n_channels(4)
    n_classes = len(CLASS_NAMES)
    hidden = first_spike_layer(
        config["hidden"], params, t_max, config["hidden_mean"], config["hidden_std"]
    )
    output = first_spike_layer(
        n_classes, params, t_max, config["output_mean"], config["output_std"]
    )

    def init(key: jax.Array):
        key_hidden, key_output = jax.random.split(key)
        _, p_hidden = hidden.init(key_hidden, (n_inputs,))
        _, p_output = output.init(key_output, (config["hidden"],))
        return (p_hidden, p_output)

    def forward(weights, features):
        """Input, hidden and output spike lists of one sample."""
        inputs = Spikes(*encoder.events(features))
        hidden_spikes = hidden.apply(weights[0], inputs)
        output_spikes = output.apply(weights[1], hidden_spikes)
        return inputs, hidden_spikes, output_spikes

    return first_spike_model(config, init, forward, lambda weights: weights[1]["weights"])


def build(args: argparse.Namespace) -> dict[str, Any]:
    """Model, optimiser and data for :func:`jaxsnn.training.cli.run_task`."""
    config = {key: getattr(args, key) for key in DEFAULTS}
    return yinyang_experiment(build_model(config), args, config["lr_decay"])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the task from the command line (``argv`` defaults to ``sys.argv[1:]``)."""
    return run_task(TASK, parser(), build, argv)


if __name__ == "__main__":
    main()
