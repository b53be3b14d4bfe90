"""The init/apply layer contract and the ``serial`` combinator.

A *layer* is a pair of pure functions::

    init(key, input_shape) -> (output_shape, params)
    apply(params, inputs, **kwargs) -> outputs

``params`` is a plain pytree (dicts, tuples and arrays), so ``jax.jit``, ``jax.grad``,
``jax.vmap`` and every optax optimiser accept it. Shapes exclude the batch dimension: a layer
is written for one sample and batched with ``jax.vmap`` (or handles a leading batch axis
itself, as documented per layer).

Example::

    layer = serial(Dense(30), Relu, Dense(3))
    out_shape, params = layer.init(jax.random.PRNGKey(0), (4,))
    y = layer.apply(params, x)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax

Params = Any
Shape = tuple[int, ...]
InitFn = Callable[[jax.Array, Shape], tuple[Shape, Params]]
ApplyFn = Callable[..., Any]


class Layer(NamedTuple):
    """An init/apply pair; see the module docstring for the contract."""

    init: InitFn
    apply: ApplyFn


def serial(*layers: Layer) -> Layer:
    """Compose layers so that the output of layer ``k`` is the input of layer ``k + 1``.

    ``init`` splits the key once per layer and returns the tuple of the layers' params;
    ``apply(params, x, **kwargs)`` threads ``x`` through every layer, passing ``kwargs`` to
    each of them.
    """
    if not layers:
        raise ValueError("serial(...) needs at least one layer")
    for index, layer in enumerate(layers):
        if not (isinstance(layer, tuple) and len(layer) == 2 and all(map(callable, layer))):
            raise TypeError(f"serial(...): argument {index} is not an (init, apply) pair")

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple[Params, ...]]:
        params = []
        shape = input_shape
        for layer, layer_key in zip(layers, jax.random.split(key, len(layers)), strict=True):
            shape, layer_params = layer.init(layer_key, shape)
            params.append(layer_params)
        return shape, tuple(params)

    def apply(params: Sequence[Params], inputs: Any, **kwargs: Any) -> Any:
        return _apply_all(layers, params, inputs, kwargs)[-1]

    return Layer(init, apply)


def _apply_all(
    layers: Sequence[Layer], params: Sequence[Params], inputs: Any, kwargs: dict
) -> list[Any]:
    """Thread ``inputs`` through ``layers``; return every layer's output in order."""
    if len(params) != len(layers):
        raise ValueError(
            f"params has {len(params)} entries but the serial network has {len(layers)} layers"
        )
    outputs = []
    x = inputs
    for layer, layer_params in zip(layers, params, strict=True):
        x = layer.apply(layer_params, x, **kwargs)
        outputs.append(x)
    return outputs


def serial_trace(*layers: Layer) -> Layer:
    """Like :func:`serial`, but ``apply`` returns the list of every layer's output.

    Useful for spike rasters of hidden layers and for losses on intermediate layers.
    """
    composed = serial(*layers)

    def apply(params: Sequence[Params], inputs: Any, **kwargs: Any) -> list[Any]:
        return _apply_all(layers, params, inputs, kwargs)

    return Layer(composed.init, apply)
