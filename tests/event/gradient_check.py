"""Shared helpers of the gradient tests: float64 finite-difference checks on small networks."""

import jax
import jax.numpy as jnp
import numpy as np
from lif_reference import TAU_SYN

from jaxsnn.event.types import Spikes
from jaxsnn.neuron import LIFParameters

T_MAX = 10 * TAU_SYN
STEP = 1e-6
RTOL = 1e-5


def lif_params(ratio, t_refrac=0.0):
    return LIFParameters(
        tau_mem=ratio * TAU_SYN,
        tau_syn=TAU_SYN,
        v_th=1.0,
        v_reset=-0.2,
        v_leak=-0.1,
        t_refrac=t_refrac,
    )


def weighted_times(spikes: Spikes, n: int, seed: int = 0):
    """Smooth loss of all spike times: ``sum_e c[idx_e] t_e / tau_syn``; and the spike count."""
    c = jnp.asarray(np.random.default_rng(seed).uniform(0.5, 1.5, n))
    valid = jnp.isfinite(spikes.time) & (spikes.idx >= 0)
    coefficient = c[jnp.maximum(spikes.idx, 0)]
    value = jnp.sum(jnp.where(valid, spikes.time * coefficient, 0.0)) / TAU_SYN
    return value, jnp.sum(valid)


def input_spikes(seed, n_in, n_spikes):
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0.0, 6 * TAU_SYN, n_spikes))
    return Spikes(jnp.asarray(times), jnp.asarray(rng.integers(0, n_in, n_spikes), jnp.int32))


def loss_and_gradient(loss):
    """``loss`` (returning ``(value, count)``) and its gradient as ONE jitted program:
    ``((value, count), grad)``; the finite-difference evaluations reuse it (one compile)."""
    return jax.jit(jax.value_and_grad(loss, has_aux=True))


def assert_gradient_matches_finite_differences(
    loss, weights, seed=0, n_directions=3, compiled=None
):
    """Directional derivatives along random directions; skip those that change spike counts.

    Perturbations are done in numpy; ``compiled`` (default ``loss_and_gradient(loss)``) gives
    the gradient and every loss value, so only one program is compiled.
    """
    compiled = loss_and_gradient(loss) if compiled is None else compiled

    def value(w):
        (f, n), _ = compiled(w)
        return float(f), int(n)

    weights = jax.tree.map(np.asarray, weights)
    (_, count), grad = compiled(weights)
    grad = jax.tree.map(np.asarray, grad)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grad))
    count = int(count)
    assert count >= 3
    rng = np.random.default_rng(seed)
    checked = 0
    for _ in range(4 * n_directions):
        direction = jax.tree.map(lambda w: rng.normal(size=w.shape), weights)
        plus = jax.tree.map(lambda w, d: w + STEP * d, weights, direction)
        minus = jax.tree.map(lambda w, d: w - STEP * d, weights, direction)
        (f_plus, n_plus), (f_minus, n_minus) = value(plus), value(minus)
        if n_plus != count or n_minus != count:
            continue
        fd = (f_plus - f_minus) / (2 * STEP)
        analytic = sum(
            float(np.vdot(g, d))
            for g, d in zip(jax.tree.leaves(grad), jax.tree.leaves(direction), strict=True)
        )
        np.testing.assert_allclose(analytic, fd, rtol=RTOL)
        checked += 1
        if checked == n_directions:
            break
    assert checked >= 1


def init_numpy(layer, seed, input_shape):
    """Weights of ``layer`` drawn by its own ``init`` (jitted: one small compile)."""
    return jax.jit(layer.init, static_argnums=1)(jax.random.PRNGKey(seed), input_shape)[1]
