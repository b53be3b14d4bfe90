"""The one home of the event simulator's input checks: spike lists and weights.

A valid input spike list of one sample, ``Spikes(time, idx)``, for a population whose input
weights have ``n_in`` rows (input channels):

1. ``time`` and ``idx`` are 1-D arrays of equal length, ``idx`` of an integer dtype;
2. no ``time`` is NaN;
3. every ``time >= 0`` (seconds; ``-inf`` counts as negative);
4. ``time`` is ascending (``time[e] >= time[e - 1]``; padding, ``+inf``, comes last);
5. where ``time`` is finite (a spike): ``0 <= idx < n_in``;
6. where ``time`` is ``+inf`` (padding): ``idx == -1`` or a valid channel.

Every weight must be finite (no NaN, no inf). Rules 1 (shapes and dtypes) are static and
always raise a ``ValueError`` at once. The others are checked in one of three ways, decided
for each argument by whether its values are known:

* **eagerly** -- concrete values (arrays, lists; outside ``jit``/``vmap``): a ``ValueError``
  that names the argument and the rule, e.g. ``"spikes.time must be sorted in ascending
  order ..."``, ``"spikes.idx must lie in [0, 4) ..."``, ``"weights contains NaN or inf
  entries"``. :func:`jaxsnn.event.simulate` and every layer of
  :mod:`jaxsnn.event.leaky_integrate_and_fire` check like this.
* **traced, with checks on** -- inside ``jit``/``vmap`` (the training path) the values are
  unknown at trace time. ``checked(fn)`` switches the checks on for ``fn``: it traces ``fn``
  with :func:`enable` on, so that every layer adds one ``checkify`` check per rule to the
  program, and transforms it with ``checkify.checkify``: ``err, out = checked(fn)(*args)``;
  ``err.throw()`` raises a ``checkify.JaxRuntimeError`` with the message of the eager
  ``ValueError`` (``err.get()`` returns it, ``None`` when all is well). Checks off (the
  default), a layer adds nothing to the program. What composes (JAX 0.10):

  - one sample: ``jax.jit(checked(apply))``, ``jax.jit(checked(jax.value_and_grad(loss)))``;
  - a batch: ``checked(lambda p, b: jax.lax.map(lambda s: apply(p, s), b))`` for every
    layer; ``checked(jax.vmap(apply, ...))`` only for first-spike layers (``TTFSLIF``):
    the event loop of ``LIF``/``RecurrentLIF`` (its overflow count, the EventProp forward
    pass) is a ``lax.while_loop``, and checkify refuses a vmapped while loop ("Checkify does
    not support batched while-loops"); check the forward pass of a batch (JAX drops checks
    inside ``lax.map`` under ``grad``);
  - the switch is read when a layer is *traced*: put ``checked`` outside any ``jit``
    (``jax.jit(checked(fn))``); ``checked(jitted)`` checks only if ``jitted`` was not traced
    before without checks for the same shapes (``jit`` reuses that trace, whose invalid
    outputs are still marked, see below).
* **traced, checks off** (the default) -- never a plausible wrong answer: a layer whose
  input breaks a rule returns an *invalid* spike list (:func:`mark_invalid`): every time is
  NaN (so is a loss of them; no gradient flows back through them), ``idx[e] = e mod n``
  names the layer's neurons (so a decoding by neuron, e.g. the first spike of each, sees
  NaN rather than "no spike"), ``dropped`` is passed through. The next layer receives NaN
  times and is invalid in turn, so the mark reaches the network's output;
  :func:`jaxsnn.event.types.is_invalid` tests for it. The simulation itself runs on an
  empty input instead, so an invalid input costs no more than a valid one.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify
from jax.typing import ArrayLike

from jaxsnn.event.types import Spikes, dropped_of

Array = jnp.ndarray


_ENABLED = contextvars.ContextVar("jaxsnn_event_checks", default=False)


def enabled() -> bool:
    """Whether layers traced now add ``checkify`` checks (inside :func:`enable`)."""
    return _ENABLED.get()


@contextlib.contextmanager
def enable() -> Iterator[None]:
    """Within this block, every layer that is *traced* adds a ``checkify`` check per rule
    (module docstring) to the program; run the program under ``checkify.checkify`` to get
    them (:func:`checked` does both)."""
    token = _ENABLED.set(True)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def checked(fn: Callable[..., Any]) -> Callable[..., tuple[checkify.Error, Any]]:
    """``fn`` with the input checks of the event layers switched on (module docstring).

    ``checked(fn)(*args) -> (err, out)`` with ``out = fn(*args)`` and ``err`` the first broken
    rule of any layer's input (``err.get()``: its message or ``None``; ``err.throw()``
    raises ``checkify.JaxRuntimeError``). It traces
    ``checkify.checkify(fn, errors=checkify.user_checks)`` inside :func:`enable`: only these
    explicit checks, no automatic NaN or index checks.
    """
    checkified = checkify.checkify(fn, errors=checkify.user_checks)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> tuple[checkify.Error, Any]:
        with enable():
            return checkified(*args, **kwargs)

    return run


def is_concrete(value: Any) -> bool:
    """Whether ``value``'s numbers are known now (not a tracer inside ``jit``/``vmap``/``grad``)."""
    return not isinstance(value, jax.core.Tracer)


