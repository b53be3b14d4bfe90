"""An independent float64 reference for the event-based simulator: numerical ODE integration.

``scipy.integrate.solve_ivp`` (DOP853) integrates the LIF equations for all neurons between
breakpoints (input spikes, ends of refractory periods, ``t_max``); a terminal event per
non-refractory neuron detects its threshold crossing (from below); the integration restarts
after applying the reset, the refractory hold and the recurrent input. No closed form is used.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp


def _crossing_event(j: int, n: int, v_th: float):
    def event(_, y):
        return y[j] - v_th

    event.terminal = True
    event.direction = 1.0
    return event


def reference_spikes(
    w_in, w_rec, params, times, sources, t_max, rtol=1e-12, atol=1e-12
) -> tuple[np.ndarray, np.ndarray]:
    """Output spikes ``(times, neurons)`` in time order, from the ODE with event detection."""
    w_in = np.asarray(w_in, np.float64)
    n = w_in.shape[1]
    w_rec = np.zeros((n, n)) if w_rec is None else np.asarray(w_rec, np.float64)
    p = params
    v = np.full(n, float(p.v_leak))
    cur = np.zeros(n)
    refractory_until = np.full(n, -np.inf)
    t, k = 0.0, 0
    out_t, out_j = [], []
    times = [float(x) for x in times]
    while t < t_max:
        t_in = times[k] if k < len(times) else np.inf
        ends = refractory_until[refractory_until > t]
        t_stop = min(t_in, ends.min() if ends.size else np.inf, t_max)
        if t_stop > t:
            active = refractory_until <= t
            ids = np.nonzero(active)[0]

            def rhs(_, y, active=active):
                dv = np.where(active, (-(y[:n] - p.v_leak) + y[n:]) / p.tau_mem, 0.0)
                return np.concatenate([dv, -y[n:] / p.tau_syn])

            events = [_crossing_event(j, n, p.v_th) for j in ids]
            sol = solve_ivp(
                rhs,
                (t, t_stop),
                np.concatenate([v, cur]),
                method="DOP853",
                rtol=rtol,
                atol=atol,
                events=events or None,
                max_step=min(p.tau_mem, p.tau_syn) / 4,
            )
            if sol.status == 1:
                hits = [(te[0], e) for e, te in enumerate(sol.t_events) if len(te)]
                t_ev, e = min(hits)
                j = ids[e]
                y = sol.y_events[e][0]
                v, cur = y[:n].copy(), y[n:].copy()
                out_t.append(t_ev)
                out_j.append(j)
                v[j] = p.v_reset
                refractory_until[j] = t_ev + p.t_refrac
                cur = cur + w_rec[j]
                t = t_ev
                continue
            y = sol.y[:, -1]
            v, cur = y[:n].copy(), y[n:].copy()
            t = t_stop
        if t >= t_max:
            break
        if t == t_in:
            cur = cur + w_in[sources[k]]
            k += 1
    return np.asarray(out_t), np.asarray(out_j, dtype=int)


def spikes_per_neuron(times, neurons, n: int) -> list[np.ndarray]:
    """Split a spike list into each neuron's sorted spike times (padding ignored)."""
    times = np.asarray(times, np.float64)
    neurons = np.asarray(neurons)
    valid = np.isfinite(times) & (neurons >= 0)
    return [np.sort(times[valid & (neurons == j)]) for j in range(n)]


TAU_SYN = 5e-3


def random_network(seed: int, n_in: int, n: int, n_spikes: int, recurrent: bool):
    """Random input spikes on ``[0, 8 tau_syn)`` and weights giving a few spikes per neuron."""
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0.0, 8 * TAU_SYN, n_spikes))
    sources = rng.integers(0, n_in, n_spikes).astype(np.int32)
    w_in = rng.normal(1.2, 1.0, (n_in, n))
    w_rec = rng.normal(0.0, 0.5, (n, n)) * (1.0 - np.eye(n)) if recurrent else None
    return w_in, w_rec, times, sources
