"""Spike threshold functions: exact Heaviside forward, surrogate derivative backward.

A *threshold function* maps ``x = V - v_th`` to spikes::

    forward:   H(x) = 1 if x > 0 else 0          (exact, no smoothing)
    backward:  dH/dx := s(x)                      (the surrogate derivative)

implemented with :func:`jax.custom_jvp`, so ``jax.grad``, ``jax.vjp``, ``jax.jvp``, ``jit``
and ``vmap`` all see the surrogate. The surrogate derivatives (``x`` in voltage units, so
each width/scale parameter is in units of 1/voltage or voltage as stated):

=================  ==============================================  ===============
name               s(x)                                            parameter
=================  ==============================================  ===============
``superspike``     ``1 / (1 + alpha |x|)^2`` (fast sigmoid)        ``alpha = 100``
``triangle``       ``max(0, 1 - |x| / width) / width``             ``width = 0.5``
``arctan``         ``(alpha / 2) / (1 + (pi alpha x / 2)^2)``      ``alpha = 10``
``sigmoid``        ``alpha sig(alpha x) (1 - sig(alpha x))``       ``alpha = 10``
``straight_through`` ``scale`` (constant)                          ``scale = 1``
=================  ==============================================  ===============

``triangle``, ``arctan`` and ``sigmoid`` integrate to 1 (they are derivatives of a smooth
step); SuperSpike keeps the usual peak value 1 (Zenke & Ganguli 2018).

Select one by name, ``surrogate("superspike", alpha=50.0)``, or pass any callable
(e.g. one built with :func:`custom`) wherever a ``threshold`` is accepted.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jax.Array
ThresholdFn = Callable[[ArrayLike], Array]
Derivative = Callable[[Array], Array]


def heaviside(x: ArrayLike) -> Array:
    """Exact step ``H(x) = 1 if x > 0 else 0`` in the dtype of ``x`` (float)."""
    x = jnp.asarray(x)
    dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32
    return (x > 0).astype(dtype)


def custom(derivative: Derivative, name: str = "custom") -> ThresholdFn:
    """Threshold function with exact Heaviside forward and ``derivative(x)`` backward.

    ``derivative`` maps ``x = V - v_th`` (array) to the surrogate ``dH/dx`` (same shape).
    """
    if not callable(derivative):
        raise TypeError(f"derivative must be callable, got {type(derivative)!r}")

    @jax.custom_jvp
    def threshold(x: ArrayLike) -> Array:
        return heaviside(x)

    @threshold.defjvp
    def _threshold_jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        return heaviside(x), derivative(x) * dx

    threshold.__name__ = name
    threshold.__doc__ = f"Heaviside forward, {name} surrogate derivative backward."
    return threshold


def _check_positive(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def superspike(alpha: float = 100.0) -> ThresholdFn:
    """SuperSpike / fast sigmoid: ``s(x) = 1 / (1 + alpha |x|)^2``."""
    alpha = _check_positive("alpha", alpha)
    return custom(lambda x: 1.0 / (1.0 + alpha * jnp.abs(x)) ** 2, f"superspike({alpha})")


def triangle(width: float = 0.5) -> ThresholdFn:
    """Triangle: ``s(x) = max(0, 1 - |x| / width) / width`` (area 1)."""
    width = _check_positive("width", width)
    return custom(
        lambda x: jnp.maximum(0.0, 1.0 - jnp.abs(x) / width) / width, f"triangle({width})"
    )


def arctan(alpha: float = 10.0) -> ThresholdFn:
    """Arctan: derivative of ``1/2 + arctan(pi alpha x / 2) / pi``:
    ``s(x) = (alpha / 2) / (1 + (pi alpha x / 2)^2)`` (area 1)."""
    alpha = _check_positive("alpha", alpha)
    return custom(
        lambda x: 0.5 * alpha / (1.0 + (0.5 * jnp.pi * alpha * x) ** 2), f"arctan({alpha})"
    )


def sigmoid(alpha: float = 10.0) -> ThresholdFn:
    """Sigmoid: derivative of ``sig(alpha x)``: ``s(x) = alpha sig(alpha x)(1 - sig(alpha x))``."""
    alpha = _check_positive("alpha", alpha)

    def derivative(x: Array) -> Array:
        sig = jax.nn.sigmoid(alpha * x)
        return alpha * sig * (1.0 - sig)

    return custom(derivative, f"sigmoid({alpha})")


def straight_through(scale: float = 1.0) -> ThresholdFn:
    """Straight-through estimator: ``s(x) = scale`` everywhere."""
    scale = _check_positive("scale", scale)
    return custom(lambda x: jnp.full_like(x, scale), f"straight_through({scale})")


#: Surrogates by name; each entry builds a threshold function from keyword parameters.
SURROGATES: dict[str, Callable[..., ThresholdFn]] = {
    "superspike": superspike,
    "fast_sigmoid": superspike,
    "triangle": triangle,
    "arctan": arctan,
    "sigmoid": sigmoid,
    "straight_through": straight_through,
}


def surrogate(kind: str | ThresholdFn = "superspike", **parameters: float) -> ThresholdFn:
    """A threshold function chosen by name (with its parameters) or passed through.

    ``surrogate("triangle", width=0.3)`` builds one; ``surrogate(fn)`` returns the callable
    ``fn`` unchanged (it must map ``V - v_th`` to spikes). Unknown names or parameters raise
    ``ValueError``.
    """
    if callable(kind):
        if parameters:
            raise ValueError(
                f"surrogate parameters {sorted(parameters)} given with a function; "
                "build the function with its parameters instead"
            )
        return kind
    if not isinstance(kind, str) or kind not in SURROGATES:
        raise ValueError(
            f"surrogate: unknown name {kind!r}; choose one of {sorted(SURROGATES)} or pass a "
            "function"
        )
    factory = SURROGATES[kind]
    try:
        return factory(**parameters)
    except TypeError as error:
        raise ValueError(f"surrogate {kind!r}: bad parameters {parameters}: {error}") from None
