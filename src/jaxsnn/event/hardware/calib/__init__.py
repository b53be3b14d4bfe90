"""Calibration of BrainScaleS-2 neurons: targets, the realised parameters, and their file.

A calibration tunes the analog circuits of every neuron until it realises the *targets*
(:class:`CalibrationTargets`): leak, reset and threshold potentials in CADC units (the chip's
column ADC), the time constants and the refractory time in seconds, and the synapse DAC bias.
What each neuron then realises is never exactly the target; a :class:`Calibration` holds those
per-neuron values, in the software model's units (:class:`~jaxsnn.neuron.LIFParameters`,
one value per chip neuron), so a :class:`~jaxsnn.event.hardware.MockBackend` can use them
(``calibrated=calibration.neuron_parameters(mapping.size)``).

Voltages map onto the software model by ``v = (cadc - leak) / (threshold - leak)``: the leak is
``v_leak = 0``, the threshold ``v_th = 1``, the reset ``(reset - leak) / (threshold - leak)``.

A calibration is stored as JSON (:func:`write_calibration`, :func:`load_calibration`; never a
pickle)::

    {"format": "jaxsnn-calibration", "version": 1, "backend": "mock", "chip_seed": 0,
     "targets": {"threshold": 150.0, ...}, "parameters": {"tau_mem": [n floats], ...},
     "units": "..."}

Write one with ``python -m jaxsnn.event.hardware.calib.neuron_calib`` (``--mock`` for the
software mock chip, :func:`mock_calibration`).
"""

from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from jaxsnn.event.hardware.artifacts import mismatched_parameters
from jaxsnn.event.hardware.mapping import BSS2_NEURONS
from jaxsnn.neuron import LIFParameters, validate_parameters
from jaxsnn.numerics import concrete_values
from jaxsnn.training import io

__all__ = [
    "BACKENDS",
    "CALIBRATION_FILE",
    "FORMAT",
    "VERSION",
    "Calibration",
    "CalibrationError",
    "CalibrationTargets",
    "calibration_path",
    "load_calibration",
    "mock_calibration",
    "option_name",
    "write_calibration",
]

#: the ``"format"`` entry of a calibration file
FORMAT = "jaxsnn-calibration"
#: the file layout version this module writes and reads
VERSION = 1
#: the file a calibration folder holds
CALIBRATION_FILE = "calibration.json"
#: where a calibration was made: the software mock chip or BrainScaleS-2
BACKENDS = ("mock", "bss2")
#: the ``"units"`` note of a calibration file
UNITS = (
    "targets: leak, reset, threshold in CADC units, synapse_dac_bias in DAC units, tau_mem, "
    "tau_syn, refractory_time in seconds; parameters (one value per chip neuron): tau_mem, "
    "tau_syn, t_refrac in seconds, voltages in software units v = (cadc - leak) / "
    "(threshold - leak), so v_leak = 0 and v_th = 1 at the targets"
)

# field -> (low, high, unit text); the valid ranges of the BrainScaleS-2 calibration
_RANGES: dict[str, tuple[float, float, str]] = {
    "threshold": (50, 220, "(CADC units)"),
    "leak": (50, 160, "(CADC units)"),
    "reset": (50, 160, "(CADC units)"),
    "tau_syn": (0.3e-6, 30e-6, "seconds (0.3-30 µs)"),
    "tau_mem": (0.5e-6, 60e-6, "seconds (0.5-60 µs)"),
    "refractory_time": (40e-9, 32e-6, "seconds (40 ns-32 µs)"),
    "synapse_dac_bias": (30, 1022, "(DAC units)"),
}


def option_name(field: str) -> str:
    """The command-line spelling of a target field: ``tau_mem`` -> ``--tau-mem``."""
    return "--" + field.replace("_", "-")


