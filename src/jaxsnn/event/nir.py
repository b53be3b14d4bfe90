"""NIR (Neuromorphic Intermediate Representation) export and import of event-based networks.

A network is described by a list of :class:`LayerSpec` (kind, size, :class:`LIFParameters`
of each population) and its parameter pytree, one dict per population as ``serial(...).init``
makes it (``{"weights": W}`` for ``LIF``/``TTFSLIF``, ``{"input_weights": W,
"recurrent_weights": V}`` for ``RecurrentLIF``). :func:`to_nir` turns it into a
``nir.NIRGraph``; :func:`from_nir` turns a graph (or a ``.nir`` file) back into a runnable
``(layer, params)`` pair; :func:`spec_from_result` rebuilds the description of a Yin-Yang
result folder (``jaxsnn export-nir DIR FILE`` = :func:`export_result`). The package ``nir``
is optional (``pip install "jaxsnn[nir]"``): it is imported only when a function needs it.

Graph shape: ``Input -> Linear -> CubaLIF -> Linear -> CubaLIF -> ... -> Output``, a chain
of populations, each fed by one ``nir.Linear`` (or ``nir.Affine`` with zero bias) from the
previous stage; a recurrent population has one more projection from itself to itself
(``lif -> recurrent Linear -> lif``, a cycle; NIR sums the inputs of a node). NIR's weights
are ``weight[out, in]``, jaxsnn's ``W[in, out]``.

The two neuron models, between spikes (``S(t) = sum_s w_s delta(t - t_s)`` the input,
a sum of Dirac deltas weighted by the projection)::

    NIR CubaLIF:  tau_syn dI/dt = -I + w_in S(t)      tau_mem dV/dt = (v_leak - V) + r I
    jaxsnn:       tau_syn dI/dt = -I, I += w per spike  tau_mem dV/dt = -(V - v_leak) + I

Both spike when ``V`` crosses ``v_threshold`` (jaxsnn ``v_th``) and set ``V = v_reset``; both
start at rest, ``V(0) = v_leak``, ``I(0) = 0``. Integrating NIR's current over one delta of
weight ``w`` gives a jump ``I_nir += w_in w / tau_syn``. With ``I_jaxsnn = r I_nir`` the
two models are the same, so the exact conventions are (per target neuron ``k``)::

    W_jaxsnn[i, k] = r_k w_in_k W_nir[k, i] / tau_syn_k          (import, jaxsnn_weight)
    W_nir[k, i]    = tau_syn_k W_jaxsnn[i, k],  r = w_in = 1      (export, nir_weight)

``r`` and ``w_in`` only scale a neuron's input, so they are folded exactly into every
projection into that neuron (feed-forward and recurrent); export always writes ``r = 1``,
``w_in = 1``. The other CubaLIF fields map one to one: ``tau_mem``, ``tau_syn``, ``v_leak``,
``v_threshold -> v_th``, ``v_reset``. Per-neuron values are kept per neuron (jaxsnn's event
layers take one value per neuron); values equal for all neurons become one scalar.

What NIR cannot say is stored in a node's ``metadata``, which :func:`from_nir` reads and
other NIR readers ignore (:func:`to_nir` warns with :class:`NIRMetadataWarning` when that
changes what they simulate):

* ``metadata["jaxsnn_t_refrac"]``: the refractory time (seconds, one value per neuron;
  ``V`` is held at ``v_reset`` that long). CubaLIF has none; a node without the key imports
  with ``t_refrac = 0``;
* ``metadata["jaxsnn_layer"]``: ``"LIF"``, ``"TTFSLIF"`` (only each neuron's first spike
  leaves the layer) or ``"RecurrentLIF"``; without it the kind follows from the graph
  (``RecurrentLIF`` with a recurrent projection, else ``LIF``);
* the graph's ``metadata["jaxsnn_t_max"]``: the simulation horizon, the default of
  :func:`from_nir`'s ``t_max``.

Refused with a ``ValueError`` naming the node and the field, never approximated: any other
node type (``Conv2d``, ``Scale``, ``Delay``, ``LIF``, ``CubaLI``, a subgraph, ...), an
``Affine`` with a non-zero ``bias`` (a constant input current, which jaxsnn's event layers do
not have), non-finite or non-physical values (``tau <= 0``, ``v_reset >= v_threshold``),
fields that are not one value per neuron, shapes that do not chain, and every graph that is
not a chain of populations as above (a branch, a projection that skips a population, a
population fed without a projection, several inputs or outputs, unconnected nodes).
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from jax.typing import ArrayLike

from jaxsnn.base import Layer, serial
from jaxsnn.event.gradient import GradientMethod
from jaxsnn.event.leaky_integrate_and_fire import LIF, TTFSLIF, RecurrentLIF
from jaxsnn.neuron import LIFParameters, validate_parameters
from jaxsnn.training.io import (
    DamagedFileError,
    MissingFileError,
    ResultsError,
    atomic_write_bytes,
)

if TYPE_CHECKING:
    import nir

#: node metadata key of the refractory time (seconds, one value per neuron)
T_REFRAC_KEY = "jaxsnn_t_refrac"
#: node metadata key of the layer kind (``"LIF"``, ``"TTFSLIF"``, ``"RecurrentLIF"``)
KIND_KEY = "jaxsnn_layer"
#: graph metadata key of the simulation horizon (seconds)
T_MAX_KEY = "jaxsnn_t_max"
#: graph metadata keys of the task and its configuration (JSON) of an exported result folder
TASK_KEY = "jaxsnn_task"
CONFIG_KEY = "jaxsnn_config"

#: layer kinds and the constructor names accepted for them (the EventProp aliases differ only
#: in the gradient, which is an argument of :func:`from_nir`, not part of the network)
KINDS = {
    "LIF": "LIF",
    "EventPropLIF": "LIF",
    "TTFSLIF": "TTFSLIF",
    "EventPropTTFSLIF": "TTFSLIF",
    "RecurrentLIF": "RecurrentLIF",
    "RecurrentEventPropLIF": "RecurrentLIF",
}
#: the parameter entries of a population of each kind
WEIGHT_KEYS = {
    "LIF": ("weights",),
    "TTFSLIF": ("weights",),
    "RecurrentLIF": ("input_weights", "recurrent_weights"),
}
#: result folders whose network can be exported
EXPORTABLE_TASKS = ("yinyang-analytical", "yinyang-event-prop")
#: NIR's names of the CubaLIF fields that map to :class:`LIFParameters` fields
_CUBA_FIELDS = {
    "tau_mem": "tau_mem",
    "tau_syn": "tau_syn",
    "v_threshold": "v_th",
    "v_reset": "v_reset",
    "v_leak": "v_leak",
}
_INSTALL_HINT = 'the NIR export and import need the package nir: pip install "jaxsnn[nir]"'


class MissingNIRError(ImportError):
    """The optional package ``nir`` is not installed (the message says how to install it)."""


class NIRMetadataWarning(UserWarning):
    """A network uses what NIR cannot express (refractory time, first-spike-only layers):
    it is stored in node metadata, which other NIR readers ignore."""


def _nir() -> Any:
    """The ``nir`` package, or :class:`MissingNIRError` with the install hint."""
    try:
        import nir
    except ImportError:
        raise MissingNIRError(_INSTALL_HINT) from None
    return nir


@dataclass(frozen=True, eq=False)
class LayerSpec:
    """One population of an event-based network: ``kind``, ``size`` neurons, ``params``.

    ``kind``: ``"LIF"``, ``"TTFSLIF"`` or ``"RecurrentLIF"`` (or a constructor name of
    :mod:`jaxsnn.event.leaky_integrate_and_fire` that is one of them with EventProp
    gradients, e.g. ``"EventPropLIF"``: stored as the plain kind). ``params``: the
    :class:`LIFParameters` of its neurons, scalars or one value per neuron. Two specs are
    equal when kind, size and every neuron's parameter values are equal (a scalar equals
    an array of that value).
    """

    kind: str
    size: int
    params: LIFParameters = LIFParameters()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, got {self.kind!r}")
        object.__setattr__(self, "kind", KINDS[self.kind])
        if isinstance(self.size, bool) or not isinstance(self.size, int | np.integer):
            raise ValueError(f"size must be a positive integer, got {self.size!r}")
        if self.size < 1:
            raise ValueError(f"size must be a positive integer, got {self.size!r}")
        object.__setattr__(self, "size", int(self.size))
        if not isinstance(self.params, LIFParameters):
            raise TypeError(f"params must be a jaxsnn.neuron.LIFParameters, got {self.params!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LayerSpec):
            return NotImplemented
        if (self.kind, self.size) != (other.kind, other.size):
            return False
        try:
            return all(
                np.array_equal(_per_neuron(a, self.size), _per_neuron(b, self.size))
                for a, b in zip(self.params, other.params, strict=True)
            )
        except ValueError:  # a field that is not one value per neuron
            return False

    __hash__ = None  # type: ignore[assignment]


class NetworkSpec(NamedTuple):
    """A network as :func:`to_nir` takes it and :func:`spec_from_nir` returns it.

    ``layers``: one :class:`LayerSpec` per population, input side first; ``params``: one
    dict of float64 numpy arrays per population (the pytree of ``serial(...).init``);
    ``t_max``: the simulation horizon in seconds, or ``None`` when not known; ``metadata``:
    the graph's metadata (``to_nir(*spec)`` writes it back).
    """

    layers: tuple[LayerSpec, ...]
    params: tuple[dict[str, np.ndarray], ...]
    t_max: float | None = None
    metadata: dict[str, Any] = {}


# --- the weight convention ----------------------------------------------------------------


def nir_weight(weights: ArrayLike, tau_syn: ArrayLike) -> np.ndarray:
    """NIR ``weight[out, in]`` of a jaxsnn projection ``W[in, out]`` into neurons with
    synaptic time constants ``tau_syn`` (scalar or ``[out]``), for ``r = w_in = 1``:
    ``W_nir[k, i] = tau_syn_k W[i, k]`` (module docstring). Float64."""
    scaled = np.asarray(weights, np.float64) * np.asarray(tau_syn, np.float64)
    return np.ascontiguousarray(scaled.T)


def jaxsnn_weight(
    weight: ArrayLike, tau_syn: ArrayLike, r: ArrayLike = 1.0, w_in: ArrayLike = 1.0
) -> np.ndarray:
    """jaxsnn ``W[in, out]`` of a NIR ``weight[out, in]`` into CubaLIF neurons with
    ``tau_syn``, ``r``, ``w_in`` (scalars or ``[out]``): ``W[i, k] = r_k w_in_k W_nir[k, i] /
    tau_syn_k``, the current jump of one input spike (module docstring). Float64."""
    factor = np.asarray(r, np.float64) * np.asarray(w_in, np.float64)
    scaled = np.asarray(weight, np.float64).T * factor
    return np.ascontiguousarray(scaled / np.asarray(tau_syn, np.float64))


# --- export -------------------------------------------------------------------------------


def _per_neuron(value: ArrayLike, n: int) -> np.ndarray:
    """``value`` (scalar or ``[n]``) as a float64 array ``[n]``."""
    return np.array(np.broadcast_to(np.asarray(value, np.float64), (n,)))


def _check_weights(name: str, value: Any, shape: tuple[int, int]) -> np.ndarray:
    """``value`` as a float64 array of ``shape`` with finite entries, else ``ValueError``."""
    array = np.asarray(value, np.float64)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite")
    return array


def _checked_network(
    layers: Sequence[LayerSpec], params: Sequence[Mapping[str, ArrayLike]]
) -> tuple[int, list[dict[str, np.ndarray]]]:
    """The number of inputs and the float64 weights of ``layers``, after checking that
    ``params`` fit them (one dict per layer, the kind's keys, chained shapes)."""
    if not layers:
        raise ValueError("layers must hold at least one LayerSpec")
    if len(params) != len(layers):
        raise ValueError(f"params has {len(params)} entries but layers has {len(layers)}")
    n_inputs = n_prev = 0
    weights = []
    for k, (spec, entry) in enumerate(zip(layers, params, strict=True)):
        if not isinstance(spec, LayerSpec):
            raise TypeError(f"layers[{k}] must be a LayerSpec, got {spec!r}")
        validate_parameters(spec.params, f"layers[{k}].params", n=spec.size, stacklevel=4)
        keys = WEIGHT_KEYS[spec.kind]
        if not isinstance(entry, Mapping) or set(entry) != set(keys):
            got = sorted(entry) if isinstance(entry, Mapping) else type(entry).__name__
            raise ValueError(f"params[{k}] of a {spec.kind} layer must have keys {keys}, got {got}")
        if k == 0:
            shape = np.shape(entry[keys[0]])
            if len(shape) != 2:
                raise ValueError(f"params[0][{keys[0]!r}] must be 2-D [n_inputs, n], got {shape}")
            n_inputs = n_prev = int(shape[0])
        checked = {
            keys[0]: _check_weights(
                f"params[{k}][{keys[0]!r}]", entry[keys[0]], (n_prev, spec.size)
            )
        }
        if spec.kind == "RecurrentLIF":
            name = f"params[{k}]['recurrent_weights']"
            shape = (spec.size, spec.size)
            checked["recurrent_weights"] = _check_weights(name, entry["recurrent_weights"], shape)
        weights.append(checked)
        n_prev = spec.size
    return n_inputs, weights


def _cuba_lif(spec: LayerSpec) -> Any:
    """The ``nir.CubaLIF`` node of a population (``r = w_in = 1``; t_refrac and the kind in
    its metadata)."""
    nir = _nir()
    n, p = spec.size, spec.params
    return nir.CubaLIF(
        tau_syn=_per_neuron(p.tau_syn, n),
        tau_mem=_per_neuron(p.tau_mem, n),
        r=np.ones(n),
        v_leak=_per_neuron(p.v_leak, n),
        v_threshold=_per_neuron(p.v_th, n),
        v_reset=_per_neuron(p.v_reset, n),
        w_in=np.ones(n),
        metadata={T_REFRAC_KEY: _per_neuron(p.t_refrac, n), KIND_KEY: spec.kind},
    )


def _ignored_by_other_readers(layers: Sequence[LayerSpec]) -> list[str]:
    """What other NIR readers will not simulate: non-zero refractory times, TTFS layers."""
    notes = []
    for k, spec in enumerate(layers):
        t_refrac = np.asarray(spec.params.t_refrac, np.float64)
        if np.any(t_refrac != 0):
            notes.append(f"layer {k} has t_refrac = {np.max(t_refrac):g} s")
        if spec.kind == "TTFSLIF":
            notes.append(f"layer {k} passes on only each neuron's first spike (TTFSLIF)")
    return notes


def to_nir(
    layers: Sequence[LayerSpec],
    params: Sequence[Mapping[str, ArrayLike]],
    t_max: float | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> nir.NIRGraph:
    """The ``nir.NIRGraph`` of an event-based network (``to_nir(*spec)`` for a
    :class:`NetworkSpec`).

    ``layers``: one :class:`LayerSpec` per population; ``params``: one dict per population
    (``{"weights": [n_in, n]}``, or ``{"input_weights": [n_in, n], "recurrent_weights":
    [n, n]}`` for ``RecurrentLIF``), as ``serial(...).init`` returns them. The graph is
    ``input -> linear_0 -> lif_0 -> linear_1 -> lif_1 -> ... -> output`` with ``nir.Linear``
    weights ``W_nir[k, i] = tau_syn_k W[i, k]`` and ``nir.CubaLIF`` nodes with ``r = w_in =
    1`` (module docstring), plus ``lif_k -> recurrent_k -> lif_k`` for a recurrent
    population. ``t_max`` (seconds) is stored in the graph's metadata (``"jaxsnn_t_max"``),
    ``metadata`` is added to it (values: strings, numbers or arrays). Warns
    (:class:`NIRMetadataWarning`) when a layer has a refractory time or is a ``TTFSLIF``:
    both are kept in node metadata, which other NIR readers ignore.

    Raises:
        ValueError: params that do not fit the layers, non-finite weights or parameters.
        MissingNIRError: the package ``nir`` is not installed.
    """
    nir = _nir()
    layers = tuple(layers)
    n_inputs, weights = _checked_network(layers, params)
    if t_max is not None and not (math.isfinite(t_max) and t_max > 0):
        raise ValueError(f"t_max must be a positive finite time in seconds, got {t_max!r}")
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array([n_inputs]))}
    edges: list[tuple[str, str]] = []
    previous = "input"
    for k, (spec, entry) in enumerate(zip(layers, weights, strict=True)):
        tau_syn = _per_neuron(spec.params.tau_syn, spec.size)
        first = entry[WEIGHT_KEYS[spec.kind][0]]
        nodes[f"linear_{k}"] = nir.Linear(weight=nir_weight(first, tau_syn))
        nodes[f"lif_{k}"] = _cuba_lif(spec)
        edges += [(previous, f"linear_{k}"), (f"linear_{k}", f"lif_{k}")]
        if spec.kind == "RecurrentLIF":
            recurrent = nir_weight(entry["recurrent_weights"], tau_syn)
            nodes[f"recurrent_{k}"] = nir.Linear(weight=recurrent)
            edges += [(f"lif_{k}", f"recurrent_{k}"), (f"recurrent_{k}", f"lif_{k}")]
        previous = f"lif_{k}"
    nodes["output"] = nir.Output(output_type=np.array([layers[-1].size]))
    edges.append((previous, "output"))
    graph_metadata = dict(metadata or {})
    if t_max is not None:
        graph_metadata[T_MAX_KEY] = float(t_max)
    notes = _ignored_by_other_readers(layers)
    if notes:
        warnings.warn(
            "NIR's CubaLIF has no refractory time and no first-spike-only layer: "
            + "; ".join(notes)
            + f"; kept in node metadata {T_REFRAC_KEY!r} and {KIND_KEY!r}, which "
            "jaxsnn.event.nir.from_nir reads; other NIR readers ignore them and simulate "
            "plain CubaLIF neurons, which can fire again right after a spike",
            NIRMetadataWarning,
            stacklevel=2,
        )
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph_metadata)


