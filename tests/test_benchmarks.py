"""The benchmark suite (``benchmarks/run.py``) on tiny sizes: its table and its section."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

RUN = Path(__file__).parents[1] / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def suite() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmark_suite", RUN)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _number(cell: str) -> float:
    """``'12.3 ms'`` -> 12.3, ``'1.5 k'`` -> 1.5 (the unit does not matter for the sign)."""
    match = re.match(r"\s*([0-9.]+)", cell)
    assert match, f"no number in {cell!r}"
    return float(match.group(1))


def test_throughput_section_is_written_between_markers(suite: ModuleType, tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    begin, end = suite.markers("cpu")
    results.write_text(f"# Results\n\nkept above\n\n{begin}\nold table\n{end}\n\nkept below\n")
    argv = ["--quick", "--only", "throughput", "--hidden", "8", "--batches", "2", "4"]
    assert suite.main([*argv, "--output", str(results)]) == 0

    text = results.read_text()
    assert text.startswith("# Results\n\nkept above\n") and text.rstrip().endswith("kept below")
    assert "old table" not in text and text.count(begin) == 1 and text.count(end) == 1
    assert suite.TITLE in text and "jax " in text and "numpy " in text
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| throughput")]
    assert [row[1].strip() for row in rows] == ["64-8-10, batch 2", "64-8-10, batch 4"]
    for row in rows:
        time_s, compile_s, samples, events, memory = row[2:7]
        for cell in (time_s, compile_s, samples, events, memory):
            assert _number(cell) > 0, row
    # the memory formula's table: one line for the hidden size, measured from two batches
    assert re.search(r"^\| 8 \| [0-9.]+ [KMG]?i?B \| 512 \|", text, re.MULTILINE)


def test_tasks_that_cannot_run_here_are_skipped_with_a_note(
    suite: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert suite.build_task("yinyang-hardware", [])[2] == "skipped: needs the chip"
    monkeypatch.setitem(suite.TASKS, "absent", "jaxsnn_no_such_module")
    experiment, _, note = suite.build_task("absent", [])
    assert experiment is None and "jaxsnn_no_such_module is missing" in note
    row = suite.epoch_row("absent", [], suite.QUICK)
    assert row.time_s is None and "missing" in suite.table([row])
