"""Speed of the event-based simulator (run by hand; results go to benchmarks/RESULTS.md).

1. One training epoch of the default ``yinyang_analytical`` network and of the same network
   trained with EventProp (``yinyang_event_prop``, also ``--recurrent``): 5000 samples,
   forward + backward + Adam, the harness's jitted epoch, compile time apart.
2. One layer, fast path (first spikes), event stepping (the differentiable scan) and the
   forward-only loop (``differentiable=False``, EventProp's forward), vs the number of neurons.
3. The same vs the number of input spikes.

    python benchmarks/event_speed.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, str(Path(__file__).parent))
from timing import time_jitted  # noqa: E402

from jaxsnn.datasets import batch_indices, yinyang_split  # noqa: E402
from jaxsnn.event.step import simulate_population  # noqa: E402
from jaxsnn.event.tasks import yinyang_analytical, yinyang_event_prop  # noqa: E402
from jaxsnn.event.ttfs import ttfs_spike_times  # noqa: E402
from jaxsnn.event.types import Spikes  # noqa: E402
from jaxsnn.neuron import LIFParameters  # noqa: E402
from jaxsnn.training.harness import make_epoch_fn  # noqa: E402

PARAMS = LIFParameters(tau_mem=1e-2, tau_syn=5e-3)
T_MAX = 2e-2
BATCH = 100


def epoch_benchmark(task, repeats: int = 5, **overrides) -> dict:
    config = {**task.DEFAULTS, **overrides}
    model = task.build_model(config)
    optimizer = optax.adam(config["lr"])
    data = yinyang_split("train")
    params = model.init(jax.random.PRNGKey(0))
    state = optimizer.init(params)
    idx = batch_indices(jax.random.PRNGKey(1), len(data), config["batch_size"])
    epoch = make_epoch_fn(model, optimizer)
    args = (params, state, jnp.asarray(data.features), jnp.asarray(data.labels), idx)
    return time_jitted(epoch, *args, repeats=repeats)


def random_inputs(key, n_inputs: int, n_spikes: int):
    k1, k2, k3 = jax.random.split(key, 3)
    times = jnp.sort(jax.random.uniform(k1, (BATCH, n_spikes), maxval=0.75 * T_MAX), axis=1)
    sources = jax.random.randint(k2, (BATCH, n_spikes), 0, n_inputs)
    return times, sources, k3


def layer_benchmark(n_neurons: int, n_spikes: int, n_inputs: int = 50) -> dict:
    times, sources, key = random_inputs(
        jax.random.PRNGKey(n_neurons + n_spikes), n_inputs, n_spikes
    )
    drive = 3.0 / n_spikes  # about three thresholds of total drive
    weights = 4.0 * (drive + drive * jax.random.normal(key, (n_inputs, n_neurons)))

    def fast(w, t, s):
        return jax.vmap(lambda t, s: ttfs_spike_times(w, PARAMS, Spikes(t, s), T_MAX))(t, s)

    def stepping(w, t, s, differentiable=True):
        def run(t, s):
            inputs = Spikes(t, s)
            return simulate_population(
                w, None, PARAMS, inputs, T_MAX, n_neurons, differentiable=differentiable
            )

        return jax.vmap(run)(t, s).time

    def forward_only(w, t, s):
        return stepping(w, t, s, differentiable=False)

    return {
        "fast": time_jitted(fast, weights, times, sources),
        "stepping": time_jitted(stepping, weights, times, sources),
        "forward_only": time_jitted(forward_only, weights, times, sources),
    }


def main() -> None:
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}")
    print("| training epoch, default network (5000 samples, fwd+bwd+Adam) | median | compile |")
    print("| --- | --- | --- |")
    small = {"hidden": 120, "batch_size": 25}  # the analytical defaults before session 2's end
    for name, task, overrides, repeats in [
        ("yinyang_analytical, 120 hidden, batch 25", yinyang_analytical, small, 5),
        ("yinyang_event_prop, 120 hidden, batch 25", yinyang_event_prop, small, 5),
        ("yinyang_analytical, defaults (200 hidden, batch 25)", yinyang_analytical, {}, 5),
        ("yinyang_event_prop, defaults (200 hidden, batch 25)", yinyang_event_prop, {}, 5),
        (
            "yinyang_event_prop --recurrent, 120 hidden, batch 25",
            yinyang_event_prop,
            {**small, "recurrent": True},
            5,
        ),
    ]:
        e = epoch_benchmark(task, repeats, **overrides)
        print(
            f"| {name} | {e['median_s']:.3f} s (min {e['min_s']:.3f} s) | {e['compile_s']:.1f} s |"
        )
    print(
        "\n| neurons | input spikes | fast path (batch 100) | stepping (batch 100) "
        "| forward only (batch 100) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for n, k in [(10, 50), (100, 50), (1000, 50), (100, 10), (100, 200), (100, 1000)]:
        r = layer_benchmark(n, k)
        cells = [
            f"{1e3 * r[name]['median_s']:.2f} ms (compile {r[name]['compile_s']:.1f} s)"
            for name in ("fast", "stepping", "forward_only")
        ]
        print(f"| {n} | {k} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
