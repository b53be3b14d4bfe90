"""Next threshold crossing of a current-based LIF neuron, with implicit-function gradients.

Between events the distance to threshold is (``y0 = V0 - v_leak``, ``theta = v_th - v_leak``)::

    u(t) = V(t) - v_th = v_leak - v_th + A exp(-t/tau_mem) + B exp(-t/tau_syn)

(``A``, ``B`` from :func:`jaxsnn.neuron.propagate`, which is the only place that evaluates
``V``). ``u`` has at most one extremum, at the analytic time (see :func:`extremum_time`)::

    t_e = tau_syn k log1p(eps k) / (eps k),   k = 1 - y0 / I0,   eps = tau_syn / tau_mem - 1

:func:`next_crossing` returns the earliest ``dt >= 0`` with ``u(dt) = 0`` reached from below,
``0`` when the neuron is already at or above threshold, and ``+inf`` when ``V`` never reaches
``v_th``. Three solvers, chosen statically by :func:`jaxsnn.event.plan.crossing_solver`:

* ``"equal"`` (``tau_mem == tau_syn = tau``): ``dt = tau (-W0(z) - y0 / I0)`` with
  ``z = -(theta / I0) exp(-y0 / I0)`` and the principal Lambert-W branch :func:`lambertw0`;
* ``"double"`` (``tau_mem == 2 tau_syn``): ``u`` is the quadratic
  ``-theta + (y0 + I0) x - I0 x^2`` in ``x = exp(-dt/tau_mem)``; ``dt = -tau_mem log x+``;
* ``"general"`` (any ratio, any ``v_leak``): bracket the root with the extremum, then
  safeguarded Newton/bisection in a ``lax.while_loop`` to float precision.

The closed forms assume ``v_leak < v_th``; the general solver is always correct and is the
fallback (also when the parameters are traced). Spike-time derivatives never come from the
iterations: a ``jax.custom_jvp`` applies the implicit function theorem at the root,
``d dt* = -(du/dtheta . dtheta) / (du/dt)(dt*)``, with ``du/dt = (I - (V - v_leak)) / tau_mem``.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxsnn.event.plan import CROSSING_SOLVERS, crossing_solver
from jaxsnn.neuron import LIFParameters, LIFState, as_float_params, propagate
from jaxsnn.numerics import log1p_ratio, safe_divide

Array = jnp.ndarray


def slope(state: LIFState, params: LIFParameters) -> Array:
    """``dV/dt = (I - (V - v_leak)) / tau_mem``."""
    return (state.i - (state.v - params.v_leak)) / params.tau_mem


def extremum_time(state: LIFState, params: LIFParameters) -> tuple[Array, Array]:
    """Time ``t_e > 0`` of the one extremum of ``V`` after now, and whether it exists.

    ``dV/dt = 0  <=>  I(t) = V(t) - v_leak``; solving with ``propagate`` gives::

        t_e = tau_syn k psi(eps k),  k = (I0 - y0) / I0,  eps = tau_syn / tau_mem - 1

    with ``psi(x) = log1p(x) / x`` (so ``t_e = tau k`` for equal time constants). It exists
    when ``I0 != 0``, ``k > 0`` and ``1 + eps k > 0``. It is a maximum when ``V`` rises at
    ``t = 0`` (``I0 > y0``) and a minimum otherwise.
    """
    y0 = state.v - params.v_leak
    nonzero = state.i != 0
    k = safe_divide(state.i - y0, state.i, nonzero)
    arg = (params.tau_syn / params.tau_mem - 1.0) * k
    exists = nonzero & (k > 0) & (arg > -1.0)
    t_e = params.tau_syn * k * log1p_ratio(jnp.where(exists, arg, 0.0))
    return jnp.where(exists, t_e, 0.0), exists


def lambertw0(x: ArrayLike, iterations: int = 4) -> Array:
    """Principal branch ``W0(x)`` of the Lambert W function (``w e^w = x``), ``x >= -1/e``.

    Start: the branch-point series ``-1 + p - p^2/3 + 11 p^3 / 72`` with
    ``p = sqrt(2 (e x + 1))`` for ``x < -0.25``, else Winitzki's
    ``L (1 - log(1 + L) / (2 + L))`` with ``L = log(1 + x)``; then Halley steps
    ``w <- w - f / (e^w (w + 1) - (w + 2) f / (2 w + 2))``, ``f = w e^w - x``, which converge
    cubically (float64 precision after ``iterations = 4``). ``x < -1/e`` gives NaN.
    """
    x = jnp.asarray(x)
    p = jnp.sqrt(jnp.maximum(2.0 * (math.e * x + 1.0), 0.0))
    branch = -1.0 + p * (1.0 + p * (-1.0 / 3.0 + p * 11.0 / 72.0))
    lx = jnp.log1p(jnp.maximum(x, -0.25))
    winitzki = lx * (1.0 - jnp.log1p(lx) / (2.0 + lx))
    w = jnp.where(x < -0.25, branch, winitzki)
    for _ in range(iterations):
        ew = jnp.exp(w)
        f = w * ew - x
        wp1 = w + 1.0
        ok = jnp.abs(wp1) > 1e-6
        wp1_safe = jnp.where(ok, wp1, 1.0)
        den = ew * wp1_safe - (w + 2.0) * f / (2.0 * wp1_safe)
        w = jnp.where(ok & (den != 0), w - f / jnp.where(den != 0, den, 1.0), w)
    return jnp.where(x < -1.0 / math.e, jnp.nan, w)


# --------------------------------------------------------------------------- solvers


def _crossing_equal(v0: Array, i0: Array, params: LIFParameters) -> Array:
    """``tau_mem == tau_syn = tau``: ``(y0 + I0 s) e^{-s} = theta`` in ``s = dt / tau``.

    With ``z = -(theta / I0) exp(-y0 / I0) >= -1/e`` the rising root is
    ``s = -W0(z) - y0 / I0``; it exists when ``V`` rises now (``I0 > y0``), ``I0 > 0`` and
    ``z >= -1/e`` (computed as ``log(-z) <= -1`` to avoid overflow).
    """
    tau = params.tau_mem
    y0 = v0 - params.v_leak
    theta = params.v_th - params.v_leak
    positive = i0 > 0
    i_safe = jnp.where(positive, i0, 1.0)
    log_mz = jnp.log(theta) - jnp.log(i_safe) - y0 / i_safe
    ok = positive & (i0 > y0) & (log_mz <= -1.0)
    z = -jnp.exp(jnp.minimum(log_mz, -1.0))
    s = -lambertw0(z) - y0 / i_safe
    dt = tau * jnp.maximum(s, 0.0)
    return jnp.where(v0 >= params.v_th, 0.0, jnp.where(ok, dt, jnp.inf))


def _crossing_double(v0: Array, i0: Array, params: LIFParameters) -> Array:
    """``tau_mem == 2 tau_syn``: ``-theta + b x - I0 x^2 = 0`` with ``x = exp(-dt/tau_mem)``.

    ``b = y0 + I0``; the first (rising) crossing is the larger root
    ``x+ = (b + sqrt(b^2 - 4 I0 theta)) / (2 I0)``, valid when ``V`` rises now
    (``I0 > y0``), ``I0 > 0``, ``b > 0`` and the discriminant is ``>= 0``;
    ``dt = -tau_mem log x+``.
    """
    y0 = v0 - params.v_leak
    theta = params.v_th - params.v_leak
    b = y0 + i0
    disc = b * b - 4.0 * i0 * theta
    positive = i0 > 0
    ok = positive & (i0 > y0) & (b > 0) & (disc >= 0)
    x = (b + jnp.sqrt(jnp.maximum(disc, 0.0))) / (2.0 * jnp.where(positive, i0, 1.0))
    x = jnp.where(ok, jnp.minimum(x, 1.0), 1.0)
    dt = -params.tau_mem * jnp.log(x)
    return jnp.where(v0 >= params.v_th, 0.0, jnp.where(ok, dt, jnp.inf))


#: ``|tau_mem / tau_syn - 2|`` up to which the general solver starts from the "double" root
NEAR_DOUBLE = 0.3


def _general_bracket(v0: Array, i0: Array, params: LIFParameters):
    """Interval ``[lo, hi]`` on which ``u`` rises from ``< 0`` to ``>= 0``, whether one exists,
    and a starting point in it.

    Cases (``u(0) < 0``; ``c = v_leak - v_th``): rising now with a maximum at ``t_e``:
    ``[0, t_e]`` if ``u(t_e) >= 0``; rising without extremum, or falling to a minimum at
    ``t_e``: ``[0 or t_e, t_far]`` if ``c > 0``, with ``t_far = 2 tau_slow log(M / c)``,
    ``M = |y0| + |I0| tau_slow / tau_mem``, past which ``u >= c - M e^{-t / (2 tau_slow)} >= 0``.

    The start is ``lo``, except below a maximum, where it is the root of the Taylor parabola
    ``u(t_e) + u''(t_e) (t - t_e)^2 / 2`` (``u''(t_e) = -I(t_e) / (tau_syn tau_mem)``), clipped
    to the bracket: crossings near the maximum, where ``u'`` is small, are the slow ones for
    Newton's method from ``lo`` (up to 12 iterations in float32 against 7 from this start).
    Where ``tau_mem / tau_syn`` is within :data:`NEAR_DOUBLE` of 2, the start is instead the
    ``"double"`` closed form's root for ``tau_syn = tau_mem / 2`` (where it exists).
    """
    state = LIFState(v0, i0)
    y0 = v0 - params.v_leak
    c = params.v_leak - params.v_th
    rising = i0 > y0
    t_e, has_ext = extremum_time(state, params)
    s_e = propagate(state, t_e, params)
    u_e = s_e.v - params.v_th
    c_pos = c > 0
    tau_slow = jnp.maximum(params.tau_mem, params.tau_syn)
    m = jnp.abs(y0) + jnp.abs(i0) * tau_slow / params.tau_mem
    ratio = jnp.maximum(m / jnp.where(c_pos, c, 1.0), 1.0)
    t_far = 2.0 * tau_slow * jnp.log(ratio)
    case_max = rising & has_ext & (u_e >= 0)
    case_far = c_pos & ~(rising & has_ext)
    lo = jnp.where(~rising & has_ext, t_e, 0.0)
    hi = jnp.where(case_max, t_e, jnp.maximum(t_far, lo))
    found = case_max | case_far
    lo, hi = jnp.where(found, lo, 0.0), jnp.where(found, hi, 0.0)
    curvature = s_e.i / (params.tau_syn * params.tau_mem)  # -u''(t_e) at a maximum
    below_max = t_e - jnp.sqrt(2.0 * safe_divide(u_e, curvature, case_max & (curvature > 0)))
    # near tau_mem = 2 tau_syn (a mismatched chip's neurons), the "double" closed form with
    # tau_syn -> tau_mem / 2 is a far better start: its error is of the order of the ratio's
    # deviation from 2 (3 iterations instead of up to 15 from the parabola's)
    near_double = jnp.abs(params.tau_mem / params.tau_syn - 2.0) <= NEAR_DOUBLE
    double = _crossing_double(v0, i0, params)
    start = jnp.where(near_double & jnp.isfinite(double), double, below_max)
    start = jnp.where(case_max, jnp.clip(start, lo, hi), lo)
    return lo, hi, found, start


def _crossing_general(v0: Array, i0: Array, params: LIFParameters, max_iter: int = 100) -> Array:
    """Any ratio: safeguarded Newton/bisection on the bracket of :func:`_general_bracket`.

    Each iteration evaluates ``u``, ``u'`` and ``u''`` with ``propagate`` at ``x``, shrinks the
    bracket by the sign of ``u``, and takes the Halley step ``x - (u/u') / (1 - r)``,
    ``r = u u'' / (2 u'^2)`` (the Newton step where ``|r| > 1/2``) if it stays inside the
    bracket (from below the root, a step that rounds to zero stays at ``x``: converged;
    bisecting there would take ~50 more iterations), else bisects. It stops (per element) when
    the step or the bracket is below ``2 eps (x + tau_min)``, or ``|u|`` is within the rounding
    of its terms, ``4 eps (|v_th - v_leak| + |V - v_leak| + |I|)`` (near a maximum, where
    ``u'`` is small, the steps would otherwise follow the rounding noise for up to 15
    iterations in float32); ``while_loop`` with at most ``max_iter`` iterations.
    """
    lo, hi, found, start = _general_bracket(v0, i0, params)
    eps = jnp.finfo(jnp.result_type(v0, i0)).eps
    tau_min = jnp.minimum(params.tau_mem, params.tau_syn)
    theta = jnp.abs(params.v_th - params.v_leak)
    state0 = LIFState(v0, i0)

    def cond(carry):
        _, _, _, done, it = carry
        return (it < max_iter) & ~jnp.all(done)

    def body(carry):
        lo, hi, x, done, it = carry
        s = propagate(state0, x, params)
        f = s.v - params.v_th
        df = slope(s, params)
        below = f < 0
        lo_new = jnp.where(below, x, lo)
        hi_new = jnp.where(below, hi, x)
        rising = df > 0
        newton_step = f / jnp.where(rising, df, 1.0)
        # Halley's correction 1 / (1 - r), r = u u'' / (2 u'^2), where |r| <= 1/2
        d2f = (-s.i / params.tau_syn - df) / params.tau_mem
        r = 0.5 * newton_step * d2f / jnp.where(rising, df, 1.0)
        newton = x - jnp.where(jnp.abs(r) <= 0.5, newton_step / (1.0 - r), newton_step)
        # below the root, a step lost to rounding (newton == x == lo_new) stays: converged
        inside = rising & (newton >= lo_new) & (newton < hi_new)
        x_new = jnp.where(inside, newton, 0.5 * (lo_new + hi_new))
        x_new = jnp.where(f == 0, x, x_new)
        tol = 2.0 * eps * (jnp.abs(x) + tau_min)
        # |u| within rounding of its terms: further steps would only follow the rounding noise
        noise = 4.0 * eps * (theta + jnp.abs(s.v - params.v_leak) + jnp.abs(s.i))
        converged = (jnp.abs(x_new - x) <= tol) | (hi_new - lo_new <= tol) | (jnp.abs(f) <= noise)
        keep = done
        return (
            jnp.where(keep, lo, lo_new),
            jnp.where(keep, hi, hi_new),
            jnp.where(keep, x, x_new),
            done | converged,
            it + 1,
        )

    init = (lo, hi, start, ~found, jnp.array(0))
    _, _, root, _, _ = jax.lax.while_loop(cond, body, init)
    return jnp.where(v0 >= params.v_th, 0.0, jnp.where(found, root, jnp.inf))


_SOLVERS = {
    "equal": _crossing_equal,
    "double": _crossing_double,
    "general": _crossing_general,
}


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def _crossing(method: str, v0: Array, i0: Array, params: LIFParameters) -> Array:
    """Primal dispatch; derivatives from :func:`_crossing_jvp` (implicit function theorem)."""
    v0, i0 = jnp.broadcast_arrays(v0, i0)
    return _SOLVERS[method](v0, i0, params)


@_crossing.defjvp
def _crossing_jvp(method, primals, tangents):
    """IFT: ``d dt* = -(du/d(v0, i0, params) . tangents) / u'(dt*)`` where ``u'(dt*) > 0``.

    Entries with no crossing (``+inf``) or without a rising slope get a zero tangent.
    """
    v0, i0, params = primals
    dt = _crossing(method, v0, i0, params)
    found = jnp.isfinite(dt)
    t_eval = jnp.where(found, dt, 0.0)

    def voltage(v0, i0, params):
        return propagate(LIFState(v0, i0), t_eval, params).v

    v_root, dv = jax.jvp(voltage, primals, tangents)
    # du = dV - dv_th; the slope needs I at the root: I0 exp(-t/tau_syn)
    du = dv - tangents[2].v_th
    i_root = i0 * jnp.exp(-t_eval / params.tau_syn)
    rate = (i_root - (v_root - params.v_leak)) / params.tau_mem
    ok = found & (rate > 0)
    return dt, jnp.broadcast_to(safe_divide(-du, rate, ok), dt.shape)


def next_crossing(
    state: LIFState,
    params: LIFParameters,
    refractory_left: ArrayLike | None = None,
    method: str | None = None,
) -> Array:
    """Time ``dt >= 0`` from now to the next crossing of ``v_th`` from below, or ``+inf``.

    Elementwise over the (broadcast) arrays of ``state`` and ``params``. ``dt = 0`` when
    ``V >= v_th`` already. With ``refractory_left = r > 0`` the voltage is held (at its
    current value, ``v_reset`` after a spike) for ``r`` more seconds while ``I`` decays::

        dt = r + crossing(V, I exp(-r / tau_syn))

    ``method`` (one of :data:`~jaxsnn.event.plan.CROSSING_SOLVERS`; by default
    :func:`~jaxsnn.event.plan.crossing_solver` of ``params``) picks the solver; gradients with
    respect to ``state``, ``params`` and ``refractory_left`` are exact (implicit function
    theorem) and finite; a neuron that never crosses has zero gradient.
    """
    if method is None:
        method = crossing_solver(params)
    if method not in _SOLVERS:
        raise ValueError(f"method must be one of {CROSSING_SOLVERS}, got {method!r}")
    v0 = jnp.asarray(state.v)
    i0 = jnp.asarray(state.i)
    dtype = jnp.result_type(v0, i0, float)
    params = as_float_params(params, dtype)
    v0, i0 = v0.astype(dtype), i0.astype(dtype)
    if refractory_left is None:
        return _crossing(method, v0, i0, params)
    refractory_left = jnp.asarray(refractory_left, dtype)
    # where, not maximum: at exactly 0 the neuron is free (no half-gradient into `held`)
    held = jnp.where(refractory_left > 0, refractory_left, 0.0)
    i_free = i0 * jnp.exp(-held / params.tau_syn)
    return held + _crossing(method, v0, i_free, params)
