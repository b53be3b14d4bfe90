"""NIR export and import (jaxsnn.event.nir): the weight convention against NIR's equations
integrated numerically, round trips with identical spikes, graphs written with nir's own
API, files, refusals that name node and field, and ``jaxsnn export-nir``.

Event layers cost seconds to compile: only six small programs are simulated here (a
reference network, three imports of it or its graphs, a recurrent population and its
import, and one two-neuron layer); everything else checks the conversion without
simulating."""

import importlib
import json
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import jaxsnn.event
from jaxsnn import cli
from jaxsnn.base import serial
from jaxsnn.event import models
from jaxsnn.event import nir as nir_io
from jaxsnn.event.leaky_integrate_and_fire import LIF, TTFSLIF, RecurrentLIF
from jaxsnn.event.types import Spikes
from jaxsnn.neuron import LIFParameters
from jaxsnn.training.io import save_arrays, save_json

nir = pytest.importorskip("nir")  # in the [test] extra; optional for jaxsnn itself

TAU_SYN = 5e-3
T_MAX = 3e-2
MAX_EVENTS = 16
PARAMS = LIFParameters(
    tau_mem=2 * TAU_SYN, tau_syn=TAU_SYN, v_th=1.0, v_reset=-0.2, v_leak=-0.1, t_refrac=1e-3
)
RNG = np.random.default_rng(7)
#: jaxsnn weights W[in, out] of the reference feed-forward network (3 inputs, 4, 3 neurons)
W0 = RNG.normal(1.5, 1.0, (3, 4))
W1 = RNG.normal(4.0, 2.0, (4, 3))
#: per-neuron r and w_in of the hand-written NIR graph (folded into the weights on import)
R0, W_IN0 = np.array([0.5, 2.0, 1.0, 1.25]), np.array([2.0, 0.8, 1.0, 0.5])
W_IN1 = np.array([1.5, 1.0, 0.5])


def random_inputs(seed: int, n_samples: int = 3, n_spikes: int = 8, n_in: int = 3) -> Spikes:
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0.0, 1.5e-2, (n_samples, n_spikes)), axis=1)
    return Spikes(jnp.asarray(times), jnp.asarray(rng.integers(0, n_in, times.shape), jnp.int32))


def run(layer, params, inputs: Spikes) -> Spikes:
    """The batch of output spikes (numpy), every buffer large enough."""
    out = jax.jit(jax.vmap(layer.apply, in_axes=(None, 0)))(params, inputs)
    out = jax.tree.map(np.asarray, out)
    assert out.dropped is None or np.all(out.dropped == 0)
    return out


def as_jax(inputs: Spikes) -> Spikes:
    return Spikes(jnp.asarray(inputs.time), jnp.asarray(inputs.idx))


def assert_same_spikes(actual: Spikes, expected: Spikes) -> None:
    np.testing.assert_array_equal(actual.idx, expected.idx)
    np.testing.assert_allclose(actual.time, expected.time, rtol=1e-12)


@pytest.fixture(scope="module")
def reference():
    """Inputs and output spikes of the hand-built jaxsnn network LIF(4) -> TTFSLIF(3)."""
    with jax.enable_x64(True):
        network = serial(LIF(4, PARAMS, T_MAX, MAX_EVENTS), TTFSLIF(3, PARAMS, T_MAX))
        inputs = random_inputs(1)
        out = run(network, ({"weights": W0}, {"weights": W1}), inputs)
    assert np.sum(out.idx >= 0) >= 6  # the outputs spike
    return jax.tree.map(np.asarray, inputs), out


def cuba_lif(n: int, params: LIFParameters = PARAMS, **fields) -> "nir.CubaLIF":
    """A CubaLIF node of ``n`` neurons with ``params``, written with nir's API."""
    values = {
        "tau_syn": params.tau_syn,
        "tau_mem": params.tau_mem,
        "r": 1.0,
        "v_leak": params.v_leak,
        "v_threshold": params.v_th,
        "v_reset": params.v_reset,
        "w_in": 1.0,
    }
    values.update(fields)
    metadata = values.pop("metadata", {})
    arrays = {key: np.broadcast_to(np.asarray(v, float), (n,)).copy() for key, v in values.items()}
    return nir.CubaLIF(**arrays, metadata=metadata)


