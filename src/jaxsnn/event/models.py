"""Networks shared by the event-based tasks: the first-spike (time-to-first-spike) classifier.

The Yin-Yang network of Göltz et al. (2021): the four features ``[x, y, 1-x, 1-y]`` become one
spike each between ``t_early`` and ``t_late``, plus a bias spike at ``t_bias``; a hidden layer
of LIF neurons and an output layer of three LIF neurons each fire (at most) once. The class is
the output neuron that fires first; the loss is the cross-entropy of a softmax over
``-t / tau_loss``, a regulariser that pushes the label neuron earlier, and a penalty on a
silent label neuron (its exact peak voltage below threshold).

* :func:`feed_forward_classifier` -- two :func:`~jaxsnn.event.leaky_integrate_and_fire.TTFSLIF`
  layers composed with :func:`~jaxsnn.base.serial_trace`, with either gradient method;
* :func:`recurrent_classifier` -- the same network as one recurrent EventProp population
  (input weights only into the hidden neurons, recurrent weights only from hidden to output
  neurons, a refractory period beyond ``t_max`` so that every neuron fires at most once),
  simulated event by event.

Both return the harness's :class:`~jaxsnn.training.harness.Model`; a task is the
configuration (:data:`DEFAULTS`, :func:`add_network_options`) plus one of them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from jaxsnn.base import serial_trace
from jaxsnn.datasets import CLASS_NAMES, N_FEATURES
from jaxsnn.datasets.distortion import Distortion, distort_image
from jaxsnn.encoding import LatencyEncoder
from jaxsnn.event.eventprop.attach import SpikeSource
from jaxsnn.event.gradient import EventProp, GradientMethod
from jaxsnn.event.hardware.artifacts import add_jitter
from jaxsnn.event.hardware.mapping import INPUT, NetworkMapping
from jaxsnn.event.leaky_integrate_and_fire import (
    TTFSLIF,
    RecurrentLIF,
    draw_weights,
    hardware_gradient,
    threshold_weight,
)
from jaxsnn.event.loss import first_spike_times, predict_first_spike, ttfs_cross_entropy
from jaxsnn.event.plan import SolverPlan, solver_plan
from jaxsnn.event.ttfs import peak_voltage
from jaxsnn.event.types import Spikes, dropped_of
from jaxsnn.neuron import LIFParameters
from jaxsnn.training.cli import (
    Option,
    network_parser,
    non_negative_float,
    positive_float,
    positive_int,
)
from jaxsnn.training.harness import Model

Config = dict[str, Any]


@dataclass(frozen=True)
class DataSpec:
    """What the classifier needs to know about a data set: ``n_features`` features in
    ``[0, 1]`` per sample, the ``class_names`` (one output neuron each), whether each
    feature ``x`` also spikes as ``1 - x`` (``mirror``, see
    :class:`~jaxsnn.encoding.LatencyEncoder`), and, for images, their ``image_shape``
    ``(rows, cols)`` (the features are the pixels row by row), which allows distortions of
    the training images (:mod:`jaxsnn.datasets.distortion`)."""

    n_features: int
    class_names: tuple[str, ...]
    mirror: bool = False
    image_shape: tuple[int, int] | None = None

    @property
    def n_classes(self) -> int:
        """Number of classes (output neurons)."""
        return len(self.class_names)


#: Yin-Yang's four features ``[x, y, 1-x, 1-y]`` and three classes
YINYANG = DataSpec(n_features=N_FEATURES, class_names=tuple(CLASS_NAMES))


def data_of(config: Config) -> DataSpec:
    """The configuration's data set (its ``"data"`` entry; Yin-Yang where it has none)."""
    return config.get("data", YINYANG)


#: the first-spike classifier's settings and its training defaults (chosen on the validation
#: split, see benchmarks/RESULTS.md)
DEFAULTS: Config = {
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
    "input_jitter": 0.0,
    "hidden_jitter": 0.0,
    "weight_decay": 0.0,
}

