"""Memory and time of a gradient computation: EventProp vs autodiff, vs t_max and vs spikes.

A feed-forward layer of LIF neurons that may spike several times (``EventPropLIF`` /
``LIF``), a batch of samples with all input spikes early; the loss is a weighted sum of all
output spike times. Peak memory is XLA's own account of the compiled gradient function
(``compiled.memory_analysis()``: arguments + outputs + temporaries, in bytes); time is the
median of several calls after compilation.

1. ``t_max`` and ``2 t_max`` with the same spikes (checked): the cost must not change.
2. A stronger input drive (more output spikes, larger buffers): the cost grows with them.

    python benchmarks/eventprop_memory.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from timing import time_jitted  # noqa: E402

from jaxsnn.event.leaky_integrate_and_fire import LIF, EventPropLIF  # noqa: E402
from jaxsnn.event.types import Spikes  # noqa: E402
from jaxsnn.neuron import LIFParameters  # noqa: E402

PARAMS = LIFParameters(tau_mem=1e-2, tau_syn=5e-3, t_refrac=1e-3)
N_NEURONS, N_CHANNELS, N_INPUT_SPIKES, BATCH = 100, 50, 100, 32
INPUT_WINDOW = 5e-3  # every input spike lies in [0, 5 ms]


def inputs(n_spikes: int) -> Spikes:
    key_t, key_s = jax.random.split(jax.random.PRNGKey(n_spikes))
    times = jnp.sort(jax.random.uniform(key_t, (BATCH, n_spikes), maxval=INPUT_WINDOW), axis=1)
    return Spikes(times, jax.random.randint(key_s, (BATCH, n_spikes), 0, N_CHANNELS))


def gradient_cost(layer_type, t_max: float, drive: float, max_events: int) -> dict:
    """Peak bytes, timing and the output spikes of ``grad(loss)`` for one configuration.

    ``drive``: mean total input weight of a neuron per sample, in threshold weights.
    """
    mean = drive * N_CHANNELS / N_INPUT_SPIKES
    layer = layer_type(N_NEURONS, PARAMS, t_max, max_events, weight_mean=mean, weight_std=mean / 2)
    weights = layer.init(jax.random.PRNGKey(0), (N_CHANNELS,))[1]
    spikes = inputs(N_INPUT_SPIKES)
    coefficient = jnp.linspace(0.5, 1.5, N_NEURONS)

    def loss(w, spikes):
        out = jax.vmap(layer.apply, in_axes=(None, 0))(w, spikes)
        valid = jnp.isfinite(out.time)
        return jnp.sum(jnp.where(valid, out.time * coefficient[jnp.maximum(out.idx, 0)], 0.0))

    grad = jax.grad(loss)
    memory = jax.jit(grad).lower(weights, spikes).compile().memory_analysis()
    peak = memory.argument_size_in_bytes + memory.output_size_in_bytes + memory.temp_size_in_bytes
    out = jax.vmap(layer.apply, in_axes=(None, 0))(weights, spikes)
    return {
        "peak_bytes": peak,
        "time": time_jitted(grad, weights, spikes, repeats=7),
        "spikes": np.asarray(out.time),
        "n_spikes": int(jnp.sum(jnp.isfinite(out.time))),
        "dropped": int(jnp.sum(out.dropped)),
    }


def main() -> None:
    print(f"jax {jax.__version__}, backend {jax.default_backend()}")
    print(
        f"\n{N_NEURONS} neurons, {N_CHANNELS} input channels, batch {BATCH}, "
        f"{N_INPUT_SPIKES} input spikes per sample in [0, 5 ms]\n"
    )
    print("| gradient | drive | max_events | t_max | output spikes (batch) | peak memory | time |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, layer_type in [("EventProp", EventPropLIF), ("autodiff (analytical)", LIF)]:
        results = {}
        for t_max in (4e-2, 8e-2):
            r = gradient_cost(layer_type, t_max, 4.0, 400)
            results[t_max] = r
            print(
                f"| {name} | 4 | 400 | {1e3 * t_max:.0f} ms "
                f"| {r['n_spikes']} (dropped {r['dropped']}) "
                f"| {r['peak_bytes'] / 2**20:.2f} MiB | {1e3 * r['time']['median_s']:.1f} ms |"
            )
        same = np.array_equal(results[4e-2]["spikes"], results[8e-2]["spikes"])
        memory_change = results[8e-2]["peak_bytes"] / results[4e-2]["peak_bytes"] - 1
        time_change = results[8e-2]["time"]["median_s"] / results[4e-2]["time"]["median_s"] - 1
        print(
            f"|  | doubling t_max: same spikes {same}, memory {100 * memory_change:+.1f} %, "
            f"time {100 * time_change:+.1f} % | | | | | |"
        )
    print("\n| gradient | drive | max_events | output spikes (batch) | peak memory | time |")
    print("| --- | --- | --- | --- | --- | --- |")
    for drive, max_events in [(1.0, 100), (2.0, 200), (4.0, 400), (8.0, 800)]:
        r = gradient_cost(EventPropLIF, 4e-2, drive, max_events)
        print(
            f"| EventProp | {drive:g} | {max_events} | {r['n_spikes']} (dropped {r['dropped']}) "
            f"| {r['peak_bytes'] / 2**20:.2f} MiB | {1e3 * r['time']['median_s']:.1f} ms |"
        )


if __name__ == "__main__":
    main()
