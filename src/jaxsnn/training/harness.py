"""The training loop shared by every task: jitted epochs, metrics, checkpoints, result files.

A task describes its network as a :class:`Model` (pure functions of params and a batch of
features) and hands it to :func:`train` together with the data and a :class:`TrainConfig`.
The harness does the rest:

* one jitted function per epoch (``lax.scan`` over the shuffled mini-batches),
  compiled once up front so that compile time is reported apart from run time;
* per-epoch train loss/accuracy and test loss/accuracy, a progress bar;
* an atomic checkpoint after every epoch, from which ``resume`` continues bit-for-bit (the
  checkpoint before it is kept, for when the last one is damaged);
* Ctrl-C (SIGINT) stops the run cleanly after the current epoch is saved
  (:class:`TrainingInterrupted`);
* the result folder (see :mod:`jaxsnn.training.results`);
* data parallelism over several devices and processes (:mod:`jaxsnn.training.distributed`):
  each mini-batch is split over a one-axis mesh, parameters and optimiser state are
  replicated, and XLA inserts the all-reduce of the gradients; only process 0 writes files.

Randomness: ``key = PRNGKey(seed)`` is split into an init key and a data key; epoch ``e``
shuffles with ``fold_in(data_key, e)``, so a resumed run draws the same batches as an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from jaxsnn.datasets import Dataset, batch_indices
from jaxsnn.training import distributed, results
from jaxsnn.training.distributed import DataParallel

logger = logging.getLogger("jaxsnn")

Params = Any
Batch = jax.Array
LossFn = Callable[[Params, Batch, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]


@dataclass(frozen=True)
class Model:
    """What a task hands to the harness.

    Attributes:
        init: ``key -> params``.
        loss: ``(params, features[B, ...], labels[B]) -> (loss, aux)``; ``aux`` is a dict of
            scalars that must hold ``"accuracy"`` (batch mean) and may hold
            ``"dropped_events"`` (events lost to full buffers, summed over the batch).
        evaluate: ``(params, features[B, ...]) -> dict`` of per-sample arrays: must hold
            ``"prediction"`` ``[B]``; may hold ``"output_times"`` ``[B, n_out]`` (first
            output spike per neuron, ``inf`` for none) and ``"dropped_events"`` ``[B]``.
        record: optional ``(params, features[S, ...]) -> {layer: (times[S, E], neurons[S, E])}``
            spike rasters for plots (padding: ``times = inf``, ``neurons = -1``).
        plot_info: JSON-able facts the plots need (``t_max``, ``class_names``, ...).
        stochastic: the forward pass is random (e.g. a mock chip's spike-time jitter):
            ``loss``, ``evaluate`` and ``record`` take a last argument ``key``. The harness
            passes a fresh key per training batch (from the seed, the epoch and the batch, so
            that a resumed run draws the same noise) and fixed keys for the evaluations.
        training_noise: only the training is random (a regulariser, e.g. jitter of the input
            spike times): ``loss`` takes an optional last argument ``key``; the harness passes
            a fresh key per training batch (as for ``stochastic``) and none for evaluations,
            which are deterministic.
        check_data: optional ``(features, name) -> Any``, called once on the training and the
            test features before anything is compiled; it raises a ``ValueError`` naming
            ``name`` for data the model cannot encode (e.g. NaN features).
    """

    init: Callable[[jax.Array], Params]
    loss: LossFn
    evaluate: Callable[[Params, Batch], dict[str, jax.Array]]
    record: Callable[[Params, Batch], dict[str, tuple[jax.Array, jax.Array]]] | None = None
    plot_info: dict[str, Any] = field(default_factory=dict)
    stochastic: bool = False
    check_data: Callable[[np.ndarray, str], Any] | None = None
    training_noise: bool = False

    @property
    def noisy_training(self) -> bool:
        """Whether the training loss takes a key (``stochastic`` or ``training_noise``)."""
        return self.stochastic or self.training_noise


def noise_key(key_data: jax.Array, epoch: int) -> jax.Array:
    """The key of epoch ``epoch``'s random forward passes: ``fold_in(fold_in(key_data,
    epoch), 1)`` (``fold_in(key_data, epoch)`` itself shuffles the batches). Evaluations use
    ``epoch = -1``."""
    return jax.random.fold_in(jax.random.fold_in(key_data, epoch % 2**32), 1)


def _with_key(fn: Callable, key: jax.Array | None, index: int) -> Callable:
    """``fn`` with ``fold_in(key, index)`` as its last argument, or ``fn`` when ``key`` is
    ``None`` (a deterministic model)."""
    if key is None:
        return fn
    return lambda *args: fn(*args, jax.random.fold_in(key, index))


@dataclass(frozen=True)
class TrainConfig:
    """Settings of the loop itself (the task's own settings go into ``task_config``)."""

    epochs: int = 10
    batch_size: int = 100
    seed: int = 0
    eval_batch_size: int = 1000
    n_raster_samples: int = 8

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.n_raster_samples < 0:
            raise ValueError(f"n_raster_samples must be >= 0, got {self.n_raster_samples!r}")


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped :func:`train` after a completed and saved epoch.

    A ``KeyboardInterrupt``, so that it ends a program like any Ctrl-C unless caught; the run
    continues from its checkpoint with ``resume=True`` (``--resume DIR``).

    Attributes:
        epoch: the last completed epoch (1-based), saved in the checkpoint.
        epochs: the epochs the run was configured for.
        output: the run's folder.
    """

    def __init__(self, epoch: int, epochs: int, output: Path) -> None:
        self.epoch, self.epochs, self.output = epoch, epochs, output
        super().__init__(f"stopped by Ctrl-C after epoch {epoch} of {epochs}; saved in {output}")


@contextlib.contextmanager
def stop_on_sigint() -> Iterator[threading.Event]:
    """Within the block, Ctrl-C (SIGINT) only sets the yielded event; the caller checks it.

    A jitted epoch cannot be interrupted half-way (Python runs signal handlers between
    bytecodes, so the handler runs when the compiled call returns); the loop checks the event
    after each saved epoch instead. The first SIGINT also restores the previous handler, so a
    second one interrupts whatever Python code runs then, as usual (``KeyboardInterrupt``;
    the atomic writes leave the saved files intact). The previous handler is restored on
    leaving the block. Nothing is installed outside the main thread or where SIGINT is
    ignored (``SIG_IGN``) or handled outside Python.
    """
    requested = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous in (
        signal.SIG_IGN,
        None,
    ):
        yield requested
        return

    def handler(signum: int, frame: Any) -> None:
        requested.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, handler)
    try:
        yield requested
    finally:
        if signal.getsignal(signal.SIGINT) is handler:
            signal.signal(signal.SIGINT, previous)


@dataclass
class RunResult:
    """What :func:`train` returns: final params, the metrics dict and the folder."""

    params: Params
    metrics: dict[str, Any]
    output: Path


@dataclass
class TrainingState:
    """Where a run stands between epochs (see :func:`restore_or_init`).

    Attributes:
        params: the model parameters after the completed epochs.
        opt_state: the optimiser state after the completed epochs.
        history: one record per completed epoch (see :func:`run_epoch`).
        start_epoch: epochs completed before this process began (0 unless resumed); the
            0-based index of the first epoch this process trains.
        previous_wall: wall time in seconds spent by earlier processes (0 unless resumed).
        key_data: the data key; epoch ``e`` (0-based) shuffles with ``fold_in(key_data, e)``.
    """

    params: Params
    opt_state: optax.OptState
    history: list[dict[str, Any]]
    start_epoch: int
    previous_wall: float
    key_data: jax.Array


@dataclass(frozen=True)
class CompiledRun:
    """What :func:`compile_run` prepares once per process for the epochs of a run.

    Attributes:
        epoch: :func:`make_epoch_fn` compiled for the run's shapes and layout.
        assess: :func:`assessment` of the model, jitted (the test evaluation of every epoch
            and the final predictions); takes host (numpy) data and keys and places them on
            ``layout`` (:func:`placed`).
        features: the training features, replicated on every device.
        labels: the training labels, replicated on every device.
        compile_time_s: seconds spent compiling ``epoch``.
        layout: the devices that share each batch (:class:`DataParallel`).
        stochastic: the model's ``stochastic`` (its functions take a key).
        noisy_training: the model's ``noisy_training`` (its training loss takes a key).
    """

    epoch: Callable
    assess: Callable
    features: jax.Array
    labels: jax.Array
    compile_time_s: float
    layout: DataParallel
    stochastic: bool = False
    noisy_training: bool = False


def make_epoch_fn(
    model: Model, optimizer: optax.GradientTransformation, layout: DataParallel | None = None
) -> Callable:
    """``(params, opt_state, features, labels, indices[n_batches, B], key=None) -> (params,
    opt_state, per-batch losses, per-batch aux)`` as one ``lax.scan`` over the batches; a
    model with ``noisy_training`` gets ``fold_in(key, batch)`` in batch ``batch``.

    With a ``layout``, each batch (``features[indices[b]]``, ``labels[indices[b]]``) is
    split over its devices (``with_sharding_constraint``) and every output is replicated:
    pass ``features``, ``labels``, params, optimiser state and key replicated
    (:meth:`DataParallel.replicate`) and ``indices`` split along its batch axis 1
    (:meth:`DataParallel.shard`); XLA inserts the reduction of the gradients over the
    devices. Without one, everything stays where JAX puts it (one device).
    """
    grad_fn = jax.value_and_grad(model.loss, has_aux=True)

    def update(carry, batch):
        params, opt_state, features, labels, key = carry
        batch_idx, number = batch
        extra = (jax.random.fold_in(key, number),) if model.noisy_training else ()
        x, y = features[batch_idx], labels[batch_idx]
        if layout is not None:
            x, y = layout.constrain((x, y))
        (loss, aux), grads = grad_fn(params, x, y, *extra)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (params, opt_state, features, labels, key), (loss, aux)

    def epoch(params, opt_state, features, labels, indices, key=None):
        if model.noisy_training and key is None:
            raise ValueError("the epoch of a model with random training needs a key")
        batches = (indices, jnp.arange(indices.shape[0]))
        (params, opt_state, *_), (losses, aux) = jax.lax.scan(
            update, (params, opt_state, features, labels, key), batches
        )
        return params, opt_state, losses, aux

    if layout is None:
        return jax.jit(epoch)
    return jax.jit(epoch, out_shardings=layout.replicated())


def placed(fn: Callable, layout: DataParallel, n_data: int) -> Callable:
    """``fn(params, *data, *keys)`` jitted with replicated outputs, called with host values:
    the ``n_data`` data arguments become global arrays split over ``layout``'s devices where
    their length allows it (:meth:`DataParallel.batch`), the remaining arguments (keys) are
    replicated; ``params`` must already live on the layout."""
    jitted = jax.jit(fn, out_shardings=layout.replicated())

    def call(params: Params, *args: Any) -> Any:
        data = [layout.batch(value) for value in args[:n_data]]
        rest = [layout.replicate(value) for value in args[n_data:]]
        return jitted(params, *data, *rest)

    return call


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def assessment(model: Model) -> Callable:
    """``(params, features, labels[, key]) -> ((loss, aux), outputs)``: ``model.loss`` and
    ``model.evaluate`` of the same samples (and key) in one program, so that XLA compiles
    their shared forward pass once (for the event-based Yin-Yang model: 1.8 s against
    1.9 s + 1.3 s for the two programs)."""

    def assess(params: Params, features: Any, labels: Any, *key: jax.Array) -> tuple:
        return model.loss(params, features, labels, *key), model.evaluate(params, features, *key)

    return assess


def _assess(
    assess_fn: Callable,
    params: Params,
    data: Dataset,
    size: int,
    key: jax.Array | None = None,
    keep_outputs: bool = False,
) -> tuple[dict, dict | None]:
    """Sample-weighted mean loss and accuracy over ``data`` in chunks of ``size`` (chunk ``c``
    of a stochastic model with ``fold_in(key, c)``), and with ``keep_outputs`` the model's
    per-sample outputs (``model.evaluate``) concatenated on the host (else ``None``)."""
    total_loss = total_acc = dropped = 0.0
    kept = []
    for number, chunk in enumerate(_chunks(len(data), size)):
        fn = _with_key(assess_fn, key, number)
        (loss, aux), outputs = fn(params, data.features[chunk], data.labels[chunk])
        weight = chunk.stop - chunk.start
        total_loss += float(loss) * weight
        total_acc += float(aux["accuracy"]) * weight
        dropped += float(aux.get("dropped_events", 0.0))
        if keep_outputs:
            kept.append(jax.tree_util.tree_map(np.asarray, outputs))
    metrics = {
        "loss": total_loss / len(data),
        "accuracy": total_acc / len(data),
        "dropped_events": int(dropped),
    }
    if not keep_outputs:
        return metrics, None
    return metrics, {name: np.concatenate([out[name] for out in kept]) for name in kept[0]}


def _warn_dropped(where: str, dropped: int, bar: Any) -> None:
    if dropped > 0 and distributed.is_main_process():  # the same count on every process
        message = (
            f"{where}: {dropped} spike events were dropped because an event buffer was full; "
            "increase the task's max-events setting"
        )
        bar.write("WARNING: " + message)
        # 4: _warn_dropped -> run_epoch -> train -> the caller of train
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def restore_or_init(
    model: Model,
    optimizer: optax.GradientTransformation,
    train_data: Dataset,
    config: TrainConfig,
    output: Path,
    full_config: dict[str, Any],
    resume: bool,
    *,
    resume_previous: bool = False,
) -> TrainingState:
    """Check the batch size, then initialise a fresh run or load the checkpoint in ``output``.

    A fresh run initialises params with the init key and prepares the (new or empty) output
    folder; with ``resume=True`` the checkpoint's config must equal ``full_config`` and its
    params, optimiser state, history and wall time are restored. With ``resume_previous``
    too, they come from ``checkpoint.previous.npz``, and the (damaged) ``checkpoint.npz`` is
    set aside as ``checkpoint.damaged.npz`` once the previous one has loaded. Only process 0
    of a distributed run prepares or changes the folder; every process reads the checkpoint
    (the folder must be readable on every host). The state is returned on the host (not yet
    placed on the devices).

    Raises:
        ValueError: ``config.batch_size`` exceeds the number of training samples.
        results.ResultsError: the output folder cannot be used or the checkpoint does not fit.
    """
    if len(train_data) < config.batch_size:
        raise ValueError(
            f"batch_size={config.batch_size} exceeds the {len(train_data)} training samples"
        )
    key_init, key_data = jax.random.split(jax.random.PRNGKey(config.seed))
    params = model.init(key_init)
    opt_state = optimizer.init(params)
    main = distributed.is_main_process()
    if not resume:
        if main:
            results.prepare_output_folder(output)
        return TrainingState(params, opt_state, [], 0, 0.0, key_data)
    template = (params, opt_state)
    state = results.load_checkpoint(output, full_config, template, previous=resume_previous)
    (params, opt_state), history = state.tree, state.history
    if resume_previous and main:
        aside = results.set_aside_checkpoint(output)
        kept = f"; the damaged {results.CHECKPOINT} is kept as {aside.name}" if aside else ""
        logger.warning(
            "continuing %s from %s (after epoch %d)%s",
            output,
            results.PREVIOUS_CHECKPOINT,
            len(history),
            kept,
        )
    logger.info("resuming %s after epoch %d", output, len(history))
    return TrainingState(params, opt_state, history, len(history), state.wall_time_s, key_data)


def compile_run(
    model: Model,
    optimizer: optax.GradientTransformation,
    train_data: Dataset,
    config: TrainConfig,
    state: TrainingState,
    layout: DataParallel | None = None,
) -> CompiledRun:
    """Move the training data to the devices and compile the epoch function up front.

    The training set is replicated on every device of ``layout`` (default: the first
    local device of the default backend), each epoch's batches are split over them
    (:func:`make_epoch_fn`); ``state.params`` and ``state.opt_state`` must already be
    replicated on ``layout`` (:meth:`DataParallel.replicate`). The epoch function is lowered
    and compiled ahead of time (``.lower(...).compile()``) so that its compile time is
    measured apart from the training time.
    """
    if layout is None:
        layout = DataParallel.over(jax.local_devices()[:1])
    features = layout.replicate(train_data.features)
    labels = layout.replicate(train_data.labels)
    epoch_fn = make_epoch_fn(model, optimizer, layout)
    assess_fn = placed(assessment(model), layout, n_data=2)
    example_idx = batch_indices(state.key_data, len(train_data), config.batch_size)
    t0 = time.perf_counter()
    key = layout.replicate(noise_key(state.key_data, 0)) if model.noisy_training else None
    lowered = epoch_fn.lower(
        state.params, state.opt_state, features, labels, layout.shard(example_idx, 1), key
    )
    compiled = lowered.compile()
    compile_time = time.perf_counter() - t0
    return CompiledRun(
        compiled,
        assess_fn,
        features,
        labels,
        compile_time,
        layout,
        model.stochastic,
        model.noisy_training,
    )


def run_epoch(
    run: CompiledRun,
    state: TrainingState,
    epoch: int,
    test_data: Dataset,
    config: TrainConfig,
    bar: Any,
) -> tuple[Params, optax.OptState, dict[str, Any]]:
    """Train the 0-based ``epoch`` from ``state``'s params and evaluate on ``test_data``.

    The batches are drawn with ``fold_in(state.key_data, epoch)``. Dropped events are
    warned about (and written above the progress ``bar``, whose postfix shows the new
    losses). ``state`` itself is not changed.

    Returns:
        The new params and optimiser state, and the epoch's history record: ``epoch``
        (1-based), ``train_loss``, ``train_accuracy``, ``test_loss``, ``test_accuracy``,
        ``epoch_time_s`` and ``dropped_events``.

    Raises:
        FloatingPointError: a training loss of the epoch is not finite.
    """
    key = jax.random.fold_in(state.key_data, epoch)
    idx = batch_indices(key, run.labels.shape[0], config.batch_size)
    t_epoch = time.perf_counter()
    idx = run.layout.shard(idx, 1)  # each device (process) takes its share of every batch
    noisy = run.noisy_training
    noise = run.layout.replicate(noise_key(state.key_data, epoch)) if noisy else None
    params, opt_state, losses, aux = run.epoch(
        state.params, state.opt_state, run.features, run.labels, idx, noise
    )
    losses = np.asarray(losses)
    epoch_time = time.perf_counter() - t_epoch
    if not np.all(np.isfinite(losses)):
        raise FloatingPointError(
            f"training loss became {losses[~np.isfinite(losses)][0]} in epoch {epoch + 1}; "
            "lower the learning rate or check the inputs"
        )
    evaluation = noise_key(state.key_data, -1) if run.stochastic else None
    test, _ = _assess(run.assess, params, test_data, config.eval_batch_size, evaluation)
    train_dropped = int(np.sum(np.asarray(aux.get("dropped_events", 0))))
    _warn_dropped(f"epoch {epoch + 1} (train)", train_dropped, bar)
    _warn_dropped(f"epoch {epoch + 1} (test)", test["dropped_events"], bar)
    record = {
        "epoch": epoch + 1,
        "train_loss": float(np.mean(losses)),
        "train_accuracy": float(np.mean(np.asarray(aux["accuracy"]))),
        "test_loss": test["loss"],
        "test_accuracy": test["accuracy"],
        "epoch_time_s": epoch_time,
        "dropped_events": train_dropped + test["dropped_events"],
    }
    bar.set_postfix(
        loss=f"{record['train_loss']:.4f}",
        train=f"{record['train_accuracy']:.3f}",
        test=f"{record['test_accuracy']:.3f}",
    )
    logger.info("epoch %d: %s", epoch + 1, record)
    return params, opt_state, record


def finish(
    model: Model,
    run: CompiledRun,
    state: TrainingState,
    test_data: Dataset,
    config: TrainConfig,
    output: Path,
    full_config: dict[str, Any],
    wall_time_s: Callable[[], float],
) -> RunResult:
    """Write the final result files of a completed run and return its :class:`RunResult`.

    Predicts ``test_data`` with ``state.params`` (every process takes part), records spike
    rasters of the first ``config.n_raster_samples`` test samples when the model has
    ``record``, writes them with the params (:func:`results.write_final`) and the metrics
    with ``completed=True`` (``full_config`` as it goes into ``metrics.json``). Only process
    0 records and writes; the others return the same metrics without writing a file.
    ``wall_time_s()`` gives the run's total wall time so far.
    """
    params = state.params
    evaluation = noise_key(state.key_data, -1) if model.stochastic else None
    _, predictions = _assess(
        run.assess, params, test_data, config.eval_batch_size, evaluation, keep_outputs=True
    )

    def completed_metrics(wall: float) -> dict[str, Any]:
        return results.metrics_record(
            full_config, state.history, wall, run.compile_time_s, completed=True
        )

    if not distributed.is_main_process():
        return RunResult(params=params, metrics=completed_metrics(wall_time_s()), output=output)
    rasters = {}
    if model.record is not None and config.n_raster_samples > 0:
        n = min(config.n_raster_samples, len(test_data))
        record = _with_key(model.record, evaluation, 0)
        local = jax.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)), params)
        rasters = record(local, jnp.asarray(test_data.features[:n]))  # on this process only
    wall = wall_time_s()
    results.write_final(
        output,
        params=params,
        test_data=test_data,
        predictions=predictions,
        rasters=rasters,
        plot_info=model.plot_info,
    )
    metrics = results.write_metrics(output, completed_metrics(wall))
    return RunResult(params=params, metrics=metrics, output=output)


def _start(
    model: Model,
    optimizer: optax.GradientTransformation,
    train_data: Dataset,
    config: TrainConfig,
    output: Path,
    full_config: dict[str, Any],
    resume: bool,
    resume_previous: bool,
) -> TrainingState:
    """:func:`restore_or_init`, agreed on by every process: when it fails on one, it fails
    on all (the others with a line that points to it), so that none waits for the rest."""
    failure: Exception | None = None
    try:
        state = restore_or_init(
            model,
            optimizer,
            train_data,
            config,
            output,
            full_config,
            resume,
            resume_previous=resume_previous,
        )
    except ValueError as error:  # results.ResultsError included
        failure = error
    if distributed.agree(int(failure is not None)) and failure is None:
        raise results.ResultsError(
            f"another process of the distributed run could not start it in {output} (see its error)"
        )
    if failure is not None:
        raise failure
    return state


def train(
    model: Model,
    optimizer: optax.GradientTransformation,
    train_data: Dataset,
    test_data: Dataset,
    config: TrainConfig,
    output: str | os.PathLike,
    *,
    task: str,
    task_config: dict[str, Any] | None = None,
    resume: bool = False,
    resume_previous: bool = False,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
    devices: int | None = None,
) -> RunResult:
    """Train ``model`` with ``optimizer``; write the result folder ``output``.

    With ``resume=True``, ``output`` must hold a checkpoint of a run with the same task,
    task config and train config; training continues after its last completed epoch and
    ends with exactly the parameters an uninterrupted run would have. ``resume_previous=True``
    (with ``resume``) continues from the checkpoint before the last one instead, for when
    ``checkpoint.npz`` is damaged (see :func:`restore_or_init`); the result is the same.

    ``devices``: how many devices share each batch (data parallelism, see
    :mod:`jaxsnn.training.distributed`); ``None`` takes all visible devices of the default
    backend (or the most that divide ``config.batch_size``), ``1`` trains on one device.
    After ``jax.distributed`` is initialised, the devices of every process take part; each
    process calls ``train`` with the same arguments, only process 0 writes ``output`` and
    shows progress, and all end with the same parameters. ``metrics.json``'s config records
    ``devices`` and ``processes``; they are not part of the checkpoint's config, so a run
    may be resumed on another number of devices (the float rounding then differs).

    ``on_epoch_end(epoch, record)``, if given, is called after each epoch's checkpoint and
    metrics are written, with the 1-based epoch number and (a copy of) its history record.

    Raises:
        TrainingInterrupted: Ctrl-C (SIGINT) came during the epochs; the run stopped after
            the epoch in progress was completed and saved (:func:`stop_on_sigint`).
        ValueError: ``devices`` exceeds the visible devices, or ``config.batch_size`` is no
            multiple of it (the message names ``--devices``).
        results.ResultsError: the output folder or checkpoint cannot be used, or a result
            file cannot be written (the message names it).
    """
    output = Path(output)
    task_config = dict(task_config or {})
    full_config = {"task": task, "train": asdict(config), "task_config": task_config}
    if model.check_data is not None:  # once per data set, before any work
        model.check_data(train_data.features, "training features")
        model.check_data(test_data.features, "test features")
    if len(train_data) < config.batch_size:
        raise ValueError(
            f"batch_size={config.batch_size} exceeds the {len(train_data)} training samples"
        )
    layout = DataParallel.over(distributed.select_devices(devices, config.batch_size))
    metrics_config = {**full_config, "devices": layout.devices, "processes": layout.processes}
    args = (model, optimizer, train_data, config, output, full_config)
    state = _start(*args, resume, resume_previous)
    state.params, state.opt_state = layout.replicate((state.params, state.opt_state))
    run = compile_run(model, optimizer, train_data, config, state, layout)
    run_start = time.perf_counter()

    def wall_time_s() -> float:
        return state.previous_wall + time.perf_counter() - run_start

    main = distributed.is_main_process()
    bar = tqdm(
        range(state.start_epoch, config.epochs),
        initial=state.start_epoch,
        total=config.epochs,
        desc=task,
        unit="epoch",
        disable=not (progress and main),
        dynamic_ncols=True,
    )
    with bar, stop_on_sigint() as stop_requested:
        for epoch in bar:
            state.params, state.opt_state, record = run_epoch(
                run, state, epoch, test_data, config, bar
            )
            state.history.append(record)
            with _agreed(stop_requested) as stop:
                if main:
                    wall = wall_time_s()
                    tree = (state.params, state.opt_state)
                    results.save_checkpoint(output, full_config, tree, state.history, wall)
                    record_so_far = results.metrics_record(
                        metrics_config, state.history, wall, run.compile_time_s, completed=False
                    )
                    results.write_metrics(output, record_so_far)
                if on_epoch_end is not None:
                    on_epoch_end(epoch + 1, dict(record))
            if stop.is_set():
                raise TrainingInterrupted(epoch + 1, config.epochs, output)
    return finish(model, run, state, test_data, config, output, metrics_config, wall_time_s)


@contextlib.contextmanager
def _agreed(stop_requested: threading.Event) -> Iterator[threading.Event]:
    """Around the end of an epoch (saving, callbacks): afterwards every process knows
    whether any process was asked to stop (Ctrl-C), or failed in the block.

    Yields an event that is set after the block when some process got Ctrl-C. A failure in
    the block is re-raised on its process after the agreement; the other processes raise
    :class:`results.ResultsError` pointing to it. With one process there is no exchange.
    """
    stop = threading.Event()
    try:
        yield stop
    except BaseException:
        distributed.agree(2)
        raise
    code = distributed.agree(int(stop_requested.is_set()))
    if code >= 2:
        raise results.ResultsError(
            "another process of the distributed run failed after this epoch (see its error)"
        )
    if code:
        stop.set()
