"""EventProp: exact gradients by the adjoint method (Wunderlich & Pehle 2021).

The forward pass is the ordinary event-based simulation; it keeps only the spikes. The
backward pass integrates the adjoint variables ``lambda = dL/d(V, I)`` of every neuron from
``t_max`` back to ``0`` in closed form between events (:func:`jaxsnn.neuron.adjoint_propagate`)
and applies a jump at each event. Memory and time grow with the number of events, not with
``t_max`` or with the iterations of the crossing solver.

**Adjoint between events** (a refractory neuron holds ``V``, so its ``lambda_V`` stays
constant and ``lambda_I`` only decays)::

    lambda_V(t - dt) = lambda_V(t) e^{-dt/tau_mem}
    lambda_I(t - dt) = lambda_I(t) e^{-dt/tau_syn} + lambda_V(t) k(dt)

**Jumps** (``+``/``-``: just after/before the event; ``free_j``: neuron ``j`` not refractory)

* input spike ``m`` of source ``s`` at ``t_m`` (``I += W_in[s]``): ``lambda`` is continuous;
  ``dL/dW_in[s, j] += lambda_I,j(t_m)`` and, since moving the jump later by ``dt`` changes the
  state by ``dt (-free_j W_in[s, j] / tau_mem, W_in[s, j] / tau_syn)``::

      dL/dt_m = sum_j W_in[s, j] (lambda_I,j / tau_syn - free_j lambda_V,j / tau_mem)

* spike ``k`` of neuron ``n`` at ``t_k`` (``V_n`` reaches ``v_th`` with slope
  ``dV_n/dt^- = (v_leak - v_th + I_n(t_k)) / tau_mem > 0``; then ``V_n = v_reset`` and
  ``I += W_rec[n]``). The total sensitivity of the loss to ``t_k`` is::

      G_k = dL/dt_k                                   (the loss, through the output)
          + sum_j W_rec[n, j] (lambda_I,j^+ / tau_syn - free_j lambda_V,j^+ / tau_mem)
          - lambda_V,n(r^+) (v_leak - v_reset + I_n(r)) / tau_mem

  where ``r = t_k + t_refrac`` is when ``V_n`` starts to move again (``r = t_k`` without a
  refractory period). The spike time depends on the state before it only through ``V_n``
  (``dt_k = -dV_n / (dV_n/dt^-)``), and the reset erases ``V_n``, so::

      lambda_V,n^- = -G_k / (dV_n/dt^-),    every other component of lambda is continuous

  and ``dL/dW_rec[n, j] += lambda_I,j(t_k)``.

Simultaneous events follow the forward order (:class:`jaxsnn.event.types.EventKind`): at
equal times a refractory period ends first, then all crossings (one group: their ``G_k`` use
``lambda`` after the whole group), then the input spikes in list order. The currents ``I_n`` at the
spikes are not stored but recomputed from the spike lists (``I`` never depends on ``V``).

The package is split by concern:

* :mod:`~jaxsnn.event.eventprop.scan` -- :func:`eventprop_backward`, a reverse scan over
  the events (recurrent weights, refractory periods, several spikes per neuron);
* :mod:`~jaxsnn.event.eventprop.first_spike` -- :func:`first_spike_backward`, the same adjoint
  in closed form for feed-forward layers whose neurons spike at most once
  (``lambda_n(t) = a_n (e^{-(t_n - t)/tau_mem}, k(t_n - t))`` before the spike), vectorised
  over inputs and neurons like the forward fast path;
* :mod:`~jaxsnn.event.eventprop.layered` -- :func:`layered_backward`, the first-spike closed
  form applied population by population to a recurrent population that is a chain of
  feed-forward layers (a layered hardware mapping), last population first;
* :mod:`~jaxsnn.event.eventprop.attach` -- the ``jax.custom_vjp`` that attaches a backward
  pass to spikes that are given (:func:`with_eventprop_gradient`: from a simulation, a
  hardware backend or a mock), and :func:`eventprop_population` /
  :func:`eventprop_first_spikes`, which simulate and attach in one call.

All backward passes share one signature, ``(input_weights, recurrent_weights, params,
inputs, outputs, time_cotangent, t_max, plan) -> AdjointGradients``. The neuron parameters
get no gradient.
"""

from jaxsnn.event.eventprop.attach import (
    eventprop_first_spikes,
    eventprop_population,
    with_eventprop_gradient,
)
from jaxsnn.event.eventprop.common import AdjointGradients
from jaxsnn.event.eventprop.first_spike import first_spike_backward
from jaxsnn.event.eventprop.layered import layered_backward
from jaxsnn.event.eventprop.scan import currents_before, eventprop_backward

__all__ = [
    "AdjointGradients",
    "currents_before",
    "eventprop_backward",
    "eventprop_first_spikes",
    "eventprop_population",
    "first_spike_backward",
    "layered_backward",
    "with_eventprop_gradient",
]