# --- the weight convention against NIR's own equations -----------------------------------


def nir_reference_spikes(node, weight, times, sources, t_max, eps=1e-9):
    """Spikes of CubaLIF neurons from NIR's equations, integrated by ``solve_ivp``:
    ``tau_syn dI/dt = -I + w_in S``, ``tau_mem dV/dt = (v_leak - V) + r I``, reset to
    ``v_reset`` when ``V`` crosses ``v_threshold``; ``S = weight @ (input deltas)``, each
    delta a pulse of width ``eps`` and area 1. No closed form, nothing from jaxsnn."""
    tau_syn, tau_mem, r, w_in = node.tau_syn, node.tau_mem, node.r, node.w_in
    v_leak, v_th, v_reset = node.v_leak, node.v_threshold, node.v_reset
    n = len(v_th)
    breaks = sorted({0.0, t_max, *times, *(t + eps for t in times)})
    y = np.concatenate([v_leak, np.zeros(n)])
    spikes = []

    def crossing(j):
        def event(_, state):
            return state[j] - v_th[j]

        event.terminal, event.direction = True, 1.0
        return event

    events = [crossing(j) for j in range(n)]
    for start, stop in zip(breaks[:-1], breaks[1:], strict=True):
        mid = 0.5 * (start + stop)
        pulses = [s for t, s in zip(times, sources, strict=True) if t <= mid < t + eps]
        drive = sum((weight[:, s] / eps for s in pulses), np.zeros(n))

        def rhs(_, state, drive=drive):
            v, i = state[:n], state[n:]
            return np.concatenate([((v_leak - v) + r * i) / tau_mem, (-i + w_in * drive) / tau_syn])

        t = start
        while True:
            sol = solve_ivp(rhs, (t, stop), y, "DOP853", rtol=1e-12, atol=1e-12, events=events)
            t, y = sol.t[-1], sol.y[:, -1].copy()
            if sol.status != 1:
                break
            j = next(k for k, hit in enumerate(sol.t_events) if len(hit))
            spikes.append((t, j))
            y[j] = v_reset[j]
    return spikes


def test_weight_convention_matches_nir_equations_integrated_numerically():
    """Two plain CubaLIF neurons with different tau_syn, tau_mem, r, w_in, v_leak,
    v_threshold and v_reset (no jaxsnn metadata) import as a LIF layer whose spikes (several
    per neuron, so the reset counts too) are those of NIR's equations integrated with scipy."""
    node = cuba_lif(
        2,
        tau_syn=[4e-3, 6e-3],
        tau_mem=[8e-3, 1.2e-2],  # tau_mem / tau_syn = 2 for both: a closed-form solver
        r=[0.8, 1.5],
        w_in=[1.25, 0.6],
        v_leak=[-0.1, 0.0],
        v_threshold=[1.0, 0.8],
        v_reset=[-0.2, 0.1],
    )
    weight = np.array([[0.006, 0.0036], [0.0045, 0.009]])  # NIR: [out, in]
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([2])),
            "linear": nir.Linear(weight=weight),
            "lif": node,
            "output": nir.Output(output_type=np.array([2])),
        },
        edges=[("input", "linear"), ("linear", "lif"), ("lif", "output")],
    )
    rng = np.random.default_rng(3)
    times, sources = np.sort(rng.uniform(0.0, 2e-2, 10)), rng.integers(0, 2, 10)
    t_max = 4e-2
    expected = nir_reference_spikes(node, weight, list(times), list(sources), t_max)
    assert len(expected) >= 5 and {j for _, j in expected} == {0, 1}
    with jax.enable_x64(True):
        layer, params = nir_io.from_nir(graph, t_max=t_max, max_events=20)
        inputs = Spikes(jnp.asarray(times)[None], jnp.asarray(sources, jnp.int32)[None])
        out = run(layer, params, inputs)
    valid = out.idx[0] >= 0
    np.testing.assert_array_equal(out.idx[0][valid], [j for _, j in expected])
    np.testing.assert_allclose(out.time[0][valid], [t for t, _ in expected], rtol=0, atol=1e-8)