#: the network's options: name, argparse type, help
OPTIONS: list[Option] = [
    ("hidden", positive_int, "hidden neurons"),
    ("tau_syn", positive_float, "synaptic time constant (s)"),
    ("tau_mem", positive_float, "membrane time constant (s)"),
    ("t_late", positive_float, "input spike time of a feature of value 1 (s)"),
    ("t_max", positive_float, "end of the simulation (s); later spikes count as missing"),
    ("tau_loss", positive_float, "time scale of the softmax over -t (s)"),
    ("t_early", float, "input spike time of a feature of value 0 (s)"),
    ("t_bias", float, "time of the bias spike (s)"),
    ("regularization", float, "weight of the term pushing the label neuron earlier"),
    ("hidden_mean", float, "initial mean input drive of a hidden neuron, in thresholds"),
    ("hidden_std", float, "initial spread of the hidden weights, in thresholds"),
    ("output_mean", float, "initial mean input drive of an output neuron, in thresholds"),
    ("output_std", float, "initial spread of the output weights, in thresholds"),
    ("lr_decay", float, "final learning rate as a fraction of --lr (cosine schedule)"),
    ("silence_penalty", float, "weight of (v_th - peak V)+ of a silent label neuron"),
    (
        "input_jitter",
        non_negative_float,
        "training only: std of Gaussian noise on the input spike times (s), a regulariser",
    ),
    (
        "hidden_jitter",
        non_negative_float,
        "training only: std of Gaussian noise on the hidden spike times that the output "
        "layer receives (s), a regulariser",
    ),
    ("weight_decay", non_negative_float, "decoupled weight decay (optax.adamw; 0: Adam)"),
    (
        "distort_shift",
        non_negative_float,
        "training only: largest random shift of each image along each axis (pixels)",
    ),
    (
        "distort_rotation",
        non_negative_float,
        "training only: largest random rotation of each image (degrees)",
    ),
    (
        "distort_scale",
        non_negative_float,
        "training only: largest random relative change of each image's size (below 1)",
    ),
]

#: the configuration keys of the random distortion of the training images (image data only)
DISTORTION_KEYS = ("distort_shift", "distort_rotation", "distort_scale")


#: options that only the feed-forward network takes (the recurrent population refuses them)
FEED_FORWARD_ONLY = ("input_jitter", "hidden_jitter", *DISTORTION_KEYS)


def classifier_parser(
    prog: str, description: str, defaults: Config, hidden_help: str = "hidden neurons"
) -> argparse.ArgumentParser:
    """A task's command line: the shared run options plus one option per entry of
    :data:`OPTIONS` (``--hidden``, ``--tau-syn``, ...) that ``defaults`` has a value for
    (keys of :data:`DEFAULTS`: a task without a key has no such option); ``hidden_help`` is
    the help text of ``--hidden``."""
    options = [("hidden", positive_int, hidden_help), *OPTIONS[1:]]
    return network_parser(prog, description, defaults, [o for o in options if o[0] in defaults])


def neuron_parameters(config: Config) -> LIFParameters:
    """The LIF parameters of every neuron of the network."""
    return LIFParameters(tau_mem=config["tau_mem"], tau_syn=config["tau_syn"])


def encoder_of(config: Config) -> LatencyEncoder:
    """One latency spike per feature (Yin-Yang's ``[x, y, 1-x, 1-y]``; two, ``x`` and
    ``1 - x``, where :func:`data_of` says ``mirror``) plus the bias spike."""
    mirror = data_of(config).mirror
    return LatencyEncoder(config["t_early"], config["t_late"], (config["t_bias"],), mirror)


def check_features(config: Config, features: Any, name: str = "features") -> Any:
    """Check a data set's features once, before training, for the classifier's encoder.

    ``features``: ``[n_samples, n_features]`` (:func:`data_of`);
    :meth:`LatencyEncoder.check_features` of :func:`encoder_of` (``ValueError`` naming
    ``name`` for NaN/inf, a ``UserWarning`` for values outside ``[0, 1]``, which are clipped)
    plus the feature count. One numpy pass over the data: the jitted training steps then need
    no per-batch check of the encoded spikes (sorted and in range by construction).
    Returns the features as a float64 numpy array.
    """
    x = encoder_of(config).check_features(features, name)
    n_features = data_of(config).n_features
    if x.shape[-1] != n_features:
        raise ValueError(
            f"{name} must have {n_features} features per sample (last axis), got shape {x.shape}"
        )
    return x


