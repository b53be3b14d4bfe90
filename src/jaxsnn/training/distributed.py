"""Data-parallel training over several devices and hosts: the mesh and where arrays live.

Every task trains data-parallel through :mod:`jaxsnn.training.harness`: the mini-batches are
split evenly over a one-axis :class:`jax.sharding.Mesh` (axis :data:`BATCH_AXIS`), while the
parameters, the optimiser state and the training set itself are replicated on every device.
The jitted epoch is the same program as on one device; the sharding annotations
(:class:`~jax.sharding.NamedSharding`, :func:`jax.lax.with_sharding_constraint`) let XLA
insert the collectives (the all-reduce of the gradients). Evaluations run sharded when the
chunk divides evenly over the devices, replicated otherwise.

Several hosts (or processes) join with :func:`initialize` (``jax.distributed``) before
anything touches a device; the mesh then spans the devices of every process, each process
builds only the shards of its own devices (:func:`jax.make_array_from_callback`), and
every process ends with the same (replicated) parameters. Only process 0 writes files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

logger = logging.getLogger("jaxsnn")

#: The mesh's one axis: the batch dimension of the training and evaluation data.
BATCH_AXIS = "batch"

#: The environment variable by which a user chooses the CPU collectives (JAX reads it).
CPU_COLLECTIVES_ENV = "JAX_CPU_COLLECTIVES_IMPLEMENTATION"


def use_cpu_collectives(implementation: str = "gloo") -> str | None:
    """Choose the collectives that CPU devices of several processes use (before a backend
    starts): ``jax_cpu_collectives_implementation = implementation`` unless the user set
    ``JAX_CPU_COLLECTIVES_IMPLEMENTATION``. Harmless on GPU and TPU, which have their own.

    Returns the implementation in effect, or ``None`` where this JAX has no such option.
    """
    chosen = os.environ.get(CPU_COLLECTIVES_ENV)
    if chosen:
        return chosen
    try:
        jax.config.update("jax_cpu_collectives_implementation", implementation)
    except (AttributeError, ValueError):  # an older JAX: no such option or value
        return None
    return implementation


def initialize(coordinator: str, num_processes: int, process_id: int) -> None:
    """Join the distributed run (``jax.distributed.initialize``); call before any JAX
    computation or device query. Sets the CPU collectives first (:func:`use_cpu_collectives`),
    so that CPU devices of several processes can exchange gradients. A second call with the
    same arguments does nothing.

    Raises:
        RuntimeError: JAX was already used in this process (its backend has started), or
            the coordinator could not be reached in time.
    """
    if getattr(jax.distributed, "is_initialized", lambda: False)():
        if (jax.process_count(), jax.process_index()) != (num_processes, process_id):
            raise RuntimeError(
                "jax.distributed is already initialized with other processes "
                f"({jax.process_index()} of {jax.process_count()})"
            )
        return
    implementation = use_cpu_collectives()
    logger.info(
        "process %d of %d joins %s (CPU collectives: %s)",
        process_id,
        num_processes,
        coordinator,
        implementation,
    )
    jax.distributed.initialize(
        coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
    )


def is_main_process() -> bool:
    """Whether this is process 0, the one that writes files and shows progress."""
    return jax.process_index() == 0


def agree(code: int) -> int:
    """The largest ``code`` that any process passes (every process must call this at the
    same point of the run); with one process, ``code`` itself, without any exchange.

    Used to end a distributed run together: e.g. 0 = go on, 1 = stop (Ctrl-C on some
    process), 2 = some process failed.
    """
    if jax.process_count() == 1:
        return code
    from jax.experimental import multihost_utils

    return int(np.max(multihost_utils.process_allgather(np.int32(code))))


def _devices_by_process() -> dict[int, list[jax.Device]]:
    """The devices of the default backend, per process index, each list sorted by id."""
    found: dict[int, list[jax.Device]] = {}
    for device in sorted(jax.devices(), key=lambda d: (d.process_index, d.id)):
        found.setdefault(device.process_index, []).append(device)
    return found


def _possible_counts(per_process: dict[int, list[jax.Device]]) -> list[int]:
    """Device counts a mesh can have: the same number of devices from every process."""
    processes = len(per_process)
    most = min(len(devices) for devices in per_process.values())
    return [processes * k for k in range(1, most + 1)]


def _count_problem(requested: int, batch_size: int, per_process: dict) -> str | None:
    """Why ``requested`` devices cannot share batches of ``batch_size`` (``None``: they can)."""
    visible = sum(len(devices) for devices in per_process.values())
    processes = len(per_process)
    platform = jax.default_backend()
    if requested > visible:
        where = f" of {processes} processes" if processes > 1 else ""
        return f"--devices {requested} exceeds the {visible} visible {platform} devices{where}"
    if requested % processes:
        return (
            f"--devices {requested} is not a multiple of the {processes} processes "
            "(every process feeds the same number of devices)"
        )
    if requested not in _possible_counts(per_process):
        fewest = min(len(devices) for devices in per_process.values())
        return (
            f"--devices {requested} needs {requested // processes} devices per process, "
            f"but a process has only {fewest}"
        )
    if batch_size % requested:
        return (
            f"--batch-size {batch_size} is not divisible by --devices {requested}: every "
            f"device takes an equal share of each batch; choose a batch size that is a "
            f"multiple of {requested}, or fewer devices"
        )
    return None


def select_devices(requested: int | None, batch_size: int) -> list[jax.Device]:
    """The devices that share each batch, in mesh order (process by process).

    ``requested=None`` takes all visible devices of the default backend (of every process),
    or, when ``batch_size`` does not divide evenly over them, the most that it does divide
    over (a warning names ``--devices``). An explicit count is used as given or refused.

    Raises:
        ValueError: one line naming ``--devices`` (or ``--batch-size``): more devices than
            visible, a count the processes cannot share evenly, or a batch size that is not
            a multiple of the count.
    """
    per_process = _devices_by_process()
    if requested is None:
        fits = [n for n in _possible_counts(per_process) if batch_size % n == 0]
        if not fits:
            raise ValueError(
                f"--batch-size {batch_size} is not divisible by the {len(per_process)} "
                "processes: every process takes an equal share of each batch"
            )
        requested, visible = fits[-1], sum(map(len, per_process.values()))
        if requested < visible:
            logger.warning(
                "training on %d of the %d visible devices: --batch-size %d does not divide "
                "evenly over %d; pass --devices N (N dividing the batch size) to choose",
                requested,
                visible,
                batch_size,
                visible,
            )
    problem = _count_problem(requested, batch_size, per_process)
    if problem is not None:
        raise ValueError(problem)
    share = requested // len(per_process)
    return [device for devices in per_process.values() for device in devices[:share]]


def _host_value(value: Any) -> np.ndarray:
    """``value`` as a numpy array of the dtype JAX would give it (float64 -> float32 unless
    x64 is enabled)."""
    array = np.asarray(value)
    return array.astype(jax.dtypes.canonicalize_dtype(array.dtype), copy=False)


@dataclass(frozen=True)
class DataParallel:
    """A one-axis mesh over which every batch is split; all else is replicated on it.

    Attributes:
        mesh: the devices, along the axis :data:`BATCH_AXIS`.
    """

    mesh: Mesh

    @classmethod
    def over(cls, devices: Sequence[jax.Device]) -> DataParallel:
        """The data-parallel layout over ``devices`` (e.g. from :func:`select_devices`)."""
        return cls(Mesh(np.array(list(devices)), (BATCH_AXIS,)))

    @property
    def devices(self) -> int:
        """The number of devices that share each batch."""
        return int(self.mesh.size)

    @property
    def processes(self) -> int:
        """The number of processes whose devices form the mesh."""
        return len({device.process_index for device in self.mesh.devices.flat})

    def replicated(self) -> NamedSharding:
        """A whole copy on every device (parameters, optimiser state, keys, outputs)."""
        return NamedSharding(self.mesh, P())

    def sharded(self, axis: int = 0) -> NamedSharding:
        """Split along ``axis`` (the batch axis of the array) over the devices."""
        return NamedSharding(self.mesh, P(*([None] * axis), BATCH_AXIS))

    def constrain(self, batch: Any, axis: int = 0) -> Any:
        """Inside ``jit``: every leaf of ``batch`` split along ``axis`` over the devices."""
        return jax.tree_util.tree_map(
            lambda x: jax.lax.with_sharding_constraint(x, self.sharded(axis)), batch
        )

    def put(self, value: Any, sharding: NamedSharding) -> jax.Array:
        """A global array of ``value`` (the same on every process) laid out as
        ``sharding``; each process transfers only the shards of its own devices."""
        host = _host_value(value)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    def replicate(self, tree: Any) -> Any:
        """Every leaf of ``tree`` (the same on every process) replicated on all devices."""
        return jax.tree_util.tree_map(lambda x: self.put(x, self.replicated()), tree)

    def shard(self, value: Any, axis: int = 0) -> jax.Array:
        """``value`` split along ``axis``, whose length must be a multiple of the devices."""
        return self.put(value, self.sharded(axis))

    def batch(self, value: Any) -> jax.Array:
        """An evaluation chunk: split along its first axis when that divides evenly over
        the devices, else replicated (each device then evaluates the whole chunk)."""
        host = _host_value(value)
        if host.ndim and host.shape[0] % self.devices == 0:
            return self.put(host, self.sharded())
        return self.put(host, self.replicated())