# --- graphs written with nir's API, and round trips --------------------------------------


def test_hand_written_nir_graph_imports_as_the_equivalent_jaxsnn_network(reference):
    """A graph written with nir's API (Affine with zero bias, Linear, CubaLIF with per-neuron
    r and w_in, jaxsnn's documented metadata keys) gives the spikes of the hand-built
    network, whose weights are ``W[i, k] = r_k w_in_k W_nir[k, i] / tau_syn`` by hand."""
    inputs, expected = reference
    weight0 = (W0 * TAU_SYN / (R0 * W_IN0)).T  # so that r w_in weight0.T / tau_syn == W0
    weight1 = (W1 * TAU_SYN / W_IN1).T
    refrac = {"jaxsnn_t_refrac": np.full(4, PARAMS.t_refrac)}
    graph = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([3])),
            "affine": nir.Affine(weight=weight0, bias=np.zeros(4)),
            "hidden": cuba_lif(4, r=R0, w_in=W_IN0, metadata=refrac),
            "linear": nir.Linear(weight=weight1),
            "out_lif": cuba_lif(3, w_in=W_IN1, metadata={"jaxsnn_layer": "TTFSLIF"}),
            "out": nir.Output(output_type=np.array([3])),
        },
        edges=[
            ("in", "affine"),
            ("affine", "hidden"),
            ("hidden", "linear"),
            ("linear", "out_lif"),
            ("out_lif", "out"),
        ],
    )
    spec = nir_io.spec_from_nir(graph)
    assert [layer.kind for layer in spec.layers] == ["LIF", "TTFSLIF"]
    assert spec.layers[0] == nir_io.LayerSpec("LIF", 4, PARAMS)
    assert spec.layers[1] == nir_io.LayerSpec("TTFSLIF", 3, PARAMS._replace(t_refrac=0.0))
    by_hand = (R0 * W_IN0 * weight0.T / TAU_SYN, W_IN1 * weight1.T / TAU_SYN)
    for entry, w in zip(spec.params, by_hand, strict=True):
        np.testing.assert_allclose(entry["weights"], w, rtol=1e-15)
    with jax.enable_x64(True):
        layer, params = nir_io.from_nir(graph, t_max=T_MAX, max_events=MAX_EVENTS)
        assert_same_spikes(run(layer, params, as_jax(inputs)), expected)


def test_feed_forward_round_trip_gives_identical_spikes(reference):
    """LIF(4) -> TTFSLIF(3) exported (warning about what other readers ignore) and imported
    with EventProp gradients: the same spikes, float64, on random inputs."""
    inputs, expected = reference
    layers = [nir_io.LayerSpec("LIF", 4, PARAMS), nir_io.LayerSpec("EventPropTTFSLIF", 3, PARAMS)]
    with pytest.warns(nir_io.NIRMetadataWarning, match="t_refrac.*first spike"):
        graph = nir_io.to_nir(layers, ({"weights": W0}, {"weights": W1}), t_max=T_MAX)
    assert list(graph.nodes) == ["input", "linear_0", "lif_0", "linear_1", "lif_1", "output"]
    np.testing.assert_allclose(graph.nodes["linear_0"].weight, TAU_SYN * W0.T, rtol=1e-15)
    assert np.all(graph.nodes["lif_0"].r == 1) and np.all(graph.nodes["lif_0"].w_in == 1)
    with jax.enable_x64(True):
        layer, params = nir_io.from_nir(graph, max_events=MAX_EVENTS, gradient="eventprop")
        np.testing.assert_allclose(params[0]["weights"], W0, rtol=1e-15)
        assert_same_spikes(run(layer, params, as_jax(inputs)), expected)


