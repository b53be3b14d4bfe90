"""Epoch time of the recurrent EventProp network, baseline code against this tree, in one run.

The network of ``python -m jaxsnn.event.tasks.yinyang_event_prop --recurrent --hidden 100
--batch-size 64`` (one recurrent population of 103 neurons, every neuron fires at most once,
the same network as the original jaxsnn's recurrent EventProp example): one training epoch
(5000 samples, forward + EventProp backward + Adam, the harness's jitted epoch; compile time
apart, median of ``--repeats`` epochs) with the code of ``--baseline-src`` (a copy of an older
``src`` folder) and with the code of this tree. Each version runs in its own subprocess
(``PYTHONPATH=DIR``, so the two never share a process); the two alternate ``--rounds`` times so
that a change of machine load hits both. Then, in float64, both versions' spikes (hidden and
output layers: times and neuron indices) and loss gradients on ``--check-batches`` batches
(initial weights of seeds 0, 1, ...) are compared: the spikes must be equal at ``rtol
1e-12`` (the script exits with status 1 otherwise); the gradients' largest differences are
printed::

    mkdir /tmp/base && git archive fca9589 src | tar -x -C /tmp/base   # the code before
    python benchmarks/recurrent_speed.py --baseline-src /tmp/base/src
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "src"
NETWORK = {"recurrent": True, "hidden": 100, "batch_size": 64}
RTOL = 1e-12


def time_epochs(repeats: int) -> dict:
    """Worker: compile time and ``repeats`` epoch times of the network (this process's jaxsnn)."""
    sys.path.insert(0, str(HERE))
    import jax
    from event_speed import epoch_benchmark

    import jaxsnn
    from jaxsnn.event.tasks import yinyang_event_prop

    result = epoch_benchmark(yinyang_event_prop, repeats, **NETWORK)
    return {"jaxsnn": jaxsnn.__file__, "jax": jax.__version__, **result}


def spikes_and_gradients(n_batches: int, out: Path) -> dict:
    """Worker: in float64, the hidden and output spikes and the loss gradient of
    ``n_batches`` batches (batch ``b``: samples ``[64 b, 64 (b + 1))`` of the training split,
    initial weights of seed ``b``), saved to ``out`` (``.npz``)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    import jaxsnn
    from jaxsnn.datasets import yinyang_split
    from jaxsnn.event.tasks import yinyang_event_prop

    config = {**yinyang_event_prop.DEFAULTS, **NETWORK}
    model = yinyang_event_prop.build_model(config)
    data = yinyang_split("train")
    record = jax.jit(model.record)
    gradient = jax.jit(jax.grad(lambda p, x, y: model.loss(p, x, y)[0]))
    arrays = {}
    size = config["batch_size"]
    for b in range(n_batches):
        params = model.init(jax.random.PRNGKey(b))
        x = jnp.asarray(data.features[b * size : (b + 1) * size], jnp.float64)
        y = jnp.asarray(data.labels[b * size : (b + 1) * size])
        for layer, (times, neurons) in record(params, x).items():
            if layer != "input":
                arrays[f"batch{b}/{layer}/times"] = np.asarray(times)
                arrays[f"batch{b}/{layer}/neurons"] = np.asarray(neurons)
        for name, g in gradient(params, x, y).items():
            arrays[f"batch{b}/grad/{name}"] = np.asarray(g)
    np.savez(out, **arrays)
    return {"jaxsnn": jaxsnn.__file__, "dtype": str(x.dtype)}


def run_worker(src: Path, args: list[str], folder: Path) -> dict:
    """Run this script as a worker with ``PYTHONPATH=src``, its answer in ``folder``; return
    the answer (JSON), after checking that the worker imported jaxsnn from ``src``."""
    answer = folder / f"answer{len(list(folder.iterdir()))}.json"
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, str(Path(__file__).resolve()), *args, "--answer", str(answer)]
    subprocess.run(cmd, env=env, check=True)
    result = json.loads(answer.read_text())
    if not result["jaxsnn"].startswith(str(src)):
        raise RuntimeError(f"the worker for {src} imported {result['jaxsnn']}")
    return result


def compare(baseline: Path, new: Path) -> bool:
    """Print the largest differences between the two versions' arrays; whether the spikes
    are equal (``rtol 1e-12``, same neurons and same padding)."""
    a, b = np.load(baseline), np.load(new)
    spikes_equal = True
    worst = {"times": 0.0, "grad": 0.0, "grad_vs_max": 0.0}
    for key in a.files:
        x, y = a[key], b[key]
        if key.endswith("/neurons"):
            spikes_equal &= bool(np.array_equal(x, y))
        elif key.endswith("/times"):
            same = np.array_equal(np.isfinite(x), np.isfinite(y))
            finite = np.isfinite(x) & np.isfinite(y)
            spikes_equal &= same and np.allclose(x[finite], y[finite], rtol=RTOL, atol=0.0)
            rel = np.abs(x[finite] - y[finite]) / np.abs(x[finite]).clip(1e-300)
            worst["times"] = max(worst["times"], float(rel.max(initial=0.0)))
        else:
            rel = np.abs(x - y) / np.abs(x).clip(1e-300)
            worst["grad"] = max(worst["grad"], float(np.where(x != 0, rel, 0.0).max()))
            scale = np.abs(x).max(initial=0.0)
            if scale > 0:
                worst["grad_vs_max"] = max(worst["grad_vs_max"], np.abs(x - y).max() / scale)
    print(
        f"spikes equal (rtol {RTOL:g}): {spikes_equal}; largest relative difference of a spike "
        f"time {worst['times']:.1e}; gradients: largest elementwise relative difference "
        f"{worst['grad']:.1e}, largest difference / largest entry {worst['grad_vs_max']:.1e}"
    )
    return spikes_equal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-src", type=Path, help="the baseline's src folder")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per process")
    parser.add_argument("--rounds", type=int, default=2, help="processes per version")
    parser.add_argument("--check-batches", type=int, default=3, help="batches compared")
    parser.add_argument("--worker", choices=("time", "check"), help=argparse.SUPPRESS)
    parser.add_argument("--answer", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "time":
        args.answer.write_text(json.dumps(time_epochs(args.repeats)))
        return
    if args.worker == "check":
        arrays = args.answer.with_suffix(".npz")
        answer = spikes_and_gradients(args.check_batches, arrays)
        args.answer.write_text(json.dumps({**answer, "arrays": str(arrays)}))
        return
    if args.baseline_src is None:
        parser.error("--baseline-src is required")
    versions = {"baseline": args.baseline_src.resolve(), "new": SOURCE}
    epochs: dict[str, list[float]] = {name: [] for name in versions}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for round_ in range(args.rounds):
            for name, src in versions.items():
                r = run_worker(src, ["--worker", "time", "--repeats", str(args.repeats)], folder)
                epochs[name].append(r["median_s"])
                print(
                    f"round {round_ + 1}, {name} ({src}): epoch median {r['median_s']:.3f} s "
                    f"(min {r['min_s']:.3f} s) of {args.repeats}, compile {r['compile_s']:.1f} s",
                    flush=True,
                )
        median = {name: statistics.median(times) for name, times in epochs.items()}
        print(
            f"epoch of the recurrent network {NETWORK}: baseline {median['baseline']:.3f} s, "
            f"new {median['new']:.3f} s (medians over the rounds); "
            f"speed-up {median['baseline'] / median['new']:.2f}x"
        )
        check = ["--worker", "check", "--check-batches", str(args.check_batches)]
        saved = {name: run_worker(src, check, folder)["arrays"] for name, src in versions.items()}
        print(f"float64 check on {args.check_batches} batches of {NETWORK['batch_size']}:")
        if not compare(Path(saved["baseline"]), Path(saved["new"])):
            sys.exit(1)


if __name__ == "__main__":
    main()
