"""Calibration targets, calibration files, the mock calibration, the ``neuron_calib`` command
line, and the BrainScaleS-2 backend without (and with a faked) platform stack."""

from __future__ import annotations

import dataclasses
import importlib.machinery
import json
import math
import subprocess
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.event.hardware import bss2
from jaxsnn.event.hardware.bss2 import (
    STACK_PACKAGES,
    BSS2Backend,
    HardwareUnavailableError,
    require_stack,
)
from jaxsnn.event.hardware.calib import (
    Calibration,
    CalibrationError,
    CalibrationTargets,
    load_calibration,
    mock_calibration,
    neuron_calib,
    write_calibration,
)
from jaxsnn.event.hardware.mapping import NetworkMapping
from jaxsnn.event.hardware.mock import Artifacts, MockBackend
from jaxsnn.event.types import Spikes
from jaxsnn.neuron import LIFParameters

CLI = [sys.executable, "-m", "jaxsnn.event.hardware.calib.neuron_calib"]

# ---------------------------------------------------------------------------- targets


def test_default_targets_are_valid_and_map_to_the_software_model():
    targets = CalibrationTargets()
    assert (targets.threshold, targets.leak, targets.reset) == (150, 80, 80)
    assert targets.synapse_dac_bias == 1000 and isinstance(targets.synapse_dac_bias, int)
    assert targets.software_parameters() == LIFParameters(
        tau_mem=12e-6, tau_syn=6e-6, v_th=1.0, v_reset=0.0, v_leak=0.0, t_refrac=30e-6
    )


def test_software_parameters_map_cadc_onto_unit_threshold():
    targets = CalibrationTargets(threshold=200, leak=50, reset=80, tau_mem=20e-6, tau_syn=5e-6)
    p = targets.software_parameters()
    assert p.v_leak == 0.0 and p.v_th == 1.0
    assert p.v_reset == pytest.approx((80 - 50) / (200 - 50))
    assert (p.tau_mem, p.tau_syn, p.t_refrac) == (20e-6, 5e-6, targets.refractory_time)
    # a reset below the leak maps below zero
    assert CalibrationTargets(reset=60).software_parameters().v_reset == pytest.approx(-20 / 70)


def test_range_edges_are_valid():
    CalibrationTargets(threshold=220, leak=50, reset=50, tau_mem=60e-6, tau_syn=0.3e-6)
    CalibrationTargets(threshold=51, leak=50, reset=50, tau_mem=0.5e-6, tau_syn=30e-6)
    CalibrationTargets(refractory_time=40e-9, synapse_dac_bias=30)
    CalibrationTargets(refractory_time=32e-6, synapse_dac_bias=1022)


@pytest.mark.parametrize(
    ("field", "value", "option"),
    [
        ("threshold", 49, "--threshold"),
        ("threshold", 221, "--threshold"),
        ("leak", 49.5, "--leak"),
        ("leak", 161, "--leak"),
        ("reset", 40, "--reset"),
        ("reset", 170, "--reset"),
        ("tau_mem", 0.4e-6, "--tau-mem"),
        ("tau_mem", 61e-6, "--tau-mem"),
        ("tau_syn", 0.2e-6, "--tau-syn"),
        ("tau_syn", 31e-6, "--tau-syn"),
        ("refractory_time", 30e-9, "--refractory-time"),
        ("refractory_time", 33e-6, "--refractory-time"),
        ("synapse_dac_bias", 29, "--synapse-dac-bias"),
        ("synapse_dac_bias", 1023, "--synapse-dac-bias"),
        ("synapse_dac_bias", 500.5, "--synapse-dac-bias"),
        ("tau_mem", math.nan, "--tau-mem"),
        ("tau_syn", "6e-6", "--tau-syn"),
        ("threshold", True, "--threshold"),
    ],
)
def test_out_of_range_target_names_its_option(field, value, option):
    with pytest.raises(ValueError, match="^" + option) as info:
        CalibrationTargets(**{field: value})
    assert "\n" not in str(info.value)