def test_recurrent_round_trip_through_a_file_gives_identical_spikes(tmp_path):
    """A RecurrentLIF population becomes lif -> recurrent Linear -> lif (a cycle); written to
    a file and imported from it, it gives the original spikes."""
    params = PARAMS._replace(t_refrac=2e-3)
    rng = np.random.default_rng(11)
    weights = {
        "input_weights": rng.normal(2.0, 1.0, (3, 4)),
        "recurrent_weights": rng.normal(0.5, 1.0, (4, 4)) * (1 - np.eye(4)),
    }
    spec = [nir_io.LayerSpec("RecurrentLIF", 4, params)]
    with pytest.warns(nir_io.NIRMetadataWarning):
        graph = nir_io.to_nir(spec, (weights,), t_max=T_MAX)
    assert ("lif_0", "recurrent_0") in graph.edges and ("recurrent_0", "lif_0") in graph.edges
    path = tmp_path / "recurrent.nir"
    nir_io.write_nir(path, graph)
    with jax.enable_x64(True):
        inputs = random_inputs(2)
        expected = run(RecurrentLIF(4, params, T_MAX, 16), weights, inputs)
        assert np.sum(expected.idx >= 0) >= 6
        layer, imported = nir_io.from_nir(path, max_events=16)
        assert_same_spikes(run(layer, imported, inputs), expected)


def test_exported_file_reads_back_with_nir_read(tmp_path):
    """A file from the exporter is a NIR file: ``nir.read`` gives the same nodes, fields,
    edges and metadata, and it imports to the same network description."""
    rng = np.random.default_rng(5)
    per_neuron = PARAMS._replace(tau_mem=np.array([1e-2, 1.2e-2, 8e-3]), v_th=np.ones(3))
    layers = [nir_io.LayerSpec("RecurrentLIF", 3, per_neuron), nir_io.LayerSpec("LIF", 2, PARAMS)]
    params = (
        {"input_weights": rng.normal(size=(2, 3)), "recurrent_weights": rng.normal(size=(3, 3))},
        {"weights": rng.normal(size=(3, 2))},
    )
    with pytest.warns(nir_io.NIRMetadataWarning):
        graph = nir_io.to_nir(layers, params, t_max=T_MAX, metadata={"note": "test"})
    path = tmp_path / "net.nir"
    nir_io.write_nir(path, graph)
    read = nir.read(path)
    assert set(read.nodes) == set(graph.nodes) and set(read.edges) == set(graph.edges)
    for name, node in graph.nodes.items():
        assert type(read.nodes[name]) is type(node)
        for field in ("weight", "tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset"):
            if hasattr(node, field):
                np.testing.assert_array_equal(
                    getattr(read.nodes[name], field), getattr(node, field)
                )
    np.testing.assert_array_equal(read.nodes["lif_0"].metadata["jaxsnn_t_refrac"], np.full(3, 1e-3))
    assert read.nodes["lif_0"].metadata["jaxsnn_layer"] == "RecurrentLIF"
    assert read.metadata["note"] == "test" and float(read.metadata["jaxsnn_t_max"]) == T_MAX
    from_file, in_memory = nir_io.spec_from_nir(path), nir_io.spec_from_nir(graph)
    assert from_file.layers == in_memory.layers == tuple(layers)
    assert from_file.t_max == T_MAX
    for a, b, original in zip(from_file.params, in_memory.params, params, strict=True):
        for key in original:
            np.testing.assert_array_equal(a[key], b[key])
            np.testing.assert_allclose(a[key], original[key], rtol=1e-15)


