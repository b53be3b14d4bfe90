"""The event-layer API: the gradient method as an argument, the solver plan decided once, the
one tie order, traced neuron parameters (one compile for many parameter values)."""

import ast
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gradient_check import T_MAX, init_numpy, input_spikes, lif_params, weighted_times

from jaxsnn.base import serial
from jaxsnn.event.eventprop.attach import software_forward
from jaxsnn.event.gradient import EventProp, Implicit, as_gradient
from jaxsnn.event.leaky_integrate_and_fire import (
    LIF,
    TTFSLIF,
    EventPropLIF,
    EventPropTTFSLIF,
    RecurrentEventPropLIF,
    RecurrentLIF,
)
from jaxsnn.event.plan import GENERAL, SolverPlan, solver_plan
from jaxsnn.event.types import EventKind, comes_first

SRC = Path(__file__).resolve().parents[2] / "src" / "jaxsnn"


def test_gradient_argument_names_and_objects():
    assert isinstance(as_gradient("implicit"), Implicit)
    assert isinstance(as_gradient("eventprop"), EventProp)
    method = EventProp(forward=software_forward)
    assert as_gradient(method) is method
    with pytest.raises(ValueError, match="gradient must be one of"):
        LIF(3, lif_params(2.0), T_MAX, gradient="adjoint")
    with pytest.raises(ValueError, match="population"):
        LIF(3, lif_params(2.0), T_MAX, gradient=object())


@pytest.mark.parametrize(
    ("alias", "constructor", "kwargs"),
    [
        (EventPropLIF, LIF, {"max_events": 30}),
        (RecurrentEventPropLIF, RecurrentLIF, {"max_events": 30, "recurrent_std": 1.0}),
        (EventPropTTFSLIF, TTFSLIF, {}),
    ],
)
def test_aliases_are_the_constructors_with_eventprop(alias, constructor, kwargs):
    """The documented names build the layer of ``gradient="eventprop"``: the same initial
    weights and the same program for the loss gradient (equal jaxprs), which differs from
    the implicit-gradient program."""
    with jax.enable_x64(True):
        params = lif_params(1.37, t_refrac=5e-4)
        aliased = alias(5, params, T_MAX, **kwargs)
        explicit = constructor(5, params, T_MAX, **kwargs, gradient="eventprop")
        implicit = constructor(5, params, T_MAX, **kwargs)
        weights = init_numpy(aliased, 2, (4,))
        assert jax.tree.all(jax.tree.map(np.array_equal, weights, init_numpy(explicit, 2, (4,))))
        inputs = input_spikes(3, 4, 10)

        def gradient_program(layer):
            loss = lambda w: weighted_times(layer.apply(w, inputs), 5)[0]  # noqa: E731
            return str(jax.make_jaxpr(jax.grad(loss))(weights))

        assert gradient_program(aliased) == gradient_program(explicit)
        assert gradient_program(aliased) != gradient_program(implicit)


def test_eventprop_takes_forward_spikes_from_another_source():
    """A third source of forward spikes (here: the software simulation behind a counter, as a
    hardware backend would be) plugs in as ``EventProp(forward=...)``: same spikes, same
    gradient, no new layer constructor."""
    calls = []

    def counting_source(*args):
        calls.append(len(args))
        return software_forward(*args)

    with jax.enable_x64(True):
        params = lif_params(2.0, t_refrac=5e-4)
        default = LIF(4, params, T_MAX, max_events=30, weight_mean=3.0, gradient="eventprop")
        sourced = LIF(
            4, params, T_MAX, max_events=30, weight_mean=3.0, gradient=EventProp(counting_source)
        )
        weights = init_numpy(default, 5, (3,))
        inputs = input_spikes(6, 3, 8)

        def grad(layer):
            return jax.grad(lambda w: weighted_times(layer.apply(w, inputs), 4)[0])(weights)

        g_default, g_sourced = grad(default), grad(sourced)
        assert calls == [7]
        assert float(jnp.max(jnp.abs(g_default["weights"]))) > 0
        np.testing.assert_array_equal(g_sourced["weights"], g_default["weights"])
        with pytest.raises(ValueError, match="fast path"):
            layer = TTFSLIF(4, params, T_MAX, gradient=EventProp(counting_source))
            layer.apply(weights, inputs)