def test_out_of_range_message_is_exact():
    with pytest.raises(ValueError) as info:
        CalibrationTargets(tau_mem=0.1)
    assert str(info.value) == "--tau-mem must lie in [5e-07, 6e-05] seconds (0.5-60 µs), got 0.1"


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"threshold": 100, "reset": 120}, "--reset"),
        ({"threshold": 100, "reset": 100}, "--reset"),
        ({"threshold": 100, "leak": 100}, "--leak"),
        ({"threshold": 90, "leak": 120, "reset": 60}, "--leak"),
    ],
)
def test_leak_and_reset_must_lie_below_threshold(kwargs, option):
    with pytest.raises(ValueError, match="^" + option + r" .*--threshold"):
        CalibrationTargets(**kwargs)


# ------------------------------------------------------------------ mock calibration


def test_mock_calibration_is_fixed_per_chip_seed():
    targets = CalibrationTargets()
    a, b = mock_calibration(targets, 7, 8), mock_calibration(targets, 7, 8)
    other = mock_calibration(targets, 8, 8)
    assert a == b and a != other
    for x, y in zip(a.parameters, b.parameters, strict=True):
        assert x.dtype == np.float64 and x.shape == (8,)
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.parameters.tau_mem, other.parameters.tau_mem)
    assert (a.backend, a.chip_seed, a.targets, a.n_neurons) == ("mock", 7, targets, 8)
    with pytest.raises(ValueError):  # read-only: a calibration cannot be changed by accident
        a.parameters.tau_mem[0] = 1.0


def test_mock_calibration_spread_is_the_requested_residual():
    targets = CalibrationTargets()
    nominal = targets.software_parameters()
    p = mock_calibration(targets, 0, 512, residual_mismatch=0.02).parameters
    for relative in (
        p.tau_mem / nominal.tau_mem - 1,
        p.tau_syn / nominal.tau_syn - 1,
        p.v_th - 1,  # (v_th - v_leak) = 1
    ):
        assert np.std(relative) == pytest.approx(0.02, rel=0.2)
    np.testing.assert_array_equal(p.v_reset, nominal.v_reset)
    np.testing.assert_array_equal(p.t_refrac, nominal.t_refrac)
    np.testing.assert_array_equal(p.v_leak, 0.0)
    exact = mock_calibration(targets, 0, 8, residual_mismatch=0.0).parameters
    for field, value in zip(exact, nominal, strict=True):
        np.testing.assert_array_equal(field, value)


def test_mock_calibration_is_the_mock_backends_chip():
    targets = CalibrationTargets()
    mapping = NetworkMapping.layered(3, [6, 2])  # 8 neurons
    backend = MockBackend(mapping, targets.software_parameters(), 60e-6, Artifacts(chip_seed=4))
    realised = backend.realised_parameters()
    calibrated = mock_calibration(targets, 4, mapping.size).parameters
    for name in ("tau_mem", "tau_syn", "v_th"):
        np.testing.assert_array_equal(getattr(calibrated, name), getattr(realised, name))


def test_mock_calibration_rejects_bad_arguments():
    targets = CalibrationTargets()
    for kwargs in ({"chip_seed": -1}, {"n_neurons": 0}, {"n_neurons": 513}):
        with pytest.raises(ValueError):
            mock_calibration(targets, **{"chip_seed": 0, **kwargs})
    with pytest.raises(ValueError, match="residual_mismatch"):
        mock_calibration(targets, 0, residual_mismatch=-0.1)
    # a reset just below the threshold: some realised thresholds fall below it
    with pytest.raises(ValueError, match="--reset further below --threshold"):
        mock_calibration(CalibrationTargets(threshold=150, reset=149), 0)


def test_neuron_parameters_selects_the_first_neurons():
    calibration = mock_calibration(CalibrationTargets(), 1, 8)
    first = calibration.neuron_parameters(5)
    np.testing.assert_array_equal(first.tau_syn, calibration.parameters.tau_syn[:5])
    with pytest.raises(ValueError, match="8 neurons"):
        calibration.neuron_parameters(9)


# ------------------------------------------------------------------ calibration files


def test_write_load_round_trip_is_exact(tmp_path):
    calibration = mock_calibration(CalibrationTargets(threshold=180, tau_mem=7e-6), 11, 8)
    path = write_calibration(tmp_path / "a" / "calibration.json", calibration)
    assert path == tmp_path / "a" / "calibration.json"
    loaded = load_calibration(path)
    assert loaded == calibration
    for x, y in zip(loaded.parameters, calibration.parameters, strict=True):
        assert x.dtype == np.float64
        np.testing.assert_array_equal(x, y)
    assert load_calibration(tmp_path / "a") == calibration  # a folder holding the file
    doc = json.loads(path.read_text())
    assert doc["format"] == "jaxsnn-calibration" and doc["version"] == 1
    assert doc["backend"] == "mock" and doc["chip_seed"] == 11
    assert "seconds" in doc["units"] and "CADC" in doc["units"]
    assert sorted(doc["parameters"]) == sorted(LIFParameters._fields)
    assert [p.name for p in tmp_path.joinpath("a").iterdir()] == ["calibration.json"]


