"""Data sets and batching: Yin-Yang (:mod:`.yinyang`) and scikit-learn's digits
(:mod:`.digits`, loaded on use; needs scikit-learn)."""

from jaxsnn.datasets import digits
from jaxsnn.datasets.batching import batch_indices
from jaxsnn.datasets.yinyang import (
    CLASS_NAMES,
    N_CLASSES,
    N_FEATURES,
    SPLITS,
    Dataset,
    yinyang_class,
    yinyang_dataset,
    yinyang_split,
)

__all__ = [
    "CLASS_NAMES",
    "N_CLASSES",
    "N_FEATURES",
    "SPLITS",
    "Dataset",
    "batch_indices",
    "digits",
    "yinyang_class",
    "yinyang_dataset",
    "yinyang_split",
]
