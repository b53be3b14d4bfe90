"""BrainScaleS-2 (BSS-2) itself: the real chip as a source of forward spikes.

Running on the chip needs the platform's software stack (Python packages such as
``pynn_brainscales``, ``calix``, ``hxcomm``, ``stadls``) and a connection to a chip. Neither
is a dependency of jaxsnn: this module imports nothing of the stack at import time, and
:func:`require_stack` says clearly what is missing. Where the stack is not installed, use
the software mock (:class:`~jaxsnn.event.hardware.MockBackend`,
``python -m jaxsnn.event.tasks.hardware.yinyang_mock``).

All chip-facing code lives in :class:`BSS2Backend`. It has never run against a chip: see its
docstring for which part is written and tested, and which part is not implemented.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxsnn.event.hardware.artifacts import hardware_weights, max_weight
from jaxsnn.event.hardware.mapping import NetworkMapping, synapse_rows
from jaxsnn.event.hardware.mock import HardwareRun
from jaxsnn.event.types import Spikes, dropped_of
from jaxsnn.neuron import LIFParameters, validate_parameters

if TYPE_CHECKING:
    from jaxsnn.event.hardware.calib import Calibration, CalibrationTargets
    from jaxsnn.event.plan import SolverPlan

Array = jnp.ndarray

#: the packages of the BrainScaleS-2 software stack probed before running on the chip
STACK_PACKAGES = ("pynn_brainscales", "calix")
#: the packages probed before calibrating the chip (calix is the calibration library)
CALIB_PACKAGES = ("calix",)
#: how to run without the chip
MOCK_HINT = "python -m jaxsnn.event.tasks.hardware.yinyang_mock"


class HardwareUnavailableError(RuntimeError):
    """BrainScaleS-2 cannot be used here; the message (one line) says why and what to do.

    ``missing``: the name of the missing Python package of the stack, or ``None`` when
    something else is missing (e.g. the connection to a chip).
    """

    def __init__(self, message: str, missing: str | None = None) -> None:
        super().__init__(message)
        self.missing = missing


def missing_package(packages: Sequence[str] = STACK_PACKAGES) -> str | None:
    """The first of ``packages`` that is not installed (``importlib.util.find_spec`` finds no
    module), or ``None`` when all are; nothing is imported."""
    for name in packages:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):  # a broken parent package, or no __spec__
            spec = None
        if spec is None:
            return name
    return None


def require_stack(packages: Sequence[str] = STACK_PACKAGES) -> None:
    """Return when every package of the BrainScaleS-2 stack (``packages``, default
    :data:`STACK_PACKAGES`) is installed; else raise :class:`HardwareUnavailableError` naming
    the first missing one and pointing to the software mock. Imports nothing."""
    name = missing_package(packages)
    if name is not None:
        raise HardwareUnavailableError(
            f"the BrainScaleS-2 software stack is not installed (missing Python package "
            f"{name!r}); it is needed to run on the chip -- to run on the software mock "
            f"instead, use {MOCK_HINT} (jaxsnn.event.hardware.MockBackend)",
            missing=name,
        )


def _import_stack(packages: Sequence[str]) -> dict[str, Any]:
    """Import ``packages`` (checked present by :func:`require_stack`); an installed package
    that fails to import gives :class:`HardwareUnavailableError` with the import's reason."""
    modules = {}
    for name in packages:
        try:
            modules[name] = importlib.import_module(name)
        except Exception as error:  # any failure of a foreign package's import
            raise HardwareUnavailableError(
                f"the BrainScaleS-2 software stack is installed but {name!r} cannot be "
                f"imported ({type(error).__name__}: {error}); to run on the software mock "
                f"instead, use {MOCK_HINT}"
            ) from None
    return modules


