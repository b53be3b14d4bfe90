"""The command line answers Ctrl-C, impossible options and failed writes in one line.

Ctrl-C (a real SIGINT) stops a run after the current epoch with status 130 and the command
that continues it, which then ends bit-identical to an uninterrupted run; a second Ctrl-C
interrupts at once. Options that cannot work (a batch larger than the data, an ``--output``
that cannot be created) and a result file that cannot be written are refused with status 2
and one line naming the option or the file.
"""

import functools
import importlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import toy_task

from jaxsnn.training import harness, results

TOY = Path(__file__).with_name("toy_task.py")

#: The toy task, waiting after epoch 1 is saved until the test has sent its SIGINT (the
#: marker file appears), so that the run stops after epoch 1 on any machine.
WAIT_FOR_SIGINT_AFTER_EPOCH_1 = """
import functools, sys, time
from pathlib import Path

sys.path.insert(0, {tests_dir!r})
import toy_task
from jaxsnn.training import harness

marker = Path({marker!r})


def wait_for_sigint(epoch, record):
    deadline = time.monotonic() + 120
    while epoch == 1 and not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    if epoch == 1:
        time.sleep(0.2)  # Python runs the signal handler in the main thread: give it time


harness.train = functools.partial(harness.train, on_epoch_end=wait_for_sigint)
toy_task.main(sys.argv[1:])
"""


def run_inprocess(main, argv, capsys):
    """``main(argv)`` of a task: ``(exit status, stdout, stderr)``."""
    capsys.readouterr()
    try:
        main(argv)
        status = 0
    except SystemExit as stop:
        status = stop.code
    out, err = capsys.readouterr()
    return status, out, err


def last_line(err):
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]