def test_graph_from_nir_helpers_imports_with_defaults():
    """A graph from ``nir.NIRGraph.from_list`` (no jaxsnn metadata): a LIF layer with
    ``t_refrac = 0``; uniform per-neuron values become scalars; no ``t_max`` without one."""
    weight = np.array([[0.01, 0.02], [0.03, 0.0], [0.0, 0.01]])
    graph = nir.NIRGraph.from_list(nir.Linear(weight=weight), cuba_lif(3, r=2.0))
    spec = nir_io.spec_from_nir(graph)
    assert spec.layers == (nir_io.LayerSpec("LIF", 3, PARAMS._replace(t_refrac=0.0)),)
    assert isinstance(spec.layers[0].params.tau_mem, float) and spec.t_max is None
    np.testing.assert_allclose(spec.params[0]["weights"], 2.0 * weight.T / TAU_SYN, rtol=1e-15)
    with pytest.raises(ValueError, match="t_max is required"):
        nir_io.from_nir(graph)


def test_export_warns_only_about_what_other_readers_ignore():
    """Refractory times and first-spike-only layers are warned about, a plain LIF is not."""
    plain = PARAMS._replace(t_refrac=0.0)
    weights = ({"weights": np.ones((2, 3))},)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nir_io.to_nir([nir_io.LayerSpec("LIF", 3, plain)], weights)
    with pytest.warns(nir_io.NIRMetadataWarning, match="first spike"):
        nir_io.to_nir([nir_io.LayerSpec("TTFSLIF", 3, plain)], weights)
    with pytest.warns(nir_io.NIRMetadataWarning, match="t_refrac = 0.001 s"):
        nir_io.to_nir([nir_io.LayerSpec("LIF", 3, PARAMS)], weights)


@pytest.mark.parametrize(
    ("layers", "params", "match"),
    [
        ([], (), "at least one"),
        ([("LIF", 3)], ({"weights": np.ones((2, 4))},), r"params\[0\]\['weights'\] must have"),
        ([("LIF", 3)], ({"input_weights": np.ones((2, 3))},), "must have keys"),
        ([("LIF", 3)], ({"weights": np.full((2, 3), np.nan)},), "finite"),
        ([("LIF", 3), ("LIF", 2)], ({"weights": np.ones((2, 3))},), "params has 1 entries"),
    ],
)
def test_export_refuses_params_that_do_not_fit(layers, params, match):
    """Weights that do not fit the layers are a ValueError naming the entry."""
    specs = [nir_io.LayerSpec(kind, n, PARAMS._replace(t_refrac=0.0)) for kind, n in layers]
    with pytest.raises(ValueError, match=match):
        nir_io.to_nir(specs, params)


# --- refusals ------------------------------------------------------------------------------


def chain(**replace):
    """input(2) -> linear(3x2) -> lif(3) -> output(3), with nodes replaced or added
    (``None`` removes one) and ``edges`` replaced; nir's own type check off."""
    nodes = {
        "input": nir.Input(input_type=np.array([2])),
        "linear": nir.Linear(weight=np.full((3, 2), 0.01)),
        "lif": cuba_lif(3),
        "output": nir.Output(output_type=np.array([3])),
    }
    edges = replace.pop("edges", [("input", "linear"), ("linear", "lif"), ("lif", "output")])
    for name, node in replace.items():
        if node is None:
            nodes.pop(name)
        else:
            nodes[name] = node
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


CONV = nir.Conv2d(
    input_shape=(2, 1),
    weight=np.ones((3, 2, 1, 1)),
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    bias=np.zeros(3),
)
BASE_EDGES = [("input", "linear"), ("linear", "lif"), ("lif", "output")]


