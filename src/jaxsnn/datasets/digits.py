"""The handwritten digits bundled with scikit-learn (``sklearn.datasets.load_digits``).

1797 grey-scale images of 8 x 8 pixels (values 0..16), ten classes ``"0"`` .. ``"9"``, read
from the copy that ships inside scikit-learn (no download). Each sample's features are its 64
pixels scaled to ``[0, 1]`` (``pixel / 16``, row by row).

The split is fixed and stratified: within each class, the samples (in the bundled order) are
shuffled with ``numpy.random.RandomState(SPLIT_SEED)``; the first 20 % of each class (rounded)
go to the test split, the next 20 % to the validation split, the rest to the training split:
1079 train, 359 validation, 359 test samples. Tune on ``"validation"``, report ``"test"``.

scikit-learn is an optional dependency: ``pip install "jaxsnn[digits]"``.
"""

from __future__ import annotations

import numpy as np

from jaxsnn.datasets.yinyang import Dataset

CLASS_NAMES = tuple(str(digit) for digit in range(10))
N_CLASSES = 10
N_FEATURES = 64
#: seed of the stratified shuffle that defines the splits
SPLIT_SEED = 1797
#: fraction of each class in the test and in the validation split
HELD_OUT_FRACTION = 0.2
SPLIT_NAMES = ("train", "validation", "test")


class MissingScikitLearnError(ImportError):
    """scikit-learn, which holds the digits, is not installed."""


def _load_bundled() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 images ``[1797, 64]`` (0..16) and labels from scikit-learn's bundled copy."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise MissingScikitLearnError(
            "the digits data set ships with scikit-learn, which is not installed; "
            'install it with: pip install "jaxsnn[digits]"  (or: pip install scikit-learn)'
        ) from error
    digits = load_digits()
    return np.asarray(digits.data), np.asarray(digits.target)


def split_indices(labels: np.ndarray, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """The sample indices of each split (stratified, see the module docstring), sorted."""
    rng = np.random.RandomState(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLIT_NAMES}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_held_out = int(round(HELD_OUT_FRACTION * len(members)))
        parts["test"].append(members[:n_held_out])
        parts["validation"].append(members[n_held_out : 2 * n_held_out])
        parts["train"].append(members[2 * n_held_out :])
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}


def digits_split(name: str) -> Dataset:
    """One split of the digits: ``"train"``, ``"validation"`` or ``"test"``; features
    ``[n, 64]`` float32 in ``[0, 1]``, labels ``[n]`` int32."""
    if name not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {list(SPLIT_NAMES)}, got {name!r}")
    images, labels = _load_bundled()
    chosen = split_indices(labels)[name]
    features = (images[chosen] / 16.0).astype(np.float32)
    return Dataset(features=features, labels=labels[chosen].astype(np.int32))