def finite_matrix(value: ArrayLike, name: str) -> np.ndarray:
    """``value`` as a float64 2-D numpy array with finite entries; ``ValueError`` naming
    ``name`` otherwise (concrete values only)."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a numeric array, got {type(value)!r}") from error
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {array.shape}")
    _raise_if_not_finite(array, name)
    return array


def _raise_if_not_finite(array: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(array)
    if np.any(bad):
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} contains NaN or inf entries (first at {where}: {float(array[where])})"
        )


def _violations(time: Any, idx: Any, n_inputs: int, xp: Any) -> list[Any]:
    """Per-entry masks of rules 2-6 (module docstring), in that order; ``xp`` is ``np`` or
    ``jnp``. ``time`` and ``idx`` are 1-D of equal length."""
    out_of_range = (idx < 0) | (idx >= n_inputs)
    later = xp.concatenate([xp.zeros((1,), bool), time[1:] < time[:-1]]) if time.size else time > 0
    return [
        xp.isnan(time),
        time < 0,
        later,
        xp.isfinite(time) & out_of_range,
        (time == xp.inf) & out_of_range & (idx != -1),
    ]


def _messages(time_name: str, source_name: str, n_inputs: int) -> list[str]:
    """The message of each rule 2-6; ``{}`` stand for the entry and its value(s)."""
    return [
        f"{time_name} contains NaN (first at entry {{}})",
        f"{time_name} must be >= 0 seconds, got {{:.9g}} at entry {{}}",
        f"{time_name} must be sorted in ascending order, got {{:.9g}} after {{:.9g}} at entry {{}}",
        f"{source_name} must lie in [0, {n_inputs}) (rows of the weights) where {time_name} is "
        f"finite, got {{}} at entry {{}}",
        f"{source_name} of padding entries ({time_name} +inf) must be -1 or lie in "
        f"[0, {n_inputs}), got {{}} at entry {{}}",
    ]


def _message_args(rule: int, time: Any, idx: Any, e: Any) -> tuple:
    """The values that fill rule ``rule``'s message for entry ``e``."""
    if rule == 0:
        return (e,)
    if rule == 1:
        return (time[e], e)
    if rule == 2:
        return (time[e], time[e - 1], e)
    return (idx[e], e)


def _static_spike_list(time: Any, idx: Any, time_name: str, source_name: str) -> None:
    """Rule 1: shapes and dtypes (static, also known for traced values)."""
    if np.ndim(time) != 1:
        raise ValueError(
            f"{time_name} must be a 1-D array (one sample; batch with jax.vmap), "
            f"got shape {np.shape(time)}"
        )
    if np.ndim(idx) != 1:
        raise ValueError(f"{source_name} must be a 1-D array, got shape {np.shape(idx)}")
    if np.shape(idx) != np.shape(time):
        raise ValueError(f"{source_name} has {len(idx)} entries but {time_name} has {len(time)}")
    dtype = np.asarray(idx).dtype if is_concrete(idx) else idx.dtype
    if np.shape(idx)[0] and not np.issubdtype(dtype, np.integer):
        raise ValueError(f"{source_name} must be integers, got dtype {dtype}")


def check_spike_list(
    times: ArrayLike,
    sources: ArrayLike,
    n_inputs: int,
    time_name: str = "input_times",
    source_name: str = "input_sources",
) -> tuple[np.ndarray, np.ndarray]:
    """Check a concrete spike list against rules 1-6 (module docstring) for ``n_inputs``
    channels; ``ValueError`` naming ``time_name`` or ``source_name`` at the first broken rule.

    Returns ``(times, sources)`` as float64 and int32 numpy arrays, with ``-1`` as the source
    of every padding entry (``+inf``).
    """
    try:
        time = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{time_name} must be numeric, got {type(times)!r}") from error
    idx = np.asarray(sources)
    _static_spike_list(time, idx, time_name, source_name)
    masks = _violations(time, idx, n_inputs, np)
    for rule, (mask, message) in enumerate(
        zip(masks, _messages(time_name, source_name, n_inputs), strict=True)
    ):
        if np.any(mask):
            e = int(np.argmax(mask))
            raise ValueError(message.format(*_message_args(rule, time, idx, e)))
    return time, np.where(np.isfinite(time), idx, -1).astype(np.int32)