@pytest.mark.parametrize(
    ("graph", "match"),
    [
        (lambda: chain(linear=CONV), r"'linear' \(Conv2d\): unsupported node type"),
        (
            lambda: chain(
                lif=nir.LIF(**{k: np.ones(3) for k in ("tau", "r", "v_leak", "v_threshold")})
            ),
            r"'lif' \(LIF\): unsupported",
        ),
        (
            lambda: chain(linear=nir.Affine(weight=np.ones((3, 2)), bias=np.array([0, 0.1, 0]))),
            r"'linear' \(Affine\): field bias is non-zero",
        ),
        (
            lambda: chain(linear=nir.Linear(weight=np.ones((3, 3)))),
            r"'linear' \(Linear\): field weight must have shape \(3, 2\)",
        ),
        (
            lambda: chain(linear=nir.Linear(weight=np.full((3, 2), np.inf))),
            r"'linear'.*field weight must be finite",
        ),
        (
            lambda: chain(lif=cuba_lif(3, tau_syn=[5e-3, 0.0, 5e-3])),
            r"'lif' \(CubaLIF\): field tau_syn must be > 0",
        ),
        (
            lambda: chain(lif=cuba_lif(3, v_reset=1.0)),
            r"'lif'.*field v_reset must lie below v_threshold",
        ),
        (lambda: chain(lif=cuba_lif(3, r=[1.0, np.nan, 1.0])), r"'lif'.*field r must be finite"),
        (
            lambda: chain(lif=cuba_lif(3, metadata={"jaxsnn_t_refrac": -1.0})),
            r"'lif'.*field metadata\['jaxsnn_t_refrac'\] must be >= 0",
        ),
        (
            lambda: chain(lif=cuba_lif(3, metadata={"jaxsnn_t_refrac": np.ones(2)})),
            r"'lif'.*field metadata\['jaxsnn_t_refrac'\] must have one value per neuron",
        ),
        (
            lambda: chain(lif=cuba_lif(3, metadata={"jaxsnn_layer": "Conv"})),
            r"'lif'.*field metadata\['jaxsnn_layer'\] must be one of",
        ),
        (
            lambda: chain(lif=cuba_lif(3, metadata={"jaxsnn_layer": "RecurrentLIF"})),
            r"'lif'.*is 'RecurrentLIF' but the population has no recurrent",
        ),
        (
            lambda: chain(
                rec=nir.Linear(weight=np.eye(3)),
                lif=cuba_lif(3, metadata={"jaxsnn_layer": "TTFSLIF"}),
                edges=[*BASE_EDGES, ("lif", "rec"), ("rec", "lif")],
            ),
            r"'lif'.*is 'TTFSLIF' but the population has a recurrent",
        ),
        (
            lambda: chain(
                lif=nir.CubaLIF(
                    **{
                        k: np.ones((3, 1))
                        for k in ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold")
                    }
                )
            ),
            r"'lif'.*field v_threshold must have shape \(n,\)",
        ),
        (
            lambda: chain(input=nir.Input(input_type=np.array([2, 1]))),
            r"'input' \(Input\): field shape must be \(n,\)",
        ),
        (
            lambda: chain(output=nir.Output(output_type=np.array([4]))),
            r"'output' \(Output\): field shape is \(4,\)",
        ),
        (
            lambda: chain(linear=None, edges=[("input", "lif"), ("lif", "output")]),
            r"'lif' \(CubaLIF\): it is fed by 'input' directly",
        ),
        (
            lambda: chain(
                l2=nir.Linear(weight=np.ones((3, 2))),
                edges=[*BASE_EDGES, ("input", "l2"), ("l2", "lif")],
            ),
            r"'input' \(Input\): it feeds 2 nodes",
        ),
        (lambda: chain(extra=cuba_lif(3)), r"'extra' \(CubaLIF\): it is not on the chain"),
        (
            lambda: chain(in2=nir.Input(input_type=np.array([2]))),
            r"exactly one Input node, it has 2",
        ),
        (
            lambda: chain(
                readout=nir.Linear(weight=np.ones((3, 3))),
                edges=[*BASE_EDGES[:2], ("lif", "readout"), ("readout", "output")],
            ),
            r"'readout' \(Linear\): it must feed exactly one CubaLIF",
        ),
        (
            lambda: chain(
                lif2=cuba_lif(3),
                l2=nir.Linear(weight=np.eye(3)),
                back=nir.Linear(weight=np.eye(3)),
                edges=[
                    *BASE_EDGES[:2],
                    ("lif", "l2"),
                    ("l2", "lif2"),
                    ("lif2", "back"),
                    ("back", "lif"),
                    ("lif2", "output"),
                ],
            ),
            r"'lif' \(CubaLIF\): it receives input from \['linear', 'back'\]",
        ),
        (
            lambda: chain(sub=nir.NIRGraph.from_list(nir.Linear(weight=np.eye(3)))),
            r"'sub' \(NIRGraph\): unsupported node type",
        ),
    ],
)
def test_unsupported_graphs_nodes_and_fields_are_refused_by_name(graph, match):
    """Each is a ValueError naming the node (and the field), before anything is built."""
    nir_io.spec_from_nir(chain())  # the unmodified chain imports
    with pytest.raises(ValueError, match=match):
        nir_io.spec_from_nir(graph())


