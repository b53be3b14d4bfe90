"""EventProp gradients (float64) against the analytical gradients and finite differences.

The analytical reference is autodiff through the event-stepping simulator (implicit
differentiation at every crossing); EventProp is the adjoint backward pass of
:mod:`jaxsnn.event.eventprop`. Both see the same forward spikes, so they must agree to
rounding; finite differences check that both are the gradient of the loss.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gradient_check import (
    T_MAX,
    assert_gradient_matches_finite_differences,
    init_numpy,
    input_spikes,
    lif_params,
    loss_and_gradient,
    weighted_times,
)
from lif_reference import TAU_SYN

from jaxsnn.base import serial
from jaxsnn.event.eventprop import (
    eventprop_backward,
    first_spike_backward,
    with_eventprop_gradient,
)
from jaxsnn.event.leaky_integrate_and_fire import (
    LIF,
    TTFSLIF,
    EventPropLIF,
    EventPropTTFSLIF,
    RecurrentEventPropLIF,
    RecurrentLIF,
)
from jaxsnn.event.loss import first_spike_times, target_times, ttfs_cross_entropy, ttfs_mse
from jaxsnn.event.plan import SolverPlan
from jaxsnn.event.step import simulate_population
from jaxsnn.event.types import Spikes

PARITY_RTOL = 1e-6


def spikes_per_neuron(spikes: Spikes, n: int) -> np.ndarray:
    idx = np.asarray(spikes.idx)
    return np.bincount(idx[idx >= 0], minlength=n)


def assert_parity(analytical_loss, eventprop_loss, weights, finite_differences=False):
    """Gradients of the two losses agree to ``PARITY_RTOL`` (of the largest entry); with
    ``finite_differences`` the EventProp gradient is also checked against central finite
    differences (reusing its compiled program)."""
    grad_a = jax.jit(jax.grad(lambda w: analytical_loss(w)[0]))(weights)
    eventprop = loss_and_gradient(eventprop_loss)
    _, grad_e = eventprop(weights)
    for a, e in zip(jax.tree.leaves(grad_a), jax.tree.leaves(grad_e), strict=True):
        a, e = np.asarray(a), np.asarray(e)
        assert np.all(np.isfinite(e))
        scale = np.max(np.abs(a))
        assert scale > 0
        np.testing.assert_allclose(e, a, rtol=PARITY_RTOL, atol=PARITY_RTOL * scale)
    if finite_differences:
        assert_gradient_matches_finite_differences(eventprop_loss, weights, compiled=eventprop)


@pytest.mark.parametrize(
    ("ratio", "t_refrac"), [(1.0, 0.0), (2.0, 1e-3), (1.37, 0.0), (1.37, 1e-3)]
)
def test_one_layer_several_spikes(ratio, t_refrac):
    with jax.enable_x64(True):
        params = lif_params(ratio, t_refrac)
        analytical = LIF(5, params, T_MAX, max_events=60, weight_mean=1.5)
        eventprop = EventPropLIF(5, params, T_MAX, max_events=60, weight_mean=1.5)
        weights = init_numpy(analytical, 1, (4,))
        inputs = input_spikes(2, 4, 12)
        out = analytical.apply(weights, inputs)
        assert int(out.dropped) == 0
        assert spikes_per_neuron(out, 5).max() >= 2

        def loss(layer):
            return lambda w: weighted_times(layer.apply(w, inputs), 5)

        assert_parity(loss(analytical), loss(eventprop), weights, finite_differences=True)


@pytest.mark.parametrize("ratio", [1.0, 2.0, 1.37])
def test_recurrent_population(ratio):
    with jax.enable_x64(True):
        params = lif_params(ratio, t_refrac=5e-4)
        kwargs = dict(max_events=60, recurrent_std=1.0)
        analytical = RecurrentLIF(5, params, T_MAX, **kwargs)
        eventprop = RecurrentEventPropLIF(5, params, T_MAX, **kwargs)
        weights = init_numpy(analytical, 3, (3,))
        inputs = input_spikes(4, 3, 10)
        out = analytical.apply(weights, inputs)
        assert int(out.dropped) == 0
        assert spikes_per_neuron(out, 5).max() >= 2

        def loss(layer):
            return lambda w: weighted_times(layer.apply(w, inputs), 5)

        assert_parity(loss(analytical), loss(eventprop), weights, finite_differences=True)


@pytest.mark.slow
def test_feed_forward_stack():
    """The adjoint of each layer's input spike times reaches the layer below, through two
    layer boundaries (three layers; two-layer networks: test_losses_through_eventprop_network
    and test_gradients.py)."""
    with jax.enable_x64(True):
        params = lif_params(1.37, t_refrac=5e-4)
        sizes = [6, 5, 3]

        def net(layer_type):
            return serial(
                *(
                    layer_type(n, params, T_MAX, max_events=40, weight_mean=1.2, weight_std=0.5)
                    for n in sizes
                )
            )

        analytical, eventprop = net(LIF), net(EventPropLIF)
        weights = init_numpy(analytical, 5, (4,))
        inputs = input_spikes(6, 4, 10)
        out = analytical.apply(weights, inputs)
        assert int(out.dropped) == 0 and int(jnp.sum(jnp.isfinite(out.time))) >= 3

        def loss(network):
            return lambda w: weighted_times(network.apply(w, inputs), 3)

        assert_parity(loss(analytical), loss(eventprop), weights, finite_differences=True)


@pytest.mark.parametrize("ratio", [1.0, 2.0, 1.37])
def test_simultaneous_input_spikes_and_crossings(ratio):
    """Exact ties: equal input times, and two identical neurons crossing together."""
    with jax.enable_x64(True):
        params = lif_params(ratio)
        inputs = Spikes(
            jnp.asarray([1e-3, 1e-3, 2e-3, 2e-3, 2e-3, 5e-3]),
            jnp.asarray([0, 1, 2, 0, 3, 1], jnp.int32),
        )
        rng = np.random.default_rng(1)
        w_in = rng.normal(1.5, 1.0, (4, 4))
        w_in[:, 1] = w_in[:, 0]
        w_rec = rng.normal(0.0, 0.5, (4, 4)) * (1 - np.eye(4))
        weights = {"input_weights": w_in, "recurrent_weights": w_rec}
        out = simulate_population(w_in, w_rec, params, inputs, T_MAX, 40)
        assert float(out.time[0]) == float(out.time[1])  # a simultaneous crossing

        def loss(layer):
            def f(w):
                return weighted_times(layer.apply(w, inputs), 4)

            return f

        layers = [
            RecurrentLIF(4, params, T_MAX, max_events=40),
            RecurrentEventPropLIF(4, params, T_MAX, max_events=40),
        ]
        assert_parity(loss(layers[0]), loss(layers[1]), weights)


@pytest.mark.parametrize("ratio", [1.0, 2.0, 1.37])
def test_first_spike_only_matches_ttfs_analytical(ratio):
    with jax.enable_x64(True):
        params = lif_params(ratio)

        def net(first_spike_layer):
            return serial(first_spike_layer(8, params, T_MAX), first_spike_layer(3, params, T_MAX))

        analytical = net(TTFSLIF)
        eventprop = net(EventPropTTFSLIF)
        weights = init_numpy(analytical, 4, (4,))
        inputs = input_spikes(5, 4, 6)

        def loss(network, inputs=inputs):
            return lambda w: weighted_times(network.apply(w, inputs), 3)

        assert_parity(loss(analytical), loss(eventprop), weights, finite_differences=True)


def test_closed_form_and_scan_backward_agree():
    """The vectorised first-spike adjoint equals the event scan on the same spikes."""
    with jax.enable_x64(True):
        params = lif_params(1.37)
        inputs = input_spikes(7, 5, 9)
        weights = init_numpy(TTFSLIF(6, params, T_MAX), 7, (5,))["weights"]
        outputs = TTFSLIF(6, params, T_MAX).apply({"weights": weights}, inputs)
        assert int(jnp.sum(jnp.isfinite(outputs.time))) >= 3
        cotangent = jnp.asarray(np.random.default_rng(0).normal(size=outputs.time.shape))
        closed = first_spike_backward(weights, None, params, inputs, outputs, cotangent, T_MAX)
        scan = eventprop_backward(weights, None, params, inputs, outputs, cotangent, T_MAX)
        np.testing.assert_allclose(closed.input_weights, scan.input_weights, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(closed.input_times, scan.input_times, rtol=1e-12, atol=1e-6)


@pytest.mark.slow
def test_losses_through_eventprop_network():
    """Cross-entropy and target-time MSE of first output spikes: same gradient as analytical."""
    with jax.enable_x64(True):
        params = lif_params(2.0)
        hidden_kwargs = dict(max_events=30, weight_mean=4.0)

        def net(hidden_type, output_type):
            return serial(
                hidden_type(7, params, T_MAX, **hidden_kwargs), output_type(3, params, T_MAX)
            )

        analytical = net(LIF, TTFSLIF)
        eventprop = net(EventPropLIF, EventPropTTFSLIF)
        weights = init_numpy(analytical, 8, (4,))
        inputs = input_spikes(9, 4, 8)
        first = first_spike_times(*analytical.apply(weights, inputs)[:2], 3)
        assert int(jnp.sum(jnp.isfinite(first))) >= 2

        def cross_entropy(network):
            def f(w):
                out = network.apply(w, inputs)
                t = first_spike_times(out.time, out.idx, 3)
                return ttfs_cross_entropy(t, 1, tau=TAU_SYN, t_max=T_MAX, regularization=0.1), 0

            return f

        def mse(network):
            def f(w):
                out = network.apply(w, inputs)
                t = first_spike_times(out.time, out.idx, 3)
                targets = target_times(0, 3, 2 * TAU_SYN, 4 * TAU_SYN)
                return ttfs_mse(t, targets, t_max=T_MAX, scale=TAU_SYN), 0

            return f

        assert_parity(cross_entropy(analytical), cross_entropy(eventprop), weights)
        assert_parity(mse(analytical), mse(eventprop), weights)


def test_backward_on_given_spikes():
    """Spikes from outside (here: a host copy, as from hardware) get the same gradients."""
    with jax.enable_x64(True):
        params = lif_params(2.0, t_refrac=5e-4)
        layer = LIF(5, params, T_MAX, max_events=40, weight_mean=4.0)
        weights = init_numpy(layer, 1, (4,))
        inputs = input_spikes(2, 4, 12)
        recorded = jax.tree.map(np.asarray, layer.apply(weights, inputs))

        def given(w):
            out = with_eventprop_gradient(w["weights"], None, params, inputs, recorded, T_MAX)
            return weighted_times(out, 5)

        def simulated(w):
            return weighted_times(layer.apply(w, inputs), 5)

        assert_parity(simulated, given, weights)
        # the output is the given spike list, untouched
        out = with_eventprop_gradient(weights["weights"], None, params, inputs, recorded, T_MAX)
        np.testing.assert_array_equal(out.time, recorded.time)


def test_batched_under_jit_and_vmap():
    """EventProp layers batch with vmap; per-sample gradients sum to the batch gradient."""
    params = lif_params(2.0)
    net = serial(
        EventPropLIF(6, params, T_MAX, max_events=24, weight_mean=4.0),
        EventPropTTFSLIF(3, params, T_MAX),
    )
    weights = init_numpy(net, 2, (4,))
    samples = [input_spikes(s, 4, 6) for s in range(4)]
    batch = Spikes(jnp.stack([s.time for s in samples]), jnp.stack([s.idx for s in samples]))
    batch = Spikes(batch.time.astype(jnp.float32), batch.idx)

    def sample_loss(w, spikes):
        return weighted_times(net.apply(w, spikes), 3)[0]

    def batch_loss(w):
        return jnp.sum(jax.vmap(sample_loss, in_axes=(None, 0))(w, batch))

    grad = jax.jit(jax.grad(batch_loss))(weights)
    sample_grad = jax.jit(jax.grad(sample_loss))
    per_sample = [sample_grad(weights, Spikes(batch.time[i], batch.idx[i])) for i in range(4)]
    summed = jax.tree.map(lambda *g: sum(g), *per_sample)
    for g, s in zip(jax.tree.leaves(grad), jax.tree.leaves(summed), strict=True):
        assert g.dtype == jnp.float32 and np.all(np.isfinite(g))
        np.testing.assert_allclose(g, s, rtol=1e-4, atol=1e-4 * float(np.max(np.abs(s))))


def test_time_cotangent_only_flows_from_valid_spikes():
    """Padding entries of the output list get no adjoint; silent layers give zero gradient."""
    with jax.enable_x64(True):
        params = lif_params(2.0)
        inputs = input_spikes(3, 4, 5)
        weights = np.full((4, 3), -1.0)  # inhibitory: no output spike
        outputs = simulate_population(weights, None, params, inputs, T_MAX, 6)
        assert not np.any(np.isfinite(outputs.time))
        cotangent = jnp.ones(6)
        grads = eventprop_backward(weights, None, params, inputs, outputs, cotangent, T_MAX)
        assert np.all(grads.input_weights == 0) and np.all(grads.input_times == 0)


def test_first_spike_only_rejects_recurrent_weights():
    params = lif_params(2.0)
    inputs = input_spikes(3, 2, 3)
    with pytest.raises(ValueError, match="first_spike_only"):
        with_eventprop_gradient(
            jnp.ones((2, 2)),
            jnp.zeros((2, 2)),
            params,
            inputs,
            inputs,
            T_MAX,
            first_spike_only=True,
        )


def test_per_neuron_parameters():
    """Per-neuron parameter arrays (as for hardware mismatch) enter the adjoint per neuron."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(4)
        params = lif_params(1.37, t_refrac=5e-4)._replace(
            tau_mem=TAU_SYN * rng.uniform(1.2, 2.5, 5), v_th=rng.uniform(0.9, 1.1, 5)
        )
        analytical = LIF(5, params, T_MAX, max_events=60, weight_mean=1.5)
        eventprop = EventPropLIF(5, params, T_MAX, max_events=60, weight_mean=1.5)
        weights = init_numpy(analytical, 1, (4,))
        inputs = input_spikes(2, 4, 12)
        out = analytical.apply(weights, inputs)
        assert int(out.dropped) == 0 and spikes_per_neuron(out, 5).max() >= 2

        def loss(layer):
            return lambda w: weighted_times(layer.apply(w, inputs), 5)

        assert_parity(loss(analytical), loss(eventprop), weights)