@dataclass(frozen=True, eq=False)
class BSS2Backend:
    """BrainScaleS-2 running the hardware population of ``mapping``: a
    :data:`~jaxsnn.event.eventprop.attach.SpikeSource` and a ``Backend``, like
    :class:`~jaxsnn.event.hardware.MockBackend`.

    ``params``: the nominal neuron parameters (the software model's; gradients use them);
    ``t_max``: the experiment's duration in seconds; ``calibration``: the chip's calibration
    (backend ``"bss2"``, at least ``mapping.size`` neurons) or ``None``; ``weight_scale``:
    hardware LSB per software weight unit.

    Construction calls :func:`require_stack` first, so without the platform's software stack
    it fails at once with :class:`HardwareUnavailableError` naming the missing package; then
    it imports the stack.

    What is written and tested (with the stack faked): the checks, the conversion of the
    weights into the chip's synapse rows and 6-bit magnitudes (:meth:`synapse_matrix`), and the
    path from JAX to the host -- :meth:`__call__` hands a whole batch to the host in one
    ``jax.pure_callback`` (``vmap_method="expand_dims"``). What is NOT implemented, because it
    cannot be written or tested without a chip: opening the experiment session
    (:meth:`_connection`), calibrating the chip (:meth:`calibrate`), and the experiment itself
    in :meth:`_run_on_chip` (programming the synapse array, playing the input spikes through
    the FPGA, reading the spikes back). Each raises :class:`HardwareUnavailableError` saying
    so, before anything is sent anywhere.
    """

    mapping: NetworkMapping
    params: LIFParameters
    t_max: float
    calibration: Calibration | None = None
    weight_scale: float = 50.0
    _stack: dict[str, Any] = field(init=False, repr=False, compare=False, default_factory=dict)

    @property
    def weight_range(self) -> float:
        """The largest software weight magnitude the chip realises: ``63 / weight_scale``."""
        return max_weight(6) / self.weight_scale

    def __post_init__(self) -> None:
        require_stack()
        object.__setattr__(self, "_stack", _import_stack(STACK_PACKAGES))
        if not isinstance(self.mapping, NetworkMapping):
            raise TypeError(f"mapping must be a NetworkMapping, got {type(self.mapping)!r}")
        validate_parameters(self.params, "params", self.mapping.size)
        if not self.t_max > 0:
            raise ValueError(f"t_max must be a positive time in seconds, got {self.t_max!r}")
        if not 0 < self.weight_scale < float("inf"):
            raise ValueError(f"weight_scale must be a finite number > 0, got {self.weight_scale}")
        if self.calibration is not None:
            if self.calibration.backend != "bss2":
                raise ValueError(
                    f"the calibration is of the {self.calibration.backend!r} chip, not of "
                    "BrainScaleS-2; calibrate the chip with python -m "
                    "jaxsnn.event.hardware.calib.neuron_calib (without --mock)"
                )
            if self.calibration.n_neurons < self.mapping.size:
                raise ValueError(
                    f"the calibration describes {self.calibration.n_neurons} neurons; the "
                    f"mapping needs {self.mapping.size}"
                )

    @staticmethod
    def calibrate(targets: CalibrationTargets) -> Calibration:
        """Calibrate the chip's neurons to ``targets`` with calix and return what they realise.

        NOT IMPLEMENTED (needs a chip): checks the stack (:data:`CALIB_PACKAGES`), then raises
        :class:`HardwareUnavailableError`. A chip calibration would run calix's spiking neuron
        calibration on an open connection and measure the realised per-neuron parameters.
        """
        require_stack(CALIB_PACKAGES)
        raise HardwareUnavailableError(
            "calibrating BrainScaleS-2 needs a chip connection, and this jaxsnn has no tested "
            "chip-facing calibration (it cannot be written without a chip); to calibrate a "
            "software mock chip, use python -m jaxsnn.event.hardware.calib.neuron_calib --mock"
        )

    def _connection(self) -> Any:
        """The open experiment session on the chip (opened once).

        NOT IMPLEMENTED (needs a chip): always raises :class:`HardwareUnavailableError`."""
        raise HardwareUnavailableError(
            "running on BrainScaleS-2 needs a chip connection, and no experiment session can "
            "be opened: this jaxsnn has no tested chip-facing experiment code (it cannot be "
            f"written without a chip); to run on the software mock instead, use {MOCK_HINT}"
        )

    def synapse_matrix(
        self, input_weights: ArrayLike, recurrent_weights: ArrayLike | None
    ) -> tuple[Array, Array]:
        """The chip's synapses for the hardware population's weights: ``(rows, magnitudes)``,
        int32, shape ``[n_inputs + N, N]`` (sources: the input channels, then the hardware
        neurons as sources ``n_inputs + k``).

        ``w_hw = round(clip(weight_scale w, -63, 63))`` (:func:`hardware_weights`); source
        ``s`` drives row ``2 s`` with the excitatory and ``2 s + 1`` with the inhibitory
        weights, magnitude ``|w_hw|`` (:func:`~jaxsnn.event.hardware.mapping.synapse_rows`).
        Pure JAX (runs under ``jit``); ``recurrent_weights=None`` means none.
        """
        n_in, n = self.mapping.n_inputs, self.mapping.size
        w_in = jnp.asarray(input_weights)
        w_rec = (
            jnp.zeros((n, n), w_in.dtype)
            if recurrent_weights is None
            else jnp.asarray(recurrent_weights)
        )
        if w_in.shape != (n_in, n) or w_rec.shape != (n, n):
            raise ValueError(
                f"the mapped network needs input_weights {(n_in, n)} and recurrent_weights "
                f"{(n, n)}, got {w_in.shape} and {w_rec.shape}"
            )
        signed = hardware_weights(jnp.concatenate([w_in, w_rec]), self.weight_scale)
        sources = jnp.broadcast_to(jnp.arange(n_in + n)[:, None], signed.shape)
        rows, magnitudes = synapse_rows(sources, signed)
        return rows.astype(jnp.int32), magnitudes.astype(jnp.int32)

    def __call__(
        self,
        input_weights: ArrayLike,
        recurrent_weights: ArrayLike | None,
        params: LIFParameters,
        inputs: Spikes,
        t_max: ArrayLike,
        max_events: int,
        plan: SolverPlan | None = None,
        key: jax.Array | None = None,
    ) -> Spikes:
        """One sample through the chip: read-out spikes of the hardware population
        (``max_events`` entries, hardware indices, times in seconds), like
        :meth:`MockBackend.__call__ <jaxsnn.event.hardware.MockBackend.__call__>`.

        The weights become synapses (:meth:`synapse_matrix`) in JAX; the chip is called
        outside of JIT by ``jax.pure_callback`` to :meth:`_run_on_chip` with
        ``vmap_method="expand_dims"``, so under ``vmap`` the whole batch goes to the chip in one
        call. ``params``, ``plan`` and ``key`` are not used (the chip has its own parameters
        and noise); the duration is ``self.t_max``. Raises :class:`HardwareUnavailableError`
        at trace time when no experiment session can be opened.
        """
        self._connection()  # a clear error now, not one wrapped by the runtime later
        rows, magnitudes = self.synapse_matrix(input_weights, recurrent_weights)
        time = jnp.asarray(inputs.time)
        batch = time.shape[:-1]
        shapes = Spikes(
            jax.ShapeDtypeStruct((*batch, max_events), time.dtype),
            jax.ShapeDtypeStruct((*batch, max_events), jnp.int32),
            jax.ShapeDtypeStruct(batch, jnp.int32),
        )
        out = jax.pure_callback(
            partial(self._run_on_chip, max_events=max_events),
            shapes,
            rows,
            magnitudes,
            time,
            jnp.asarray(inputs.idx, jnp.int32),
            vmap_method="expand_dims",
        )
        return Spikes(out.time, out.idx, dropped_of(inputs) + out.dropped)

    def _run_on_chip(
        self,
        rows: np.ndarray,
        magnitudes: np.ndarray,
        input_time: np.ndarray,
        input_idx: np.ndarray,
        *,
        max_events: int,
    ) -> Spikes:
        """Host side of :meth:`__call__`: one experiment on the chip for a batch.

        ``rows``/``magnitudes``: ``[..., n_inputs + N, N]`` synapses (leading axes of size 1:
        one configuration for the whole batch); ``input_time``/``input_idx``: ``[B..., E]``.
        Would return ``Spikes(time [B..., max_events], idx, dropped [B...])`` as numpy arrays.

        Tested: the checks of what arrives. NOT IMPLEMENTED (needs a chip): the session
        (:meth:`_connection` raises) and the experiment itself -- both raise
        :class:`HardwareUnavailableError`.
        """
        rows = np.asarray(rows, np.int32)
        magnitudes = np.asarray(magnitudes, np.int32)
        n_sources, n = self.mapping.n_inputs + self.mapping.size, self.mapping.size
        if rows.shape[-2:] != (n_sources, n) or magnitudes.shape != rows.shape:
            raise ValueError(
                f"synapses must have shape [..., {n_sources}, {n}], got {rows.shape} and "
                f"{magnitudes.shape}"
            )
        if any(size != 1 for size in rows.shape[:-2]):
            raise ValueError(
                "BSS2Backend runs a batch with one set of weights; got one set per sample "
                f"(synapses of shape {rows.shape})"
            )
        if np.shape(input_time) != np.shape(input_idx) or np.ndim(input_time) < 1:
            raise ValueError(
                f"input spike times {np.shape(input_time)} and indices {np.shape(input_idx)} "
                "must have the same shape [..., E]"
            )
        if magnitudes.min(initial=0) < 0 or magnitudes.max(initial=0) > 63:
            raise ValueError("synapse magnitudes must lie in [0, 63] (6 bits)")
        self._connection()
        raise HardwareUnavailableError(
            "running an experiment on BrainScaleS-2 is not implemented in this jaxsnn (it "
            "cannot be written or tested without a chip); to run on the software mock instead, "
            f"use {MOCK_HINT}"
        )

    def run(
        self,
        input_weights: ArrayLike,
        recurrent_weights: ArrayLike | None,
        inputs: Spikes,
        key: jax.Array | None = None,
        max_events: int | None = None,
    ) -> HardwareRun:
        """The ``Backend`` protocol (as :meth:`MockBackend.run
        <jaxsnn.event.hardware.MockBackend.run>`): a batch of input spike lists (leading batch
        axis) through the chip in one experiment; diagnostics: spikes read out per
        population. ``key`` is not used (the chip's noise is its own)."""
        max_events = self.mapping.size if max_events is None else max_events
        spikes = jax.vmap(
            lambda sample: self(
                input_weights,
                recurrent_weights,
                self.params,
                sample,
                self.t_max,
                max_events,
            )
        )(inputs)
        return HardwareRun(spikes, self.mapping.spike_counts(spikes))
