"""Event-based LIF neuron types as init/apply layers (see :mod:`jaxsnn.base`).

Every layer maps a sorted :class:`~jaxsnn.event.types.Spikes` list of one sample to the
sorted output spikes of its neurons; batch with ``jax.vmap(apply, in_axes=(None, 0))``.
``dropped`` accumulates along the network (see :class:`~jaxsnn.event.types.Spikes`).

* :func:`LIF` -- feed-forward layer, event-stepping simulator, several spikes per neuron;
* :func:`RecurrentLIF` -- recurrent population (input and recurrent weights); with
  block-structured recurrent weights it emulates several feed-forward layers in one
  population (zero delay, like a chain of :func:`LIF` layers);
* :func:`EventPropLIF`, :func:`RecurrentEventPropLIF`, :func:`EventPropTTFSLIF` -- the same
  with EventProp gradients (adjoint backward pass, :mod:`jaxsnn.event.eventprop`);
* :func:`TTFSLIF` -- feed-forward layer that returns each neuron's first spike only, computed
  by the vectorised fast path of :mod:`jaxsnn.event.ttfs` (no event loop); it gives the
  same first spikes as :func:`LIF`.

Weights are drawn as ``W = w_theta (mean / n_in + std / sqrt(n_in) N(0, 1))`` where
``w_theta = (v_th - v_leak) / max_t kappa(t)`` is the weight with which one input spike alone
just reaches threshold from rest (``kappa``: :func:`jaxsnn.neuron.synaptic_kernel`). So
``weight_mean`` is the mean total drive in thresholds if every input spiked at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxsnn.base import Layer, Shape
from jaxsnn.event.eventprop import eventprop_first_spikes, eventprop_population
from jaxsnn.event.root import select_method
from jaxsnn.event.step import simulate_population
from jaxsnn.event.ttfs import state_mode, ttfs_first_spikes
from jaxsnn.event.types import Spikes
from jaxsnn.neuron import LIFParameters, synaptic_kernel, validate_parameters


def threshold_weight(params: LIFParameters) -> float:
    """``w_theta = (v_th - v_leak) / max_t kappa(t)``: one spike of this weight just fires.

    The kernel peaks at ``t* = tau_syn log1p(eps) / eps``, ``eps = tau_syn / tau_mem - 1``
    (``t* = tau`` for equal time constants). Per-neuron parameters are averaged.
    """
    tau_mem = float(np.mean(params.tau_mem))
    tau_syn = float(np.mean(params.tau_syn))
    eps = tau_syn / tau_mem - 1.0
    t_peak = tau_syn * (math.log1p(eps) / eps if abs(eps) > 1e-12 else 1.0)
    peak = float(synaptic_kernel(t_peak, LIFParameters(tau_mem=tau_mem, tau_syn=tau_syn)))
    theta = float(np.mean(np.asarray(params.v_th) - np.asarray(params.v_leak)))
    return abs(theta) / peak


def _n_inputs(input_shape: Shape | int) -> int:
    """Number of input neurons from ``input_shape`` (``(n,)`` or ``n``)."""
    if isinstance(input_shape, int):
        return input_shape
    if len(input_shape) != 1:
        raise ValueError(f"input_shape must be (n_inputs,), got {input_shape!r}")
    return int(input_shape[0])


def _draw(key: jax.Array, shape: tuple[int, int], w_theta: float, mean: float, std: float):
    """``w_theta (mean / fan_in + std / sqrt(fan_in) N(0, 1))`` with ``fan_in = shape[0]``."""
    fan_in = shape[0]
    normal = jax.random.normal(key, shape)
    return w_theta * (mean / fan_in + std / math.sqrt(fan_in) * normal)


def _feed_forward_init(n_hidden: int, w_theta: float, mean: float, std: float):
    """``init(key, input_shape) -> ((n_hidden,), {"weights": W})`` with ``W`` from :func:`_draw`."""

    def init(key: jax.Array, input_shape: Shape | int) -> tuple[Shape, dict]:
        weights = _draw(key, (_n_inputs(input_shape), n_hidden), w_theta, mean, std)
        return (n_hidden,), {"weights": weights}

    return init


def _check_layer_args(n_hidden: int, params: LIFParameters, t_max: float, max_events) -> None:
    """Eager validation of the static layer arguments."""
    if not isinstance(n_hidden, int | np.integer) or n_hidden < 1:
        raise ValueError(f"n_hidden must be a positive integer, got {n_hidden!r}")
    validate_parameters(params, "params")
    if not (math.isfinite(t_max) and t_max > 0):
        raise ValueError(f"t_max must be a positive finite time in seconds, got {t_max!r}")
    if max_events is not None and (not isinstance(max_events, int | np.integer) or max_events < 1):
        raise ValueError(f"max_events must be an integer >= 1, got {max_events!r}")


def _feed_forward_layer(
    n_hidden: int,
    params: LIFParameters,
    t_max: float,
    max_events: int | None,
    weight_mean: float,
    weight_std: float,
    simulator: Callable,
) -> Layer:
    """Feed-forward init/apply pair that runs ``simulator`` (simulate_population's signature)."""
    _check_layer_args(n_hidden, params, t_max, max_events)
    max_events = 2 * n_hidden if max_events is None else int(max_events)
    method = select_method(params)
    init = _feed_forward_init(n_hidden, threshold_weight(params), weight_mean, weight_std)

    def apply(layer_params: dict, spikes: Spikes, **_: Any) -> Spikes:
        return simulator(layer_params["weights"], None, params, spikes, t_max, max_events, method)

    return Layer(init, apply)


def LIF(
    n_hidden: int,
    params: LIFParameters,
    t_max: float,
    max_events: int | None = None,
    weight_mean: float = 2.0,
    weight_std: float = 1.0,
) -> Layer:
    """Feed-forward layer of ``n_hidden`` LIF neurons simulated event by event.

    ``params = {"weights": [n_in, n_hidden]}``. ``apply(params, spikes) -> Spikes`` with
    ``max_events`` entries (default ``2 n_hidden``), every spike before ``t_max``, several per
    neuron possible; overflow counted in ``dropped``. Gradients: autodiff through the exact
    spike times (implicit function theorem at each crossing).
    """
    return _feed_forward_layer(
        n_hidden, params, t_max, max_events, weight_mean, weight_std, simulate_population
    )


def EventPropLIF(
    n_hidden: int,
    params: LIFParameters,
    t_max: float,
    max_events: int | None = None,
    weight_mean: float = 2.0,
    weight_std: float = 1.0,
    first_spike_only: bool = False,
) -> Layer:
    """:func:`LIF` (or, with ``first_spike_only``, :func:`TTFSLIF`) with EventProp gradients.

    Same forward spikes and parameters; the gradient is the adjoint backward pass of
    :mod:`jaxsnn.event.eventprop` (memory of the order of the number of spikes), and flows
    to the weights and to the input spike times, hence through stacks of layers.
    ``first_spike_only``: each neuron's first spike only, by the fast path, with the
    closed-form adjoint (:func:`~jaxsnn.event.eventprop.first_spike_backward`).
    """
    if first_spike_only:
        return EventPropTTFSLIF(n_hidden, params, t_max, weight_mean, weight_std)
    return _feed_forward_layer(
        n_hidden, params, t_max, max_events, weight_mean, weight_std, eventprop_population
    )


def _recurrent_layer(
    n_hidden: int,
    params: LIFParameters,
    t_max: float,
    max_events: int | None,
    weights: tuple[float, float, float, float],
    simulator: Callable,
) -> Layer:
    """Recurrent init/apply pair; ``weights``: input mean/std, recurrent mean/std."""
    _check_layer_args(n_hidden, params, t_max, max_events)
    max_events = 4 * n_hidden if max_events is None else int(max_events)
    method = select_method(params)
    w_theta = threshold_weight(params)
    weight_mean, weight_std, recurrent_mean, recurrent_std = weights

    def init(key: jax.Array, input_shape: Shape | int) -> tuple[Shape, dict]:
        n_in = _n_inputs(input_shape)
        key_in, key_rec = jax.random.split(key)
        w_in = _draw(key_in, (n_in, n_hidden), w_theta, weight_mean, weight_std)
        w_rec = _draw(key_rec, (n_hidden, n_hidden), w_theta, recurrent_mean, recurrent_std)
        w_rec = w_rec * (1.0 - jnp.eye(n_hidden))
        return (n_hidden,), {"input_weights": w_in, "recurrent_weights": w_rec}

    def apply(layer_params: dict, spikes: Spikes, **_: Any) -> Spikes:
        return simulator(
            layer_params["input_weights"],
            layer_params["recurrent_weights"],
            params,
            spikes,
            t_max,
            max_events,
            method,
        )

    return Layer(init, apply)


def RecurrentLIF(
    n_hidden: int,
    params: LIFParameters,
    t_max: float,
    max_events: int | None = None,
    weight_mean: float = 2.0,
    weight_std: float = 1.0,
    recurrent_mean: float = 0.0,
    recurrent_std: float = 0.5,
) -> Layer:
    """Recurrent population of ``n_hidden`` LIF neurons simulated event by event.

    ``params = {"input_weights": [n_in, n], "recurrent_weights": [n, n]}`` (entry ``[i, j]``:
    from neuron ``i`` to ``j``, no delay; the diagonal is initialised to zero).
    ``apply(params, spikes) -> Spikes`` of all ``n`` neurons (``max_events`` entries, default
    ``4 n_hidden``).
    """
    weights = (weight_mean, weight_std, recurrent_mean, recurrent_std)
    return _recurrent_layer(n_hidden, params, t_max, max_events, weights, simulate_population)


def RecurrentEventPropLIF(
    n_hidden: int,
    params: LIFParameters,
    t_max: float,
    max_events: int | None = None,
    weight_mean: float = 2.0,
    weight_std: float = 1.0,
    recurrent_mean: float = 0.0,
    recurrent_std: float = 0.5,
) -> Layer:
    """:func:`RecurrentLIF` with EventProp gradients.

    Same forward spikes and parameters; gradients for the input and recurrent weights and
    the input spike times from the adjoint backward pass
    (:func:`~jaxsnn.event.eventprop.eventprop_population`).
    """
    weights = (weight_mean, weight_std, recurrent_mean, recurrent_std)
    return _recurrent_layer(n_hidden, params, t_max, max_events, weights, eventprop_population)


def _first_spike_layer(
    n_hidden: int,
    params: LIFParameters,
    t_max: float,
    weight_mean: float,
    weight_std: float,
    first_spikes: Callable,
) -> Layer:
    """Feed-forward first-spike init/apply pair running ``first_spikes`` (the fast path)."""
    _check_layer_args(n_hidden, params, t_max, None)
    method = select_method(params)
    mode = state_mode(params)
    init = _feed_forward_init(n_hidden, threshold_weight(params), weight_mean, weight_std)

    def apply(layer_params: dict, spikes: Spikes, **_: Any) -> Spikes:
        return first_spikes(layer_params["weights"], params, spikes, t_max, method, mode)

    return Layer(init, apply)


def TTFSLIF(
    n_hidden: int,
    params: LIFParameters,
    t_max: float,
    weight_mean: float = 2.0,
    weight_std: float = 1.0,
) -> Layer:
    """Feed-forward layer of first spikes only (time-to-first-spike), by the fast path.

    ``params = {"weights": [n_in, n_hidden]}``; ``apply(params, spikes) -> Spikes`` with
    ``n_hidden`` entries: each neuron's first spike before ``t_max`` (sorted), computed all at
    once by :func:`jaxsnn.event.ttfs.ttfs_first_spikes`. Identical to the first spikes of
    :func:`LIF`; refractoriness and reset do not matter for a first spike.
    """
    return _first_spike_layer(n_hidden, params, t_max, weight_mean, weight_std, ttfs_first_spikes)


def EventPropTTFSLIF(
    n_hidden: int,
    params: LIFParameters,
    t_max: float,
    weight_mean: float = 2.0,
    weight_std: float = 1.0,
) -> Layer:
    """:func:`TTFSLIF` with EventProp gradients (same signature, same spikes).

    The forward pass is the fast path; the backward pass is the closed-form adjoint of
    :func:`~jaxsnn.event.eventprop.first_spike_backward`, vectorised like the forward.
    """
    return _first_spike_layer(
        n_hidden, params, t_max, weight_mean, weight_std, eventprop_first_spikes
    )