@pytest.mark.slow
def test_ctrl_c_stops_after_the_epoch_and_the_printed_command_resumes(tmp_path):
    out, marker = tmp_path / "run", tmp_path / "sigint-sent"
    script = tmp_path / "toy_waiting.py"
    script.write_text(
        WAIT_FOR_SIGINT_AFTER_EPOCH_1.format(tests_dir=str(TOY.parent), marker=str(marker))
    )
    args = ["--epochs", "3", "--seed", "7", "--output", str(out)]
    proc = subprocess.Popen(
        [sys.executable, str(script), "--quiet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not (out / results.CHECKPOINT).exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "epoch 1 was never saved"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        marker.touch()
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    line = last_line(stderr)
    assert stderr.strip() == line  # one line
    command = f"python {script} --resume {out}"
    assert line == f"toy-perceptron: stopped by Ctrl-C after epoch 1 of 3; resume with: {command}"
    assert results.load_metrics(out)["epochs_completed"] == 1
    assert not (out / results.PARAMS).exists()

    argv = shlex.split(line.split("resume with: ", 1)[1])
    assert argv[0] == "python"
    resumed = subprocess.run(
        [sys.executable, *argv[1:], "--quiet"], capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "after 3 epochs" in resumed.stdout

    reference = tmp_path / "reference"
    toy_task.main(["--quiet", *args[:-1], str(reference)])
    final, expected = results.load_params(out), results.load_params(reference)
    assert final.keys() == expected.keys()
    for name in final:
        np.testing.assert_array_equal(final[name], expected[name], err_msg=name)
    history = results.load_metrics(out)["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]


def test_second_ctrl_c_interrupts_at_once_and_the_handler_is_restored(
    tmp_path, capsys, monkeypatch
):
    before = signal.getsignal(signal.SIGINT)

    def two_ctrl_c(epoch, record):
        if epoch == 1:
            ours = signal.getsignal(signal.SIGINT)
            assert ours is not before  # the harness's handler is installed while training
            os.kill(os.getpid(), signal.SIGINT)
            while signal.getsignal(signal.SIGINT) is ours:  # until the first is handled
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(30)  # the second Ctrl-C interrupts this at once
            raise AssertionError("the second Ctrl-C did not interrupt")

    monkeypatch.setattr(harness, "train", functools.partial(harness.train, on_epoch_end=two_ctrl_c))
    out = tmp_path / "run"
    argv = ["--quiet", "--epochs", "3", "--output", str(out)]
    status, _, err = run_inprocess(toy_task.main, argv, capsys)
    assert status == 130
    line = last_line(err)
    assert line.startswith("toy-perceptron: interrupted by Ctrl-C; epoch 1 is saved; resume with:")
    assert line.endswith(f"--resume {out}")
    assert signal.getsignal(signal.SIGINT) is before


def test_batch_size_larger_than_the_yinyang_training_split(tmp_path, capsys):
    from jaxsnn.event.tasks import yinyang_event_prop

    out = tmp_path / "run"
    argv = ["--batch-size", "10000", "--output", str(out)]
    status, _, err = run_inprocess(yinyang_event_prop.main, argv, capsys)
    assert status == 2
    line = last_line(err)
    assert "error: --batch-size 10000 exceeds the 5000 samples" in line
    assert "decay_steps" not in err
    assert not out.exists()


def test_output_under_a_regular_file(tmp_path, capsys):
    plain = tmp_path / "plain-file"
    plain.write_text("not a folder")
    for output, problem in [
        (plain / "run", f"--output {plain / 'run'}: {plain} is a file, not a folder"),
        (plain, f"--output {plain} exists and is not a folder"),
    ]:
        status, _, err = run_inprocess(toy_task.main, ["--output", str(output)], capsys)
        assert status == 2
        assert last_line(err) == f"toy-perceptron: error: {problem}"
        assert len(err.strip().splitlines()) == 1


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_output_that_cannot_be_created(capsys):
    output = "/proc/jaxsnn-cannot-exist/run"
    status, _, err = run_inprocess(toy_task.main, ["--output", output], capsys)
    assert status == 2
    line = last_line(err)
    assert line.startswith(f"toy-perceptron: error: --output {output}: cannot create the folder")


def test_a_result_file_that_cannot_be_written(tmp_path, capsys):
    out = tmp_path / "run"
    (out / results.PREDICTIONS).mkdir(parents=True)  # a folder where the file must go
    before = signal.getsignal(signal.SIGINT)
    argv = ["--quiet", "--epochs", "2", "--output", str(out)]
    status, _, err = run_inprocess(toy_task.main, argv, capsys)
    assert status == 2
    line = last_line(err)
    assert line.startswith(
        f"toy-perceptron: error: cannot write {out / results.PREDICTIONS}: Is a directory; "
        "epoch 2 is saved; resume with: "
    )
    assert line.endswith(f"--resume {out}")
    assert not list(out.glob(".*.tmp"))
    assert signal.getsignal(signal.SIGINT) is before


def test_resume_options_exclude_each_other_and_are_documented(tmp_path, capsys):
    argv = ["--resume", str(tmp_path), "--resume-previous", str(tmp_path)]
    status, _, err = run_inprocess(toy_task.main, argv, capsys)
    assert status == 2
    assert "not allowed with argument" in last_line(err)
    status, out, _ = run_inprocess(toy_task.main, ["--help"], capsys)
    assert status == 0
    assert "--resume-previous DIR" in out and "checkpoint.previous.npz" in out


def test_eval_split_chooses_the_held_out_data_and_is_refused_where_there_is_none(tmp_path, capsys):
    from jaxsnn.datasets import yinyang_split
    from jaxsnn.event.tasks import yinyang_event_prop

    for split in ("validation", "test"):
        args = yinyang_event_prop.parser().parse_args(["--eval-split", split])
        experiment = yinyang_event_prop.build(args)
        assert experiment["eval_split"] == split
        np.testing.assert_array_equal(
            experiment["test_data"].features, yinyang_split(split).features
        )
    out = tmp_path / "run"
    argv = ["--eval-split", "validation", "--output", str(out)]
    status, _, err = run_inprocess(toy_task.main, argv, capsys)
    assert status == 2
    assert last_line(err) == (
        "toy-perceptron: error: --eval-split validation: this task has no validation split"
    )
    assert not out.exists()


def test_train_split_refits_on_train_and_validation_and_never_on_the_evaluated_split(
    tmp_path, capsys
):
    from jaxsnn.datasets import yinyang_split
    from jaxsnn.event.tasks import yinyang_event_prop

    args = yinyang_event_prop.parser().parse_args(["--train-split", "train+validation"])
    experiment = yinyang_event_prop.build(args)
    train, validation = yinyang_split("train"), yinyang_split("validation")
    assert experiment["train_split"] == "train+validation"
    assert len(experiment["train_data"]) == len(train) + len(validation)
    np.testing.assert_array_equal(
        experiment["train_data"].features, np.concatenate([train.features, validation.features])
    )
    np.testing.assert_array_equal(
        experiment["train_data"].labels, np.concatenate([train.labels, validation.labels])
    )
    np.testing.assert_array_equal(experiment["test_data"].labels, yinyang_split("test").labels)
    out = tmp_path / "run"
    argv = ["--train-split", "train+validation", "--eval-split", "validation", "--output", str(out)]
    status, _, err = run_inprocess(yinyang_event_prop.main, argv, capsys)
    assert status == 2
    assert last_line(err).endswith(
        "error: --train-split train+validation trains on the validation split that "
        "--eval-split validation evaluates; refit on train+validation only for the test "
        "figure (--eval-split test)"
    )
    assert not out.exists()
    argv = ["--train-split", "train+validation", "--output", str(out)]
    status, _, err = run_inprocess(toy_task.main, argv, capsys)
    assert status == 2
    assert last_line(err) == (
        "toy-perceptron: error: --train-split train+validation: this task has no validation split"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "module",
    [
        "jaxsnn.event.tasks.yinyang_analytical",
        "jaxsnn.event.tasks.yinyang_event_prop",
        "jaxsnn.event.tasks.digits",
        "jaxsnn.event.tasks.hardware.yinyang_mock",
        "jaxsnn.event.tasks.hardware.yinyang",
        "jaxsnn.discrete.tasks.yinyang",
    ],
)
def test_help_describes_the_task_in_one_sentence(module):
    """``--help`` opens with the module's one-line summary, a whole sentence."""
    task = importlib.import_module(module)
    description = task.parser().description
    assert description.endswith("."), description
    assert description == task.__doc__.splitlines()[0]
