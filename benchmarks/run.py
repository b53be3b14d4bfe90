"""The benchmark suite in one command (issue "Scale"): a table in ``benchmarks/RESULTS.md``.

    python benchmarks/run.py            # full run (about 3 min on 2 quiet CPU cores)
    python benchmarks/run.py --quick    # a short pass (about 2 min on 2 CPU cores)
    python benchmarks/run.py --quick --no-write   # print only
    bash benchmarks/gpu.sh              # the same on an NVIDIA GPU

What is measured (every jitted function is compiled ahead of time, ``.lower().compile()``,
and its compile time is reported apart from its run time; run times are medians of several
calls after a warm-up call, each call waiting for its result):

1. **large network** -- a training step (forward + EventProp backward + Adam) of a
   64 - 1000 - 10 first-spike network (:func:`~jaxsnn.event.leaky_integrate_and_fire.TTFSLIF`,
   ``gradient="eventprop"``) at batch 256 on latency-coded 8x8 digits (scikit-learn's
   ``load_digits``; random features when scikit-learn is missing): step time, samples/s,
   events/s, memory.
2. **throughput** -- the same training step for hidden sizes 100, 1 000, 10 000 and several
   batch sizes; events are the spikes processed per step (input + hidden + output spikes).
3. **epoch** -- one training epoch (the harness's jitted epoch, :func:`jaxsnn.training.harness.
   make_epoch_fn`, forward + backward + optimiser over the whole training split) of every task
   of :data:`jaxsnn.cli.TASKS` that imports and builds here, at its default settings (built
   through its own ``parser()`` and ``build()``); the chip task is skipped. ``--quick`` times
   the first :data:`QUICK_EPOCH_BATCHES` batches of the epoch and scales to the whole epoch.
4. **event vs discrete** -- time to a validation accuracy on Yin-Yang: each task trains at
   its defaults (``--eval-split validation``, the learning-rate schedule set for the maximal
   number of epochs) until the validation accuracy reaches the target; the time is the sum of
   the epoch times until then (compile and evaluation not counted).

Memory is XLA's account of the compiled function (``compiled.memory_analysis()``: arguments +
outputs + temporaries, the peak the program needs); on a GPU the device's
``peak_bytes_in_use`` of the whole process is reported too. The table goes into its own
section of the results file (one per backend), between marker comments, replaced on every
run; the rest of the file is left as it is.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import math
import os
import platform
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsnn.base import serial_trace
from jaxsnn.cli import NEEDS_CHIP, TASKS
from jaxsnn.datasets import batch_indices, digits
from jaxsnn.encoding import LatencyEncoder
from jaxsnn.event.leaky_integrate_and_fire import TTFSLIF
from jaxsnn.event.loss import first_spike_times, predict_first_spike, ttfs_cross_entropy
from jaxsnn.event.types import Spikes
from jaxsnn.neuron import LIFParameters
from jaxsnn.training.harness import make_epoch_fn

RESULTS = Path(__file__).with_name("RESULTS.md")
TITLE = "## Benchmark suite (benchmarks/run.py)"
#: epochs of ``--quick`` are timed on this many batches and scaled to the whole epoch
QUICK_EPOCH_BATCHES = 20
#: extra command lines of a task timed as their own rows in the full run
VARIANTS: dict[str, list[list[str]]] = {"yinyang-event-prop": [[], ["--recurrent"]]}
#: the tasks raced to a validation accuracy: (task, label)
RACE = (("yinyang-discrete", "discrete"), ("yinyang-event-prop", "event-based"))

# the synthetic first-spike network: the Yin-Yang classifier's neuron and time constants
PARAMS = LIFParameters(tau_mem=1e-2, tau_syn=5e-3)
T_MAX, T_LATE, TAU_LOSS = 2e-2, 1e-2, 2.5e-3
N_INPUTS, N_OUTPUTS = 64, 10
BYTES = 4  # float32 and int32


@dataclass(frozen=True)
class Settings:
    """How much the suite does: ``quick`` for a short pass, else the full run."""

    quick: bool
    repeats: int  # calls per timing (median); fewer when one call takes long
    budget_s: float  # a timing makes at most about this many seconds of calls
    epoch_batches: int | None  # None: whole epochs
    hidden: tuple[int, ...]
    batches: tuple[int, ...]
    large_batch: int = 256
    target_accuracy: float = 0.95
    max_epochs: int = 60
    max_memory_bytes: float = 6e9  # larger networks are compiled (memory) but not run
    tasks: tuple[str, ...] | None = None  # None: every task of TASKS


QUICK = Settings(
    quick=True,
    repeats=3,
    budget_s=4.0,
    epoch_batches=QUICK_EPOCH_BATCHES,
    hidden=(100, 1000),
    batches=(32, 256),
    target_accuracy=0.90,
    max_epochs=10,
)
FULL = Settings(
    quick=False,
    repeats=5,
    budget_s=30.0,
    epoch_batches=None,
    hidden=(100, 1000, 10000),
    batches=(32, 256),
    target_accuracy=0.95,
    max_epochs=60,
)


@dataclass
class Row:
    """One line of the table; ``None`` cells print as a dash."""

    group: str
    name: str
    time_s: float | None = None
    compile_s: float | None = None
    samples_per_s: float | None = None
    events_per_s: float | None = None
    memory_bytes: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# --- measuring ----------------------------------------------------------------------------


def compile_timed(fn: Callable, *args: Any) -> tuple[Any, float]:
    """``(compiled, seconds)``: ``jax.jit(fn)`` lowered and compiled for ``args``, timed."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