@pytest.mark.slow
def test_refractory_beyond_t_max_needs_no_refractory_events():
    """With t_refrac >= t_max the scan skips refractory-end events; same gradients."""
    with jax.enable_x64(True):
        params = lif_params(2.0, t_refrac=2 * T_MAX)
        rng = np.random.default_rng(5)
        w_in, w_rec = rng.normal(1.0, 1.0, (4, 6)), rng.normal(0.0, 1.0, (6, 6))
        inputs = input_spikes(8, 4, 8)
        outputs = simulate_population(w_in, w_rec, params, inputs, T_MAX, 6)
        assert int(jnp.sum(jnp.isfinite(outputs.time))) >= 3
        cotangent = jnp.asarray(rng.normal(size=6))
        grads = {
            mode: eventprop_backward(
                w_in, w_rec, params, inputs, outputs, cotangent, T_MAX, SolverPlan(refractory=mode)
            )
            for mode in ("events", "beyond")
        }
        for a, b in zip(grads["events"], grads["beyond"], strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12 * float(np.max(np.abs(a))))


def test_traced_parameters_take_the_general_forward_and_give_the_same_gradient():
    """Concrete parameters let EventProp specialise (the crossing solver, no refractory-end
    events in the backward pass); traced ones (jit arguments) take the general path: same
    gradient. Differentiating with respect to the parameters is allowed and gives zero
    (EventProp gives them none)."""
    from jaxsnn.event.eventprop import eventprop_population

    with jax.enable_x64(True):
        params = lif_params(2.0, t_refrac=2 * T_MAX)
        rng = np.random.default_rng(6)
        w_in, w_rec = rng.normal(1.0, 1.0, (4, 6)), rng.normal(0.0, 1.0, (6, 6))
        inputs = input_spikes(8, 4, 8)

        def loss(weights, p):
            out = eventprop_population(*weights, p, inputs, T_MAX, 6)
            return weighted_times(out, 6)[0]

        concrete = jax.jit(jax.grad(lambda w: loss(w, params)))((w_in, w_rec))
        traced, d_params = jax.jit(jax.grad(loss, argnums=(0, 1)))((w_in, w_rec), params)
        for a, b in zip(concrete, traced, strict=True):
            assert np.max(np.abs(a)) > 0
            np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-10 * float(np.max(np.abs(a))))
        assert all(float(np.max(np.abs(d))) == 0.0 for d in d_params)
