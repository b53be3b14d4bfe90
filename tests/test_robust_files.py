"""Damaged or foreign result files get a one-line answer naming the file; nothing is lost.

Every kind of damage (truncated, empty, random bytes, another program's npz or JSON) is tried
on each file jaxsnn reads: the checkpoint (``--resume``), the files ``jaxsnn plot`` reads
(``metrics.json``, ``predictions.npz``, ``spikes.npz``) and ``params.npz``
(``load_params``). A damaged checkpoint names the intact previous one, from which
``--resume-previous`` ends bit-identical to an uninterrupted run.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import toy_task

from jaxsnn.training import io, results

TOY = Path(__file__).with_name("toy_task.py")


def truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def empty(path):
    path.write_bytes(b"")


def random_bytes(path):
    path.write_bytes(np.random.default_rng(0).bytes(max(path.stat().st_size, 64)))


def foreign(path):
    """A well-formed file of another program: an npz of other arrays, or other JSON."""
    if path.suffix == ".npz":
        np.savez(path.with_suffix(".tmp.npz"), x=np.arange(3.0), y=np.eye(2))
        path.with_suffix(".tmp.npz").replace(path)
    else:
        path.write_text(json.dumps({"name": "some-package", "version": "1.0"}))


DAMAGES = {"truncated": truncated, "empty": empty, "random": random_bytes, "foreign": foreign}


def run_toy_inprocess(argv, capsys):
    """``python tests/toy_task.py ARGV`` in this process: ``(exit status, stdout, stderr)``."""
    capsys.readouterr()
    try:
        toy_task.main(["--quiet", *argv])
        status = 0
    except SystemExit as stop:
        status = stop.code
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """A finished 3-epoch toy run (checkpoint: epoch 3, previous checkpoint: epoch 2)."""
    out = tmp_path_factory.mktemp("robust") / "run"
    toy_task.main(["--quiet", "--epochs", "3", "--seed", "5", "--output", str(out)])
    return out


def copy_run(toy_run, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(toy_run, target)
    return target


def one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_finished_run_keeps_the_previous_checkpoint(toy_run):
    assert results.checkpoint_epoch(toy_run / results.CHECKPOINT) == 3
    assert results.checkpoint_epoch(toy_run / results.PREVIOUS_CHECKPOINT) == 2
    assert not list(toy_run.glob(".*.tmp"))


@pytest.mark.parametrize("kind", DAMAGES)
def test_resume_of_a_damaged_checkpoint_names_it_and_the_previous_one(
    kind, toy_run, tmp_path, capsys
):
    run = copy_run(toy_run, tmp_path)
    DAMAGES[kind](run / results.CHECKPOINT)
    status, _, err = run_toy_inprocess(["--resume", str(run)], capsys)
    assert status == 2
    line = one_error_line(err)
    assert line.startswith(f"toy-perceptron: error: --resume {run}: {run / 'checkpoint.npz'} ")
    assert (
        f"previous checkpoint {run / 'checkpoint.previous.npz'} (after epoch 2) is intact" in line
    )
    assert line.endswith(f"--resume-previous {run}")


def test_resume_without_usable_checkpoint_says_nothing_is_usable(toy_run, tmp_path, capsys):
    run = copy_run(toy_run, tmp_path)
    random_bytes(run / results.CHECKPOINT)
    truncated(run / results.PREVIOUS_CHECKPOINT)
    status, _, err = run_toy_inprocess(["--resume", str(run)], capsys)
    assert status == 2
    line = one_error_line(err)
    assert "checkpoint.npz is not an .npz archive" in line
    assert "checkpoint.previous.npz is truncated" in line and "no saved state is usable" in line
    status, _, err = run_toy_inprocess(["--resume-previous", str(run)], capsys)
    assert status == 2
    assert "no saved state is usable" in one_error_line(err)


def test_resume_previous_refuses_when_the_last_checkpoint_is_intact(toy_run, capsys):
    status, _, err = run_toy_inprocess(["--resume-previous", str(toy_run)], capsys)
    assert status == 2
    line = one_error_line(err)
    assert "checkpoint.npz is intact (after epoch 3)" in line
    assert line.endswith(f"--resume {toy_run}")


def test_damaged_checkpoint_in_a_subprocess_exits_2_without_traceback(toy_run, tmp_path):
    run = copy_run(toy_run, tmp_path)
    random_bytes(run / results.CHECKPOINT)
    proc = subprocess.run(
        [sys.executable, str(TOY), "--resume", str(run)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    line = one_error_line(proc.stderr)
    assert str(run / "checkpoint.npz") in line and "pickled" not in line


def test_resume_previous_ends_bit_identical_to_an_uninterrupted_run(toy_run, tmp_path, capsys):
    run = copy_run(toy_run, tmp_path)
    truncated(run / results.CHECKPOINT)
    for name in (results.PARAMS, results.PREDICTIONS, results.SPIKES):
        (run / name).unlink()
    status, out, err = run_toy_inprocess(["--resume-previous", str(run)], capsys)
    assert status == 0, err
    assert "after 3 epochs" in out
    final, reference = results.load_params(run), results.load_params(toy_run)
    assert final.keys() == reference.keys()
    for name in final:
        np.testing.assert_array_equal(final[name], reference[name], err_msg=name)
    history = results.load_metrics(run)["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    # the damaged file is kept, the new checkpoint is epoch 3 and the previous one epoch 2
    assert (run / results.DAMAGED_CHECKPOINT).stat().st_size > 0
    assert results.checkpoint_epoch(run / results.CHECKPOINT) == 3
    assert results.checkpoint_epoch(run / results.PREVIOUS_CHECKPOINT) == 2


PLOT_FILES = (results.METRICS, results.PREDICTIONS, results.SPIKES)


@pytest.mark.parametrize("kind", DAMAGES)
@pytest.mark.parametrize("name", PLOT_FILES)
def test_plot_of_a_damaged_file_names_it(name, kind, toy_run, tmp_path, capsys):
    from jaxsnn.plot.__main__ import main as plot_main

    run = copy_run(toy_run, tmp_path)
    if name != results.METRICS:  # keep the test fast: no curves to draw
        metrics = results.load_metrics(run)
        io.save_json(run / results.METRICS, {**metrics, "history": []})
    DAMAGES[kind](run / name)
    capsys.readouterr()
    assert plot_main([str(run)]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1, err
    assert errors[0].startswith(f"jaxsnn plot: error: {run / name} ")
    assert "Traceback" not in err


@pytest.mark.parametrize("module", ["jaxsnn.plot", "jaxsnn.cli"])
def test_plot_command_of_a_truncated_file_exits_2_without_traceback(module, toy_run, tmp_path):
    run = copy_run(toy_run, tmp_path)
    truncated(run / (results.METRICS if module == "jaxsnn.plot" else results.PREDICTIONS))
    argv = [sys.executable, "-m", module] + (["plot"] if module == "jaxsnn.cli" else [])
    proc = subprocess.run([*argv, str(run)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "is truncated" in errors[0]


@pytest.mark.parametrize("kind", DAMAGES)
def test_load_params_of_a_damaged_file_names_it(kind, toy_run, tmp_path):
    import jax

    run = copy_run(toy_run, tmp_path)
    DAMAGES[kind](run / results.PARAMS)
    template = toy_task.init(jax.random.PRNGKey(0))
    with pytest.raises(results.DamagedFileError) as error:
        results.load_params(run, template)  # a foreign file may be another network's
    assert str(error.value).startswith(f"{run / 'params.npz'} ")
    assert "\n" not in str(error.value)
    assert error.value.path == run / results.PARAMS
    if kind != "foreign":
        with pytest.raises(results.DamagedFileError):
            results.load_params(run)


def test_load_params_missing_or_of_another_network(toy_run, tmp_path):
    import jax
    import jax.numpy as jnp

    with pytest.raises(results.MissingFileError, match="params.npz: the run has not finished"):
        results.load_params(tmp_path)
    with pytest.raises(results.DamagedFileError, match="does not fit the given network"):
        results.load_params(toy_run, {"w": jnp.zeros(3)})
    params = results.load_params(toy_run, toy_task.init(jax.random.PRNGKey(0)))
    assert params["out"]["w"].shape == (16, 3)
    io.save_arrays(tmp_path / results.PARAMS, {"name": np.array("text")})
    with pytest.raises(results.DamagedFileError, match="holds no numeric array"):
        results.load_params(tmp_path)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "is empty (0 bytes)"),
        (b"\x93NUMPY\x01\x00", "is a single .npy array"),
        (b"PK\x03\x04 and then nothing", "is truncated or damaged"),
        (b"just some text", "is not an .npz archive"),
    ],
)
def test_load_arrays_problems(data, problem, tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(data)
    with pytest.raises(io.DamagedFileError, match="^" + re.escape(f"{path} {problem}")):
        io.load_arrays(path)


def test_load_arrays_detects_flipped_bits_and_pickles(tmp_path):
    path = tmp_path / "x.npz"
    io.save_arrays(path, {"a": np.arange(100.0)})
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(io.DamagedFileError, match="entry 'a' cannot be read"):
        io.load_arrays(path)
    np.savez(tmp_path / "pickled.npz", o=np.array([{"a": 1}], dtype=object))
    with pytest.raises(io.DamagedFileError, match="pickled objects in entry 'o'"):
        io.load_arrays(tmp_path / "pickled.npz")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"history": [1, 2', "is truncated"),
        ('{"a": 1,, "b": 2}', "is not valid JSON"),
        ("   \n", "holds no JSON"),
    ],
)
def test_load_json_problems(text, problem, tmp_path):
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(io.DamagedFileError, match=problem):
        io.load_json(path)
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(io.DamagedFileError, match="binary data"):
        io.load_json(path)


def _checkpoint(output, epoch):
    history = [{"epoch": e} for e in range(1, epoch + 1)]
    results.save_checkpoint(output, {"task": "t"}, {"w": np.full(3, epoch)}, history, 1.0)


def test_checkpoint_rotation_survives_a_failure_between_its_steps(tmp_path, monkeypatch):
    _checkpoint(tmp_path, 1)
    assert not (tmp_path / results.PREVIOUS_CHECKPOINT).exists()
    _checkpoint(tmp_path, 2)

    class Killed(BaseException):
        pass

    def killed(path, data):  # the process dies after the copy, before the new checkpoint
        raise Killed

    monkeypatch.setattr(results, "atomic_write_bytes", killed)
    with pytest.raises(Killed):
        _checkpoint(tmp_path, 3)
    # checkpoint.npz is still complete (epoch 2) and the previous one holds the same epoch
    assert results.checkpoint_epoch(tmp_path / results.CHECKPOINT) == 2
    assert results.checkpoint_epoch(tmp_path / results.PREVIOUS_CHECKPOINT) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        results.CHECKPOINT,
        results.PREVIOUS_CHECKPOINT,
    ]


def test_checkpoint_rotation_without_hard_links(tmp_path, monkeypatch):
    def no_links(source, target):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    for epoch in (1, 2, 3):
        _checkpoint(tmp_path, epoch)
    assert results.checkpoint_epoch(tmp_path / results.CHECKPOINT) == 3
    assert results.checkpoint_epoch(tmp_path / results.PREVIOUS_CHECKPOINT) == 2
    assert not list(tmp_path.glob(".*.tmp"))


def test_write_error_names_the_file(tmp_path):
    (tmp_path / "data.json").mkdir()
    with pytest.raises(
        io.WriteError, match="^" + re.escape(f"cannot write {tmp_path}/data.json: ")
    ):
        io.save_json(tmp_path / "data.json", {"a": 1})
    with pytest.raises(io.WriteError, match="cannot write .*missing/x.npz"):
        io.save_arrays(tmp_path / "missing" / "x.npz", {"a": np.zeros(2)})
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_plot_folder_that_cannot_be_written(toy_run, tmp_path, capsys):
    from jaxsnn.plot.__main__ import main as plot_main

    run = copy_run(toy_run, tmp_path)
    (run / "plots").write_text("a file where the plots folder must go")
    capsys.readouterr()
    assert plot_main([str(run)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"jaxsnn plot: error: cannot write {run / 'plots'}: ")


@pytest.mark.parametrize("cut", range(1, 40))
def test_json_cut_anywhere_is_reported_as_truncated(cut, tmp_path):
    """Wherever a write stops -- inside a key, a string value, a number, between items -- the
    file is named as truncated, not as some other JSON error."""
    text = json.dumps({"task": "toy", "config": {"name": "a string value"}, "x": [1.5, 2]})
    path = tmp_path / "metrics.json"
    path.write_text(text[:cut])
    with pytest.raises(io.DamagedFileError, match="is truncated"):
        io.load_json(path)
