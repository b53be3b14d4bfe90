"""Where the populations of a network sit on the chip: one explicit mapping object.

BrainScaleS-2 runs one recurrent population of analog neurons; a layered network (inputs ->
hidden -> output, or deeper) is placed onto it as consecutive blocks of hardware neurons, and
each projection becomes a block of synapses. :class:`NetworkMapping` holds that placement and
translates both ways:

* software weights (one matrix per projection) -> the hardware population's
  ``input_weights [n_inputs, N]`` and ``recurrent_weights [N, N]`` (zeros outside the
  projections' blocks), and back;
* the hardware population's recorded spikes -> one :class:`~jaxsnn.event.types.Spikes` list
  per population, renumbered from 0;
* the synapse rows of the chip: every presynaptic source (an input channel or a hardware
  neuron) drives an *excitatory* and an *inhibitory* synapse row, ``2 * source`` and
  ``2 * source + 1``; a signed weight uses the row of its sign (:func:`synapse_rows`).

Hardware neuron ``offset(p) + j`` is neuron ``j`` of population ``p``; populations are placed
in the order given, from hardware neuron 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxsnn.event.types import Spikes, neuron_range

Array = jnp.ndarray

#: name of the input layer in projections
INPUT = "input"
#: neurons of one BrainScaleS-2 chip
BSS2_NEURONS = 512


@dataclass(frozen=True)
class NetworkMapping:
    """A network of populations and projections placed onto one hardware population.

    ``populations``: ``(name, size)`` pairs in placement order; ``projections``: ``(source,
    target)`` pairs, ``source`` a population or :data:`INPUT`, ``target`` a population;
    ``n_inputs``: input channels; ``n_hardware``: neurons available on the chip.
    """

    n_inputs: int
    populations: tuple[tuple[str, int], ...]
    projections: tuple[tuple[str, str], ...]
    n_hardware: int = BSS2_NEURONS

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "populations", tuple((str(n), int(s)) for n, s in self.populations)
        )
        object.__setattr__(
            self, "projections", tuple((str(a), str(b)) for a, b in self.projections)
        )
        if not isinstance(self.n_inputs, int) or self.n_inputs < 1:
            raise ValueError(f"n_inputs must be a positive integer, got {self.n_inputs!r}")
        if not self.populations:
            raise ValueError("a mapping needs at least one population")
        names = [name for name, _ in self.populations]
        if len(set(names)) != len(names) or INPUT in names:
            raise ValueError(f"population names must be unique and not {INPUT!r}, got {names}")
        for name, size in self.populations:
            if size < 1:
                raise ValueError(f"population {name!r} must have at least one neuron, got {size}")
        if self.size > self.n_hardware:
            raise ValueError(
                f"the populations need {self.size} neurons but the chip has {self.n_hardware}"
            )
        if len(set(self.projections)) != len(self.projections):
            raise ValueError(f"projections must be unique, got {list(self.projections)}")
        for source, target in self.projections:
            if target == INPUT:
                raise ValueError(
                    f"projection {source!r} -> {target!r}: nothing projects into the input"
                )
            if target not in names:
                raise ValueError(f"projection {source!r} -> {target!r}: unknown target population")
            if source != INPUT and source not in names:
                raise ValueError(f"projection {source!r} -> {target!r}: unknown source population")

    @classmethod
    def layered(
        cls, n_inputs: int, sizes: Sequence[int], names: Sequence[str] | None = None, **kwargs
    ) -> NetworkMapping:
        """A feed-forward chain ``input -> layer 0 -> layer 1 -> ...`` (names default to
        ``hidden``, ``hidden2``, ... and ``output`` for the last)."""
        if names is None:
            names = [f"hidden{k + 1}" if k else "hidden" for k in range(len(sizes) - 1)]
            names.append("output")
        chain = [INPUT, *names]
        return cls(
            n_inputs,
            tuple(zip(names, sizes, strict=True)),
            tuple(zip(chain[:-1], chain[1:], strict=True)),
            **kwargs,
        )

    @property
    def size(self) -> int:
        """Hardware neurons used: the sum of the population sizes."""
        return sum(size for _, size in self.populations)

    def offset(self, name: str) -> int:
        """First hardware neuron of population ``name``."""
        start = 0
        for population, size in self.populations:
            if population == name:
                return start
            start += size
        raise KeyError(f"no population named {name!r}")

    def neurons(self, name: str) -> slice:
        """The hardware neurons of population ``name``, as a slice."""
        return slice(self.offset(name), self.offset(name) + dict(self.populations)[name])

    def _rows(self, source: str) -> slice:
        return slice(0, self.n_inputs) if source == INPUT else self.neurons(source)

    def weight_shapes(self) -> dict[tuple[str, str], tuple[int, int]]:
        """``[n_source, n_target]`` of each projection's weight matrix."""
        sizes = dict(self.populations, **{INPUT: self.n_inputs})
        return {(s, t): (sizes[s], sizes[t]) for s, t in self.projections}

    @property
    def is_layered(self) -> bool:
        """Whether every projection goes from the input or an earlier population to a later
        one (no recurrence): then the populations can be simulated one after the other."""
        order = {name: k for k, (name, _) in enumerate(self.populations)}
        order[INPUT] = -1
        return all(order[s] < order[t] for s, t in self.projections)

    def to_hardware(self, weights: Mapping[tuple[str, str], ArrayLike]) -> tuple[Array, Array]:
        """``(input_weights [n_inputs, N], recurrent_weights [N, N])`` of the hardware
        population (``N = self.size``) from one ``[n_source, n_target]`` matrix per
        projection; zero where no projection is."""
        shapes = self.weight_shapes()
        if set(weights) != set(shapes):
            raise ValueError(f"weights must have one entry per projection {sorted(shapes)}")
        dtype = jnp.result_type(*[jnp.asarray(w) for w in weights.values()], float)
        w_in = jnp.zeros((self.n_inputs, self.size), dtype)
        w_rec = jnp.zeros((self.size, self.size), dtype)
        for (source, target), w in weights.items():
            w = jnp.asarray(w, dtype)
            if w.shape != shapes[(source, target)]:
                raise ValueError(
                    f"weights of {source!r} -> {target!r} must have shape "
                    f"{shapes[(source, target)]}, got {w.shape}"
                )
            cols = self.neurons(target)
            if source == INPUT:
                w_in = w_in.at[:, cols].set(w)
            else:
                w_rec = w_rec.at[self._rows(source), cols].set(w)
        return w_in, w_rec

    def from_hardware(
        self, input_weights: ArrayLike, recurrent_weights: ArrayLike
    ) -> dict[tuple[str, str], Array]:
        """The projections' weight matrices from the hardware population's (the inverse of
        :meth:`to_hardware` on its image)."""
        result = {}
        for source, target in self.projections:
            matrix = input_weights if source == INPUT else recurrent_weights
            result[(source, target)] = jnp.asarray(matrix)[self._rows(source), self.neurons(target)]
        return result

    def masks(self) -> tuple[Array, Array]:
        """0/1 masks of the hardware weight matrices that hold a projection."""
        ones = {key: jnp.ones(shape) for key, shape in self.weight_shapes().items()}
        return self.to_hardware(ones)

    def split_spikes(self, spikes: Spikes) -> dict[str, Spikes]:
        """The hardware population's spikes as one list per population, renumbered from 0
        (same buffer length; ``dropped`` carried along). Works on batched lists too."""
        return {
            name: neuron_range(spikes, self.offset(name), self.offset(name) + size)
            for name, size in self.populations
        }

    def spike_counts(self, spikes: Spikes) -> dict[str, Array]:
        """``{"<population>_spikes": count}`` of the hardware population's spikes (per sample
        when batched): diagnostics of a backend run."""
        return {
            f"{name}_spikes": jnp.sum(
                (spikes.idx >= self.offset(name)) & (spikes.idx < self.offset(name) + size),
                axis=-1,
            )
            for name, size in self.populations
        }


def synapse_rows(sources: ArrayLike, signed_weights: ArrayLike) -> tuple[Array, Array]:
    """The chip's synapse row and 6-bit magnitude of each signed weight: row ``2 s`` carries
    the excitatory (``w >= 0``), row ``2 s + 1`` the inhibitory weights of source ``s``.

    ``signed_weights`` are hardware weights (integers in ``[-63, 63]``, see
    :func:`jaxsnn.event.hardware.artifacts.quantize_weights`); returns ``(row, magnitude)``.
    """
    w = jnp.asarray(signed_weights)
    row = 2 * jnp.asarray(sources) + (w < 0).astype(jnp.int32)
    return row, jnp.abs(w)
