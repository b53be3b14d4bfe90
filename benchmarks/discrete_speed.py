"""Speed of the time-discrete simulator: dense 1000 x 1000 layer of current-based LIF neurons.

Setup (issue 5): 1000 input channels -> dense 1000 x 1000 -> LIF, 100 steps, batch 64,
float32, Bernoulli(0.05) input spikes. Reports the median wall time of the forward pass and
of forward + backward (gradient of the summed output spikes w.r.t. the weights), after
compilation; compile times are reported apart. Targets on 2 CPU cores: forward <= 0.13 s,
forward + backward <= 0.25 s. For scale, the dense products alone are timed as well.

    python benchmarks/discrete_speed.py [--repeats 20] [--steps 100] [--batch 64]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).parent))
from timing import time_jitted  # noqa: E402

from jaxsnn.base import serial  # noqa: E402
from jaxsnn.discrete.layers import LIF, Linear  # noqa: E402
from jaxsnn.neuron import LIFParameters  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--inputs", type=int, default=1000)
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--dt", type=float, default=1e-3)
    args = parser.parse_args()

    net = serial(Linear(args.neurons), LIF(args.dt, LIFParameters()))
    _, params = net.init(jax.random.PRNGKey(0), (args.inputs,))
    params = jax.tree.map(lambda w: 4.0 * w, params)  # a few spikes per neuron
    key = jax.random.PRNGKey(1)
    spikes = jax.random.bernoulli(key, 0.05, (args.steps, args.batch, args.inputs))
    spikes = spikes.astype(jnp.float32)

    forward = net.apply
    grad = jax.grad(lambda p, x: jnp.sum(net.apply(p, x)))
    matmul = lambda p, x: x @ p[0]["weights"]  # noqa: E731
    matmul_grad = jax.grad(lambda p, x: jnp.sum(jnp.tanh(x @ p[0]["weights"])))

    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs; "
        f"{args.inputs} -> dense {args.inputs}x{args.neurons} -> LIF, {args.steps} steps, "
        f"batch {args.batch}, float32, Bernoulli(0.05) input"
    )
    rows = [
        ("forward", forward),
        ("forward+backward", grad),
        ("dense product only, forward", matmul),
        ("dense product only, forward+backward", matmul_grad),
    ]
    for name, fn in rows:
        r = time_jitted(fn, params, spikes, repeats=args.repeats)
        print(f"{name:40s} median {r['median_s']:.4f} s   (compile {r['compile_s']:.2f} s)")
    out = jax.jit(forward)(params, spikes)
    print(f"output spikes per neuron and sample: {float(jnp.mean(jnp.sum(out, 0))):.2f}")


if __name__ == "__main__":
    main()