def test_round_trip_of_awkward_float64_values(tmp_path):
    n = 4
    params = LIFParameters(
        tau_mem=np.full(n, 1e-5) + np.arange(n) * (0.1 + 0.2) * 1e-7,
        tau_syn=np.full(n, 1 / 3 * 1e-5),
        v_th=np.nextafter(np.ones(n), 2.0),
        v_reset=np.full(n, -1e-300),
        v_leak=np.zeros(n),
        t_refrac=np.full(n, 2.0**-20),
    )
    calibration = Calibration(CalibrationTargets(), None, "bss2", params)
    loaded = load_calibration(write_calibration(tmp_path / "c.json", calibration))
    assert loaded == calibration and loaded.chip_seed is None and loaded.backend == "bss2"
    for x, y in zip(loaded.parameters, params, strict=True):
        np.testing.assert_array_equal(x, y)


def test_write_replaces_the_old_file_atomically(tmp_path):
    path = tmp_path / "calibration.json"
    write_calibration(path, mock_calibration(CalibrationTargets(), 1, 8))
    write_calibration(path, mock_calibration(CalibrationTargets(), 2, 8))
    assert load_calibration(path).chip_seed == 2
    assert [p.name for p in tmp_path.iterdir()] == ["calibration.json"]  # no temp files left


def _valid_doc() -> dict:
    return mock_calibration(CalibrationTargets(), 3, 8).to_json()


def _damage(kind: str):
    """``(text or None, fragment)``: the file's text for a kind of damage (``None``: no file)
    and a fragment of the expected message."""
    doc = _valid_doc()
    if kind == "missing":
        return None, "does not exist"
    if kind == "empty":
        return "", "is empty"
    if kind == "not JSON":
        return "tau_mem = 1e-5\n", "not valid JSON"
    if kind == "truncated":
        return json.dumps(doc)[:200], "truncated"
    if kind == "binary":
        return b"\x80\x81\xff\x00", "binary"
    if kind == "deeply nested":
        return "[" * 100_000 + "]" * 100_000, "not a jaxsnn calibration"
    if kind == "array":
        return "[1, 2]", "not a JSON object"
    if kind == "wrong format":
        doc["format"] = "something-else"
        return json.dumps(doc), "'format'"
    if kind == "wrong version":
        doc["version"] = 2
        return json.dumps(doc), "version 2"
    if kind == "wrong backend":
        doc["backend"] = "gpu"
        return json.dumps(doc), "backend 'gpu'"
    if kind == "bad chip seed":
        doc["chip_seed"] = "zero"
        return json.dumps(doc), "chip_seed"
    if kind == "missing key":
        del doc["parameters"]
        return json.dumps(doc), "'parameters'"
    if kind == "missing target":
        del doc["targets"]["tau_mem"]
        return json.dumps(doc), "targets.'tau_mem'"
    if kind == "missing parameter":
        del doc["parameters"]["v_th"]
        return json.dumps(doc), "parameters.'v_th'"
    if kind == "unknown parameter":
        doc["parameters"]["v_rest"] = doc["parameters"]["v_leak"]
        return json.dumps(doc), "v_rest"
    if kind == "parameters not an object":
        doc["parameters"] = [1.0, 2.0]
        return json.dumps(doc), "'parameters' must be a JSON object"
    if kind == "wrong length":
        doc["parameters"]["tau_syn"].pop()
        return json.dumps(doc), "parameters.tau_syn has 7 values"
    if kind == "no neurons":
        doc["parameters"] = {name: [] for name in LIFParameters._fields}
        return json.dumps(doc), "1 to 512 neurons"
    if kind == "NaN":
        doc["parameters"]["v_th"][2] = math.nan
        return json.dumps(doc), "parameters.v_th[2] is not finite"
    if kind == "infinity":
        doc["parameters"]["tau_mem"][0] = math.inf
        return json.dumps(doc), "parameters.tau_mem[0] is not finite"
    if kind == "string value":
        doc["parameters"]["tau_mem"][1] = "1e-5"
        return json.dumps(doc), "parameters.tau_mem must be a list of numbers"
    if kind == "null value":
        doc["parameters"]["t_refrac"][1] = None
        return json.dumps(doc), "parameters.t_refrac must be a list of numbers"
    if kind == "negative time constant":
        doc["parameters"]["tau_syn"][4] = -1e-6
        return json.dumps(doc), "parameters.tau_syn[4] must be a positive time"
    if kind == "reset above threshold":
        doc["parameters"]["v_reset"][5] = 2.0
        return json.dumps(doc), "neuron 5: parameters.v_reset"
    if kind == "target out of range":
        doc["targets"]["tau_mem"] = 0.1
        return json.dumps(doc), "--tau-mem must lie in"
    if kind == "target wrong type":
        doc["targets"]["synapse_dac_bias"] = "high"
        return json.dumps(doc), "--synapse-dac-bias"
    raise AssertionError(kind)