def _show(value: Any) -> str:
    """A value for a message: numbers plainly (``0.1``, ``300``), anything else as repr."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return repr(float(value))
    return repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class CalibrationTargets:
    """What a neuron calibration aims for (the same targets for every neuron of the chip).

    ``threshold``, ``leak``, ``reset``: potentials in CADC units (threshold in [50, 220],
    leak and reset in [50, 160]); ``tau_syn`` in [0.3, 30] µs, ``tau_mem`` in [0.5, 60] µs and
    ``refractory_time`` in [40 ns, 32 µs], all in seconds; ``synapse_dac_bias``: an integer in
    [30, 1022]. Also ``leak < threshold`` and ``reset < threshold``.

    Raises ``ValueError`` with one line naming the option as the command line spells it
    (``--tau-mem must lie in [5e-07, 6e-05] seconds (0.5-60 µs), got 0.1``). Voltages and
    times are stored as ``float``, the DAC bias as ``int``.
    """

    threshold: float = 150
    leak: float = 80
    reset: float = 80
    tau_syn: float = 6e-6
    tau_mem: float = 12e-6
    refractory_time: float = 30e-6
    synapse_dac_bias: int = 1000

    def __post_init__(self) -> None:
        for name, (low, high, unit) in _RANGES.items():
            value = getattr(self, name)
            flag = option_name(name)
            if name == "synapse_dac_bias":
                whole = _is_number(value) and math.isfinite(value) and float(value).is_integer()
                if not whole or not low <= value <= high:
                    raise ValueError(
                        f"{flag} must be an integer in [{low}, {high}] {unit}, got {_show(value)}"
                    )
                object.__setattr__(self, name, int(value))
                continue
            if not _is_number(value) or not low <= value <= high:  # also rejects NaN
                raise ValueError(f"{flag} must lie in [{low}, {high}] {unit}, got {_show(value)}")
            object.__setattr__(self, name, float(value))
        if not self.leak < self.threshold:
            raise ValueError(
                f"--leak ({_show(self.leak)}) must lie below --threshold ({_show(self.threshold)})"
            )
        if not self.reset < self.threshold:
            raise ValueError(
                f"--reset ({_show(self.reset)}) must lie below --threshold "
                f"({_show(self.threshold)}): a reset at or above the threshold would spike "
                "forever"
            )

    def software_parameters(self) -> LIFParameters:
        """The targets in the software model's units (scalars, SI seconds).

        ``v = (cadc - leak) / (threshold - leak)``: ``v_leak = 0``, ``v_th = 1``,
        ``v_reset = (reset - leak) / (threshold - leak)``; ``tau_mem``, ``tau_syn`` as given,
        ``t_refrac = refractory_time``.
        """
        span = self.threshold - self.leak
        return LIFParameters(
            tau_mem=self.tau_mem,
            tau_syn=self.tau_syn,
            v_th=1.0,
            v_reset=(self.reset - self.leak) / span,
            v_leak=0.0,
            t_refrac=self.refractory_time,
        )

    def to_json(self) -> dict[str, float | int]:
        """The targets as a JSON-able dict ``{field: value}``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class CalibrationError(ValueError):
    """A calibration file cannot be used; the message (one line) names the file and says why."""