def first_spike_loss(
    config: Config,
    output_times: jax.Array,
    label: jax.Array,
    hidden_spikes: Spikes,
    output_weights: jax.Array,
    plan: SolverPlan | None = None,
) -> jax.Array:
    """Cross-entropy of the first output spikes plus the penalty on a silent label neuron.

    ``L = CE(-t / tau_loss) + regularization (exp(t_label / tau_syn) - 1)
    + silence_penalty * relu(v_th - V_peak[label])`` with the label neuron's exact peak
    voltage given the hidden spikes (:func:`jaxsnn.event.ttfs.peak_voltage`; ``plan`` its
    solver plan, by default decided from the configuration).
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
        v_peak = peak_voltage(label_weights, params, hidden_spikes, config["t_max"], plan)[0]
        loss = loss + config["silence_penalty"] * jax.nn.relu(params.v_th - v_peak)
    return loss


def plot_info(config: Config) -> dict[str, Any]:
    """What ``jaxsnn plot`` needs to know about the network."""
    data = data_of(config)
    return {
        "t_max": config["t_max"],
        "class_names": list(data.class_names),
        "layer_sizes": {
            "input": encoder_of(config).n_channels(data.n_features),
            "hidden": config["hidden"],
            "output": data.n_classes,
        },
    }


Forward = Callable[..., tuple[Spikes, Spikes, Spikes]]


def first_spike_model(
    config: Config,
    init: Callable[[jax.Array], Any],
    forward: Forward,
    output_weights: Callable[[Any], jax.Array],
    stochastic: bool = False,
    training_noise: bool = False,
) -> Model:
    """The harness's :class:`Model` of a network that classifies by its first output spike.

    ``forward(weights, features, key=None) -> (input, hidden, output)`` spike lists of one
    sample; ``output_weights(weights)`` ``[n_hidden, n_classes]`` for the silence penalty of
    :func:`first_spike_loss`. The loss is batched with ``vmap`` and reports the accuracy and
    the events dropped by full buffers. ``stochastic``: ``forward`` is random; the model's
    functions take a last argument ``key``, split into one key per sample.
    ``training_noise``: ``forward`` is random when given a key (the training loss gets one,
    evaluations do not; :class:`~jaxsnn.training.harness.Model`).
    """
    plan = solver_plan(neuron_parameters(config), config["t_max"])
    n_classes = data_of(config).n_classes

    def per_sample(fn, weights, *batch, key=None):
        """``fn(weights, *sample, key)`` for every sample of ``batch`` (``vmap``)."""
        if key is None:
            return jax.vmap(lambda *sample: fn(weights, *sample, None))(*batch)
        keys = jax.random.split(key, batch[0].shape[0])
        return jax.vmap(lambda *sample: fn(weights, *sample))(*batch, keys)

    def output_times(weights, features, key):
        out = forward(weights, features, key)[2]
        return first_spike_times(out.time, out.idx, n_classes)

    def sample_loss(weights, features, label, key):
        _, hidden_spikes, out = forward(weights, features, key)
        t = first_spike_times(out.time, out.idx, n_classes)
        loss = first_spike_loss(config, t, label, hidden_spikes, output_weights(weights), plan)
        return loss, (predict_first_spike(t) == label, dropped_of(out))

    def loss(weights, features, labels, key=None):
        losses, (correct, dropped) = per_sample(sample_loss, weights, features, labels, key=key)
        return jnp.mean(losses), {"accuracy": jnp.mean(correct), "dropped_events": jnp.sum(dropped)}

    def evaluate(weights, features, key=None):
        t = per_sample(output_times, weights, features, key=key)
        return {"prediction": jax.vmap(predict_first_spike)(t), "output_times": t}

    @jax.jit
    def layers_of(weights, features, key):
        return per_sample(forward, weights, features, key=key)

    def record(weights, features, key=None):
        layers = layers_of(weights, features, key)  # one program (the harness calls it eagerly)
        return {
            name: (s.time, s.idx)
            for name, s in zip(("input", "hidden", "output"), layers, strict=True)
        }

    return Model(
        init=init,
        loss=loss,
        evaluate=evaluate,
        record=record,
        plot_info=plot_info(config),
        stochastic=stochastic,
        check_data=partial(check_features, config),
        training_noise=training_noise,
    )


def distortion_of(config: Config) -> Distortion:
    """The random distortion of the training images that ``config`` asks for (its
    :data:`DISTORTION_KEYS`, zero where missing); a ``ValueError`` naming the option for a
    range that is negative or too large, or for a data set that is not images."""
    names = tuple(f"--{key.replace('_', '-')}" for key in DISTORTION_KEYS)
    distortion = Distortion(*(float(config.get(key, 0.0)) for key in DISTORTION_KEYS))
    distortion.checked(names)
    if distortion.active and data_of(config).image_shape is None:
        raise ValueError(
            f"{', '.join(names)} distort images; this data set's features are not an image"
        )
    return distortion


def feed_forward_classifier(config: Config, gradient: str | GradientMethod = "implicit") -> Model:
    """Two first-spike layers (hidden, output) with the given gradient method.

    Training noise (regularisers; evaluations see none of it): a random affine distortion of
    each image before it is encoded (the :data:`DISTORTION_KEYS`, for data with an
    ``image_shape``; :func:`~jaxsnn.datasets.distortion.distort_image`), ``input_jitter`` on
    the input spike times (:meth:`~jaxsnn.encoding.LatencyEncoder.jittered_events`) and
    ``hidden_jitter`` on the hidden spike times that the output layer receives
    (:func:`~jaxsnn.event.hardware.artifacts.add_jitter`: ``max(t + sigma z, 0)``, re-sorted).
    """
    params, t_max = neuron_parameters(config), config["t_max"]
    encoder, data = encoder_of(config), data_of(config)
    hidden_layer = TTFSLIF(
        config["hidden"],
        params,
        t_max,
        config["hidden_mean"],
        config["hidden_std"],
        gradient=gradient,
    )
    output_layer = TTFSLIF(
        data.n_classes,
        params,
        t_max,
        config["output_mean"],
        config["output_std"],
        gradient=gradient,
    )
    network = serial_trace(hidden_layer, output_layer)

    def init(key: jax.Array):
        return network.init(key, (encoder.n_channels(data.n_features),))[1]

    input_jitter = config.get("input_jitter", 0.0)
    hidden_jitter = config.get("hidden_jitter", 0.0)
    distortion = distortion_of(config)

    def forward(weights, features, key=None):
        """The spikes of every layer (the hidden ones as the output layer received them);
        with a ``key`` (training), the training noise of :func:`feed_forward_classifier`."""
        if key is not None and distortion.active:
            features = distort_image(
                features, data.image_shape, jax.random.fold_in(key, 2), distortion
            )
        if key is None or not input_jitter:
            inputs = Spikes(*encoder.events(features))
        else:
            inputs = Spikes(*encoder.jittered_events(features, key, input_jitter))
        if key is None or not hidden_jitter:
            return (inputs, *network.apply(weights, inputs))
        hidden = hidden_layer.apply(weights[0], inputs)
        hidden = add_jitter(hidden, jax.random.fold_in(key, 1), hidden_jitter)
        return inputs, hidden, output_layer.apply(weights[1], hidden)

    return first_spike_model(
        config,
        init,
        forward,
        lambda weights: weights[1]["weights"],
        training_noise=input_jitter > 0 or hidden_jitter > 0 or distortion.active,
    )


def recurrent_classifier(config: Config, forward: SpikeSource | None = None) -> Model:
    """The two-layer network as one recurrent EventProp population (module docstring).

    The layers are placed on the population by a :class:`~jaxsnn.event.hardware.NetworkMapping`
    (input -> hidden -> output); the initial weights are the feed-forward network's (same key,
    same draw) in the projections' blocks, and the mapping's masks keep that block structure
    during training. ``forward``: where the population's spikes come from -- the software
    simulation (``None``) or a hardware backend (a :class:`~jaxsnn.event.hardware.MockBackend`
    of the same mapping, or the chip): hardware-in-the-loop training, with the gradient of the
    software model's adjoint at the backend's spikes (per population in closed form,
    :func:`~jaxsnn.event.leaky_integrate_and_fire.hardware_gradient`). A random backend
    (jitter) makes the model ``stochastic``: the harness then passes a key per batch. With a
    backend whose synapses saturate (``weight_range``), the weights are clipped to that range
    before use: a saturated weight gets no gradient that would push it further out.
    """
    for name in FEED_FORWARD_ONLY:
        if config.get(name, 0.0):
            raise ValueError(
                f"--{name.replace('_', '-')} applies to the feed-forward network only, not to "
                "the recurrent population or a hardware backend"
            )
    t_max = config["t_max"]
    params = neuron_parameters(config)._replace(t_refrac=2.0 * t_max)
    mapping = classifier_mapping(config)
    if forward is not None and getattr(forward, "mapping", mapping) != mapping:
        raise ValueError(f"the backend's mapping {forward.mapping} is not the network's {mapping}")
    gradient = EventProp() if forward is None else hardware_gradient(forward, params, t_max)
    population = RecurrentLIF(
        mapping.size, params, t_max, max_events=mapping.size, gradient=gradient
    )
    encoder = encoder_of(config)
    mask_in, mask_rec = mapping.masks()
    draws = {
        (INPUT, "hidden"): (config["hidden_mean"], config["hidden_std"]),
        ("hidden", "output"): (config["output_mean"], config["output_std"]),
    }

    def init(key: jax.Array) -> dict:
        w_theta = threshold_weight(params)
        shapes = mapping.weight_shapes()
        keys = jax.random.split(key, len(mapping.projections))
        weights = {
            projection: draw_weights(k, shapes[projection], w_theta, *draws[projection])
            for k, projection in zip(keys, mapping.projections, strict=True)
        }
        w_in, w_rec = mapping.to_hardware(weights)
        return {"input_weights": w_in, "recurrent_weights": w_rec}

    # the chip realises weights up to +-weight_range: beyond it the weights are clipped here too,
    # so that the gradient does not push a saturated synapse further (it is zero out there)
    weight_range = getattr(forward, "weight_range", None)

    def in_range(w: jax.Array) -> jax.Array:
        """``clip(w, -weight_range, weight_range)``, with gradient 1 inside and 0 outside."""
        if weight_range is None:
            return w
        return jnp.where(jnp.abs(w) <= weight_range, w, jnp.sign(w) * weight_range)

    def masked(weights: dict) -> dict:
        w_in, w_rec = weights["input_weights"] * mask_in, weights["recurrent_weights"] * mask_rec
        return {"input_weights": in_range(w_in), "recurrent_weights": in_range(w_rec)}

    def blocks_of(weights: dict) -> dict:
        """The projections' blocks, in range: what :func:`masked` keeps, without the
        ``[N, N]`` work (its gradient is zero off the blocks, as the masks make it)."""
        blocks = mapping.from_hardware(weights["input_weights"], weights["recurrent_weights"])
        return {projection: in_range(w) for projection, w in blocks.items()}

    def population_of_blocks(blocks: dict, inputs: Spikes, key: jax.Array | None) -> Spikes:
        w_in, w_rec = mapping.to_hardware(blocks)
        weights = {"input_weights": w_in, "recurrent_weights": w_rec}
        return population.apply(weights, inputs, key=key)

    by_blocks = sample_gradient_by_blocks(population_of_blocks)

    def run(weights, features, key=None):
        inputs = Spikes(*encoder.events(features))
        if forward is None:
            spikes = population.apply(masked(weights), inputs, key=key)
        else:  # in the loop: block-sized per-sample gradients (sample_gradient_by_blocks)
            spikes = by_blocks(blocks_of(weights), inputs, key)
        layers = mapping.split_spikes(spikes)
        return inputs, layers["hidden"], layers["output"]

    def output_weights(weights: dict) -> jax.Array:
        return blocks_of(weights)[("hidden", "output")]

    stochastic = bool(getattr(getattr(forward, "artifacts", None), "stochastic", False))
    return first_spike_model(config, init, run, output_weights, stochastic)


def sample_gradient_by_blocks(
    apply: Callable[[dict, Spikes, jax.Array | None], Spikes],
) -> Callable[[dict, Spikes, jax.Array | None], Spikes]:
    """``apply(blocks, inputs, key)`` (one sample, the weights as the mapping's projection
    blocks) with the same values and gradient, whose per-sample weight gradient stays block
    sized under ``vmap``.

    ``vmap`` sums the per-sample cotangents of unbatched weights where they enter a
    ``custom_vjp``: inside ``apply`` (the EventProp attachment), that is the hardware
    population's ``[n_in, N]`` and ``[N, N]`` matrices, mostly zero blocks -- one per sample.
    This ``custom_vjp`` around all of ``apply`` moves that sum to the blocks (the pullback of
    ``apply`` runs per sample inside it; what the matrices' blocks do not hold never leaves it).
    """

    @jax.custom_vjp
    def blocks_to_spikes(blocks, time, idx, dropped, key):
        return apply(blocks, Spikes(time, idx, dropped), key)

    def forward(blocks, time, idx, dropped, key):
        def of_differentiable(blocks, time):
            return apply(blocks, Spikes(time, idx, dropped), key)

        return jax.vjp(of_differentiable, blocks, time)  # (spikes, pullback: a pytree)

    def backward(pullback, cotangent):
        d_blocks, d_time = pullback(cotangent)
        return d_blocks, d_time, None, None, None

    blocks_to_spikes.defvjp(forward, backward)

    def applied(blocks: dict, inputs: Spikes, key: jax.Array | None) -> Spikes:
        return blocks_to_spikes(blocks, inputs.time, inputs.idx, inputs.dropped, key)

    return applied


def classifier_mapping(config: Config) -> NetworkMapping:
    """The classifier's layers (input -> hidden -> output) placed on one population."""
    data = data_of(config)
    n_inputs = encoder_of(config).n_channels(data.n_features)
    return NetworkMapping.layered(n_inputs, [config["hidden"], data.n_classes])
