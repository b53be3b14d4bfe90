"""Data sets and batching."""

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
    "yinyang_class",
    "yinyang_dataset",
    "yinyang_split",
]