def _as_parameters(parameters: LIFParameters) -> LIFParameters:
    """``parameters`` as read-only 1-D float64 numpy arrays of one length ``n``, checked.

    Raises ``ValueError`` (one line) when a field is not 1-D, the lengths differ, ``n`` is
    outside ``[1, 512]``, a value is not finite, a time constant is not > 0, ``t_refrac < 0``
    or a neuron's ``v_reset >= v_th``.
    """
    if not isinstance(parameters, LIFParameters):
        raise TypeError(
            f"parameters must be a jaxsnn.neuron.LIFParameters, got {type(parameters)!r}"
        )
    arrays = []
    for name, value in zip(LIFParameters._fields, parameters, strict=True):
        array = concrete_values(value)
        if array is None:
            raise ValueError(f"parameters.{name} must be concrete values, not traced ones")
        if array.ndim != 1:
            raise ValueError(
                f"parameters.{name} must hold one value per neuron (1-D), got shape {array.shape}"
            )
        arrays.append(np.array(array, dtype=np.float64))
    n = len(arrays[0])
    for name, array in zip(LIFParameters._fields, arrays, strict=True):
        if len(array) != n:
            raise ValueError(
                f"parameters.{name} has {len(array)} values but parameters.tau_mem has {n}"
            )
    if not 1 <= n <= BSS2_NEURONS:
        raise ValueError(f"parameters must have 1 to {BSS2_NEURONS} neurons, got {n}")
    for name, array in zip(LIFParameters._fields, arrays, strict=True):
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            k = int(bad[0])
            raise ValueError(f"parameters.{name}[{k}] is not finite ({_show(array[k])})")
    p = LIFParameters(*arrays)
    for name in ("tau_mem", "tau_syn"):
        bad = np.flatnonzero(getattr(p, name) <= 0)
        if bad.size:
            k = int(bad[0])
            raise ValueError(
                f"parameters.{name}[{k}] must be a positive time in seconds, "
                f"got {_show(getattr(p, name)[k])}"
            )
    bad = np.flatnonzero(p.t_refrac < 0)
    if bad.size:
        k = int(bad[0])
        raise ValueError(
            f"parameters.t_refrac[{k}] must be >= 0 seconds, got {_show(p.t_refrac[k])}"
        )
    bad = np.flatnonzero(p.v_reset >= p.v_th)
    if bad.size:
        k = int(bad[0])
        raise ValueError(
            f"neuron {k}: parameters.v_reset ({_show(p.v_reset[k])}) must lie below "
            f"parameters.v_th ({_show(p.v_th[k])})"
        )
    validate_parameters(p, "parameters", n)  # the software model's own check, as a guard
    for array in arrays:
        array.setflags(write=False)
    return p


