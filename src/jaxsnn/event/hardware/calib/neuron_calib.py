"""Calibrate the neurons of a chip and write ``DIR/calibration.json``::

    python -m jaxsnn.event.hardware.calib.neuron_calib --threshold 150 --tau-syn 6e-6 \\
        --tau-mem 12e-6 --refractory-time 30e-6 --synapse-dac-bias 1000 --calib-dir DIR --mock

With ``--mock`` the software mock chip ``--chip-seed`` is calibrated
(:func:`~jaxsnn.event.hardware.calib.mock_calibration`); without it, BrainScaleS-2 itself,
which needs the platform's software stack (``calix``) -- where it is missing the command
stops at once with one line saying so. Bad options end it with a one-line error naming the
option (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from jaxsnn.event.hardware.bss2 import (
    CALIB_PACKAGES,
    BSS2Backend,
    HardwareUnavailableError,
    require_stack,
)
from jaxsnn.event.hardware.calib import (
    CALIBRATION_FILE,
    CalibrationTargets,
    mock_calibration,
    option_name,
    write_calibration,
)
from jaxsnn.training.cli import non_negative_int

PROG = "neuron_calib"

_HELP = {
    "threshold": "spike threshold in CADC units, in [50, 220]",
    "leak": "leak (resting) potential in CADC units, in [50, 160]",
    "reset": "reset potential in CADC units, in [50, 160]",
    "tau_syn": "synaptic time constant in seconds, in [3e-7, 3e-5] (0.3-30 µs)",
    "tau_mem": "membrane time constant in seconds, in [5e-7, 6e-5] (0.5-60 µs)",
    "refractory_time": "refractory time in seconds, in [4e-8, 3.2e-5] (40 ns-32 µs)",
    "synapse_dac_bias": "synapse DAC bias, an integer in [30, 1022]",
}


class _HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: ...)`` to the options whose default means something."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        trivial = any(action.default is value for value in (None, False, argparse.SUPPRESS))
        return text if trivial else f"{text} (default: %(default)s)"


def _number(text: str) -> float:
    """argparse type: a finite number (the ranges are checked by the targets)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _integer(text: str) -> int:
    """argparse type: an integer (the range is checked by the targets)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The command line: one option per calibration target (defaults: those of
    :class:`CalibrationTargets`), ``--calib-dir`` (required), ``--mock``, ``--chip-seed``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Calibrate the neurons of BrainScaleS-2 (or, with --mock, of the software mock "
            f"chip) to the targets and write DIR/{CALIBRATION_FILE}. Run as python -m "
            "jaxsnn.event.hardware.calib.neuron_calib."
        ),
        formatter_class=_HelpFormatter,
    )
    group = parser.add_argument_group("targets")
    for f in fields(CalibrationTargets):
        kind = _integer if f.name == "synapse_dac_bias" else _number
        group.add_argument(
            option_name(f.name), type=kind, default=f.default, help=_HELP[f.name], metavar="X"
        )
    parser.add_argument(
        "--calib-dir",
        type=Path,
        required=True,
        metavar="DIR",
        help=f"folder to write {CALIBRATION_FILE} into (created if missing)",
    )
    parser.add_argument(
        "--mock",
        action="store_true",
        help="calibrate the software mock chip instead of BrainScaleS-2",
    )
    parser.add_argument(
        "--chip-seed",
        type=non_negative_int,
        default=0,
        metavar="S",
        help="with --mock: the mock chip (its fixed-pattern mismatch)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (``argv`` default ``sys.argv[1:]``); returns 0 after writing the
    calibration. Errors end the program (``SystemExit``) with one line on stderr: status 2
    for bad options or a missing BrainScaleS-2 stack / chip, 1 when the file cannot be
    written."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        targets = CalibrationTargets(
            **{f.name: getattr(args, f.name) for f in fields(CalibrationTargets)}
        )
    except ValueError as error:
        parser.error(str(error))
    if args.mock:
        try:
            calibration = mock_calibration(targets, args.chip_seed)
        except ValueError as error:
            parser.error(str(error))
    else:
        try:
            require_stack(CALIB_PACKAGES)
        except HardwareUnavailableError as error:
            parser.exit(
                2,
                f"{PROG}: error: the BrainScaleS-2 software stack is not installed (missing "
                f"Python package {error.missing!r}); to calibrate a software mock chip, add "
                "--mock\n",
            )
        try:
            calibration = BSS2Backend.calibrate(targets)
        except HardwareUnavailableError as error:
            parser.exit(2, f"{PROG}: error: {error}\n")
    try:
        path = write_calibration(args.calib_dir / CALIBRATION_FILE, calibration)
    except ValueError as error:  # jaxsnn.training.io.WriteError
        parser.exit(1, f"{PROG}: error: {error}\n")
    chip = f"mock chip {calibration.chip_seed}" if args.mock else "BrainScaleS-2"
    print(f"wrote the calibration of {chip} ({calibration.n_neurons} neurons) to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
