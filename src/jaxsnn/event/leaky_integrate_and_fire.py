"""Event-based LIF neuron types as init/apply layers (see :mod:`jaxsnn.base`).

Every layer maps a sorted :class:`~jaxsnn.event.types.Spikes` list of one sample to the
sorted output spikes of its neurons; batch with ``jax.vmap(apply, in_axes=(None, 0))``.
``dropped`` accumulates along the network (see :class:`~jaxsnn.event.types.Spikes`).
Every ``apply`` checks its input spikes and weights (:mod:`jaxsnn.event.checks`): concrete
values raise a ``ValueError`` naming the argument (``spikes.time``, ``spikes.idx``,
``weights``, ...); traced ones are checked under :func:`jaxsnn.event.checks.checked` and,
without it, an invalid input gives an invalid output (NaN times), never a plausible one.

One constructor per topology, with the gradient method as an argument
(``gradient="implicit" | "eventprop"`` or an object, see :mod:`jaxsnn.event.gradient`):

* :func:`LIF` -- feed-forward layer, event-stepping simulator, several spikes per neuron;
* :func:`RecurrentLIF` -- recurrent population (input and recurrent weights); with
  block-structured recurrent weights it emulates several feed-forward layers in one
  population (zero delay, like a chain of :func:`LIF` layers);
* :func:`TTFSLIF` -- feed-forward layer that returns each neuron's first spike only, computed
  by the vectorised fast path of :mod:`jaxsnn.event.ttfs` (no event loop); it gives the
  same first spikes as :func:`LIF`.

:func:`EventPropLIF`, :func:`RecurrentEventPropLIF` and :func:`EventPropTTFSLIF` are the
same constructors with ``gradient="eventprop"``. Each layer decides its
:class:`~jaxsnn.event.plan.SolverPlan` once, when it is built. The neuron parameters may be
traced (a layer built inside ``jit`` from arguments): the plan then takes the solvers that
need no concrete values, and one compiled program serves every parameter value.

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
from jax.typing import ArrayLike

from jaxsnn.base import Layer, Shape
from jaxsnn.event.checks import check_layer_input, mark_invalid
from jaxsnn.event.eventprop.layered import layered_backward
from jaxsnn.event.gradient import EventProp, GradientMethod, as_gradient
from jaxsnn.event.plan import SolverPlan, solver_plan
from jaxsnn.event.types import Spikes
from jaxsnn.neuron import LIFParameters, synaptic_kernel, validate_parameters
from jaxsnn.numerics import concrete_values, log1p_ratio

Array = jnp.ndarray


def threshold_weight(params: LIFParameters) -> Array:
    """``w_theta = |v_th - v_leak| / max_t kappa(t)``: one spike of this weight just fires.

    The kernel peaks at ``t* = tau_syn log1p(eps) / eps``, ``eps = tau_syn / tau_mem - 1``
    (``t* = tau`` for equal time constants). Per-neuron parameters are averaged. Works on
    traced parameters too (a scalar array).
    """
    tau_mem = jnp.mean(jnp.asarray(params.tau_mem))
    tau_syn = jnp.mean(jnp.asarray(params.tau_syn))
    t_peak = tau_syn * log1p_ratio(tau_syn / tau_mem - 1.0)
    peak = synaptic_kernel(t_peak, LIFParameters(tau_mem=tau_mem, tau_syn=tau_syn))
    theta = jnp.mean(jnp.asarray(params.v_th) - jnp.asarray(params.v_leak))
    return jnp.abs(theta) / peak


def n_inputs_of(input_shape: Shape | int) -> int:
    """Number of input neurons from ``input_shape`` (``(n,)`` or ``n``)."""
    if isinstance(input_shape, int):
        return input_shape
    if len(input_shape) != 1:
        raise ValueError(f"input_shape must be (n_inputs,), got {input_shape!r}")
    return int(input_shape[0])


def draw_weights(
    key: jax.Array, shape: tuple[int, int], w_theta: ArrayLike, mean: float, std: float
) -> Array:
    """``w_theta (mean / fan_in + std / sqrt(fan_in) N(0, 1))`` with ``fan_in = shape[0]``."""
    fan_in = shape[0]
    normal = jax.random.normal(key, shape)
    return w_theta * (mean / fan_in + std / math.sqrt(fan_in) * normal)


def _check_layer_args(n_hidden: int, params: LIFParameters, t_max: float, max_events) -> None:
    """Eager validation of the static layer arguments (traced parameters are skipped)."""
    if not isinstance(n_hidden, int | np.integer) or n_hidden < 1:
        raise ValueError(f"n_hidden must be a positive integer, got {n_hidden!r}")
    validate_parameters(params, "params", n=int(n_hidden), stacklevel=4)  # -> the caller of LIF
    if not (math.isfinite(t_max) and t_max > 0):
        raise ValueError(f"t_max must be a positive finite time in seconds, got {t_max!r}")
    if max_events is not None and (not isinstance(max_events, int | np.integer) or max_events < 1):
        raise ValueError(f"max_events must be an integer >= 1, got {max_events!r}")


def _feed_forward_init(n_hidden: int, params: LIFParameters, mean: float, std: float):
    """``init(key, input_shape) -> ((n_hidden,), {"weights": W})`` with ``W`` from
    :func:`draw_weights`."""

    def init(key: jax.Array, input_shape: Shape | int) -> tuple[Shape, dict]:
        shape = (n_inputs_of(input_shape), n_hidden)
        return (n_hidden,), {
            "weights": draw_weights(key, shape, threshold_weight(params), mean, std)
        }

    return init


def compiled_population(
    method: GradientMethod,
    params: LIFParameters,
    t_max: float,
    max_events: int,
    plan: SolverPlan,
) -> Callable[..., Spikes]:
    """``run(input_weights, recurrent_weights, spikes, key) -> Spikes``: the layer's
    ``method.population`` as one ``jax.jit`` program, made once per layer.

    The neuron parameters are arguments of the program (traced inside it; ``plan`` already
    holds what their concrete values decide), so an ``apply`` called outside ``jit``
    compiles once per input shape and is reused; inside ``jit``/``grad``/``vmap`` the
    program is inlined into the caller's.
    """

    @jax.jit
    def population(input_weights, recurrent_weights, params, spikes, key):
        return method.population(
            input_weights, recurrent_weights, params, spikes, t_max, max_events, plan, key
        )

    def run(input_weights, recurrent_weights, spikes, key=None):
        return population(input_weights, recurrent_weights, params, spikes, key)

    return run


def compiled_first_spikes(method: GradientMethod, params: LIFParameters, t_max: float, plan) -> Any:
    """``run(weights, spikes) -> Spikes``: ``method.first_spikes`` as one ``jax.jit`` program
    per layer (as :func:`compiled_population`)."""

    @jax.jit
    def first_spikes(weights, params, spikes):
        return method.first_spikes(weights, params, spikes, t_max, plan)

    return lambda weights, spikes: first_spikes(weights, params, spikes)


def LIF(
    n_hidden: int,
    params: LIFParameters,
    t_max: float,
    max_events: int | None = None,
    weight_mean: float = 2.0,
    weight_std: float = 1.0,
    *,
    gradient: str | GradientMethod = "implicit",
) -> Layer:
    """Feed-forward layer of ``n_hidden`` LIF neurons simulated event by event.

    ``params = {"weights": [n_in, n_hidden]}``. ``apply(params, spikes) -> Spikes`` with
    ``max_events`` entries (default ``2 n_hidden``), every spike before ``t_max``, several per
    neuron possible; overflow counted in ``dropped``. ``gradient`` (see
    :mod:`jaxsnn.event.gradient`): ``"implicit"`` differentiates the exact spike times
    (implicit function theorem at each crossing), ``"eventprop"`` uses the adjoint backward
    pass (memory of the order of the number of spikes; gradients also flow to the input spike
    times, hence through stacks of layers).
    """
    _check_layer_args(n_hidden, params, t_max, max_events)
    max_events = 2 * n_hidden if max_events is None else int(max_events)
    run = compiled_population(
        as_gradient(gradient), params, t_max, max_events, solver_plan(params, t_max)
    )

    def apply(layer_params: dict, spikes: Spikes, key: jax.Array | None = None, **_: Any) -> Spikes:
        weights = layer_params["weights"]
        spikes, valid = check_layer_input(spikes, {"weights": weights})
        return mark_invalid(run(weights, None, spikes, key), valid, n_hidden)

    return Layer(_feed_forward_init(n_hidden, params, weight_mean, weight_std), apply)


def RecurrentLIF(
    n_hidden: int,
    params: LIFParameters,
    t_max: float,
    max_events: int | None = None,
    weight_mean: float = 2.0,
    weight_std: float = 1.0,
    recurrent_mean: float = 0.0,
    recurrent_std: float = 0.5,
    *,
    gradient: str | GradientMethod = "implicit",
) -> Layer:
    """Recurrent population of ``n_hidden`` LIF neurons simulated event by event.

    ``params = {"input_weights": [n_in, n], "recurrent_weights": [n, n]}`` (entry ``[i, j]``:
    from neuron ``i`` to ``j``, no delay; the diagonal is initialised to zero).
    ``apply(params, spikes) -> Spikes`` of all ``n`` neurons (``max_events`` entries, default
    ``4 n_hidden``). ``gradient``: as for :func:`LIF`; both weight matrices and the input
    spike times get gradients.
    """
    _check_layer_args(n_hidden, params, t_max, max_events)
    max_events = 4 * n_hidden if max_events is None else int(max_events)
    run = compiled_population(
        as_gradient(gradient), params, t_max, max_events, solver_plan(params, t_max)
    )

    def init(key: jax.Array, input_shape: Shape | int) -> tuple[Shape, dict]:
        key_in, key_rec = jax.random.split(key)
        w_theta = threshold_weight(params)
        shape_in = (n_inputs_of(input_shape), n_hidden)
        w_in = draw_weights(key_in, shape_in, w_theta, weight_mean, weight_std)
        w_rec = draw_weights(key_rec, (n_hidden, n_hidden), w_theta, recurrent_mean, recurrent_std)
        w_rec = w_rec * (1.0 - jnp.eye(n_hidden))
        return (n_hidden,), {"input_weights": w_in, "recurrent_weights": w_rec}

    def apply(layer_params: dict, spikes: Spikes, key: jax.Array | None = None, **_: Any) -> Spikes:
        w_in, w_rec = layer_params["input_weights"], layer_params["recurrent_weights"]
        weights = {"input_weights": w_in, "recurrent_weights": w_rec}
        spikes, valid = check_layer_input(spikes, weights)
        return mark_invalid(run(w_in, w_rec, spikes, key), valid, n_hidden)

    return Layer(init, apply)


def TTFSLIF(
    n_hidden: int,
    params: LIFParameters,
    t_max: float,
    weight_mean: float = 2.0,
    weight_std: float = 1.0,
    *,
    gradient: str | GradientMethod = "implicit",
) -> Layer:
    """Feed-forward layer of first spikes only (time-to-first-spike), by the fast path.

    ``params = {"weights": [n_in, n_hidden]}``; ``apply(params, spikes) -> Spikes`` with
    ``n_hidden`` entries: each neuron's first spike before ``t_max`` (sorted), computed all at
    once by :func:`jaxsnn.event.ttfs.ttfs_first_spikes`. Identical to the first spikes of
    :func:`LIF`; refractoriness and reset do not matter for a first spike. ``gradient``:
    ``"implicit"`` (autodiff through the fast path) or ``"eventprop"`` (the closed-form
    adjoint, :func:`~jaxsnn.event.eventprop.first_spike_backward`, vectorised like the
    forward).
    """
    _check_layer_args(n_hidden, params, t_max, None)
    run = compiled_first_spikes(as_gradient(gradient), params, t_max, solver_plan(params, t_max))

    def apply(layer_params: dict, spikes: Spikes, **_: Any) -> Spikes:
        weights = layer_params["weights"]
        spikes, valid = check_layer_input(spikes, {"weights": weights})
        return mark_invalid(run(weights, spikes), valid, n_hidden)

    return Layer(_feed_forward_init(n_hidden, params, weight_mean, weight_std), apply)


def EventPropLIF(*args: Any, **kwargs: Any) -> Layer:
    """:func:`LIF` with ``gradient="eventprop"`` (same arguments, same spikes)."""
    return LIF(*args, gradient="eventprop", **kwargs)


def RecurrentEventPropLIF(*args: Any, **kwargs: Any) -> Layer:
    """:func:`RecurrentLIF` with ``gradient="eventprop"`` (same arguments, same spikes)."""
    return RecurrentLIF(*args, gradient="eventprop", **kwargs)


def EventPropTTFSLIF(*args: Any, **kwargs: Any) -> Layer:
    """:func:`TTFSLIF` with ``gradient="eventprop"`` (same arguments, same spikes)."""
    return TTFSLIF(*args, gradient="eventprop", **kwargs)


def HardwareRecurrentLIF(
    n_hidden: int,
    params: LIFParameters,
    t_max: float,
    backend: Any,
    max_events: int | None = None,
    weight_mean: float = 2.0,
    weight_std: float = 1.0,
    recurrent_mean: float = 0.0,
    recurrent_std: float = 0.5,
) -> Layer:
    """:func:`RecurrentLIF` whose forward spikes come from a hardware ``backend`` and whose
    gradient is the software model's EventProp adjoint at those spikes (hardware in the loop).

    ``backend``: a source of forward spikes with the signature of ``simulate_population``
    (:class:`~jaxsnn.event.hardware.MockBackend`, :class:`~jaxsnn.event.hardware.bss2.BSS2Backend`)
    for a population of ``n_hidden`` neurons (its mapping's size). ``apply(params, spikes,
    key=key)``: ``key`` for a backend with spike-time jitter. Exact ties (the chip's clock)
    are handled as ties; nothing is added to separate them and no gradient is clipped. A
    layered mapping whose neurons spike at most once (``t_refrac >= t_max``) gets the
    closed-form per-population adjoint
    (:func:`~jaxsnn.event.eventprop.layered.layered_backward`), the same gradient as the
    event-by-event scan at a fraction of its cost.
    """
    mapping = getattr(backend, "mapping", None)
    if mapping is not None and mapping.size != n_hidden:
        raise ValueError(
            f"n_hidden ({n_hidden}) must be the backend's population size ({mapping.size})"
        )
    return RecurrentLIF(
        n_hidden,
        params,
        t_max,
        max_events,
        weight_mean,
        weight_std,
        recurrent_mean,
        recurrent_std,
        gradient=hardware_gradient(backend, params, t_max),
    )


def hardware_gradient(backend: Any, params: LIFParameters, t_max: float) -> EventProp:
    """``EventProp(forward=backend)`` with the cheapest exact backward pass for it: where the
    backend's mapping is layered and every neuron spikes at most once (``t_refrac >= t_max``,
    concrete), the per-population closed form
    :func:`~jaxsnn.event.eventprop.layered.layered_backward`; otherwise the event scan."""
    mapping = getattr(backend, "mapping", None)
    t_refrac = concrete_values(params.t_refrac)
    once = t_refrac is not None and bool(np.all(np.asarray(t_refrac) >= t_max))
    if mapping is None or not mapping.is_layered or not once:
        return EventProp(forward=backend)
    populations = [mapping.neurons(name) for name, _ in mapping.populations]
    return EventProp(forward=backend, backward=layered_backward(populations))
