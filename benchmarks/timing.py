"""Timing helper for the benchmark scripts: compile time apart, median of several runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import jax


def time_jitted(fn: Callable, *args: Any, repeats: int = 7) -> dict[str, float]:
    """Compile ``jax.jit(fn)`` for ``args`` (timed apart), then time ``repeats`` calls.

    Returns ``compile_s`` and the ``median_s``/``min_s`` of the calls; every call waits for
    its result (``block_until_ready``), so asynchronous dispatch does not hide work.
    """
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(*args))  # warm-up (allocations, caches)
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - start)
    return {"compile_s": compile_s, "median_s": statistics.median(runs), "min_s": min(runs)}
