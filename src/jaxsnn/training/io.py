"""Result files: atomic writes, pytrees as ``.npz`` (no pickle), JSON -- and one checked read.

Every write goes to a temporary file in the same folder, is flushed to disk, and then
renamed over the target (``os.replace`` is atomic on POSIX), so a run killed at any moment
leaves either the old file or the new one, never half of one. A write that fails (disk full,
no permission, a folder in the way) raises :class:`WriteError` naming the file.

Every read goes through :func:`load_arrays` or :func:`load_json`, which check what they read:
a missing file raises :class:`MissingFileError`; an empty, truncated, damaged or foreign file
(random bytes, a single ``.npy``, a zip of other files, pickled objects, invalid JSON, an entry
that should be there and is not) raises :class:`DamagedFileError`. Both are
:class:`ResultsError` (a ``ValueError``) whose message is one line that names the file and
says what is wrong; no other exception escapes for a bad file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: what a damaged archive or array entry raises while it is read
_READ_ERRORS = (
    zipfile.BadZipFile,
    EOFError,
    ValueError,
    OSError,
    RuntimeError,
    zlib.error,
)


class ResultsError(ValueError):
    """A result folder or file cannot be used; the message (one line) says why."""


class MissingFileError(ResultsError):
    """A file that should be there is not."""

    def __init__(self, path: str | os.PathLike, message: str | None = None) -> None:
        self.path = Path(path)
        super().__init__(message or f"{self.path} does not exist")


class DamagedFileError(ResultsError):
    """A file is there but unusable: empty, truncated, damaged, or not the file it should be.

    Attributes:
        path: the file.
        problem: what is wrong, a phrase that follows the file name (``"is empty (0 bytes)"``).
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path} {problem}")


class WriteError(ResultsError):
    """A result file could not be written (the message names it and gives the system's reason)."""

    def __init__(self, path: str | os.PathLike, error: OSError) -> None:
        self.path = Path(path)
        super().__init__(f"cannot write {self.path}: {error.strerror or error}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + ``os.replace``).

    Raises:
        WriteError: the file could not be written (the old file, if any, is left unchanged).
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise WriteError(path, error) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(error, OSError):
            raise WriteError(path, error) from None
        raise


def atomic_copy(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Make ``target`` a copy of ``source`` atomically (``target`` is old or new, never half).

    A hard link under a temporary name renamed over ``target`` (no data copied); where the
    file system has no hard links, a byte copy written with :func:`atomic_write_bytes`.
    """
    source, target = Path(source), Path(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        os.link(source, tmp)
    except OSError:
        try:
            data = source.read_bytes()
        except OSError as error:
            raise WriteError(target, error) from None
        atomic_write_bytes(target, data)
        return
    try:
        os.replace(tmp, target)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(error, OSError):
            raise WriteError(target, error) from None
        raise


def save_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def _read_bytes(path: Path) -> bytes:
    """The bytes of ``path``; missing -> :class:`MissingFileError`, unreadable or empty ->
    :class:`DamagedFileError`."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MissingFileError(path) from None
    except IsADirectoryError:
        raise DamagedFileError(path, "is a folder, not a file") from None
    except OSError as error:
        raise DamagedFileError(path, f"cannot be read ({error.strerror or error})") from None
    if not data:
        raise DamagedFileError(path, "is empty (0 bytes)")
    return data


def parse_json_text(path: str | os.PathLike, text: str | bytes) -> Any:
    """Parse JSON ``text`` read from ``path`` (a file, or an entry of one); a
    :class:`DamagedFileError` naming ``path`` when it is not valid JSON."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise DamagedFileError(path, "is not a JSON text file (it holds binary data)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        if not text.strip():
            raise DamagedFileError(path, "holds no JSON (only white space)") from None
        # the text ends before the JSON does: the error is at its end, or it is a string that
        # is never closed (reported at the string's start)
        if error.pos >= len(text.rstrip()) or error.msg.startswith("Unterminated string"):
            problem = f"is truncated: its JSON ends early (line {error.lineno})"
        else:
            problem = (
                f"is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
            )
        raise DamagedFileError(path, problem) from None


def load_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, checked (see the module docstring for what it raises)."""
    path = Path(path)
    return parse_json_text(path, _read_bytes(path))


def npz_bytes(arrays: Mapping[str, Any]) -> bytes:
    """Named arrays as the bytes of an uncompressed ``.npz``. No object arrays.

    Raises:
        TypeError: an array has dtype object (it would need pickle).
    """
    converted = {name: np.asarray(value) for name, value in arrays.items()}
    for name, value in converted.items():
        if value.dtype == object:
            raise TypeError(f"array {name!r} has dtype object, which would need pickle")
    buffer = io.BytesIO()
    np.savez(buffer, **converted)
    return buffer.getvalue()


def save_arrays(path: str | os.PathLike, arrays: Mapping[str, Any]) -> None:
    """Write named arrays as an uncompressed ``.npz``, atomically. No object arrays."""
    atomic_write_bytes(path, npz_bytes(arrays))


def load_arrays(
    path: str | os.PathLike, required: Iterable[str] = (), kind: str = "jaxsnn result file"
) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` written by :func:`save_arrays`, checked.

    Reads the whole archive (every entry's checksum is verified), never unpickles
    (``allow_pickle=False``), and checks that the entries ``required`` are there (else the
    file "is not a ``kind``").

    Raises:
        MissingFileError: no file at ``path``.
        DamagedFileError: the file is empty, truncated, damaged, not an ``.npz`` archive, holds
            an entry that is no NumPy array or a pickled object, or lacks a required entry.
    """
    path = Path(path)
    data = _read_bytes(path)
    if data.startswith(b"\x93NUMPY"):
        raise DamagedFileError(path, "is a single .npy array, not an .npz archive")
    if not data.startswith(b"PK"):
        raise DamagedFileError(path, "is not an .npz archive (it holds other data)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise DamagedFileError(
            path, "is truncated or damaged (not a complete .npz archive)"
        ) from None
    arrays = {}
    with archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                problem = f"is not an .npz archive of arrays (it holds {info.filename!r})"
                raise DamagedFileError(path, problem)
            name = info.filename.removesuffix(".npy")
            try:
                raw = archive.read(info)
                arrays[name] = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
            except _READ_ERRORS as error:
                if "allow_pickle" in str(error) or "pickled" in str(error):
                    problem = f"holds pickled objects in entry {name!r}, which jaxsnn never loads"
                else:
                    problem = f"is damaged: entry {name!r} cannot be read ({error})"
                raise DamagedFileError(path, problem) from None
    missing = [name for name in required if name not in arrays]
    if missing:
        raise DamagedFileError(path, f"is not a {kind} (it lacks the entry {missing[0]!r})")
    return arrays


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