DAMAGE = [
    "missing",
    "empty",
    "not JSON",
    "truncated",
    "binary",
    "deeply nested",
    "array",
    "wrong format",
    "wrong version",
    "wrong backend",
    "bad chip seed",
    "missing key",
    "missing target",
    "missing parameter",
    "unknown parameter",
    "parameters not an object",
    "wrong length",
    "no neurons",
    "NaN",
    "infinity",
    "string value",
    "null value",
    "negative time constant",
    "reset above threshold",
    "target out of range",
    "target wrong type",
]


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_calibration_file_gives_one_line_naming_the_file(kind, tmp_path):
    path = tmp_path / "calibration.json"
    text, fragment = _damage(kind)
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    with pytest.raises(CalibrationError) as info:
        load_calibration(path)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert str(path) in message and fragment in message, message
    assert "\n" not in message


def test_folder_without_calibration_file_is_missing(tmp_path):
    with pytest.raises(CalibrationError, match="does not exist.*--mock"):
        load_calibration(tmp_path)


def test_write_into_a_file_in_the_way_is_one_clear_error(tmp_path):
    (tmp_path / "blocker").write_text("x")
    calibration = mock_calibration(CalibrationTargets(), 0, 8)
    with pytest.raises(ValueError, match="cannot write .*blocker is not a folder"):
        write_calibration(tmp_path / "blocker" / "calibration.json", calibration)


