"""Yin-Yang with the time-discrete simulator and surrogate gradients.

Network: latency-encoded inputs (4 features and a bias spike) -> dense -> LIF hidden layer
-> dense -> leaky-integrator readout; the class is the readout neuron with the highest
membrane peak, trained with the cross-entropy of those peaks (max-over-time)::

    python -m jaxsnn.discrete.tasks.yinyang --epochs 30 --seed 1 --output runs/a
    python -m jaxsnn.discrete.tasks.yinyang --hidden 200 --dt 2.5e-4 --surrogate triangle
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxsnn.base import serial_trace
from jaxsnn.datasets import CLASS_NAMES
from jaxsnn.discrete.decoding import accuracy, max_over_time, max_over_time_loss, spike_raster
from jaxsnn.discrete.layers import LI, LIF, Linear
from jaxsnn.discrete.surrogate import SURROGATES
from jaxsnn.encoding import LatencyEncoder
from jaxsnn.training.cli import (
    positive_float,
    positive_int,
    run_task,
    task_parser,
    yinyang_experiment,
)
from jaxsnn.training.harness import Model

TASK = "yinyang-discrete"

#: Defaults of the task's own options (the run options are in ``task_parser``).
DEFAULTS: dict[str, Any] = {
    "epochs": 100,
    "batch_size": 64,
    "lr": 5e-3,
    "hidden": 120,
    "dt": 5e-4,
    "tau_mem": 1e-2,
    "tau_syn": 5e-3,
    "t_late": 4e-2,
    "t_bias": 0.0,
    "t_max": 5e-2,
    "surrogate": "superspike",
    "surrogate_scale": 100.0,
    "hidden_scale": 6.0,
    "output_scale": 2.0,
    "output_mean": 0.1,
    "lr_decay": 0.02,
}

#: The width/scale keyword of each surrogate, set by ``--surrogate-scale``.
SURROGATE_PARAMETER = {
    "superspike": "alpha",
    "fast_sigmoid": "alpha",
    "triangle": "width",
    "arctan": "alpha",
    "sigmoid": "alpha",
    "straight_through": "scale",
}


#: The task's own options: name, argparse type, help.
OPTIONS: list[tuple[str, Any, str]] = [
    ("hidden", positive_int, "hidden LIF neurons"),
    ("dt", positive_float, "time step (s)"),
    ("tau_mem", positive_float, "membrane time constant (s)"),
    ("tau_syn", positive_float, "synaptic time constant (s)"),
    ("t_late", positive_float, "input spike time of a feature equal to 1 (s); 0 spikes at 0"),
    ("t_bias", float, "time of the bias spike (s)"),
    ("t_max", positive_float, "simulated time (s)"),
    ("surrogate", str, "surrogate derivative of the threshold"),
    ("surrogate_scale", positive_float, "the surrogate's parameter (alpha, width or scale)"),
    ("hidden_scale", positive_float, "std of the input weights times sqrt(n_inputs)"),
    ("output_scale", positive_float, "std of the output weights times sqrt(n_hidden)"),
    ("output_mean", float, "mean of the initial output weights (> 0: every readout is driven)"),
    ("lr_decay", float, "final learning rate as a fraction of --lr (cosine schedule)"),
]


def parser() -> argparse.ArgumentParser:
    """The task's command line: the shared run options plus the network's."""
    p = task_parser(
        "python -m jaxsnn.discrete.tasks.yinyang",
        __doc__.splitlines()[0],
        epochs=DEFAULTS["epochs"],
        batch_size=DEFAULTS["batch_size"],
        lr=DEFAULTS["lr"],
    )
    g = p.add_argument_group("network")
    for name, kind, text in OPTIONS:
        flag = "--" + name.replace("_", "-")
        if name == "surrogate":
            g.add_argument(
                flag, choices=sorted(SURROGATE_PARAMETER), default=DEFAULTS[name], help=text
            )
        else:
            g.add_argument(flag, type=kind, default=DEFAULTS[name], help=text)
    return p


def build_model(config: dict[str, Any]) -> Model:
    """The network, loss, evaluation and recorder for one task configuration."""
    from jaxsnn.neuron import LIFParameters

    dt = config["dt"]
    params = LIFParameters(tau_mem=config["tau_mem"], tau_syn=config["tau_syn"])
    encoder = LatencyEncoder(0.0, config["t_late"], bias_times=(config["t_bias"],))
    n_steps = int(round(config["t_max"] / dt))
    threshold = SURROGATES[config["surrogate"]](
        **{SURROGATE_PARAMETER[config["surrogate"]]: config["surrogate_scale"]}
    )
    net = serial_trace(
        Linear(config["hidden"], scale=config["hidden_scale"]),
        LIF(dt, params, threshold=threshold),
        Linear(len(CLASS_NAMES), scale=config["output_scale"], mean=config["output_mean"]),
        LI(dt, params),
    )
    n_inputs = encoder.n_channels(4)

    def init(key: jax.Array):
        return net.init(key, (n_inputs,))[1]

    def run(weights, features):
        """Hidden spikes [T, B, hidden] and readout membrane [T, B, 3]."""
        trains = encoder.spike_trains(features, dt, n_steps)
        outputs = net.apply(weights, trains)
        return outputs[1], outputs[3]

    def loss(weights, features, labels):
        _, v = run(weights, features)
        return max_over_time_loss(v, labels), {"accuracy": accuracy(max_over_time(v), labels)}

    def evaluate(weights, features):
        spikes, v = run(weights, features)
        peak = max_over_time(v)
        return {
            "prediction": jnp.argmax(peak, axis=-1),
            "max_membrane": peak,
            "hidden_spike_count": jnp.sum(spikes, axis=(0, 2)),
        }

    def record(weights, features):
        spikes, v = run(weights, features)
        times, neurons = _trim(*spike_raster(spikes, dt))
        # the readout does not spike: its "events" are the times of each neuron's peak
        peak_step = jnp.argmax(v, axis=0)
        peak_times = (peak_step + 1) * dt
        peak_neurons = jnp.broadcast_to(jnp.arange(v.shape[-1]), peak_step.shape)
        return {
            "hidden": (times, neurons),
            "output_peak": (np.asarray(peak_times), np.asarray(peak_neurons, dtype=np.int32)),
        }

    return Model(
        init=init,
        loss=loss,
        evaluate=evaluate,
        record=record,
        plot_info={
            "t_max": n_steps * dt,
            "class_names": list(CLASS_NAMES),
            "dt": dt,
            "input_t_late": config["t_late"],
            "output_peak": "time of each readout neuron's membrane maximum (not a spike)",
        },
    )


def _trim(times: jax.Array, neurons: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """Drop the padding columns that no sample uses (at least one column is kept)."""
    times, neurons = np.asarray(times), np.asarray(neurons)
    used = max(int(np.max(np.sum(neurons >= 0, axis=1), initial=0)), 1)
    return times[:, :used], neurons[:, :used]


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