def test_import_refuses_missing_and_foreign_files(tmp_path):
    """One-line ValueErrors naming the file, not h5py's exceptions."""
    with pytest.raises(ValueError, match="does not exist"):
        nir_io.from_nir(tmp_path / "none.nir", t_max=T_MAX)
    (tmp_path / "junk.nir").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="junk.nir is not a readable NIR file"):
        nir_io.spec_from_nir(tmp_path / "junk.nir")


def test_nir_stays_optional(monkeypatch):
    """Without the package nir, the module imports and every function says how to install
    it (the command line too, with exit status 2)."""
    monkeypatch.setitem(sys.modules, "nir", None)  # import nir now raises ImportError
    monkeypatch.delitem(sys.modules, "jaxsnn.event.nir")
    monkeypatch.setattr(jaxsnn.event, "nir", nir_io)  # restored after the fresh import
    fresh = importlib.import_module("jaxsnn.event.nir")
    with pytest.raises(fresh.MissingNIRError, match=r'pip install "jaxsnn\[nir\]"'):
        fresh.to_nir([fresh.LayerSpec("LIF", 1, PARAMS)], ({"weights": np.ones((1, 1))},))
    with pytest.raises(ImportError, match="nir"):
        fresh.spec_from_nir("any.nir")


# --- result folders and the command line -------------------------------------------------

HIDDEN = 3


def result_folder(path, task, recurrent=False):
    """The files of a Yin-Yang result folder that the export reads (metrics.json with the
    config, params.npz as training writes it, float32), without training."""
    config = dict(models.DEFAULTS, hidden=HIDDEN)
    if task == "yinyang-event-prop":
        config["recurrent"] = recurrent
    path.mkdir()
    save_json(
        path / "metrics.json",
        {
            "task": task,
            "completed": True,
            "history": [],
            "config": {"task": task, "train": {}, "task_config": config},
        },
    )
    rng = np.random.default_rng(0)
    n = HIDDEN + 3
    if recurrent:
        arrays = {
            "input_weights": rng.normal(size=(5, n)),
            "recurrent_weights": rng.normal(size=(n, n)),
        }
    else:
        arrays = {
            "0/weights": rng.normal(size=(5, HIDDEN)),
            "1/weights": rng.normal(size=(HIDDEN, 3)),
        }
    arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
    save_arrays(path / "params.npz", arrays)
    return config, arrays