def nir_bytes(graph: nir.NIRGraph) -> bytes:
    """The bytes of the ``.nir`` (HDF5) file of ``graph``, as ``nir.write`` makes them."""
    nir = _nir()
    buffer = io.BytesIO()
    nir.write(buffer, graph)
    return buffer.getvalue()


def write_nir(path: str | os.PathLike, graph: nir.NIRGraph) -> None:
    """Write ``graph`` to ``path`` with ``nir.write``, atomically (a temporary file renamed
    into place: an interrupted write leaves the old file or none, never half of one).

    Raises:
        WriteError: the file cannot be written (a ``ValueError`` naming it).
    """
    atomic_write_bytes(path, nir_bytes(graph))


# --- import -------------------------------------------------------------------------------


def _type(node: Any) -> str:
    """The NIR type name of a node (``"CubaLIF"``, ``"Conv2d"``, ...)."""
    return type(node).__name__


def _node_error(name: str, node: Any, message: str) -> ValueError:
    """``ValueError`` ``NIR node 'name' (Type): message``."""
    return ValueError(f"NIR node {name!r} ({_type(node)}): {message}")


def read_graph(path: str | os.PathLike) -> nir.NIRGraph:
    """``nir.read(path)``, checked: a missing file raises :class:`MissingFileError`, a file
    that ``nir`` cannot read a :class:`DamagedFileError` (both ``ValueError``, one line
    naming the file)."""
    nir = _nir()
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, f"{path} does not exist or is not a file")
    try:
        return nir.read(path)
    except (OSError, KeyError, ValueError, TypeError, AssertionError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise DamagedFileError(path, f"is not a readable NIR file ({reason})") from None


def _as_graph(graph: Any) -> Any:
    """A ``nir.NIRGraph`` from a graph or a file path."""
    if isinstance(graph, str | os.PathLike):
        return read_graph(graph)
    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph must be a nir.NIRGraph or a file path, got {type(graph)!r}")
    return graph


def _check_node_types(nodes: Mapping[str, Any]) -> None:
    """Every node one of Input, Output, Affine, Linear, CubaLIF; else ``ValueError``."""
    nir = _nir()
    supported = (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.CubaLIF)
    for name, node in nodes.items():
        if type(node) not in supported:
            raise _node_error(
                name,
                node,
                "unsupported node type; jaxsnn imports Input, Affine (zero bias), Linear, "
                "CubaLIF and Output nodes",
            )


class _Stage(NamedTuple):
    """One population of the chain: its feed-forward projection, itself, its recurrent
    projection (or ``None``)."""

    projection: str
    population: str
    recurrent: str | None


def _only(nodes: Mapping[str, Any], kind: Any, what: str) -> str:
    """The name of the single node of type ``kind``; ``ValueError`` for none or several."""
    names = [name for name, node in nodes.items() if isinstance(node, kind)]
    if len(names) != 1:
        raise ValueError(
            f"the NIR graph must have exactly one {what} node, it has {len(names)} {names}"
        )
    return names[0]


def _recurrent_projection(
    population: str, projection: str, nodes: Mapping, pred: Mapping, succ: Mapping
) -> str | None:
    """The projection from ``population`` to itself, ``None`` if there is none; any other
    input besides ``projection`` is a ``ValueError``."""
    nir = _nir()
    others = [p for p in pred[population] if p != projection]
    if not others:
        return None
    candidate = others[0]
    is_recurrent = (
        len(others) == 1
        and isinstance(nodes[candidate], nir.Affine | nir.Linear)
        and pred[candidate] == [population]
        and succ[candidate] == [population]
    )
    if not is_recurrent:
        raise _node_error(
            population,
            nodes[population],
            f"it receives input from {[projection, *others]}; jaxsnn imports populations "
            "fed by one projection from the previous stage and at most one recurrent "
            "projection from themselves",
        )
    return candidate


def _chain(graph: Any) -> tuple[str, list[_Stage], str]:
    """``(input, stages, output)`` of a graph that is a chain of populations (module
    docstring); every other shape is a ``ValueError`` naming the node where it breaks."""
    nir = _nir()
    nodes = graph.nodes
    _check_node_types(nodes)
    source = _only(nodes, nir.Input, "Input")
    sink = _only(nodes, nir.Output, "Output")
    pred: dict[str, list[str]] = {name: [] for name in nodes}
    succ: dict[str, list[str]] = {name: [] for name in nodes}
    for a, b in graph.edges:
        for end in (a, b):
            if end not in nodes:
                raise ValueError(f"the NIR graph has an edge {a!r} -> {b!r} to no node {end!r}")
        succ[a].append(b)
        pred[b].append(a)
    stages: list[_Stage] = []
    visited = {source}
    current, recurrent = source, None
    while True:
        following = [name for name in succ[current] if name != recurrent]
        if len(following) != 1:
            raise _node_error(
                current,
                nodes[current],
                f"it feeds {len(following)} nodes {following}; jaxsnn imports a chain "
                "Input -> projection -> CubaLIF -> ... -> Output",
            )
        (step,) = following
        node = nodes[step]
        if step in visited:
            raise _node_error(step, node, "the chain returns to it (a cycle across populations)")
        if isinstance(node, nir.Output):
            if pred[step] != [current]:
                raise _node_error(step, node, f"it receives input from {pred[step]}")
            if not stages:
                raise ValueError("the NIR graph has no CubaLIF population between Input and Output")
            break
        if not isinstance(node, nir.Affine | nir.Linear):
            raise _node_error(
                step,
                node,
                f"it is fed by {current!r} directly; expected an Affine or Linear projection",
            )
        if pred[step] != [current]:
            raise _node_error(step, node, f"it receives input from {pred[step]}")
        if len(succ[step]) != 1 or not isinstance(nodes[succ[step][0]], nir.CubaLIF):
            raise _node_error(
                step, node, f"it must feed exactly one CubaLIF population, it feeds {succ[step]}"
            )
        population = succ[step][0]
        if population in visited:
            raise _node_error(population, nodes[population], "the chain returns to it")
        recurrent = _recurrent_projection(population, step, nodes, pred, succ)
        stages.append(_Stage(step, population, recurrent))
        visited.update(name for name in (step, population, recurrent) if name is not None)
        current = population
    visited.add(sink)
    loose = sorted(set(nodes) - visited)
    if loose:
        raise _node_error(loose[0], nodes[loose[0]], "it is not on the chain from Input to Output")
    return source, stages, sink


def _shape_of(name: str, node: Any, types: Mapping, key: str) -> int:
    """The size ``n`` of a 1-D ``input_type``/``output_type`` entry, else ``ValueError``."""
    shape = tuple(int(s) for s in np.atleast_1d(np.asarray(types[key])))
    if len(shape) != 1 or shape[0] < 1:
        raise _node_error(name, node, f"field shape must be (n,) (1-D spikes), got {shape}")
    return shape[0]


def _node_field(name: str, node: Any, field: str, raw: Any, n: int) -> np.ndarray:
    """The value ``raw`` of a node's ``field`` as a finite float64 array ``[n]`` (from a
    scalar or one value per neuron), else a ``ValueError`` naming node and field."""
    try:
        array = np.asarray(raw, np.float64)
    except (TypeError, ValueError):
        raise _node_error(name, node, f"field {field} is not numeric: {raw!r}") from None
    if array.shape not in ((), (n,)):
        raise _node_error(
            name,
            node,
            f"field {field} must have one value per neuron, shape ({n},); got shape {array.shape}",
        )
    if not np.all(np.isfinite(array)):
        raise _node_error(name, node, f"field {field} must be finite")
    return np.array(np.broadcast_to(array, (n,)))


def _compact(values: np.ndarray) -> float | np.ndarray:
    """One float when every neuron has the same value, else the per-neuron array."""
    return float(values[0]) if np.all(values == values[0]) else values


def _population(
    name: str, node: Any
) -> tuple[str | None, LIFParameters, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The kind stored in the metadata (or ``None``), the :class:`LIFParameters` and the
    per-neuron ``(r, w_in, tau_syn)`` that scale the inputs of a CubaLIF node."""
    shape = tuple(np.shape(node.v_threshold))
    if len(shape) != 1 or shape[0] < 1:
        raise _node_error(name, node, f"field v_threshold must have shape (n,), got {shape}")
    n = shape[0]
    values = {
        field: _node_field(name, node, field, getattr(node, field), n) for field in _CUBA_FIELDS
    }
    for field in ("tau_mem", "tau_syn"):
        if not np.all(values[field] > 0):
            raise _node_error(name, node, f"field {field} must be > 0 seconds")
    if not np.all(values["v_reset"] < values["v_threshold"]):
        raise _node_error(name, node, "field v_reset must lie below v_threshold")
    metadata = dict(getattr(node, "metadata", None) or {})
    t_refrac = np.zeros(n)
    if T_REFRAC_KEY in metadata:
        field = f"metadata[{T_REFRAC_KEY!r}]"
        t_refrac = _node_field(name, node, field, metadata[T_REFRAC_KEY], n)
        if not np.all(t_refrac >= 0):
            raise _node_error(name, node, f"field metadata[{T_REFRAC_KEY!r}] must be >= 0 seconds")
    kind = metadata.get(KIND_KEY)
    if isinstance(kind, bytes):
        kind = kind.decode()
    if kind is not None and kind not in WEIGHT_KEYS:
        raise _node_error(
            name,
            node,
            f"field metadata[{KIND_KEY!r}] must be one of {sorted(WEIGHT_KEYS)}, got {kind!r}",
        )
    params = LIFParameters(
        **{ours: _compact(values[theirs]) for theirs, ours in _CUBA_FIELDS.items()},
        t_refrac=_compact(t_refrac),
    )
    r = _node_field(name, node, "r", node.r, n)
    w_in = _node_field(name, node, "w_in", node.w_in, n)
    return kind, params, (r, w_in, values["tau_syn"])


def _projection(name: str, node: Any, shape: tuple[int, int]) -> np.ndarray:
    """The ``weight[out, in]`` of an Affine (zero bias) or Linear node, checked."""
    nir = _nir()
    weight = np.asarray(node.weight, np.float64)
    if weight.shape != shape:
        raise _node_error(name, node, f"field weight must have shape {shape}, got {weight.shape}")
    if not np.all(np.isfinite(weight)):
        raise _node_error(name, node, "field weight must be finite")
    if isinstance(node, nir.Affine):
        bias = np.asarray(node.bias, np.float64)
        if np.any(bias != 0):
            raise _node_error(
                name,
                node,
                "field bias is non-zero: a constant input current, which jaxsnn's event-based "
                "layers cannot represent (use Linear or a zero bias)",
            )
    return weight


def spec_from_nir(graph: nir.NIRGraph | str | os.PathLike) -> NetworkSpec:
    """The :class:`NetworkSpec` of a NIR graph (or ``.nir`` file) of event-based populations.

    Pure conversion, nothing is simulated: each CubaLIF node becomes a :class:`LayerSpec`,
    each projection a float64 weight matrix ``W[i, k] = r_k w_in_k W_nir[k, i] / tau_syn_k``
    (module docstring). ``t_max`` is the graph's ``"jaxsnn_t_max"`` metadata (or ``None``).

    Raises:
        ValueError: a node, field or graph shape that jaxsnn cannot represent exactly (the
            message names the node and the field; see the module docstring).
        MissingFileError, DamagedFileError: a path that is no readable file.
        MissingNIRError: the package ``nir`` is not installed.
    """
    graph = _as_graph(graph)
    source, stages, sink = _chain(graph)
    nodes = graph.nodes
    n_prev = _shape_of(source, nodes[source], nodes[source].input_type, "input")
    layers, params = [], []
    for stage in stages:
        population = nodes[stage.population]
        stored_kind, lif_params, (r, w_in, tau_syn) = _population(stage.population, population)
        n = int(np.shape(population.v_threshold)[0])
        weight = _projection(stage.projection, nodes[stage.projection], (n, n_prev))
        entry = {"weights": jaxsnn_weight(weight, tau_syn, r, w_in)}
        kind = "LIF"
        if stage.recurrent is not None:
            rec = _projection(stage.recurrent, nodes[stage.recurrent], (n, n))
            entry = {
                "input_weights": entry["weights"],
                "recurrent_weights": jaxsnn_weight(rec, tau_syn, r, w_in),
            }
            kind = "RecurrentLIF"
        if stored_kind is not None and (stored_kind == "RecurrentLIF") != (kind == "RecurrentLIF"):
            raise _node_error(
                stage.population,
                population,
                f"field metadata[{KIND_KEY!r}] is {stored_kind!r} but the population has "
                + ("a" if stage.recurrent else "no")
                + " recurrent projection",
            )
        layers.append(LayerSpec(stored_kind or kind, n, lif_params))
        params.append(entry)
        n_prev = n
    n_out = _shape_of(sink, nodes[sink], nodes[sink].output_type, "output")
    if n_out != n_prev:
        raise _node_error(
            sink,
            nodes[sink],
            f"field shape is ({n_out},), the last population has {n_prev} neurons",
        )
    metadata = dict(graph.metadata or {})
    t_max = metadata.get(T_MAX_KEY)
    if t_max is not None:
        t_max = float(t_max)
        if not (math.isfinite(t_max) and t_max > 0):
            raise ValueError(
                f"the NIR graph's metadata[{T_MAX_KEY!r}] is no positive time: {t_max}"
            )
    return NetworkSpec(tuple(layers), tuple(params), t_max, metadata)


def _max_events_per_layer(max_events: Any, n_layers: int) -> list[int | None]:
    """``max_events`` (``None``, an int, or one entry per layer) as one entry per layer."""
    if max_events is None or isinstance(max_events, int | np.integer):
        return [max_events] * n_layers
    entries = list(max_events)
    if len(entries) != n_layers:
        raise ValueError(f"max_events has {len(entries)} entries for {n_layers} layers")
    return entries


def build_network(
    layers: Sequence[LayerSpec],
    t_max: float,
    max_events: int | Sequence[int | None] | None = None,
    *,
    gradient: str | GradientMethod = "implicit",
) -> Layer:
    """The init/apply network of ``layers``: ``serial`` of one layer per population --
    :func:`~jaxsnn.event.leaky_integrate_and_fire.LIF`, ``TTFSLIF`` or ``RecurrentLIF`` with
    the spec's parameters, ``t_max`` and ``gradient`` (``"implicit"``, ``"eventprop"`` or a
    method object). ``apply(params, spikes) -> Spikes`` of the last population, ``params``
    one dict per population. ``max_events``: the buffer of each event-stepping layer (one
    int for all, or one entry per layer; ``None``: the layer's default); ``TTFSLIF`` layers
    keep one spike per neuron and ignore it."""
    layers = tuple(layers)
    if not layers:
        raise ValueError("layers must hold at least one LayerSpec")
    built = []
    for spec, events in zip(layers, _max_events_per_layer(max_events, len(layers)), strict=True):
        if spec.kind == "TTFSLIF":
            built.append(TTFSLIF(spec.size, spec.params, t_max, gradient=gradient))
        elif spec.kind == "RecurrentLIF":
            built.append(RecurrentLIF(spec.size, spec.params, t_max, events, gradient=gradient))
        else:
            built.append(LIF(spec.size, spec.params, t_max, events, gradient=gradient))
    return serial(*built)


def from_nir(
    graph: nir.NIRGraph | str | os.PathLike,
    t_max: float | None = None,
    max_events: int | Sequence[int | None] | None = None,
    *,
    gradient: str | GradientMethod = "implicit",
) -> tuple[Layer, tuple[dict[str, np.ndarray], ...]]:
    """An event-based jaxsnn network from a NIR graph or ``.nir`` file: ``(layer, params)``.

    ``layer.apply(params, spikes) -> Spikes``: input spikes (``idx`` the Input node's
    channels) in, the last population's spikes out; batch with ``jax.vmap(layer.apply,
    in_axes=(None, 0))``. ``params``: one dict of weights per population (float64 numpy
    arrays, trainable). The conversion is :func:`spec_from_nir` (exact, module docstring),
    the network :func:`build_network`. ``t_max``: simulation horizon in seconds (default:
    the graph's ``"jaxsnn_t_max"`` metadata, required if it has none); ``max_events`` and
    ``gradient`` as in :func:`build_network`.

    Raises:
        ValueError: anything :func:`spec_from_nir` refuses, or no ``t_max``.
    """
    spec = spec_from_nir(graph)
    if t_max is None:
        t_max = spec.t_max
    if t_max is None:
        raise ValueError(
            f"t_max is required: the NIR graph has no metadata[{T_MAX_KEY!r}]; pass "
            "t_max=... (seconds)"
        )
    return build_network(spec.layers, t_max, max_events, gradient=gradient), spec.params


# --- result folders -----------------------------------------------------------------------


def _task_config(folder: Path) -> tuple[str, dict[str, Any]]:
    """The task name and ``task_config`` of a result folder's ``metrics.json``, checked."""
    from jaxsnn.training import results

    metrics = results.load_metrics(folder)
    path = folder / results.METRICS
    config = metrics.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("task_config"), dict):
        raise DamagedFileError(path, "is not a jaxsnn metrics file (it has no 'config' object)")
    task = config.get("task", metrics.get("task"))
    if task not in EXPORTABLE_TASKS:
        raise ResultsError(
            f"{folder}: a {task!r} result cannot be exported to NIR; supported: "
            + ", ".join(EXPORTABLE_TASKS)
        )
    task_config = config["task_config"]
    needed = ("hidden", "tau_mem", "tau_syn", "t_max", "t_early", "t_late", "t_bias")
    for key in needed:
        if not isinstance(task_config.get(key), int | float) or isinstance(task_config[key], bool):
            raise DamagedFileError(path, f"is not a {task} metrics file (config lacks {key!r})")
    return task, task_config


def _result_weights(folder: Path, shapes: Mapping[str, tuple[int, int]]) -> dict[str, np.ndarray]:
    """The arrays of ``params.npz`` (checked loader), which must have exactly ``shapes``."""
    from jaxsnn.training import results

    arrays = results.load_params(folder)
    path = folder / results.PARAMS
    if set(arrays) != set(shapes):
        raise DamagedFileError(
            path,
            f"does not fit the network of metrics.json (entries {sorted(arrays)}, "
            f"expected {sorted(shapes)})",
        )
    for name, shape in shapes.items():
        if arrays[name].shape != shape:
            raise DamagedFileError(
                path,
                f"does not fit the network of metrics.json ({name!r} has shape "
                f"{arrays[name].shape}, expected {shape})",
            )
    return {name: np.asarray(value, np.float64) for name, value in arrays.items()}


def spec_from_result(folder: str | os.PathLike) -> NetworkSpec:
    """The :class:`NetworkSpec` of the trained network in a Yin-Yang event result folder.

    Reads ``metrics.json`` (the configuration) and ``params.npz`` with the checked loaders
    of :mod:`jaxsnn.training.results` and rebuilds the network as
    :mod:`jaxsnn.event.models` builds it: ``yinyang-analytical`` and ``yinyang-event-prop``
    are two ``TTFSLIF`` layers (hidden, 3 outputs) with ``neuron_parameters(config)``;
    ``yinyang-event-prop --recurrent`` is one ``RecurrentLIF`` population of ``hidden + 3``
    neurons (the last 3 are the outputs) with ``t_refrac = 2 t_max`` and the block-structured
    weights masked as the model masks them. The 5 inputs are the latency-coded features
    ``[x, y, 1-x, 1-y]`` and the bias spike (see ``jaxsnn.event.models.encoder_of``).
    ``t_max`` is the configuration's; ``metadata`` holds the task (``"jaxsnn_task"``) and
    its configuration as JSON (``"jaxsnn_config"``).

    Raises:
        ResultsError: not such a result folder (missing, damaged or foreign files, another
            task, an unfinished run): a ``ValueError`` with one line naming the file.
    """
    from jaxsnn.datasets import N_CLASSES, N_FEATURES
    from jaxsnn.event import models

    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(folder, f"{folder}: no such folder")
    task, config = _task_config(folder)
    n_inputs = models.encoder_of(config).n_channels(N_FEATURES)
    hidden, t_max = int(config["hidden"]), float(config["t_max"])
    params = models.neuron_parameters(config)
    metadata = {TASK_KEY: task, CONFIG_KEY: json.dumps(config, sort_keys=True)}
    if task == "yinyang-event-prop" and config.get("recurrent", False):
        mapping = models.classifier_mapping(config)
        size = mapping.size
        shapes = {"input_weights": (n_inputs, size), "recurrent_weights": (size, size)}
        arrays = _result_weights(folder, shapes)
        mask_in, mask_rec = (np.asarray(mask, np.float64) for mask in mapping.masks())
        entry = {
            "input_weights": arrays["input_weights"] * mask_in,
            "recurrent_weights": arrays["recurrent_weights"] * mask_rec,
        }
        layer = LayerSpec("RecurrentLIF", size, params._replace(t_refrac=2.0 * t_max))
        return NetworkSpec((layer,), (entry,), t_max, metadata)
    shapes = {"0/weights": (n_inputs, hidden), "1/weights": (hidden, N_CLASSES)}
    arrays = _result_weights(folder, shapes)
    layers = (LayerSpec("TTFSLIF", hidden, params), LayerSpec("TTFSLIF", N_CLASSES, params))
    weights = ({"weights": arrays["0/weights"]}, {"weights": arrays["1/weights"]})
    return NetworkSpec(layers, weights, t_max, metadata)


def export_result(folder: str | os.PathLike, path: str | os.PathLike) -> nir.NIRGraph:
    """Write the trained network of a Yin-Yang event result ``folder`` to the NIR file
    ``path`` (:func:`spec_from_result`, :func:`to_nir`, :func:`write_nir`) and return its
    graph. What ``jaxsnn export-nir FOLDER PATH`` runs.

    Raises:
        ResultsError: the folder is not such a result, or ``path`` cannot be written.
        MissingNIRError: the package ``nir`` is not installed.
    """
    _nir()  # before reading anything: the clearest error first
    graph = to_nir(*spec_from_result(folder))
    write_nir(path, graph)
    return graph