def test_plan_is_decided_once_from_concrete_values():
    assert solver_plan(lif_params(1.0)) == SolverPlan("equal", "equal", "none", False)
    assert solver_plan(lif_params(2.0, 1e-3), T_MAX) == SolverPlan(
        "double", "separable", "events", False
    )
    assert solver_plan(lif_params(1.02, 2 * T_MAX), T_MAX).refractory == "beyond"
    assert solver_plan(lif_params(1.37)._replace(v_leak=1.5)).rest_can_spike
    traced = jax.jit(lambda p: jnp.float32(solver_plan(p) == GENERAL))(lif_params(2.0))
    assert bool(traced)
    with pytest.raises(ValueError, match="crossing"):
        SolverPlan(crossing="newton")


def test_tie_order_is_one_definition():
    """Refractory ends, then crossings, then inputs at equal times; earlier times first."""
    kinds = sorted(EventKind)
    assert kinds == [EventKind.REFRACTORY_END, EventKind.CROSSING, EventKind.INPUT]
    assert bool(comes_first(1.0, EventKind.CROSSING, 1.0, EventKind.INPUT))
    assert not bool(comes_first(1.0, EventKind.INPUT, 1.0, EventKind.CROSSING))
    assert bool(comes_first(0.5, EventKind.INPUT, 1.0, EventKind.CROSSING))
    assert not bool(comes_first(1.0, EventKind.CROSSING, 0.5, EventKind.INPUT))


@pytest.mark.slow
def test_traced_parameters_compile_once_and_give_the_concrete_spikes():
    """A jitted function that takes LIFParameters, builds the layers and returns spikes and
    gradients compiles once for several parameter values; the traced parameters take the
    general solvers and give the spikes and gradients of the concrete-parameter path (where
    the closed forms and separable sums are used), float64 rtol 1e-12."""
    traces = []
    inputs = input_spikes(1, 4, 10)

    def networks(params):
        stepping = serial(
            LIF(6, params, T_MAX, max_events=40, weight_mean=3.0),
            EventPropLIF(3, params, T_MAX, max_events=20, weight_mean=3.0),
        )
        first_spike = serial(TTFSLIF(6, params, T_MAX, 3.0), EventPropTTFSLIF(3, params, T_MAX))
        return stepping, first_spike

    def spikes_and_gradients(params, weights):
        traces.append(params)
        results = []
        for net, w in zip(networks(params), weights, strict=True):

            def loss(w, net=net):
                spikes = net.apply(w, inputs)
                return weighted_times(spikes, 3)[0], spikes.time

            (_, times), grad = jax.value_and_grad(loss, has_aux=True)(w)
            results.append((times, grad))
        return results

    traced_run = jax.jit(spikes_and_gradients)
    with jax.enable_x64(True):
        for ratio, t_refrac in [(2.0, 1e-3), (1.0, 5e-4), (1.37, 0.0)]:
            params = lif_params(ratio, t_refrac)
            concrete = networks(params)
            weights = tuple(init_numpy(net, 3, (4,)) for net in concrete)
            expected = jax.jit(lambda w, p=params: spikes_and_gradients(p, w))(weights)
            as_arrays = jax.tree.map(jnp.asarray, params)
            got = traced_run(as_arrays, weights)
            for (t_exp, g_exp), (t_got, g_got) in zip(expected, got, strict=True):
                assert int(jnp.sum(jnp.isfinite(t_exp))) >= 2
                np.testing.assert_array_equal(np.isfinite(t_got), np.isfinite(t_exp))
                finite = np.isfinite(t_exp)
                np.testing.assert_allclose(t_got[finite], t_exp[finite], rtol=1e-12)
                for a, b in zip(jax.tree.leaves(g_exp), jax.tree.leaves(g_got), strict=True):
                    scale = float(np.max(np.abs(a)))
                    assert scale > 0
                    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-9 * scale)
        # the concrete parameter sets are closed over (three traces with concrete values); the
        # traced ones share one trace of the jitted function
        assert sum(isinstance(p.tau_mem, jax.core.Tracer) for p in traces) == 1
        assert len(traces) == 4


def _private_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        f"{path.relative_to(SRC.parent)}: from {node.module} import {alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jaxsnn")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]


def test_no_module_imports_another_modules_private_names():
    found = [line for path in sorted(SRC.rglob("*.py")) for line in _private_imports(path)]
    assert found == []


def test_tasks_are_short_configurations_that_import_no_task():
    for path in sorted(SRC.glob("*/tasks/**/*.py")):
        if path.name == "__init__.py":
            continue
        lines = len(path.read_text().splitlines())
        assert lines <= 120, f"{path} has {lines} lines"
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = [alias.name for alias in node.names]
                assert ".tasks" not in module, f"{path} imports {module}"
                assert "tasks" not in names, f"{path} imports a task package"
