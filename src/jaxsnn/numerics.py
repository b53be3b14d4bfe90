"""Small numerical helpers shared by every simulator (no physics here).

* :func:`concrete_values` -- the value of an argument when it is known at trace time;
* :func:`safe_divide` -- division with a safe branch for both the value and its gradient;
* :func:`expm1_ratio`, :func:`log1p_ratio` -- ``(e^z - 1) / z`` and ``log(1 + x) / x``,
  accurate and smooth through 0.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

Array = jnp.ndarray


def concrete_values(value: ArrayLike) -> np.ndarray | None:
    """``value`` as a float64 numpy array, or ``None`` when it is traced (inside ``jit``).

    Decisions that must be static under ``jit`` (which solver, which summation) are taken
    from concrete values only; a traced value means "unknown", and the caller falls back to
    the choice that is correct for every value.
    """
    try:
        return np.asarray(value, dtype=np.float64)
    except Exception:  # a tracer: its value is unknown at trace time
        return None


def safe_divide(num: ArrayLike, den: ArrayLike, ok: ArrayLike) -> Array:
    """``num / den`` where ``ok``, else 0 -- with no NaN or inf in either branch's gradient."""
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)


def expm1_ratio(z: ArrayLike) -> Array:
    """``phi(z) = (exp(z) - 1) / z`` with ``phi(0) = 1``, accurate and smooth near 0."""
    small = jnp.abs(z) < 1e-3
    z_safe = jnp.where(small, 1.0, z)
    series = 1.0 + z / 2.0 * (1.0 + z / 3.0 * (1.0 + z / 4.0 * (1.0 + z / 5.0)))
    return jnp.where(small, series, jnp.expm1(z_safe) / z_safe)


def log1p_ratio(x: ArrayLike) -> Array:
    """``psi(x) = log1p(x) / x`` with ``psi(0) = 1`` (``x > -1``), smooth near 0."""
    small = jnp.abs(x) < 1e-3
    x_safe = jnp.where(small, 1.0, x)
    series = 1.0 - x / 2.0 + x * x / 3.0 - x * x * x / 4.0 + x**4 / 5.0
    return jnp.where(small, series, jnp.log1p(x_safe) / x_safe)
