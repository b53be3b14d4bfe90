"""Init/apply layers of the time-discrete simulator, composable with :func:`jaxsnn.base.serial`.

Inputs and outputs are time-major: ``[T, *batch, n]`` (any number of batch axes, or none).
Shapes passed to ``init`` are per time step and sample: ``(n,)``.

* :func:`Linear` -- dense weights applied to all time steps at once (one matrix product,
  outside any scan): spikes ``[T, ..., n_in]`` -> current increments ``[T, ..., n_out]``.
* :func:`LIF` -- current-based LIF neurons driven by those increments: -> spikes.
* :func:`LI` -- leaky-integrator readout: -> membrane trajectory.
* :func:`RecurrentLIF` -- input and recurrent weights plus LIF neurons: spikes -> spikes.

A typical network::

    net = serial(Linear(100), LIF(dt), Linear(3), LI(dt))

Every ``apply`` takes ``return_state=True`` to also return the state after every step
(the same scan, for plots) and ``initial_state=`` to start elsewhere than at rest; other
keyword arguments (passed on by ``serial``) are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from jaxsnn.base import Layer, Shape
from jaxsnn.discrete import functional as F
from jaxsnn.discrete.surrogate import ThresholdFn, surrogate
from jaxsnn.neuron import LIFParameters, validate_parameters

Array = jax.Array

#: Neuron parameters used when a layer is given none (``LIFParameters()``: 10 ms / 5 ms).
DEFAULT_PARAMETERS = LIFParameters()


def _check_size(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _check_input_shape(layer: str, input_shape: Shape) -> int:
    if not isinstance(input_shape, tuple) or len(input_shape) < 1:
        raise ValueError(f"{layer}: input_shape must be a tuple like (n,), got {input_shape!r}")
    return _check_size(f"{layer}: input_shape[-1]", input_shape[-1])


def _check_inputs(layer: str, inputs: Any, n: int | None) -> Array:
    """Time-major float inputs ``[T, ..., n]`` (integer/bool inputs become float32)."""
    inputs = jnp.asarray(inputs)
    if not jnp.issubdtype(inputs.dtype, jnp.floating):
        inputs = inputs.astype(jnp.float32)
    if inputs.ndim < 2:
        raise ValueError(
            f"{layer}: inputs must be time-major [T, ..., n] with at least 2 axes, "
            f"got shape {inputs.shape}"
        )
    if n is not None and inputs.shape[-1] != n:
        raise ValueError(
            f"{layer}: inputs have {inputs.shape[-1]} channels (last axis of {inputs.shape}) "
            f"but the layer expects {n}"
        )
    return inputs


def _init_weights(key: jax.Array, n_in: int, n_out: int, scale: float, mean: float) -> Array:
    """``W = mean + scale N(0, 1) / sqrt(n_in)``, shape ``[n_in, n_out]``."""
    return mean + scale * jax.random.normal(key, (n_in, n_out)) / jnp.sqrt(n_in)


def Linear(n_out: int, *, scale: float = 1.0, mean: float = 0.0, bias: bool = False) -> Layer:
    """Dense weights: ``y[t] = x[t] W (+ b)`` for every time step, as one matrix product.

    Params: ``{"weights": [n_in, n_out]}`` (plus ``"bias": [n_out]`` with ``bias=True``),
    initialised as ``W = mean + scale N(0, 1) / sqrt(n_in)``, ``b = 0``.
    """
    _check_size("n_out", n_out)

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, dict[str, Array]]:
        n_in = _check_input_shape("Linear", input_shape)
        params = {"weights": _init_weights(key, n_in, n_out, scale, mean)}
        if bias:
            params["bias"] = jnp.zeros((n_out,))
        return tuple(input_shape[:-1]) + (n_out,), params

    def apply(params: dict[str, Array], inputs: Array, **_: Any) -> Array:
        inputs = jnp.asarray(inputs)
        n_in = params["weights"].shape[0]
        if inputs.ndim < 1 or inputs.shape[-1] != n_in:
            raise ValueError(
                f"Linear: inputs have shape {inputs.shape} but the weights expect {n_in} "
                "channels on the last axis"
            )
        return F.linear(inputs, params["weights"], params.get("bias"))

    return Layer(init, apply)


def _neuron_setup(params: LIFParameters, dt: float, threshold: str | ThresholdFn):
    validate_parameters(params)
    dt = F.check_dt(dt, params)
    return dt, surrogate(threshold)


def _weightless_layer(name: str, step: Callable, make_initial_state: Callable) -> Layer:
    """A layer without parameters: ``step`` over time from ``make_initial_state(shape, dtype)``.

    ``apply(params, inputs[T, ..., n], return_state=False, initial_state=None)``; the output
    shape equals the input shape.
    """

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple]:
        _check_input_shape(name, input_shape)
        return input_shape, ()

    def apply(
        layer_params: Any,
        inputs: Array,
        *,
        return_state: bool = False,
        initial_state: Any = None,
        **_: Any,
    ):
        inputs = _check_inputs(name, inputs, None)
        if initial_state is None:
            initial_state = make_initial_state(inputs.shape[1:], dtype=inputs.dtype)
        return F.simulate(step, initial_state, inputs, return_state=return_state)

    return Layer(init, apply)


def LIF(
    dt: float,
    params: LIFParameters = DEFAULT_PARAMETERS,
    *,
    threshold: str | ThresholdFn = "superspike",
    reset: F.ResetMode = "reset",
) -> Layer:
    """Current-based LIF neurons without weights (see :func:`jaxsnn.discrete.functional.lif_step`).

    ``apply(params, currents[T, ..., n])`` -> spikes ``[T, ..., n]`` (spike of step ``k``
    at time ``(k + 1) dt``); with ``return_state=True`` also the
    :class:`~jaxsnn.discrete.functional.DiscreteLIFState` after every step. ``threshold`` is a
    surrogate name or threshold function; ``reset`` is ``"reset"`` (to ``v_reset``) or
    ``"subtract"``.
    """
    dt, threshold_fn = _neuron_setup(params, dt, threshold)
    if reset not in F.RESET_MODES:
        raise ValueError(f"reset must be one of {F.RESET_MODES}, got {reset!r}")
    step = partial(F.lif_step, params=params, dt=dt, threshold=threshold_fn, reset=reset)

    return _weightless_layer("LIF", step, partial(F.lif_initial_state, params=params))


def LI(dt: float, params: LIFParameters = DEFAULT_PARAMETERS) -> Layer:
    """Leaky-integrator readout without weights (see :func:`~jaxsnn.discrete.functional.li_step`).

    ``apply(params, currents[T, ..., n])`` -> membrane ``V`` at ``t_1 .. t_T``
    ``[T, ..., n]``; with ``return_state=True`` also the
    :class:`~jaxsnn.discrete.functional.LIState` trajectory.
    """
    validate_parameters(params)
    dt = F.check_dt(dt, params)
    step = partial(F.li_step, params=params, dt=dt)

    return _weightless_layer("LI", step, partial(F.li_initial_state, params=params))


def RecurrentLIF(
    n_out: int,
    dt: float,
    params: LIFParameters = DEFAULT_PARAMETERS,
    *,
    threshold: str | ThresholdFn = "superspike",
    reset: F.ResetMode = "reset",
    scale: float = 1.0,
    mean: float = 0.0,
    recurrent_scale: float = 0.5,
) -> Layer:
    """LIF neurons with dense input and recurrent weights.

    Params ``{"input": W [n_in, n_out], "recurrent": R [n_out, n_out]}`` (``R`` starts with
    a zero diagonal). The input of step ``k`` is::

        x_k = s_k W + z_{k-1} R

    where ``s_k`` are the input spikes and ``z_{k-1}`` the layer's own spikes of the step
    before (emitted at ``t_k``). ``s W`` is one matrix product over all steps, outside the
    scan; only ``z R`` is computed step by step.
    """
    _check_size("n_out", n_out)
    dt, threshold_fn = _neuron_setup(params, dt, threshold)
    if reset not in F.RESET_MODES:
        raise ValueError(f"reset must be one of {F.RESET_MODES}, got {reset!r}")
    lif = partial(F.lif_step, params=params, dt=dt, threshold=threshold_fn, reset=reset)

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, dict[str, Array]]:
        n_in = _check_input_shape("RecurrentLIF", input_shape)
        key_in, key_rec = jax.random.split(key)
        recurrent = _init_weights(key_rec, n_out, n_out, recurrent_scale, 0.0)
        recurrent = recurrent * (1.0 - jnp.eye(n_out))
        weights = {"input": _init_weights(key_in, n_in, n_out, scale, mean), "recurrent": recurrent}
        return tuple(input_shape[:-1]) + (n_out,), weights

    def apply(
        layer_params: dict[str, Array],
        inputs: Array,
        *,
        return_state: bool = False,
        initial_state: F.DiscreteLIFState | None = None,
        **_: Any,
    ):
        w_in, w_rec = layer_params["input"], layer_params["recurrent"]
        inputs = _check_inputs("RecurrentLIF", inputs, w_in.shape[0])
        currents = F.linear(inputs, w_in)
        if initial_state is None:
            initial_state = F.lif_initial_state(currents.shape[1:], params, currents.dtype)
        z0 = jnp.zeros(currents.shape[1:], currents.dtype)

        def step(carry, x):
            state, z_prev = carry
            state, z = lif(state, x + F.linear(z_prev, w_rec))
            return (state, z), z

        outputs = F.simulate(step, (initial_state, z0), currents, return_state=return_state)
        if return_state:
            spikes, (states, _) = outputs
            return spikes, states
        return outputs

    return Layer(init, apply)
