"""Accuracy benchmark: train a Yin-Yang task for several seeds, report mean ± std.

Each seed runs as its own process (``python -m <task module> --seed S --output DIR/seedS``),
single-threaded so that ``--jobs`` processes share the cores fairly; the numbers come from
the runs' ``metrics.json``. Options after ``--`` go to the task unchanged::

    python benchmarks/yinyang_accuracy.py --task yinyang-analytical --seeds 0 1 2 3 4 --jobs 2
    python benchmarks/yinyang_accuracy.py --task yinyang-discrete --jobs 2 -- --epochs 20

Prints one line per seed and a Markdown table row for ``benchmarks/RESULTS.md``; writes a
JSON summary to ``DIR/summary.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jaxsnn.cli import TASKS

SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def run_seed(module: str, seed: int, folder: Path, extra: list[str], threads: int) -> dict:
    """Train one seed in a subprocess; return its metrics (or the error)."""
    env = dict(os.environ)
    if threads == 1:
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + SINGLE_THREAD).strip()
    cmd = [sys.executable, "-m", module, "--seed", str(seed), "--output", str(folder), "--quiet"]
    start = time.perf_counter()
    proc = subprocess.run([*cmd, *extra], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        return {"seed": seed, "error": proc.stderr.strip().splitlines()[-1:], "elapsed_s": elapsed}
    metrics = json.loads((folder / "metrics.json").read_text())
    return {
        "seed": seed,
        "test_accuracy": metrics["test_accuracy"],
        "best_test_accuracy": max(h["test_accuracy"] for h in metrics["history"]),
        "process_s": elapsed,
        "train_s": metrics["wall_time_s"],
        "compile_s": metrics["compile_time_s"],
        "median_epoch_s": statistics.median(h["epoch_time_s"] for h in metrics["history"]),
        "dropped_events": sum(h["dropped_events"] for h in metrics["history"]),
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, extra = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS), default="yinyang-analytical")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--jobs", type=int, default=1, help="seeds trained at the same time")
    parser.add_argument("--output", type=Path, default=None, help="folder of the runs")
    args = parser.parse_args(argv)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    root = args.output or Path("results") / "benchmarks" / f"{args.task}-{stamp}"
    root.mkdir(parents=True, exist_ok=True)
    threads = 1 if args.jobs > 1 else 0
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [
            pool.submit(run_seed, TASKS[args.task], s, root / f"seed{s}", extra, threads)
            for s in args.seeds
        ]
        rows = [f.result() for f in futures]
    for row in rows:
        print(json.dumps(row))
    ok = [r for r in rows if "error" not in r]
    summary = {"task": args.task, "options": extra, "jobs": args.jobs, "runs": rows}
    if ok:
        acc = [100 * r["test_accuracy"] for r in ok]
        mean, std = statistics.mean(acc), statistics.pstdev(acc)
        summary.update(mean_test_accuracy=mean, std_test_accuracy=std)
        print(
            f"| {args.task} {' '.join(extra) or '(defaults)'} | {len(ok)} seeds | "
            f"{mean:.2f} ± {std:.2f} % | min {min(acc):.2f} % | "
            f"median run {statistics.median(r['process_s'] for r in ok):.0f} s "
            f"(compile {statistics.median(r['compile_s'] for r in ok):.1f} s, "
            f"epoch {statistics.median(r['median_epoch_s'] for r in ok):.3f} s) |"
        )
    (root / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if len(ok) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
