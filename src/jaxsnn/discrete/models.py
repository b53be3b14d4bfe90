"""Networks of the time-discrete tasks: the max-over-time (membrane peak) classifier.

The Yin-Yang network trained with surrogate gradients: the four features ``[x, y, 1-x, 1-y]``
become one latency spike each between 0 and ``t_late``, plus a bias spike at ``t_bias``; a
dense layer drives a hidden layer of LIF neurons (forward Euler on a grid of step ``dt``, the
threshold's derivative replaced by a surrogate), and a second dense layer drives three
leaky-integrator readout neurons that do not spike. The class is the readout neuron with the
highest membrane peak over the simulated time ``t_max``; the loss is the cross-entropy of
those peaks (max-over-time).

* :func:`max_over_time_classifier` -- the network as the harness's
  :class:`~jaxsnn.training.harness.Model`;
* :func:`classifier_parser` -- a task's command line with one option per network setting.

A task is the configuration (:data:`DEFAULTS`, :func:`classifier_parser`) plus the model.
"""

from __future__ import annotations

import argparse
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxsnn.base import serial_trace
from jaxsnn.datasets import CLASS_NAMES, N_CLASSES, N_FEATURES
from jaxsnn.discrete.decoding import accuracy, max_over_time, max_over_time_loss, spike_raster
from jaxsnn.discrete.layers import LI, LIF, Linear
from jaxsnn.discrete.surrogate import SURROGATES
from jaxsnn.encoding import LatencyEncoder
from jaxsnn.neuron import LIFParameters
from jaxsnn.training.cli import Option, network_parser, positive_float, positive_int
from jaxsnn.training.harness import Model

Config = dict[str, Any]

#: the max-over-time classifier's settings and its training defaults
DEFAULTS: Config = {
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
SURROGATE_PARAMETER: dict[str, str] = {
    "superspike": "alpha",
    "fast_sigmoid": "alpha",
    "triangle": "width",
    "arctan": "alpha",
    "sigmoid": "alpha",
    "straight_through": "scale",
}

#: The network's options: name, argparse type (or the choices), help.
OPTIONS: list[Option] = [
    ("hidden", positive_int, "hidden LIF neurons"),
    ("dt", positive_float, "time step (s)"),
    ("tau_mem", positive_float, "membrane time constant (s)"),
    ("tau_syn", positive_float, "synaptic time constant (s)"),
    ("t_late", positive_float, "input spike time of a feature equal to 1 (s); 0 spikes at 0"),
    ("t_bias", float, "time of the bias spike (s)"),
    ("t_max", positive_float, "simulated time (s)"),
    ("surrogate", sorted(SURROGATE_PARAMETER), "surrogate derivative of the threshold"),
    ("surrogate_scale", positive_float, "the surrogate's parameter (alpha, width or scale)"),
    ("hidden_scale", positive_float, "std of the input weights times sqrt(n_inputs)"),
    ("output_scale", positive_float, "std of the output weights times sqrt(n_hidden)"),
    ("output_mean", float, "mean of the initial output weights (> 0: every readout is driven)"),
    ("lr_decay", float, "final learning rate as a fraction of --lr (cosine schedule)"),
]


def classifier_parser(prog: str, description: str, defaults: Config) -> argparse.ArgumentParser:
    """A task's command line: the shared run options plus one option per entry of
    :data:`OPTIONS` (``--hidden``, ``--dt``, ...), with ``defaults`` (keys of :data:`DEFAULTS`)."""
    return network_parser(prog, description, defaults, OPTIONS)


def max_over_time_classifier(config: Config) -> Model:
    """The network, loss, evaluation and recorder of the classifier (module docstring).

    ``config`` holds the network keys of :data:`DEFAULTS`; the recorder returns the hidden
    spike raster and, for the readout, the time of each neuron's membrane peak.
    """
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
        Linear(N_CLASSES, scale=config["output_scale"], mean=config["output_mean"]),
        LI(dt, params),
    )
    n_inputs = encoder.n_channels(N_FEATURES)

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
