"""Result files: atomic writes, pytrees as ``.npz`` (no pickle), JSON.

Every write goes to a temporary file in the same folder, is flushed to disk, and then
renamed over the target (``os.replace`` is atomic on POSIX), so a run killed at any moment
leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + ``os.replace``)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def load_json(path: str | os.PathLike) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def save_arrays(path: str | os.PathLike, arrays: Mapping[str, Any]) -> None:
    """Write named arrays as an uncompressed ``.npz``, atomically. No object arrays."""
    converted = {name: np.asarray(value) for name, value in arrays.items()}
    for name, value in converted.items():
        if value.dtype == object:
            raise TypeError(f"array {name!r} has dtype object, which would need pickle")
    buffer = io.BytesIO()
    np.savez(buffer, **converted)
    atomic_write_bytes(path, buffer.getvalue())


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` written by :func:`save_arrays` (``allow_pickle=False``)."""
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def _path_name(path: tuple) -> str:
    """A readable key for a pytree path, e.g. ``0/weights`` or ``layers/1/bias``."""
    parts = []
    for entry in path:
        for attribute in ("key", "idx", "name"):
            if hasattr(entry, attribute):
                parts.append(str(getattr(entry, attribute)))
                break
        else:
            parts.append(str(entry))
    return "/".join(parts) or "leaf"


def pytree_to_arrays(tree: Any) -> dict[str, np.ndarray]:
    """Flatten a pytree into ``{path: array}`` with readable, ordered keys."""
    import jax

    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {_path_name(path): np.asarray(leaf) for path, leaf in leaves}


def arrays_to_pytree(arrays: Mapping[str, np.ndarray], template: Any) -> Any:
    """Rebuild a pytree shaped like ``template`` from :func:`pytree_to_arrays` output.

    Raises ``ValueError`` naming the first missing key or mismatched shape, so that a file
    from a different network is refused instead of silently misread.
    """
    import jax

    leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = []
    for path, template_leaf in leaves_with_path:
        name = _path_name(path)
        if name not in arrays:
            raise ValueError(f"saved arrays lack {name!r}; they belong to a different network")
        value = arrays[name]
        expected = np.shape(template_leaf)
        if value.shape != expected:
            raise ValueError(f"saved array {name!r} has shape {value.shape}, expected {expected}")
        leaves.append(jax.numpy.asarray(value, dtype=np.asarray(template_leaf).dtype))
    if len(arrays) != len(leaves):
        extra = sorted(set(arrays) - {_path_name(p) for p, _ in leaves_with_path})
        raise ValueError(f"saved arrays have entries the network lacks: {extra}")
    return jax.tree_util.tree_unflatten(treedef, leaves)