def _traced_checks(
    time: Array, idx: Array, n_inputs: int, time_name: str, source_name: str
) -> Array:
    """Rules 2-6 on traced values: ``valid``, and a ``checkify.debug_check`` per rule when
    :func:`enabled` (a debug check is a no-op outside ``checkify``)."""
    if time.shape[0] == 0:
        return jnp.asarray(True)
    masks = _violations(time, idx, n_inputs, jnp)
    valid = jnp.asarray(True)
    for rule, (mask, message) in enumerate(
        zip(masks, _messages(time_name, source_name, n_inputs), strict=True)
    ):
        broken = jnp.any(mask)
        if enabled():
            e = jnp.argmax(mask)
            checkify.debug_check(~broken, message, *_message_args(rule, time, idx, e))
        valid = valid & ~broken
    return valid


def _check_weights(weights: ArrayLike, name: str) -> Array | None:
    """Finite weights: eager ``ValueError`` (returns ``None``) or a traced ``valid`` flag."""
    if is_concrete(weights):
        _raise_if_not_finite(np.asarray(weights, dtype=np.float64), name)
        return None
    ok = jnp.all(jnp.isfinite(weights))
    if enabled():
        checkify.debug_check(ok, f"{name} contains NaN or inf entries")
    return ok


def check_layer_input(
    spikes: Spikes, weights: Mapping[str, ArrayLike], name: str = "spikes"
) -> tuple[Spikes, Array | None]:
    """Check a layer's input ``spikes`` (one sample) and its ``weights`` (module docstring).

    ``weights``: ``{name: array}``; the first is ``[n_in, n]`` (its rows are the input
    channels), any further one ``[n, n]`` (recurrent). Static rules and concrete values raise
    a ``ValueError`` naming ``name.time``, ``name.idx`` or the weight's name. Traced values get
    ``checkify`` checks when :func:`enabled` (see :func:`checked`). Returns ``(spikes, valid)``:
    ``valid`` is ``None`` when everything was concrete (and valid), else a traced boolean
    scalar; a traced invalid spike list is replaced by padding (``+inf``/``-1``), so the
    layer simulates an empty input, and the caller marks its output with
    :func:`mark_invalid`.
    """
    items = list(weights.items())
    first_name, first = items[0]
    if np.ndim(first) != 2:
        raise ValueError(f"{first_name} must be a 2-D array [n_in, n], got {np.shape(first)}")
    n_inputs, n = np.shape(first)
    for other_name, other in items[1:]:
        if np.shape(other) != (n, n):
            raise ValueError(
                f"{other_name} must have shape ({n}, {n}) to match {first_name}, "
                f"got {np.shape(other)}"
            )
    time_name, source_name = f"{name}.time", f"{name}.idx"
    _static_spike_list(spikes.time, spikes.idx, time_name, source_name)
    flags = [_check_weights(w, w_name) for w_name, w in items]
    if is_concrete(spikes.time) and is_concrete(spikes.idx):
        check_spike_list(spikes.time, spikes.idx, n_inputs, time_name, source_name)
    else:
        flags.append(
            _traced_checks(
                jnp.asarray(spikes.time), jnp.asarray(spikes.idx), n_inputs, time_name, source_name
            )
        )
    flags = [flag for flag in flags if flag is not None]
    if not flags:
        return spikes, None
    valid = flags[0]
    for flag in flags[1:]:
        valid = valid & flag
    time = jnp.where(valid, jnp.asarray(spikes.time), jnp.inf)
    idx = jnp.where(valid, jnp.asarray(spikes.idx), -1).astype(jnp.asarray(spikes.idx).dtype)
    return Spikes(time, idx, spikes.dropped), valid


def mark_invalid(out: Spikes, valid: Array | None, n: int) -> Spikes:
    """``out`` where ``valid``; otherwise the invalid spike list of a layer of ``n`` neurons:
    ``time`` NaN everywhere, ``idx[e] = e mod n``, ``dropped`` unchanged (module docstring).

    ``valid=None`` (all inputs were concrete and valid) returns ``out`` itself. The values and
    gradients of a valid ``out`` pass unchanged.
    """
    if valid is None:
        return out
    size = out.time.shape[-1]
    neurons = (jnp.arange(size, dtype=jnp.int32) % max(n, 1)).astype(out.idx.dtype)
    return Spikes(
        jnp.where(valid, out.time, jnp.nan), jnp.where(valid, out.idx, neurons), dropped_of(out)
    )
