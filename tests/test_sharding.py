"""Data-parallel training over several devices and processes (jaxsnn.training.distributed).

Each test runs Python in subprocesses, because the number of CPU devices is fixed before JAX
is imported (``XLA_FLAGS=--xla_force_host_platform_device_count=N``). Runs that are compared
go side by side (one process each), so that their compilations overlap on two cores. The
Yin-Yang tasks train on small splits (:data:`SMALL_TASK` replaces ``yinyang_split``), through
their real modules and the shared harness.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).parent
TOY = TESTS / "toy_task.py"

#: A task module's command line (``python -c SMALL_TASK MODULE ARGS...``) on small Yin-Yang
#: splits: 400 training and 200 test samples, drawn like the published ones.
SMALL_TASK = """
import importlib, sys
import jaxsnn.datasets as datasets
from jaxsnn.datasets import yinyang_dataset

SEEDS = {"train": 42, "validation": 41, "test": 40}
SIZES = {"train": 400, "validation": 200, "test": 200}
datasets.yinyang_split = lambda split: yinyang_dataset(size=SIZES[split], seed=SEEDS[split])
importlib.import_module(sys.argv[1]).main(sys.argv[2:])
"""

#: The toy task's command line; the final parameters that ``harness.train`` returns (on
#: every process, also those that write nothing) are saved to ``sys.argv[1]``.
TOY_KEEPING_PARAMS = """
import sys
import numpy as np

sys.path.insert(0, {tests!r})
import toy_task
from jaxsnn.training import harness
from jaxsnn.training.io import pytree_to_arrays

target, train = sys.argv[1], harness.train


def keep_params(*args, **kwargs):
    run = train(*args, **kwargs)
    np.savez(target, **pytree_to_arrays(run.params))
    return run


harness.train = keep_params
toy_task.main(sys.argv[2:])
"""

#: The harness's compiled epoch of the toy model over 4 devices: prints (JSON) the input
#: shardings, the sharding of the batch inside the loss, and the collectives of the program.
COMPILED_EPOCH = """
import json, re, sys
import jax, optax

sys.path.insert(0, {tests!r})
import toy_task
from jaxsnn.datasets import yinyang_dataset
from jaxsnn.training import harness
from jaxsnn.training.distributed import DataParallel, select_devices

inside = []


def loss(params, features, labels):
    jax.debug.inspect_array_sharding(features, callback=inside.append)
    return toy_task.loss(params, features, labels)


model = harness.Model(init=toy_task.init, loss=loss, evaluate=toy_task.evaluate)
optimizer, config = optax.adam(1e-2), harness.TrainConfig(batch_size=100)
layout = DataParallel.over(select_devices(4, config.batch_size))
key_init, key_data = jax.random.split(jax.random.PRNGKey(0))
params = model.init(key_init)
tree = layout.replicate((params, optimizer.init(params)))
state = harness.TrainingState(*tree, [], 0, 0.0, key_data)
data = yinyang_dataset(size=400, seed=42)
run = harness.compile_run(model, optimizer, data, config, state, layout)
arguments = run.epoch.input_shardings[0]
text = run.epoch.as_text()
print(json.dumps({{
    "indices": [list(arguments[4].spec), len(arguments[4].device_set)],
    "features": [list(arguments[2].spec), len(arguments[2].device_set)],
    "params": [list(s.spec) for s in jax.tree_util.tree_leaves(arguments[0])],
    "batch_inside": [[list(s.shard_shape((100, 4))), len(s.device_set)] for s in inside],
    "all_reduce": len(re.findall(r"all-reduce(?:-start)?\\(", text)),
    "all_gather": len(re.findall(r"all-gather(?:-start)?\\(", text)),
}}))
"""

#: Runs the toy task's ``main`` for each command line of ``sys.argv[1]`` (JSON) in this
#: process (4 devices) and prints, per command line, the exit status and stderr (JSON);
#: then the devices that ``select_devices`` chooses by default for a few batch sizes.
ERRORS = """
import contextlib, io, json, sys

sys.path.insert(0, {tests!r})
import toy_task
from jaxsnn.training.distributed import select_devices

answers = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            toy_task.main(argv)
            status = 0
        except SystemExit as stop:
            status = stop.code
    answers.append([status, err.getvalue()])