@dataclass(frozen=True, eq=False)
class Calibration:
    """A calibrated chip: the ``targets`` and what each of its neurons realises.

    ``chip_seed``: the mock chip's seed (its fixed pattern), or ``None`` (e.g. a real chip);
    ``backend``: ``"mock"`` or ``"bss2"``; ``parameters``: per-neuron values realised on the
    chip, each field a read-only float64 array ``[n]`` (``1 <= n <= 512``) in the software
    model's units (see the module docstring). Checked on construction (``ValueError``, one
    line). Two calibrations are equal when every entry and every value is equal.
    """

    targets: CalibrationTargets
    chip_seed: int | None
    backend: str
    parameters: LIFParameters

    def __post_init__(self) -> None:
        if not isinstance(self.targets, CalibrationTargets):
            raise TypeError(f"targets must be a CalibrationTargets, got {type(self.targets)!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        seed = self.chip_seed
        if seed is not None and (
            not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0
        ):
            raise ValueError(f"chip_seed must be an integer >= 0 or None, got {seed!r}")
        if seed is not None:
            object.__setattr__(self, "chip_seed", int(seed))
        object.__setattr__(self, "parameters", _as_parameters(self.parameters))

    @property
    def n_neurons(self) -> int:
        """Neurons the calibration describes (the length of every parameter array)."""
        return len(self.parameters.tau_mem)

    def neuron_parameters(self, n: int | None = None) -> LIFParameters:
        """The realised parameters of chip neurons ``0 .. n-1`` (all with ``n=None``): hardware
        neuron ``k`` of a :class:`~jaxsnn.event.hardware.NetworkMapping` is chip neuron ``k``.
        ``ValueError`` when ``n`` exceeds :attr:`n_neurons`."""
        if n is None:
            return self.parameters
        if not isinstance(n, int) or not 1 <= n <= self.n_neurons:
            raise ValueError(f"the calibration describes {self.n_neurons} neurons; asked for {n!r}")
        return LIFParameters(*(field[:n] for field in self.parameters))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Calibration):
            return NotImplemented
        return (
            self.targets == other.targets
            and self.chip_seed == other.chip_seed
            and self.backend == other.backend
            and all(
                np.array_equal(a, b) for a, b in zip(self.parameters, other.parameters, strict=True)
            )
        )

    __hash__ = None  # type: ignore[assignment]  # holds arrays

    def to_json(self) -> dict[str, Any]:
        """The calibration as the JSON document of a calibration file (see the module
        docstring); floats are written exactly (shortest repr), so a round trip is lossless."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "backend": self.backend,
            "chip_seed": self.chip_seed,
            "targets": self.targets.to_json(),
            "parameters": {
                name: [float(v) for v in getattr(self.parameters, name)]
                for name in LIFParameters._fields
            },
            "units": UNITS,
        }


def calibration_path(path: str | os.PathLike) -> Path:
    """The calibration file ``path`` names: ``path`` itself, or ``path/calibration.json``
    when ``path`` is an existing folder."""
    path = Path(path)
    return path / CALIBRATION_FILE if path.is_dir() else path


def write_calibration(path: str | os.PathLike, calibration: Calibration) -> Path:
    """Write ``calibration`` as JSON to ``path`` (or ``path/calibration.json`` for a folder),
    atomically: a temporary file in the same folder, flushed, then ``os.replace`` -- a crash
    leaves the old file or the new one, never half of one. Creates the parent folder.
    Returns the file written.

    Raises ``jaxsnn.training.io.WriteError`` (a ``ValueError``, one line naming the file) when
    it cannot be written.
    """
    if not isinstance(calibration, Calibration):
        raise TypeError(f"calibration must be a Calibration, got {type(calibration)!r}")
    path = calibration_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise io.WriteError(path, NotADirectoryError(f"{path.parent} is not a folder")) from None
    except OSError as error:
        raise io.WriteError(path, error) from None
    text = json.dumps(calibration.to_json(), indent=1, allow_nan=False) + "\n"
    io.atomic_write_bytes(path, text.encode("utf-8"))
    return path


def _require(doc: dict, key: str, where: str = "") -> Any:
    if key not in doc:
        raise ValueError(f"lacks the entry {where}{key!r}")
    return doc[key]


def _parse(doc: Any) -> Calibration:
    """A :class:`Calibration` from a parsed calibration document; ``ValueError`` (one line,
    without the file name) on anything wrong."""
    if not isinstance(doc, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(doc), "a number"
        )
        raise ValueError(f"is not a jaxsnn calibration (it holds {kind}, not a JSON object)")
    if doc.get("format") != FORMAT:
        raise ValueError(
            f"is not a jaxsnn calibration file (its 'format' is {doc.get('format')!r}, "
            f"not {FORMAT!r})"
        )
    version = _require(doc, "version")
    if version != VERSION or isinstance(version, bool):
        raise ValueError(f"has version {version!r}; this jaxsnn reads version {VERSION}")
    backend = _require(doc, "backend")
    if backend not in BACKENDS:
        raise ValueError(f"has backend {backend!r}; expected one of {BACKENDS}")
    chip_seed = _require(doc, "chip_seed")
    if chip_seed is not None and (
        not isinstance(chip_seed, int) or isinstance(chip_seed, bool) or chip_seed < 0
    ):
        raise ValueError(f"has chip_seed {chip_seed!r}; expected an integer >= 0 or null")
    targets = _require(doc, "targets")
    if not isinstance(targets, dict):
        raise ValueError("'targets' must be a JSON object")
    names = [f.name for f in fields(CalibrationTargets)]
    for name in names:
        _require(targets, name, "targets.")
    unknown = sorted(set(targets) - set(names))
    if unknown:
        raise ValueError(f"has unknown targets {unknown}")
    try:
        targets = CalibrationTargets(**targets)
    except ValueError as error:
        raise ValueError(f"holds invalid targets: {error}") from None
    parameters = _require(doc, "parameters")
    if not isinstance(parameters, dict):
        raise ValueError("'parameters' must be a JSON object")
    unknown = sorted(set(parameters) - set(LIFParameters._fields))
    if unknown:
        raise ValueError(f"has unknown parameters {unknown}")
    arrays = []
    for name in LIFParameters._fields:
        values = _require(parameters, name, "parameters.")
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            raise ValueError(f"parameters.{name} must be a list of numbers")
        arrays.append(np.asarray(values, dtype=np.float64))
    return Calibration(targets, chip_seed, backend, LIFParameters(*arrays))


def load_calibration(path: str | os.PathLike) -> Calibration:
    """Read and check a calibration file (``path``, or ``path/calibration.json`` for a folder).

    Everything read is validated: the file exists and is JSON, ``format`` and ``version``
    match, every key is there, targets lie in their ranges, every parameter is a list of
    ``n`` finite numbers (one per neuron, ``1 <= n <= 512``) describing a physical neuron.
    Anything wrong raises :class:`CalibrationError` with one line naming the file and what is
    wrong -- never a traceback from ``json``, ``KeyError`` or ``TypeError``.
    """
    path = calibration_path(path)
    try:
        doc = io.load_json(path)
    except io.MissingFileError:
        raise CalibrationError(
            f"calibration file {path} does not exist; write one with python -m "
            "jaxsnn.event.hardware.calib.neuron_calib --calib-dir DIR (add --mock for the "
            "software mock chip)"
        ) from None
    except io.DamagedFileError as error:
        raise CalibrationError(f"calibration file {path} {error.problem}") from None
    except RecursionError:  # absurdly deep nesting: json gives up
        raise CalibrationError(f"calibration file {path} is not a jaxsnn calibration") from None
    try:
        return _parse(doc)
    except (ValueError, TypeError) as error:
        what = str(error)
        sep = " " if what.startswith(("is ", "has ", "lacks ", "holds ")) else ": "
        raise CalibrationError(f"calibration file {path}{sep}{what}") from None


#: the parameters a calibration leaves a residual mismatch on (see mismatched_parameters)
_MISMATCHED = ("tau_mem", "tau_syn", "v_th")


def mock_calibration(
    targets: CalibrationTargets,
    chip_seed: int,
    n_neurons: int = BSS2_NEURONS,
    residual_mismatch: float = 0.02,
) -> Calibration:
    """The calibration of the software mock chip ``chip_seed``: what its ``n_neurons`` realise.

    The targets in software units (:meth:`CalibrationTargets.software_parameters`) with the
    residual fixed-pattern mismatch a calibration leaves,
    ``mismatched_parameters(nominal, n_neurons, chip_seed, r, r, r)`` with
    ``r = residual_mismatch``: ``tau_mem (1 + r z1)``, ``tau_syn (1 + r z2)``,
    ``v_th + r (v_th - v_leak) z3`` per neuron -- the same chip seed always gives the same
    values (those of a :class:`~jaxsnn.event.hardware.MockBackend` with the same chip seed and
    mismatch). ``v_reset``, ``v_leak``, ``t_refrac`` are the targets' exact float64 values
    (and all fields are, for ``residual_mismatch=0``). ``ValueError`` for a bad argument, or
    when a neuron's realised threshold falls to or below the reset (choose a reset further
    below the threshold or a smaller residual).
    """
    if not isinstance(targets, CalibrationTargets):
        raise TypeError(f"targets must be a CalibrationTargets, got {type(targets)!r}")
    if not isinstance(chip_seed, int) or isinstance(chip_seed, bool) or chip_seed < 0:
        raise ValueError(f"chip_seed must be an integer >= 0, got {chip_seed!r}")
    if not isinstance(n_neurons, int) or not 1 <= n_neurons <= BSS2_NEURONS:
        raise ValueError(f"n_neurons must be an integer in [1, {BSS2_NEURONS}], got {n_neurons!r}")
    if not (_is_number(residual_mismatch) and 0 <= residual_mismatch < math.inf):
        raise ValueError(
            f"residual_mismatch must be a finite relative spread >= 0, got {residual_mismatch!r}"
        )
    r = float(residual_mismatch)
    nominal = targets.software_parameters()
    arrays = LIFParameters(*(np.full(n_neurons, value, np.float64) for value in nominal))
    if r > 0:  # the fields without mismatch stay exact (JAX may compute in float32)
        drawn = mismatched_parameters(nominal, n_neurons, chip_seed, r, r, r)
        arrays = arrays._replace(
            **{name: np.asarray(getattr(drawn, name), np.float64) for name in _MISMATCHED}
        )
    try:
        return Calibration(targets, chip_seed, "mock", arrays)
    except ValueError as error:
        raise ValueError(
            f"mock chip {chip_seed} with residual mismatch {r}: {error}; choose --reset further "
            "below --threshold or a smaller residual mismatch"
        ) from None