# ------------------------------------------------------------------ the command line


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """The three command lines that must run as programs, started together (each one
    imports JAX, which dominates its time)."""
    folder = tmp_path_factory.mktemp("cli")
    commands = {
        "mock": [
            *("--threshold", "150", "--tau-syn", "6e-6", "--tau-mem", "12e-6"),
            *("--refractory-time", "30e-6", "--synapse-dac-bias", "1000"),
            *("--calib-dir", str(folder / "calib"), "--mock", "--chip-seed", "5"),
        ],
        "out of range": ["--tau-mem", "0.1", "--calib-dir", str(folder / "x"), "--mock"],
        "chip": ["--calib-dir", str(folder / "chip")],
    }
    procs = {
        name: subprocess.Popen(
            [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, args in commands.items()
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        results[name] = (proc.returncode, out, err)
    return folder, results


def test_cli_mock_writes_a_loadable_calibration(cli_runs):
    folder, results = cli_runs
    code, out, err = results["mock"]
    assert code == 0, err
    path = folder / "calib" / "calibration.json"
    assert str(path) in out and "mock chip 5" in out and len(out.strip().splitlines()) == 1
    calibration = load_calibration(path)
    assert calibration == mock_calibration(CalibrationTargets(), 5)
    assert calibration.n_neurons == 512


def test_cli_out_of_range_option_is_one_line_naming_it(cli_runs):
    folder, results = cli_runs
    code, out, err = results["out of range"]
    assert code == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    expected = "--tau-mem must lie in [5e-07, 6e-05] seconds (0.5-60 µs), got 0.1"
    assert last == f"neuron_calib: error: {expected}"
    assert not (folder / "x").exists()


def test_cli_without_mock_needs_the_stack(cli_runs):
    folder, results = cli_runs
    code, out, err = results["chip"]
    assert code == 2 and "Traceback" not in err and out == ""
    assert err == (
        "neuron_calib: error: the BrainScaleS-2 software stack is not installed (missing "
        "Python package 'calix'); to calibrate a software mock chip, add --mock\n"
    )
    assert not (folder / "chip").exists()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--threshold", "300"], "--threshold"),
        (["--leak", "20"], "--leak"),
        (["--reset", "170"], "--reset"),
        (["--tau-syn", "1e-3"], "--tau-syn"),
        (["--refractory-time", "1e-9"], "--refractory-time"),
        (["--synapse-dac-bias", "2000"], "--synapse-dac-bias"),
        (["--synapse-dac-bias", "1.5"], "--synapse-dac-bias"),
        (["--tau-mem", "abc"], "--tau-mem"),
        (["--tau-mem", "nan"], "--tau-mem"),
        (["--chip-seed", "-1"], "--chip-seed"),
        (["--threshold", "100", "--reset", "120"], "--reset"),
    ],
)
def test_cli_bad_option_exits_2_naming_it(args, option, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        neuron_calib.main([*args, "--calib-dir", str(tmp_path / "c"), "--mock"])
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("neuron_calib: error:") and option in last
    assert not (tmp_path / "c").exists()


def test_cli_in_process_mock_and_stack_check(tmp_path, capsys, monkeypatch):
    assert neuron_calib.main(["--calib-dir", str(tmp_path), "--mock", "--chip-seed", "2"]) == 0
    assert load_calibration(tmp_path).chip_seed == 2
    # with calix "installed", the chip calibration itself is what is missing
    monkeypatch.setattr(bss2, "missing_package", lambda packages=STACK_PACKAGES: None)
    with pytest.raises(SystemExit) as info:
        neuron_calib.main(["--calib-dir", str(tmp_path / "chip")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "needs a chip connection" in err and "--mock" in err and "\n" == err[-1]


# ------------------------------------------------------------------ BSS2Backend


def _mapping() -> NetworkMapping:
    return NetworkMapping.layered(3, [4, 2])


def _params() -> LIFParameters:
    return CalibrationTargets().software_parameters()


def test_missing_stack_names_the_package():
    if bss2.missing_package() is None:  # pragma: no cover - never on our machines
        pytest.skip("the BrainScaleS-2 stack is installed here")
    with pytest.raises(HardwareUnavailableError) as info:
        BSS2Backend(_mapping(), _params(), 60e-6)
    message = str(info.value)
    assert info.value.missing == "pynn_brainscales"
    assert "'pynn_brainscales'" in message and "yinyang_mock" in message and "\n" not in message
    with pytest.raises(HardwareUnavailableError, match="'calix'"):
        require_stack(("calix",))


def test_require_stack_names_the_first_missing_package(monkeypatch):
    present = {"pynn_brainscales"}
    monkeypatch.setattr(
        bss2.importlib.util,
        "find_spec",
        lambda name: object() if name in present else None,
    )
    with pytest.raises(HardwareUnavailableError, match="missing Python package 'calix'"):
        require_stack()
    present.add("calix")
    require_stack()


@pytest.fixture
def fake_stack(monkeypatch):
    """Empty modules standing in for the platform's stack (nothing of it is ever called)."""
    for name in STACK_PACKAGES:
        module = types.ModuleType(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        monkeypatch.setitem(sys.modules, name, module)


def test_backend_with_stack_but_no_chip_says_so(fake_stack):
    backend = BSS2Backend(_mapping(), _params(), 60e-6)
    w_in, w_rec = jnp.ones((3, 6)), jnp.zeros((6, 6))
    inputs = Spikes(jnp.array([1e-6, 2e-6]), jnp.array([0, 2]))
    with pytest.raises(HardwareUnavailableError, match="needs a chip connection"):
        backend(w_in, w_rec, backend.params, inputs, 60e-6, 8)
    # the host side checks what arrives, then needs the session too
    rows, magnitudes = backend.synapse_matrix(w_in, w_rec)
    args = (np.asarray(rows)[None], np.asarray(magnitudes)[None], np.zeros((2, 2)))
    with pytest.raises(HardwareUnavailableError, match="needs a chip connection"):
        backend._run_on_chip(*args, np.zeros((2, 2), np.int32), max_events=8)
    # with a session, the experiment itself is what is not there
    object.__setattr__(backend, "_connection", lambda: None)
    with pytest.raises(HardwareUnavailableError, match="experiment on BrainScaleS-2 is not"):
        backend._run_on_chip(*args, np.zeros((2, 2), np.int32), max_events=8)
    with pytest.raises(ValueError, match="one set of weights"):
        backend._run_on_chip(
            np.stack([rows, rows]), np.stack([magnitudes, magnitudes]), np.zeros((2, 2)),
            np.zeros((2, 2), np.int32), max_events=8,
        )  # fmt: skip


def test_backend_checks_its_configuration(fake_stack):
    with pytest.raises(ValueError, match="t_max"):
        BSS2Backend(_mapping(), _params(), 0.0)
    mock = mock_calibration(CalibrationTargets(), 0, 8)
    with pytest.raises(ValueError, match="without --mock"):
        BSS2Backend(_mapping(), _params(), 60e-6, calibration=mock)
    chip = dataclasses.replace(mock, backend="bss2", chip_seed=None)
    BSS2Backend(_mapping(), _params(), 60e-6, calibration=chip)
    small = Calibration(chip.targets, None, "bss2", chip.neuron_parameters(4))
    with pytest.raises(ValueError, match="mapping needs 6"):
        BSS2Backend(_mapping(), _params(), 60e-6, calibration=small)


def test_synapse_matrix_uses_signed_rows_and_6_bit_magnitudes(fake_stack):
    backend = BSS2Backend(_mapping(), _params(), 60e-6, weight_scale=50.0)
    w_in = jnp.zeros((3, 6)).at[0, 0].set(0.5).at[1, 1].set(-0.2).at[2, 2].set(4.0)
    w_rec = jnp.zeros((6, 6)).at[0, 4].set(-3.0)
    rows, magnitudes = backend.synapse_matrix(w_in, w_rec)
    assert rows.shape == magnitudes.shape == (9, 6) and rows.dtype == jnp.int32
    assert (int(rows[0, 0]), int(magnitudes[0, 0])) == (0, 25)  # excitatory row 2 s
    assert (int(rows[1, 1]), int(magnitudes[1, 1])) == (3, 10)  # inhibitory row 2 s + 1
    assert int(magnitudes[2, 2]) == 63  # saturates at 6 bits
    assert (int(rows[3, 4]), int(magnitudes[3, 4])) == (2 * 3 + 1, 63)  # neuron 0 = source 3
    assert int(jnp.max(magnitudes)) <= 63
    no_rec, _ = backend.synapse_matrix(w_in, None)
    np.testing.assert_array_equal(no_rec[:3], rows[:3])
    with pytest.raises(ValueError, match="recurrent_weights"):
        backend.synapse_matrix(w_in, jnp.zeros((5, 5)))


def test_a_batch_goes_to_the_chip_in_one_call(fake_stack, monkeypatch):
    calls = []

    def fake_run(self, rows, magnitudes, input_time, input_idx, *, max_events):
        calls.append((rows.shape, input_time.shape))
        batch = input_time.shape[:-1]
        time = np.full((*batch, max_events), np.inf, input_time.dtype)
        idx = np.full((*batch, max_events), -1, np.int32)
        time[..., 0], idx[..., 0] = input_time[..., 0] + 1e-6, 4  # neuron 4: the output
        return Spikes(time, idx, np.zeros(batch, np.int32))

    monkeypatch.setattr(BSS2Backend, "_connection", lambda self: None)
    monkeypatch.setattr(BSS2Backend, "_run_on_chip", fake_run)
    backend = BSS2Backend(_mapping(), _params(), 60e-6)
    inputs = Spikes(jnp.array([[1e-6, 2e-6], [3e-6, 4e-6], [5e-6, 6e-6]]), jnp.zeros((3, 2), int))
    run = jax.jit(lambda w_in, w_rec, x: backend.run(w_in, w_rec, x, max_events=5))
    result = run(jnp.ones((3, 6)), jnp.zeros((6, 6)), inputs)
    assert len(calls) == 1 and calls[0] == ((1, 9, 6), (3, 2))  # one batch, one weight set
    assert result.spikes.time.shape == (3, 5)
    np.testing.assert_allclose(result.spikes.time[:, 0], inputs.time[:, 0] + 1e-6)
    np.testing.assert_array_equal(result.diagnostics["output_spikes"], [1, 1, 1])
    np.testing.assert_array_equal(result.diagnostics["hidden_spikes"], [0, 0, 0])
    np.testing.assert_array_equal(result.spikes.dropped, [0, 0, 0])
