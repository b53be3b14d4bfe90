"""The imperfections of BrainScaleS-2, each a small pure function (all times in SI seconds).

* :func:`quantize_weights` -- 6-bit synapses with the sign from the synapse row:
  ``w_hw = round(clip(scale w, -w_max, w_max)) / scale`` with ``w_max = 2^bits - 1``
  (at most ``2 w_max + 1`` values; saturation at ``+-w_max / scale``);
* :func:`quantize_times` -- the FPGA reads spike times as clock cycles:
  ``t_read = floor(t / period) period`` (ties are routine);
* :func:`jitter_noise`, :func:`jitter_times`, :func:`add_jitter` -- trial-to-trial noise
  of the analog spike times: ``t + bias + sigma N(0, 1)``;
* :func:`mismatched_parameters` -- fixed-pattern mismatch, fixed per chip (``chip_seed``):
  ``tau_mem (1 + s_mem N)``, ``tau_syn (1 + s_syn N)``, ``v_th + s_th (v_th - v_leak) N`` per
  neuron;
* :func:`cap_readout` -- each population's read-out keeps its first ``cap`` spikes; later ones
  are lost and counted in ``dropped``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxsnn.event.types import Spikes, dropped_of, is_valid, sort_spikes
from jaxsnn.neuron import LIFParameters

Array = jnp.ndarray

#: the FPGA clock of BrainScaleS-2: 125 MHz
CLOCK_PERIOD = 8e-9


def max_weight(bits: int) -> int:
    """The largest synapse weight of ``bits`` bits: ``2^bits - 1`` (63 for 6 bits)."""
    if not isinstance(bits, int) or bits < 1:
        raise ValueError(f"weight bits must be a positive integer, got {bits!r}")
    return 2**bits - 1


def hardware_weights(weights: ArrayLike, scale: float, bits: int = 6) -> Array:
    """Signed integer hardware weights ``round(clip(scale w, -w_max, w_max))`` (float array)."""
    w_max = max_weight(bits)
    return jnp.round(jnp.clip(scale * jnp.asarray(weights), -w_max, w_max))


def quantize_weights(weights: ArrayLike, scale: float, bits: int = 6) -> Array:
    """The software value of what the chip realises: ``hardware_weights(w) / scale``."""
    if not scale > 0:
        raise ValueError(f"weight scale must be > 0 (LSB per software weight unit), got {scale!r}")
    return hardware_weights(weights, scale, bits) / scale


def quantize_times(spikes: Spikes, period: float = CLOCK_PERIOD) -> Spikes:
    """Read-out times as multiples of the clock ``period``: ``floor(t / period) period``;
    padding stays padding, the order is kept (a floor is monotonic)."""
    if not period > 0:
        raise ValueError(f"clock period must be > 0 seconds, got {period!r}")
    valid = is_valid(spikes)
    cycles = jnp.floor(jnp.where(valid, spikes.time, 0.0) / period)
    return spikes._replace(time=jnp.where(valid, cycles * period, jnp.inf))


def jitter_noise(
    key: jax.Array, shape: tuple[int, ...], sigma: float, bias: float = 0.0, dtype=float
) -> Array:
    """Trial-to-trial temporal noise of analog spike times: ``bias + sigma N(0, 1)``."""
    if sigma < 0:
        raise ValueError(f"jitter sigma must be >= 0 seconds, got {sigma!r}")
    return bias + sigma * jax.random.normal(key, shape, dtype)


def shift_times(times: ArrayLike, noise: ArrayLike) -> Array:
    """``max(t + noise, 0)`` for spike times; ``+inf`` (no spike) stays ``+inf``. Elementwise:
    the order is not restored."""
    times = jnp.asarray(times)
    return jnp.where(jnp.isfinite(times), jnp.maximum(times + noise, 0.0), jnp.inf)


def jitter_times(times: ArrayLike, key: jax.Array, sigma: float, bias: float = 0.0) -> Array:
    """Spike times with temporal noise: :func:`shift_times` by :func:`jitter_noise`, clipped
    at 0; elementwise (see :func:`add_jitter` for a sorted list)."""
    times = jnp.asarray(times)
    return shift_times(times, jitter_noise(key, times.shape, sigma, bias, times.dtype))


def add_jitter(spikes: Spikes, key: jax.Array, sigma: float, bias: float = 0.0) -> Spikes:
    """Analog spike times of a list with temporal noise (:func:`jitter_times`), re-sorted
    (noise may swap neighbours). Padding stays padding."""
    valid = is_valid(spikes)
    time = jitter_times(jnp.where(valid, spikes.time, jnp.inf), key, sigma, bias)
    jittered = sort_spikes(time, spikes.idx, spikes.time.shape[-1])
    return Spikes(jittered.time, jittered.idx, dropped_of(spikes))


def mismatched_parameters(
    params: LIFParameters,
    n: int,
    chip_seed: int,
    tau_mem_sigma: float = 0.0,
    tau_syn_sigma: float = 0.0,
    v_th_sigma: float = 0.0,
) -> LIFParameters:
    """Per-neuron parameters of a chip: the nominal ``params`` with fixed-pattern mismatch.

    ``tau_mem (1 + tau_mem_sigma z1)``, ``tau_syn (1 + tau_syn_sigma z2)`` and
    ``v_th + v_th_sigma (v_th - v_leak) z3`` with ``z`` standard normal, drawn from
    ``PRNGKey(chip_seed)`` (the same chip always gets the same pattern); time constants are
    kept above 10 % of nominal. Every field of the result has shape ``[n]``.
    """
    for name, sigma in (
        ("tau_mem_sigma", tau_mem_sigma),
        ("tau_syn_sigma", tau_syn_sigma),
        ("v_th_sigma", v_th_sigma),
    ):
        if not sigma >= 0:
            raise ValueError(f"{name} must be >= 0 (a relative spread), got {sigma!r}")
    z_mem, z_syn, z_th = jax.random.normal(jax.random.PRNGKey(chip_seed), (3, n))
    p = LIFParameters(*(jnp.broadcast_to(jnp.asarray(f, float), (n,)) for f in params))
    return p._replace(
        tau_mem=p.tau_mem * jnp.maximum(1.0 + tau_mem_sigma * z_mem, 0.1),
        tau_syn=p.tau_syn * jnp.maximum(1.0 + tau_syn_sigma * z_syn, 0.1),
        v_th=p.v_th + v_th_sigma * (p.v_th - p.v_leak) * z_th,
    )


def cap_readout(spikes: Spikes, cap: int) -> Spikes:
    """Keep the first ``cap`` spikes of a (sorted) list; later ones become padding and are
    added to ``dropped``."""
    if not isinstance(cap, int) or cap < 0:
        raise ValueError(f"readout cap must be an integer >= 0, got {cap!r}")
    valid = is_valid(spikes)
    kept = valid & (jnp.cumsum(valid, axis=-1) <= cap)
    lost = jnp.sum(valid & ~kept, axis=-1, dtype=jnp.int32)
    return Spikes(
        jnp.where(kept, spikes.time, jnp.inf),
        jnp.where(kept, spikes.idx, -1),
        dropped_of(spikes) + lost,
    )
