"""jaxsnn: spiking neural networks in JAX, event-based with exact gradients and time-discrete.

The top-level package is deliberately light (it imports neither JAX nor a simulator), so
that ``jaxsnn plot`` starts fast. Import the parts you need::

    from jaxsnn.neuron import LIFParameters
    from jaxsnn.base import serial
    from jaxsnn.datasets import yinyang_split
"""

__version__ = "0.1.0"
