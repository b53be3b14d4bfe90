"""Time-discrete simulation of spiking neural networks with surrogate gradients.

Forward Euler on a fixed time grid (``lax.scan``), gradients through a surrogate
derivative of the spike threshold. The parts:

* :mod:`jaxsnn.discrete.functional` -- pure step functions (``lif_step``, ``li_step``,
  ``linear``, ``simulate``);
* :mod:`jaxsnn.discrete.surrogate` -- threshold functions
  (``jaxsnn.discrete.surrogate.surrogate("superspike", alpha=100.0)``, ...);
* :mod:`jaxsnn.discrete.layers` -- init/apply layers (``Linear``, ``LIF``, ``LI``,
  ``RecurrentLIF``) for :func:`jaxsnn.base.serial`;
* :mod:`jaxsnn.discrete.decoding` -- readouts and losses;
* :mod:`jaxsnn.discrete.models` -- the networks of the tasks (the max-over-time classifier).
"""

from jaxsnn.discrete.decoding import (
    accuracy,
    cross_entropy,
    first_spike_index,
    first_spike_time,
    max_over_time,
    max_over_time_loss,
    spike_counts,
    spike_raster,
)
from jaxsnn.discrete.functional import (
    DiscreteLIFState,
    LIState,
    li_step,
    lif_step,
    linear,
    simulate,
)
from jaxsnn.discrete.layers import LI, LIF, Linear, RecurrentLIF
from jaxsnn.discrete.surrogate import SURROGATES

__all__ = [
    "LI",
    "LIF",
    "SURROGATES",
    "DiscreteLIFState",
    "LIState",
    "Linear",
    "RecurrentLIF",
    "accuracy",
    "cross_entropy",
    "first_spike_index",
    "first_spike_time",
    "li_step",
    "lif_step",
    "linear",
    "max_over_time",
    "max_over_time_loss",
    "simulate",
    "spike_counts",
    "spike_raster",
]