def time_calls(
    compiled: Callable, *args: Any, repeats: int = 5, budget_s: float = 30.0, min_repeats: int = 1
) -> dict[str, Any]:
    """Call ``compiled`` once (warm-up, timed), then ``repeats`` more times -- fewer (at least
    ``min_repeats``) when the warm-up says they would take over ``budget_s`` in all.

    Returns ``median_s`` (of the calls after the warm-up), ``runs`` (how many) and ``output``
    (of the warm-up call). Every call waits for its result (``block_until_ready``).
    """
    start = time.perf_counter()
    output = jax.block_until_ready(compiled(*args))
    warm_s = time.perf_counter() - start
    n = max(min_repeats, min(repeats, int(budget_s / max(warm_s, 1e-9))))
    runs = []
    for _ in range(n):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - start)
    return {"median_s": statistics.median(runs), "runs": len(runs), "output": output}


def measure(
    fn: Callable, *args: Any, repeats: int = 5, budget_s: float = 30.0, min_repeats: int = 1
) -> dict[str, Any]:
    """:func:`compile_timed` then :func:`time_calls`; adds ``compile_s`` and ``memory_bytes``
    (:func:`memory_of`) to the latter's result."""
    compiled, compile_s = compile_timed(fn, *args)
    result = time_calls(
        compiled, *args, repeats=repeats, budget_s=budget_s, min_repeats=min_repeats
    )
    return {**result, "compile_s": compile_s, "memory_bytes": memory_of(compiled)}


def memory_of(compiled: Any) -> int | None:
    """XLA's peak memory of a compiled function: arguments + outputs + temporaries (bytes)."""
    try:
        m = compiled.memory_analysis()
        return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None


def process_peak_bytes() -> int:
    """The process's peak memory so far: the device's ``peak_bytes_in_use`` on a GPU, else
    the peak resident set size (``getrusage``; Linux reports KiB)."""
    stats = device_memory_stats()
    if stats and "peak_bytes_in_use" in stats:
        return int(stats["peak_bytes_in_use"])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def device_memory_stats() -> dict[str, Any] | None:
    try:
        return jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001 - CPU devices may not implement it
        return None


# --- the synthetic first-spike network (large network, throughput) --------------------------


