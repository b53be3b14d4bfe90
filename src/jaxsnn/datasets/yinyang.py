"""The Yin-Yang data set (Kriener, Göltz & Petrovici 2021), generated exactly as published.

Points ``(x, y)`` are drawn uniformly in the square ``[0, 2 r_big]^2`` and kept if they lie
inside the big circle of radius ``r_big`` centred at ``(r_big, r_big)`` and belong to the
class that was drawn for that sample. Classes: 0 = yang, 1 = yin, 2 = dot. Each sample's
features are ``[x, y, 1 - x, 1 - y]``.

The standard splits are train (5000 samples, seed 42), validation (1000, seed 41) and
test (1000, seed 40); numpy's legacy ``RandomState`` makes them identical to the published
ones.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

CLASS_NAMES = ("yang", "yin", "dot")
N_CLASSES = 3
N_FEATURES = 4

SPLITS = {
    "train": {"size": 5000, "seed": 42},
    "validation": {"size": 1000, "seed": 41},
    "test": {"size": 1000, "seed": 40},
}


class Dataset(NamedTuple):
    """Features ``[N, 4]`` (float32) and integer class labels ``[N]``."""

    features: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def yinyang_class(x: float, y: float, r_small: float = 0.1, r_big: float = 0.5) -> int:
    """Class of the point ``(x, y)``: 0 yang, 1 yin, 2 dot (the published rule).

    With ``d_right`` the distance to ``(1.5 r_big, r_big)`` and ``d_left`` the distance to
    ``(0.5 r_big, r_big)``::

        is_yin = d_right <= r_small or r_small < d_left <= 0.5 r_big
                 or (y > r_big and d_right > 0.5 r_big)
        dot    = d_right < r_small or d_left < r_small
        class  = 2 if dot else int(is_yin)
    """
    d_right = math.dist((x, y), (1.5 * r_big, r_big))
    d_left = math.dist((x, y), (0.5 * r_big, r_big))
    is_yin = (
        d_right <= r_small
        or r_small < d_left <= 0.5 * r_big
        or (y > r_big and d_right > 0.5 * r_big)
    )
    is_dot = d_right < r_small or d_left < r_small
    return 2 if is_dot else int(is_yin)


def _check_size_and_radii(size: int, r_small: float, r_big: float) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer number of samples, got {size!r}")
    if not (r_big > 0):
        raise ValueError(f"r_big must be positive, got {r_big!r}")
    if not (0 < r_small < 0.5 * r_big):
        raise ValueError(f"r_small must lie in (0, r_big / 2), got {r_small!r}")


def yinyang_dataset(
    *, size: int = 1000, seed: int = 42, r_small: float = 0.1, r_big: float = 0.5
) -> Dataset:
    """Generate ``size`` Yin-Yang samples with ``np.random.RandomState(seed)``.

    For each sample the target class is drawn with ``rng.randint(3)``; then
    ``x, y = rng.rand(2) * 2 r_big`` is drawn until the point lies inside the big circle
    (distance to ``(r_big, r_big)`` <= r_big) and its class equals the target.
    """
    _check_size_and_radii(size, r_small, r_big)
    rng = np.random.RandomState(seed)
    points = np.empty((size, 2))
    labels = np.empty(size, dtype=np.int32)
    for n in range(size):
        target = rng.randint(3)
        while True:
            x, y = rng.rand(2) * 2.0 * r_big
            if math.dist((x, y), (r_big, r_big)) > r_big:
                continue
            if yinyang_class(x, y, r_small, r_big) == target:
                break
        points[n] = x, y
        labels[n] = target
    features = np.concatenate([points, 1.0 - points], axis=1).astype(np.float32)
    return Dataset(features=features, labels=labels)


def yinyang_split(name: str) -> Dataset:
    """One of the published splits: ``"train"``, ``"validation"`` or ``"test"``."""
    if name not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {name!r}")
    return yinyang_dataset(**SPLITS[name])
