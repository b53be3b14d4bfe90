"""What both EventProp backward passes share: their result and the slope at an onset."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from jaxsnn.neuron import LIFParameters

Array = jnp.ndarray


class AdjointGradients(NamedTuple):
    """``dL/dW_in`` ``[n_in, n]``, ``dL/dW_rec`` ``[n, n]`` (or ``None``), ``dL/dt_in`` ``[K]``."""

    input_weights: Array
    recurrent_weights: Array | None
    input_times: Array


def onset_slope(v_start: Array, current: Array, p: LIFParameters, n: Array | slice) -> Array:
    """``dV/dt = (v_leak - V + I) / tau_mem`` of neuron(s) ``n`` at voltage ``v_start``.

    ``p``: per-neuron parameters (``[n]`` each). At ``V = v_th`` it is the rising slope of a
    crossing; at ``V = v_reset`` the slope with which a neuron restarts after a reset.
    """
    return (p.v_leak[n] - v_start + current) / p.tau_mem[n]
