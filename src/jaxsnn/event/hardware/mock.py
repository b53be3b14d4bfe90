"""A software mock of BrainScaleS-2: the event simulator plus the chip's imperfections.

:class:`MockBackend` runs the hardware population of a :class:`NetworkMapping` with

1. the weights the chip realises (:func:`~jaxsnn.event.hardware.artifacts.quantize_weights`),
2. per-neuron parameters with the chip's fixed-pattern mismatch (or those of a calibration),
3. jitter on the *analog* spike times, which the next population receives,
4. the read-out: each population's first ``readout_cap`` spikes, times floored to the clock.

Each artifact is switched off by its neutral value (``weight_bits=None``, ``clock_period=None``,
``jitter_sigma=0``, mismatch ``0``, ``readout_cap=None``); with all of them off the mock
gives the software simulation's spikes. A layered mapping is simulated population by
population -- on the first-spike fast path when every refractory period outlasts ``t_max``
(each neuron spikes at most once), else by event stepping -- instead of event by event over
the whole population; a recurrent mapping is stepped as one population (jitter then acts on
the recorded spikes only).

The mock is a :data:`~jaxsnn.event.eventprop.attach.SpikeSource`: pass it as
``EventProp(forward=mock)`` (or use :func:`~jaxsnn.event.hardware.HardwareRecurrentLIF`) and
the gradient is the software model's EventProp adjoint at the mock's spikes
(hardware-in-the-loop). It is pure JAX and runs inside ``jit`` and ``vmap``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, reduce
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxsnn.event.hardware.artifacts import (
    CLOCK_PERIOD,
    add_jitter,
    cap_readout,
    jitter_noise,
    max_weight,
    mismatched_parameters,
    quantize_times,
    quantize_weights,
    shift_times,
)
from jaxsnn.event.hardware.mapping import NetworkMapping
from jaxsnn.event.plan import SolverPlan, solver_plan
from jaxsnn.event.step import simulate_population
from jaxsnn.event.ttfs import ttfs_spike_times
from jaxsnn.event.types import (
    Spikes,
    dropped_of,
    is_valid,
    merge_sorted,
    resize_spikes,
    sort_spikes,
)
from jaxsnn.neuron import LIFParameters, validate_parameters

Array = jnp.ndarray


@dataclass(frozen=True)
class Artifacts:
    """The chip's imperfections, each switchable (see the module docstring); SI units.

    ``weight_bits``/``weight_scale``: synapse resolution and hardware LSB per software weight
    unit (``None`` bits: float weights); ``clock_period``: read-out clock (``None``: exact
    times); ``jitter_sigma``/``jitter_bias``: temporal noise of analog spike times;
    ``*_mismatch``: relative fixed-pattern spreads, fixed by ``chip_seed``; ``readout_cap``:
    spikes read out per population (``None``: all).
    """

    weight_bits: int | None = 6
    weight_scale: float = 50.0
    clock_period: float | None = CLOCK_PERIOD
    jitter_sigma: float = 1e-7
    jitter_bias: float = 0.0
    tau_mem_mismatch: float = 0.02
    tau_syn_mismatch: float = 0.02
    v_th_mismatch: float = 0.02
    chip_seed: int = 0
    readout_cap: int | None = None

    def __post_init__(self) -> None:
        if self.weight_bits is not None and (
            not isinstance(self.weight_bits, int) or not 1 <= self.weight_bits <= 16
        ):
            raise ValueError(f"weight_bits must be an integer in [1, 16], got {self.weight_bits!r}")
        if not self.weight_scale > 0:
            raise ValueError(f"weight_scale must be > 0, got {self.weight_scale!r}")
        if self.clock_period is not None and not self.clock_period > 0:
            raise ValueError(f"clock_period must be > 0 seconds, got {self.clock_period!r}")
        for name in ("jitter_sigma", "tau_mem_mismatch", "tau_syn_mismatch", "v_th_mismatch"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.readout_cap is not None and (
            not isinstance(self.readout_cap, int) or self.readout_cap < 0
        ):
            raise ValueError(f"readout_cap must be an integer >= 0, got {self.readout_cap!r}")

    @classmethod
    def off(cls) -> Artifacts:
        """Every artifact switched off: the mock is the software simulation."""
        return cls(
            weight_bits=None,
            clock_period=None,
            jitter_sigma=0.0,
            tau_mem_mismatch=0.0,
            tau_syn_mismatch=0.0,
            v_th_mismatch=0.0,
        )

    @property
    def weight_range(self) -> float | None:
        """The largest software weight magnitude the chip realises, ``(2^bits - 1) / scale``
        (``None``: float weights, no limit)."""
        if self.weight_bits is None:
            return None
        return max_weight(self.weight_bits) / self.weight_scale

    @property
    def stochastic(self) -> bool:
        """Whether a run needs a random key (jitter on)."""
        return self.jitter_sigma > 0 or self.jitter_bias != 0


class HardwareRun(NamedTuple):
    """What a backend returns for a batch: the hardware population's read-out spikes
    (hardware neuron indices, ``dropped`` per sample) and diagnostics (per-sample arrays)."""

    spikes: Spikes
    diagnostics: dict[str, Array]


@dataclass(frozen=True)
class MockBackend:
    """The mock chip for one mapped network (see the module docstring).

    ``params``: the nominal neuron parameters (the calibration targets; scalars or one value
    per hardware neuron); ``calibrated``: per-neuron parameters realised by a calibration
    (:mod:`jaxsnn.event.hardware.calib`) -- used instead of drawing the mismatch.
    """

    mapping: NetworkMapping
    params: LIFParameters
    t_max: float
    artifacts: Artifacts = field(default_factory=Artifacts)
    calibrated: LIFParameters | None = None

    def __post_init__(self) -> None:
        validate_parameters(self.params, "params", self.mapping.size)
        if self.calibrated is not None:
            validate_parameters(self.calibrated, "calibrated", self.mapping.size)
        if not self.t_max > 0:
            raise ValueError(f"t_max must be a positive time in seconds, got {self.t_max!r}")

    @property
    def weight_range(self) -> float | None:
        """:attr:`Artifacts.weight_range` of this chip."""
        return self.artifacts.weight_range

    def realised_parameters(self) -> LIFParameters:
        """Per-neuron parameters of the mock chip's ``N`` neurons (float64 numpy values; also
        when called while tracing: they are a fixed property of the chip)."""
        if self.calibrated is not None:
            base = self.calibrated
        else:
            a = self.artifacts
            with jax.ensure_compile_time_eval():
                base = mismatched_parameters(
                    self.params,
                    self.mapping.size,
                    a.chip_seed,
                    a.tau_mem_mismatch,
                    a.tau_syn_mismatch,
                    a.v_th_mismatch,
                )
        n = self.mapping.size
        return LIFParameters(*(np.broadcast_to(np.asarray(f, np.float64), (n,)) for f in base))

    def _chip_weights(self, weights: Array) -> Array:
        a = self.artifacts
        return (
            weights
            if a.weight_bits is None
            else quantize_weights(weights, a.weight_scale, a.weight_bits)
        )

    def __call__(
        self,
        input_weights: ArrayLike,
        recurrent_weights: ArrayLike,
        params: LIFParameters,
        inputs: Spikes,
        t_max: ArrayLike,
        max_events: int,
        plan: SolverPlan | None = None,
        key: jax.Array | None = None,
    ) -> Spikes:
        """One sample through the mock chip: read-out spikes of the hardware population
        (``max_events`` entries, hardware indices). The signature of a
        :data:`~jaxsnn.event.eventprop.attach.SpikeSource`; ``params`` and ``plan`` (the
        software model's) are not used: the chip has its own parameters."""
        if self.artifacts.stochastic and key is None:
            raise ValueError("the mock's spike-time jitter needs a random key (key=...)")
        n_in, n = self.mapping.n_inputs, self.mapping.size
        shapes = (np.shape(input_weights), np.shape(recurrent_weights))
        if shapes != ((n_in, n), (n, n)):
            raise ValueError(
                f"the mapped network needs input_weights {(n_in, n)} and recurrent_weights "
                f"{(n, n)}, got {shapes[0]} and {shapes[1]}"
            )
        return self._compiled(input_weights, recurrent_weights, inputs, key, max_events)

    @cached_property
    def _compiled(self) -> Any:
        """:meth:`_simulate` as one ``jax.jit`` program per backend (``max_events`` static):
        a call outside ``jit`` compiles once per shape; inside ``jit`` it is inlined."""
        return jax.jit(self._simulate, static_argnames="max_events")

    def _simulate(
        self,
        input_weights: ArrayLike,
        recurrent_weights: ArrayLike,
        inputs: Spikes,
        key: jax.Array | None,
        max_events: int,
    ) -> Spikes:
        """The chip's run of :meth:`__call__` (arguments checked)."""
        w_in = self._chip_weights(jnp.asarray(input_weights))
        w_rec = self._chip_weights(jnp.asarray(recurrent_weights))
        chip = self.realised_parameters()
        dtype = jnp.result_type(w_in, inputs.time, float)
        # numpy values: concrete inside jit, so each population gets its fastest solvers
        chip = LIFParameters(*(np.asarray(f, dtype) for f in chip))
        if self.mapping.is_layered:
            readout = self._layer_by_layer(w_in, w_rec, chip, inputs, key, max_events)
        else:
            analog = simulate_population(
                w_in,
                w_rec,
                chip,
                Spikes(inputs.time, inputs.idx),
                self.t_max,
                max_events,
                solver_plan(chip, self.t_max),
            )
            readout = [self._read_out(self._jitter(analog, key, 0))]
        merged = _merge(readout, max_events)  # dropped: the read-outs' and max_events' losses
        return Spikes(merged.time, merged.idx, dropped_of(inputs) + merged.dropped)

    def _jitter(self, spikes: Spikes, key: jax.Array | None, index: int) -> Spikes:
        """A sorted list with jitter (re-sorted)."""
        a = self.artifacts
        if not a.stochastic:
            return spikes
        return add_jitter(spikes, jax.random.fold_in(key, index), a.jitter_sigma, a.jitter_bias)

    def _read_out(self, spikes: Spikes) -> Spikes:
        """A population's read-out: its (sorted) spikes capped and on the clock; the floor
        keeps the order, so equal read-out times stay in the order of the analog times."""
        a = self.artifacts
        if a.readout_cap is not None:
            spikes = cap_readout(spikes, a.readout_cap)
        if a.clock_period is not None:
            spikes = quantize_times(spikes, a.clock_period)
        return Spikes(spikes.time, spikes.idx, dropped_of(spikes))

    def _layer_by_layer(self, w_in, w_rec, chip, inputs, key, max_events) -> list[Spikes]:
        """Populations in placement order, each fed by the inputs and the (jittered, analog)
        spikes of the populations before it; their read-outs.

        Where every neuron spikes at most once, a population's spikes come from the
        first-spike fast path, one entry per neuron with its own jitter, and are sorted once;
        the later populations' sources are merged from sorted lists (no further sort)."""
        n_in = self.mapping.n_inputs
        weights = jnp.concatenate([w_in, w_rec])  # rows: inputs, then hardware neurons
        once = bool(np.all(chip.t_refrac >= self.t_max))
        a = self.artifacts
        real = is_valid(inputs)
        sources = Spikes(jnp.where(real, inputs.time, jnp.inf), jnp.where(real, inputs.idx, -1))
        readout = []
        last = len(self.mapping.populations) - 1
        if once and a.stochastic:  # one draw for the whole chip, each neuron its own noise
            shape, dtype = (self.mapping.size,), jnp.result_type(weights, inputs.time)
            noise = jitter_noise(key, shape, a.jitter_sigma, a.jitter_bias, dtype)
        for k, (name, _) in enumerate(self.mapping.populations):
            cols = self.mapping.neurons(name)
            p = LIFParameters(*(f[cols] for f in chip))
            plan = solver_plan(p, self.t_max)
            if once:
                times = ttfs_spike_times(weights[:, cols], p, sources, self.t_max, plan)
                if a.stochastic:
                    times = shift_times(times, noise[cols])
                out = sort_spikes(times, jnp.arange(cols.start, cols.stop, dtype=jnp.int32))
                readout.append(self._read_out(out))
            else:
                out = simulate_population(
                    weights[:, cols], None, p, sources, self.t_max, max_events, plan
                )
                valid = out.idx >= 0
                out = Spikes(out.time, jnp.where(valid, out.idx + cols.start, -1), dropped_of(out))
                out = self._jitter(out, key, k)
                readout.append(self._read_out(out))
            if k < last:  # the next populations receive these analog spikes as n_in + neuron
                shifted = Spikes(out.time, jnp.where(out.idx >= 0, out.idx + n_in, -1))
                merged = merge_sorted(sources, shifted)
                sources = Spikes(merged.time, merged.idx)
        return readout

    def run(
        self,
        input_weights: ArrayLike,
        recurrent_weights: ArrayLike,
        inputs: Spikes,
        key: jax.Array | None = None,
        max_events: int | None = None,
    ) -> HardwareRun:
        """The :class:`Backend` protocol: a batch of input spike lists (leading batch axis)
        through the mock chip; diagnostics: spikes read out per population."""
        max_events = self.mapping.size if max_events is None else max_events
        batch = inputs.time.shape[0]
        keys = None if key is None else jax.random.split(key, batch)

        def one(sample: Spikes, sample_key: Any) -> Spikes:
            return self(
                input_weights,
                recurrent_weights,
                self.params,
                sample,
                self.t_max,
                max_events,
                None,
                sample_key,
            )

        if keys is None:
            spikes = jax.vmap(lambda s: one(s, None))(inputs)
        else:
            spikes = jax.vmap(one)(inputs, keys)
        return HardwareRun(spikes, self.mapping.spike_counts(spikes))


def _merge(lists: list[Spikes], size: int) -> Spikes:
    """One sorted list of ``size`` entries from several sorted ones (one sample; at equal
    times the earlier list first); ``dropped``: the lists' counts plus the valid spikes
    beyond ``size``."""
    merged = reduce(merge_sorted, lists)
    beyond = jnp.maximum(jnp.sum(is_valid(merged), dtype=jnp.int32) - size, 0)
    kept = resize_spikes(merged, size)
    return Spikes(kept.time, kept.idx, dropped_of(merged) + beyond)