defaults = {{b: len(select_devices(None, b)) for b in (100, 50, 7)}}
print(json.dumps({{"answers": answers, "defaults": defaults}}))
"""


def environment(devices: int) -> dict[str, str]:
    """The environment of a subprocess with ``devices`` CPU devices (CPU even on a GPU
    machine, so that the device count is the one asked for)."""
    env = dict(os.environ)
    flags = env.get("XLA_FLAGS", "")
    env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={devices}".strip()
    env["JAX_PLATFORMS"] = "cpu"
    env.pop("JAX_COORDINATOR_ADDRESS", None)
    return env


def run_side_by_side(*commands: tuple[list[str], int], timeout: float = 240) -> list:
    """Run every ``(argv, devices)`` at the same time; their ``(returncode, stdout,
    stderr)`` in order. A failed command fails the test with its stderr."""
    procs = [
        subprocess.Popen(
            argv,
            env=environment(devices),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv, devices in commands
    ]
    done = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            done.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for (argv, _), (code, _, err) in zip(commands, done, strict=True):
        assert code == 0, f"{argv[-6:]} failed ({code}):\n{err}"
    return done


def small_task(module: str, *args: str) -> list[str]:
    """The command line of a Yin-Yang task module on the small splits."""
    return [sys.executable, "-c", SMALL_TASK, module, "--quiet", *args]


def load(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def assert_same_params(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    """The same leaves, equal to float32 rounding (float sums in another order)."""
    assert set(a) == set(b)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6, err_msg=key)


def config_of(folder: Path) -> dict:
    """The ``config`` of a result folder's ``metrics.json``."""
    return json.loads((folder / "metrics.json").read_text())["config"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "network"),
    [
        ("jaxsnn.event.tasks.yinyang_event_prop", ["--hidden", "8"]),
        ("jaxsnn.discrete.tasks.yinyang", ["--hidden", "8", "--dt", "2.5e-3"]),
    ],
    ids=["event-prop", "discrete"],
)
def test_four_devices_train_the_parameters_of_one(module, network, tmp_path):
    args = [*network, "--epochs", "2", "--batch-size", "100"]
    one, four = tmp_path / "one", tmp_path / "four"
    run_side_by_side(
        (small_task(module, *args, "--devices", "1", "--output", str(one)), 1),
        (small_task(module, *args, "--devices", "4", "--output", str(four)), 4),
    )
    assert_same_params(load(one / "params.npz"), load(four / "params.npz"))
    assert (config_of(one)["devices"], config_of(four)["devices"]) == (1, 4)
    assert config_of(four)["processes"] == 1
    history = [json.loads((f / "metrics.json").read_text())["history"] for f in (one, four)]
    assert history[0][-1]["train_loss"] == pytest.approx(history[1][-1]["train_loss"], rel=1e-5)


def test_the_compiled_epoch_splits_each_batch_over_four_devices():
    script = COMPILED_EPOCH.format(tests=str(TESTS))
    (_, out, _) = run_side_by_side(([sys.executable, "-c", script], 4))[0]
    report = json.loads(out.strip().splitlines()[-1])
    assert report["indices"] == [[None, "batch"], 4]  # [n_batches, B], split along B
    assert report["features"] == [[], 4]  # the training set, replicated
    assert report["params"] and all(spec == [] for spec in report["params"])  # replicated
    # inside the loss each device holds a quarter of the batch of 100 samples
    assert report["batch_inside"] and all(s == [[25, 4], 4] for s in report["batch_inside"])
    assert report["all_reduce"] >= 1  # of the gradients, inserted by XLA
    assert report["all_gather"] == 0  # the batch is never gathered


def free_port() -> int:
    """A TCP port that is free on this machine now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_the_parameters_of_one(tmp_path):
    script = [sys.executable, "-c", TOY_KEEPING_PARAMS.format(tests=str(TESTS))]
    toy = ["--epochs", "2", "--batch-size", "100", "--train-size", "400"]
    hosts = ["--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "2"]
    single, outputs = tmp_path / "single", [tmp_path / "process0", tmp_path / "process1"]
    kept = [tmp_path / f"params{i}.npz" for i in range(3)]
    answers = run_side_by_side(
        *[
            ([*script, str(kept[i]), *toy, *hosts, "--process-id", str(i), "--output", str(out)], 2)
            for i, out in enumerate(outputs)
        ],
        ([*script, str(kept[2]), *toy, "--quiet", "--devices", "1", "--output", str(single)], 1),
    )
    assert_same_params(load(outputs[0] / "params.npz"), load(single / "params.npz"))
    for i in range(2):  # every process ends with the same parameters
        assert_same_params(load(kept[i]), load(kept[2]))
        np.testing.assert_array_equal(load(kept[i])["out/w"], load(kept[0])["out/w"])
    assert not outputs[1].exists()  # only process 0 writes
    assert {p.name for p in outputs[0].iterdir()} >= {"metrics.json", "checkpoint.npz"}
    assert (config_of(outputs[0])["devices"], config_of(outputs[0])["processes"]) == (4, 2)
    (_, out0, err0), (_, out1, err1) = answers[:2]
    # gloo's own messages ("[Gloo] Rank 1 is connected to 3 peer ranks. ..."), whose C++
    # writes may reach the pipe split over two lines
    out1 = [line for line in out1.splitlines() if "[Gloo]" not in line and "peer ranks" not in line]
    assert "test accuracy" in out0 and out1 == []  # process 0 reports, the other is quiet
    assert "epoch" in err0 and "epoch" not in err1  # the progress bar only on process 0


def test_options_that_cannot_work_are_one_line_errors(tmp_path):
    out = tmp_path / "run"
    hosts = ["--coordinator", "127.0.0.1:1234"]
    cases = {
        "--devices 8 exceeds the 4 visible cpu devices": ["--devices", "8"],
        "--batch-size 50 is not divisible by --devices 3": ["--devices", "3"],
        "missing: --num-processes, --process-id": hosts,
        "go together; missing: --coordinator": ["--num-processes", "2", "--process-id", "0"],
        "--process-id 2 must be smaller than --num-processes 2": [
            *hosts,
            *("--num-processes", "2", "--process-id", "2"),
        ],
    }
    argvs = [[*args, "--quiet", "--output", str(out)] for args in cases.values()]
    script = ERRORS.format(tests=str(TESTS))
    (_, stdout, _) = run_side_by_side(([sys.executable, "-c", script, json.dumps(argvs)], 4))[0]
    report = json.loads(stdout.strip().splitlines()[-1])
    for problem, (status, err) in zip(cases, report["answers"], strict=True):
        assert status == 2, err
        assert len(err.strip().splitlines()) == 1, err
        assert err.startswith("toy-perceptron: error: ") and problem in err, err
    assert not out.exists()
    # without --devices: all 4 devices, or the most that divide the batch size
    assert report["defaults"] == {"100": 4, "50": 2, "7": 1}
