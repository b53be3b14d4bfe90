"""Shuffling and batching with an explicit JAX key, deterministic for a given key."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def batch_indices(
    key: jax.Array, n_samples: int, batch_size: int, shuffle: bool = True
) -> jax.Array:
    """Sample indices of one epoch as an array ``[n_batches, batch_size]``.

    ``n_batches = n_samples // batch_size``; with ``shuffle`` the order is the permutation
    ``jax.random.permutation(key, n_samples)``, so the same key gives the same batches.
    The last ``n_samples % batch_size`` indices of the (shuffled) order are left out of
    this epoch; choose a batch size that divides the data set to use every sample.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    if not 1 <= batch_size <= n_samples:
        raise ValueError(f"batch_size must lie in [1, n_samples={n_samples}], got {batch_size}")
    order = jax.random.permutation(key, n_samples) if shuffle else jnp.arange(n_samples)
    n_batches = n_samples // batch_size
    return order[: n_batches * batch_size].reshape(n_batches, batch_size)
