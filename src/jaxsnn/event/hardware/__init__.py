"""The hardware layer: BrainScaleS-2 (BSS-2) as a source of forward spikes.

jaxsnn trains analog neuromorphic hardware with exact event-based gradients: the forward
spikes come from the chip, the gradients from the software model's EventProp adjoint at those
spikes. The chip is a third source of forward spikes for the same layers
(``EventProp(forward=backend)``), not a separate family of layers.

* :mod:`~jaxsnn.event.hardware.mapping` -- :class:`NetworkMapping`: populations and
  projections placed onto one recurrent hardware population, and back;
* :mod:`~jaxsnn.event.hardware.artifacts` -- the chip's imperfections as pure functions;
* :mod:`~jaxsnn.event.hardware.mock` -- :class:`MockBackend`, the software mock;
* :mod:`~jaxsnn.event.hardware.bss2` -- :class:`BSS2Backend`, the real chip (only where the
  platform's software stack is installed).
"""

from jaxsnn.event.hardware.artifacts import (
    CLOCK_PERIOD,
    add_jitter,
    cap_readout,
    hardware_weights,
    mismatched_parameters,
    quantize_times,
    quantize_weights,
)
from jaxsnn.event.hardware.mapping import INPUT, NetworkMapping, synapse_rows
from jaxsnn.event.hardware.mock import Artifacts, HardwareRun, MockBackend

__all__ = [
    "CLOCK_PERIOD",
    "INPUT",
    "Artifacts",
    "HardwareRun",
    "MockBackend",
    "NetworkMapping",
    "add_jitter",
    "cap_readout",
    "hardware_weights",
    "mismatched_parameters",
    "quantize_times",
    "quantize_weights",
    "synapse_rows",
]