def export(capsys, *args):
    status = cli.main(["export-nir", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_exports_feed_forward_and_recurrent_result_folders(tmp_path, capsys):
    """``jaxsnn export-nir`` on a yinyang-analytical and a yinyang-event-prop --recurrent
    folder: the networks of jaxsnn.event.models, weights by the convention, the recurrent
    population's weights masked to its blocks, warnings one line each."""
    config, arrays = result_folder(tmp_path / "ff", "yinyang-analytical")
    status, out, err = export(capsys, tmp_path / "ff", tmp_path / "ff.nir")
    assert status == 0 and out.startswith("jaxsnn export-nir: wrote") and "5 -> 3 -> 3" in out
    assert (
        err.count("\n") == 1 and err.startswith("jaxsnn export-nir: warning: ") and "TTFSLIF" in err
    )
    graph = nir.read(tmp_path / "ff.nir")
    tau_syn = config["tau_syn"]
    np.testing.assert_allclose(
        graph.nodes["linear_0"].weight, tau_syn * arrays["0/weights"].T.astype(float), rtol=1e-15
    )
    np.testing.assert_allclose(
        graph.nodes["linear_1"].weight, tau_syn * arrays["1/weights"].T.astype(float), rtol=1e-15
    )
    spec = nir_io.spec_from_nir(tmp_path / "ff.nir")
    assert [layer.kind for layer in spec.layers] == ["TTFSLIF", "TTFSLIF"]
    assert spec.layers[0] == nir_io.LayerSpec("TTFSLIF", HIDDEN, models.neuron_parameters(config))
    assert spec.t_max == config["t_max"] and spec.metadata["jaxsnn_task"] == "yinyang-analytical"
    assert json.loads(spec.metadata["jaxsnn_config"])["hidden"] == HIDDEN

    config, arrays = result_folder(tmp_path / "rec", "yinyang-event-prop", recurrent=True)
    status, out, err = export(capsys, tmp_path / "rec", tmp_path / "rec.nir")
    assert status == 0 and "5 -> 6" in out and "t_refrac = 0.04 s" in err
    spec = nir_io.spec_from_nir(tmp_path / "rec.nir")
    (layer,) = spec.layers
    assert layer.kind == "RecurrentLIF" and layer.size == HIDDEN + 3
    assert layer.params.t_refrac == 2 * config["t_max"]
    # the block structure of the model: input -> hidden, hidden -> output, nothing else
    w_in, w_rec = spec.params[0]["input_weights"], spec.params[0]["recurrent_weights"]
    np.testing.assert_allclose(w_in[:, :HIDDEN], arrays["input_weights"][:, :HIDDEN], rtol=1e-7)
    np.testing.assert_allclose(
        w_rec[:HIDDEN, HIDDEN:], arrays["recurrent_weights"][:HIDDEN, HIDDEN:], rtol=1e-7
    )
    assert (
        np.all(w_in[:, HIDDEN:] == 0)
        and np.all(w_rec[:, :HIDDEN] == 0)
        and np.all(w_rec[HIDDEN:] == 0)
    )


def test_cli_refuses_what_is_no_exportable_result_with_one_line(tmp_path, capsys, monkeypatch):
    """Exit status 2 and one line naming the folder or file, for every unusable folder,
    wrong arguments and a missing package nir; nothing is written."""
    result_folder(tmp_path / "discrete", "yinyang-discrete")
    result_folder(tmp_path / "unfinished", "yinyang-analytical")
    (tmp_path / "unfinished" / "params.npz").unlink()
    result_folder(tmp_path / "other", "yinyang-event-prop", recurrent=False)
    save_arrays(
        tmp_path / "other" / "params.npz",
        {"0/weights": np.ones((5, 7)), "1/weights": np.ones((7, 3))},
    )
    result_folder(tmp_path / "damaged", "yinyang-analytical")
    (tmp_path / "damaged" / "metrics.json").write_text('{"task": ')
    target = tmp_path / "x.nir"
    cases = [
        ((tmp_path / "none", target), "no such folder"),
        ((tmp_path, target), "no metrics.json"),
        ((tmp_path / "discrete", target), "'yinyang-discrete' result cannot be exported"),
        ((tmp_path / "unfinished", target), "the run has not finished"),
        ((tmp_path / "other", target), "params.npz does not fit the network"),
        ((tmp_path / "damaged", target), "metrics.json is truncated"),
        ((tmp_path / "discrete",), "expected RESULT_DIR FILE.nir"),
    ]
    for args, message in cases:
        status, out, err = export(capsys, *args)
        assert status == 2 and out == "" and err.count("\n") == 1, (args, err)
        assert err.startswith("jaxsnn export-nir: error: ") and message in err, (args, err)
    assert not target.exists()
    monkeypatch.setitem(sys.modules, "nir", None)
    result_folder(tmp_path / "ok", "yinyang-analytical")
    status, _, err = export(capsys, tmp_path / "ok", target)
    assert status == 2 and err.count("\n") == 1 and 'pip install "jaxsnn[nir]"' in err
