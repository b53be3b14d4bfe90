#!/usr/bin/env bash
# The benchmark suite (benchmarks/run.py) on an NVIDIA GPU machine, in one go (< 8 min).
#
#   bash benchmarks/gpu.sh [RESULTS_FILE]     # default: benchmarks/RESULTS.md
#
# Installs nothing but the project itself (pip install -e .) when jaxsnn is not importable;
# JAX with CUDA must already be installed. Checks that JAX's default backend is the GPU, runs
# the full suite (its GPU section of RESULTS_FILE is replaced, the rest of the file is kept;
# the whole log goes to $LOG, default /tmp/jaxsnn-benchmarks-gpu.log) and prints the compact
# table.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
OUTPUT="${1:-benchmarks/RESULTS.md}"
LOG="${LOG:-${TMPDIR:-/tmp}/jaxsnn-benchmarks-gpu.log}"

if ! "$PYTHON" -c "import jaxsnn" 2>/dev/null; then
    echo "gpu.sh: jaxsnn is not importable; installing it: pip install -e ." >&2
    "$PYTHON" -m pip install --quiet -e .
fi

backend="$("$PYTHON" -c "import jax; print(jax.default_backend())" 2>/dev/null || echo none)"
if [[ "$backend" != "gpu" ]]; then
    echo "gpu.sh: JAX's default backend is '$backend', not 'gpu': install JAX with CUDA" \
        "(pip install -U 'jax[cuda12]') and check nvidia-smi; nothing was run" >&2
    exit 2
fi
"$PYTHON" -c "import jax; print('gpu.sh: devices', jax.devices())"

start=$SECONDS
# bigger batches fit a GPU; the 10 000-hidden network at batch 1024 needs about 15 GB
"$PYTHON" benchmarks/run.py --output "$OUTPUT" --batches 32 256 1024 --max-memory-gb 40 \
    2> >(tee "$LOG.err" >&2) | tee "$LOG"
echo
echo "gpu.sh: done in $((SECONDS - start)) s; section written into $OUTPUT; log in $LOG"
echo
# the main table, its notes cut short (the full notes and the memory formula are in the file)
awk -F'|' 'BEGIN { OFS = "|" }
    /^\| group / { on = 1 }
    on && !/^\|/ { exit }
    on { if (length($9) > 44) $9 = substr($9, 1, 42) "... "; print }' "$LOG"
