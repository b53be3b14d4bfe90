"""A hardware-mock training epoch against the software EventProp epoch of the same network.

Both tasks at their defaults -- ``yinyang-event-prop`` (software EventProp, first-spike fast
path) and ``yinyang-mock`` (hardware in the loop on the mock chip, default artifacts) -- train
the same 5-200-3 Yin-Yang classifier; each is built through its task's own ``build()``, its
whole epoch (5000 samples, batch 25: forward, backward, Adam; the harness's jitted
``lax.scan`` over the batches) compiled once, then the two epochs alternate ``--rounds`` times
in one process, so that a change of machine load hits both. Prints every epoch time, the
medians, the ratio of the medians and the pairwise ratios::

    python benchmarks/mock_epoch.py --rounds 11
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import build_task  # noqa: E402 - the suite's task builder

from jaxsnn.training.harness import batch_indices, make_epoch_fn  # noqa: E402

TASKS = ("yinyang-event-prop", "yinyang-mock")


def compiled_epoch(name: str, argv: Sequence[str] = ()) -> tuple[Callable[[], None], float]:
    """``(run one epoch, compile seconds)`` of a task at its defaults (``argv`` added)."""
    experiment, args, note = build_task(name, argv)
    if experiment is None:
        raise SystemExit(f"{name}: {note}")
    model, optimizer, data = experiment["model"], experiment["optimizer"], experiment["train_data"]
    params = model.init(jax.random.PRNGKey(0))
    arguments = (
        params,
        optimizer.init(params),
        jnp.asarray(data.features),
        jnp.asarray(data.labels),
        batch_indices(jax.random.PRNGKey(1), len(data), args.batch_size),
        jax.random.PRNGKey(2) if model.noisy_training else None,
    )
    epoch = jax.jit(make_epoch_fn(model, optimizer))
    start = time.perf_counter()
    jax.block_until_ready(epoch(*arguments))  # compile and a first run
    return lambda: jax.block_until_ready(epoch(*arguments)), time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11, help="epochs of each task")
    args = parser.parse_args(argv)
    epochs = {}
    for name in TASKS:
        epochs[name], compile_s = compiled_epoch(name)
        print(f"{name}: compile and first epoch {compile_s:.1f} s", flush=True)
    times: dict[str, list[float]] = {name: [] for name in TASKS}
    for _ in range(args.rounds):
        for name in TASKS:
            start = time.perf_counter()
            epochs[name]()
            times[name].append(time.perf_counter() - start)
    for name in TASKS:
        listed = ", ".join(f"{t:.3f}" for t in times[name])
        print(f"{name}: epochs {listed} s; median {statistics.median(times[name]):.3f} s")
    software, mock = (times[name] for name in TASKS)
    pairwise = ", ".join(f"{m / s:.2f}" for s, m in zip(software, mock, strict=True))
    print(
        f"mock / software: {statistics.median(mock) / statistics.median(software):.2f} "
        f"(ratio of the medians); pairwise {pairwise}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