def digit_features(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` samples of 64 features in ``[0, 1]`` and labels 0..9: the training split of
    :mod:`jaxsnn.datasets.digits` (repeated when ``n`` exceeds its 1079 samples), or uniform
    noise without scikit-learn."""
    rng = np.random.default_rng(seed)
    try:
        data = digits.digits_split("train")
    except digits.MissingScikitLearnError:
        features = rng.uniform(size=(n, N_INPUTS))
        return features, rng.integers(0, N_OUTPUTS, n), "random latency inputs"
    pick = rng.permutation(np.resize(np.arange(len(data)), max(n, 1)))[:n]
    return data.features[pick], data.labels[pick], "sklearn digits"


def ttfs_network(hidden: int) -> Any:
    """``N_INPUTS -> hidden -> N_OUTPUTS`` first-spike layers with EventProp gradients."""
    return serial_trace(
        TTFSLIF(hidden, PARAMS, T_MAX, 3.0, 3.0, gradient="eventprop"),
        TTFSLIF(N_OUTPUTS, PARAMS, T_MAX, 3.0, 3.0, gradient="eventprop"),
    )


def train_step_fn(network: Any, optimizer: optax.GradientTransformation) -> Callable:
    """``(params, opt_state, times[B, K], sources[B, K], labels[B]) -> (params, opt_state,
    loss, counts)``: forward, EventProp backward and one optimiser update of a batch;
    ``counts``: hidden spikes, output spikes and correct predictions of the batch."""

    def sample(params: Any, times: jax.Array, sources: jax.Array, label: jax.Array) -> Any:
        hidden, out = network.apply(params, Spikes(times, sources))
        first = first_spike_times(out.time, out.idx, N_OUTPUTS)
        loss = ttfs_cross_entropy(first, label, tau=TAU_LOSS, t_max=T_MAX)
        spikes = jnp.stack([jnp.sum(jnp.isfinite(hidden.time)), jnp.sum(jnp.isfinite(out.time))])
        return loss, (spikes, predict_first_spike(first) == label)

    def batch_loss(params: Any, times: jax.Array, sources: jax.Array, labels: jax.Array) -> Any:
        losses, (spikes, correct) = jax.vmap(sample, in_axes=(None, 0, 0, 0))(
            params, times, sources, labels
        )
        return jnp.mean(losses), (jnp.sum(spikes, axis=0), jnp.sum(correct))

    def step(params, opt_state, times, sources, labels):
        (loss, (spikes, correct)), grads = jax.value_and_grad(batch_loss, has_aux=True)(
            params, times, sources, labels
        )
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, (spikes, correct)

    return step


def state_bytes_per_sample(
    hidden: int, n_inputs: int = N_INPUTS, n_outputs: int = N_OUTPUTS
) -> tuple[int, int]:
    """The per-sample state of the 2-layer first-spike network, from the code (float32):

    * spike lists (time + neuron index, 8 bytes per entry): ``K_in`` input spikes (one per
      channel for latency coding), ``H`` hidden, ``O`` output entries;
    * the fast path (:func:`jaxsnn.event.ttfs.ttfs_spike_times`) and the closed-form
      adjoint (:func:`jaxsnn.event.eventprop.first_spike_backward`) work on ``[K, n]``
      arrays of one layer at a time -- input prefix x neuron: ``K_in x H`` for the hidden
      layer, ``H x O`` for the output layer (its input list has ``H`` entries);
      the backward's weight gradient per sample is ``[n_in, n]`` as well.

    Returns ``(list_bytes, grid_elements)``: bytes of the spike lists and the number of
    ``[K, n]`` elements of the larger layer; the memory per sample is about
    ``list_bytes + c * 4 * grid_elements`` with ``c`` live ``[K, n]`` arrays (fitted).
    Nothing is of size ``H^2`` or ``K^2`` (except the ``pairwise`` prefix sums, used only
    for ``tau_mem / tau_syn`` within 5 % of 1 but not 1: ``K^2`` per layer).
    """
    list_bytes = 2 * BYTES * (n_inputs + hidden + n_outputs)
    grid = max(n_inputs * hidden, hidden * n_outputs)
    return list_bytes, grid


def network_step(hidden: int, batch: int, settings: Settings, group: str, name: str) -> Row:
    """One row: the training step of the ``64 - hidden - 10`` network at ``batch``.

    Compiled always (memory, compile time); run only when XLA's memory estimate is below
    ``settings.max_memory_bytes``."""
    network = ttfs_network(hidden)
    params = network.init(jax.random.PRNGKey(0), (N_INPUTS,))[1]
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(params)
    features, labels, source = digit_features(batch)
    times, sources = LatencyEncoder(0.0, T_LATE).events(jnp.asarray(features, jnp.float32))
    args = (params, opt_state, times, sources, jnp.asarray(labels, jnp.int32))
    step = train_step_fn(network, optimizer)
    compiled, compile_s = compile_timed(step, *args)
    memory = memory_of(compiled)
    row = Row(group, name, compile_s=compile_s, memory_bytes=memory)
    row.extra = {"hidden": hidden, "batch": batch}
    if memory is not None and memory > settings.max_memory_bytes:
        row.note = f"not run: needs {fmt_bytes(memory)} > {fmt_bytes(settings.max_memory_bytes)}"
        return row
    result = time_calls(
        compiled, *args, repeats=settings.repeats, budget_s=settings.budget_s, min_repeats=3
    )
    (hidden_spikes, out_spikes), correct = result["output"][3]
    events = batch * N_INPUTS + int(hidden_spikes) + int(out_spikes)
    row.time_s = result["median_s"]
    row.samples_per_s = batch / row.time_s
    row.events_per_s = events / row.time_s
    row.note = (
        f"{source}; {events / batch:.0f} events/sample "
        f"({int(hidden_spikes) / batch:.0f} hidden spikes); median of {result['runs']}"
    )
    return row


def large_network_rows(settings: Settings) -> list[Row]:
    """The acceptance network: 64 - 1000 - 10 at batch ``settings.large_batch``, plus the
    process's peak memory after it (peak RSS on CPU)."""
    batch = settings.large_batch
    row = network_step(1000, batch, settings, "large network", f"64-1000-10, batch {batch}")
    row.note += f"; process peak {fmt_bytes(process_peak_bytes())} after it"
    return [row]


def throughput_rows(settings: Settings, skip: Sequence[tuple[int, int]] = ()) -> list[Row]:
    """The training step for every hidden size x batch size of ``settings`` but those in
    ``skip`` (``(hidden, batch)`` pairs measured elsewhere, e.g. the large network)."""
    rows = []
    for hidden in settings.hidden:
        for batch in settings.batches:
            if (hidden, batch) in skip:
                continue
            name = f"64-{hidden}-10, batch {batch}"
            progress(f"throughput {name}")
            rows.append(network_step(hidden, batch, settings, "throughput", name))
    return rows


def memory_fit(rows: Sequence[Row]) -> list[str]:
    """Lines that compare the measured memory per sample (the difference of XLA's estimate
    between two batch sizes, so the shared weights and optimiser state drop out) with
    :func:`state_bytes_per_sample`: the fitted number ``c`` of live ``[K, n]`` arrays."""
    by_hidden: dict[int, list[Row]] = {}
    for row in rows:
        if row.memory_bytes is not None and "hidden" in row.extra:
            by_hidden.setdefault(row.extra["hidden"], []).append(row)
    lines = []
    for hidden, group in sorted(by_hidden.items()):
        group = sorted(group, key=lambda r: r.extra["batch"])
        if len(group) < 2 or group[0].extra["batch"] == group[-1].extra["batch"]:
            continue
        small, large = group[0], group[-1]
        per_sample = (large.memory_bytes - small.memory_bytes) / (
            large.extra["batch"] - small.extra["batch"]
        )
        list_bytes, grid = state_bytes_per_sample(hidden)
        c = (per_sample - list_bytes) / (BYTES * grid)
        lines.append(
            f"| {hidden} | {fmt_bytes(per_sample)} | {grid} | {fmt_bytes(list_bytes)} | {c:.1f} |"
        )
    return lines


# --- epochs of the tasks ------------------------------------------------------------------


def build_task(name: str, argv: Sequence[str]) -> tuple[dict[str, Any] | None, Any, str]:
    """``(experiment, args, note)``: the task built through its own ``parser()`` and
    ``build()``; ``experiment`` is ``None`` when it cannot be built here (``note`` says why)."""
    if name in NEEDS_CHIP:
        return None, None, "skipped: needs the chip"
    try:
        module = importlib.import_module(TASKS[name])
        args = module.parser().parse_args(list(argv))
        return module.build(args), args, ""
    except ImportError as error:
        missing = getattr(error, "name", None) or str(error)
        return None, None, f"skipped: optional dependency {missing} is missing"
    except Exception as error:  # noqa: BLE001 - report, don't stop the suite
        return None, None, f"skipped: build failed ({type(error).__name__}: {error})"


def epoch_row(name: str, argv: Sequence[str], settings: Settings) -> Row:
    """One training epoch of a task at its defaults (``argv`` added), compile time apart."""
    label = " ".join([name, *argv])
    experiment, args, note = build_task(name, argv)
    if experiment is None:
        return Row("epoch", label, note=note)
    model, optimizer, data = experiment["model"], experiment["optimizer"], experiment["train_data"]
    batch_size = args.batch_size
    params = model.init(jax.random.PRNGKey(0))
    opt_state = optimizer.init(params)
    idx = batch_indices(jax.random.PRNGKey(1), len(data), batch_size)
    n_batches = idx.shape[0]
    if settings.epoch_batches is not None and settings.epoch_batches < n_batches:
        idx = idx[: settings.epoch_batches]
    scale = n_batches / idx.shape[0]
    key = jax.random.PRNGKey(2) if model.noisy_training else None
    epoch = make_epoch_fn(model, optimizer)
    features, labels = jnp.asarray(data.features), jnp.asarray(data.labels)
    result = measure(
        epoch,
        params,
        opt_state,
        features,
        labels,
        idx,
        key,
        repeats=settings.repeats,
        budget_s=settings.budget_s,
    )
    epoch_s = result["median_s"] * scale
    samples = n_batches * batch_size
    part = "" if scale == 1 else f"scaled from {idx.shape[0]} of {n_batches} batches; "
    return Row(
        "epoch",
        label,
        time_s=epoch_s,
        compile_s=result["compile_s"],
        samples_per_s=samples / epoch_s,
        memory_bytes=result["memory_bytes"],
        note=f"{samples} samples, batch {batch_size}; {part}median of {result['runs']}",
    )


def epoch_rows(settings: Settings) -> list[Row]:
    """:func:`epoch_row` for every task of :data:`jaxsnn.cli.TASKS` (and :data:`VARIANTS`)."""
    rows = []
    for name in TASKS:
        if settings.tasks is not None and name not in settings.tasks:
            continue
        variants = [[]] if settings.quick else VARIANTS.get(name, [[]])
        for argv in variants:
            progress(f"epoch {' '.join([name, *argv])}")
            rows.append(epoch_row(name, argv, settings))
    return rows


# --- event-based vs discrete at matched accuracy ------------------------------------------


def race_row(name: str, label: str, settings: Settings) -> Row:
    """Train ``name`` at its defaults until the validation accuracy reaches the target (at
    most ``settings.max_epochs`` epochs, the schedule set for that many); the time is the sum
    of the epoch times until then (compile and evaluation apart)."""
    target, epochs = settings.target_accuracy, settings.max_epochs
    title = f"{label} ({name}): to {100 * target:.0f} % validation accuracy"
    argv = ["--eval-split", "validation", "--epochs", str(epochs)]
    experiment, args, note = build_task(name, argv)
    if experiment is None:
        return Row("event vs discrete", title, note=note)
    model, optimizer = experiment["model"], experiment["optimizer"]
    train, validation = experiment["train_data"], experiment["test_data"]
    if model.noisy_training:
        return Row("event vs discrete", title, note="skipped: random training")
    params = model.init(jax.random.PRNGKey(0))
    opt_state = optimizer.init(params)
    features, labels = jnp.asarray(train.features), jnp.asarray(train.labels)
    key_data = jax.random.PRNGKey(1)
    idx = batch_indices(key_data, len(train), args.batch_size)
    epoch, compile_epoch = compile_timed(
        make_epoch_fn(model, optimizer), params, opt_state, features, labels, idx
    )
    val_x, val_y = jnp.asarray(validation.features), jnp.asarray(validation.labels)
    evaluate, compile_eval = compile_timed(model.loss, params, val_x, val_y)
    compile_s = compile_epoch + compile_eval
    train_s, times, best, reached = 0.0, [], 0.0, None
    for e in range(epochs):
        idx = batch_indices(jax.random.fold_in(key_data, e), len(train), args.batch_size)
        start = time.perf_counter()
        params, opt_state, _, _ = jax.block_until_ready(
            epoch(params, opt_state, features, labels, idx)
        )
        times.append(time.perf_counter() - start)
        train_s += times[-1]
        accuracy = float(evaluate(params, val_x, val_y)[1]["accuracy"])
        best = max(best, accuracy)
        if accuracy >= target:
            reached = e + 1
            break
    median_epoch = statistics.median(times)
    if reached is None:
        note = f"not reached in {epochs} epochs (best {100 * best:.1f} %)"
    else:
        note = f"reached {100 * accuracy:.1f} % after {reached} epochs"
    note += f"; batch {args.batch_size}, median epoch {median_epoch:.3f} s"
    return Row(
        "event vs discrete",
        title,
        time_s=train_s if reached else None,
        compile_s=compile_s,
        samples_per_s=len(train) / median_epoch,
        note=note,
        extra={"epochs": reached, "best": best},
    )


def race_rows(settings: Settings) -> list[Row]:
    """:func:`race_row` for the discrete and the event-based Yin-Yang task."""
    rows = []
    for name, label in RACE:
        if name in TASKS and (settings.tasks is None or name in settings.tasks):
            progress(f"accuracy race {name}")
            rows.append(race_row(name, label, settings))
    return rows


# --- the table and the results file -------------------------------------------------------


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{1e3 * s:.1f} ms" if s < 1 else f"{s:.2f} s"


def fmt_rate(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    for suffix, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= size:
            return f"{x / size:.2f} {suffix}"
    return f"{x:.0f}"


HEADER = (
    "| group | benchmark | time (median) | compile | samples/s | events/s | memory (XLA) | note |"
)


def table(rows: Sequence[Row]) -> str:
    """The rows as one Markdown table (:data:`HEADER`)."""
    lines = [HEADER, "| " + " | ".join(["---"] * 8) + " |"]
    for r in rows:
        cells = [
            r.group,
            r.name,
            fmt_time(r.time_s),
            fmt_time(r.compile_s),
            fmt_rate(r.samples_per_s),
            fmt_rate(r.events_per_s),
            fmt_bytes(r.memory_bytes),
            r.note.replace("|", "/"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    """One line: the device (CPU model and cores, or the accelerator), versions and date."""
    import jaxlib

    device = jax.devices()[0]
    if device.platform == "cpu":
        what = f"CPU {cpu_model()}, {os.cpu_count()} cores"
    else:
        what = f"{device.platform.upper()} {device.device_kind} x{len(jax.devices())}"
    return (
        f"{what}; python {platform.python_version()}, jax {jax.__version__}, "
        f"jaxlib {jaxlib.__version__}, numpy {np.__version__}, optax {optax.__version__}; "
        f"{datetime.date.today().isoformat()}"
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def markers(backend: str) -> tuple[str, str]:
    """The comments that enclose the suite's section for ``backend`` (``cpu``, ``gpu``)."""
    return (
        f"<!-- benchmark-suite:{backend}:begin (written by benchmarks/run.py) -->",
        f"<!-- benchmark-suite:{backend}:end -->",
    )


def write_section(path: Path, text: str, backend: str) -> None:
    """Put ``text`` between the ``backend``'s markers in ``path`` (replacing what was there;
    appended at the end when the markers are missing); the rest of the file stays as it is."""
    begin, end = markers(backend)
    block = f"{begin}\n{text.rstrip()}\n{end}"
    old = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(old):
        new = pattern.sub(lambda _: block, old, count=1)
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + block + "\n"
    path.write_text(new)


def section(rows: Sequence[Row], settings: Settings, command: str, wall_s: float) -> str:
    """The Markdown section: title, command, machine, method, the table, the memory formula."""
    backend = jax.default_backend()
    mode = "quick pass" if settings.quick else "full run"
    fit = memory_fit([r for r in rows if r.group in ("throughput", "large network")])
    parts = [
        f"{TITLE} — {backend.upper()}",
        "",
        f"`{command}` ({mode}, {wall_s:.0f} s in all). {machine()}.",
        "",
        "Every function is compiled ahead of time (`compile` is apart from the run time); "
        "`time` is the median of the calls after a warm-up call (the note says how many). "
        "`memory (XLA)` is the compiled program's arguments + outputs + temporaries "
        "(`memory_analysis()`). Events are the spikes a step processes (input + hidden + "
        "output). Network rows: one training step (forward + EventProp backward + Adam) of "
        "`TTFSLIF` first-spike layers, 64 latency-coded inputs -> hidden -> 10. Epoch rows: "
        "the harness's jitted epoch of each task at its defaults. Event vs discrete: "
        "training time (sum of epoch times) until the validation accuracy first reaches the "
        "target, each task at its defaults.",
        "",
        f"Throughput: hidden sizes {', '.join(map(str, settings.hidden))} x batch sizes "
        f"{', '.join(map(str, settings.batches))} (the 64-1000-10 point at batch "
        f"{settings.large_batch} is the large-network row)"
        + ("; hidden 10 000 in the full run only." if 10000 not in settings.hidden else ".")
        + (
            f" Epochs: the first {settings.epoch_batches} batches timed, scaled to the epoch."
            if settings.epoch_batches
            else ""
        ),
        "",
        table(rows),
    ]
    if fit:
        parts += [
            "",
            "State memory per sample of the first-spike network (64 inputs, H hidden, 10 "
            "outputs), from the code: `bytes/sample ≈ 8 (K_in + H + O) + c · 4 · max(K_in · H, "
            "H · O)` with `K_in` = 64 input spikes, `O` = 10: spike lists (time + index) plus "
            "`c` live float32 `[input spike, neuron]` arrays of the fast path and the "
            "closed-form adjoint, one layer at a time; the weights (`4 (64 H + 10 H)` bytes, "
            "x4 with gradient and Adam state) are shared by the batch. Nothing grows as `H^2`. "
            "Measured per sample: the difference of XLA's memory between the two batch sizes "
            "divided by the difference of the batch sizes; `c` fitted from it:",
            "",
            "| hidden H | measured per sample | K_in · H | spike lists | c |",
            "| --- | --- | --- | --- | --- |",
            *fit,
        ]
    stats = device_memory_stats()
    if stats and "peak_bytes_in_use" in stats:
        parts += [
            "",
            f"Device peak memory of the whole run: {fmt_bytes(stats['peak_bytes_in_use'])}.",
        ]
    return "\n".join(parts) + "\n"


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


GROUPS = ("large", "throughput", "epoch", "race")


def run_suite(settings: Settings, groups: Sequence[str] = GROUPS) -> list[Row]:
    """Every benchmark group of ``groups`` (:data:`GROUPS`), in that order."""
    rows: list[Row] = []
    if "large" in groups:
        progress(f"large network 64-1000-10, batch {settings.large_batch}")
        rows += large_network_rows(settings)
    if "throughput" in groups:
        done = [(r.extra["hidden"], r.extra["batch"]) for r in rows if "hidden" in r.extra]
        rows += throughput_rows(settings, skip=done)
    if "epoch" in groups:
        rows += epoch_rows(settings)
    if "race" in groups:
        rows += race_rows(settings)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short pass (about 2 min)")
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help="results file (default: %(default)s)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only, write nothing")
    parser.add_argument(
        "--only", nargs="+", choices=GROUPS, default=list(GROUPS), help="run these groups only"
    )
    parser.add_argument(
        "--hidden", type=int, nargs="+", default=None, help="hidden sizes of the throughput rows"
    )
    parser.add_argument(
        "--batches", type=int, nargs="+", default=None, help="batch sizes of the throughput rows"
    )
    parser.add_argument(
        "--max-memory-gb",
        type=float,
        default=None,
        help="networks that need more (XLA's estimate) are compiled but not run (default: 6)",
    )
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.hidden:
        settings = replace(settings, hidden=tuple(args.hidden))
    if args.batches:
        settings = replace(settings, batches=tuple(args.batches))
    if args.max_memory_gb:
        settings = replace(settings, max_memory_bytes=args.max_memory_gb * 1e9)
    given = list(sys.argv[1:] if argv is None else argv)
    command = " ".join(["python benchmarks/run.py", *given])
    progress(machine())
    start = time.perf_counter()
    rows = run_suite(settings, args.only)
    wall = time.perf_counter() - start
    text = section(rows, settings, command, wall)
    print(text)
    if not args.no_write:
        write_section(args.output, text, jax.default_backend())
        progress(f"wrote the section into {args.output}")
    progress(f"done in {wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
