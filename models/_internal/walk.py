"""Questions that move while open: a Kalman filter over each question's forecasts in time.

With drift switched on (``question.drift_sd`` in the priors; docs/model.md, "Questions that
move"), a question's forecast-scale effect is a Gaussian random walk in time,
``phi(t') = phi(t) + Normal(0, omega^2 (t' - t))`` (``t`` in days), started at its first
forecast from the prior ``Normal(mu, tau^2)``. A forecast made at ``t_i`` reads
``phi(t_i)``: ``m_i = a_i phi(t_i) + c_i + eps_i``, ``eps_i ~ Normal(0, v_i)``. The
forecasts of a question are then jointly Gaussian, but no longer exchangeable: two made on
the same day share the walk, and an old one says less about where the question stands now.

The scalar Kalman filter over the question's forecasts in time order gives, in one pass, the
forecasts' exact log marginal likelihood and the Gaussian of the question's effect at its
newest forecast, ``phi(T)``, which outcomes and predictions read. With ``omega = 0`` both
equal the closed forms of :mod:`models._internal.marginal`.

Per forecast ``i`` of question ``q``, with the running state ``(M, P)`` of ``q``
(``(mu, tau^2)`` before its first forecast) and ``dt_i`` the days since the question's
previous forecast (0 for its first)::

    P' = P + omega^2 dt_i              predict
    e  = r_i - a_i M                   (r_i = m_i - c_i)
    S  = a_i^2 P' + v_i
    ll += -(log(2 pi S) + e^2 / S) / 2
    M  = M + (a_i P' / S) e            update
    P  = P' v_i / S

The pullback (:func:`filter_pullback`) runs the same recursion backwards, from the forward
pass's stored ``(M, P', S, e)``: a gradient costs about two filter passes, one fused loop
each, with no graph per forecast (docs/performance.md, "Questions that move": a PyTensor
``scan`` over forecasts cost ten times and more).
"""

from __future__ import annotations

import hashlib
import inspect
import math
from typing import Any

import numpy as np

from models._internal.marginal import _FASTMATH

_LOG_2PI = math.log(2.0 * math.pi)

#: Seconds in a day: ``dt`` is in days.
DAY = 86_400.0


def _filter_core(
    q: np.ndarray,
    a: np.ndarray,
    r: np.ndarray,
    v: np.ndarray,
    dt: np.ndarray,
    mu: np.ndarray,
    tau2: np.ndarray,
    w: float,
    keep: bool,
) -> tuple[np.ndarray, ...]:
    """The filter's forward pass: ``(log_lik, mean, var)`` per question and, if ``keep``, each
    step's prior mean, predicted variance, innovation variance and innovation."""
    nq = mu.shape[0]
    size = q.shape[0] if keep else 0
    m_prev, p_pred, s_all, e_all = np.empty(size), np.empty(size), np.empty(size), np.empty(size)
    ll = np.zeros(nq)
    mean = mu.copy()
    var = tau2.copy()
    for i in range(q.shape[0]):
        j = q[i]
        ai = a[i]
        pp = var[j] + w * dt[i]
        e = r[i] - ai * mean[j]
        s = ai * ai * pp + v[i]
        if keep:
            m_prev[i], p_pred[i], s_all[i], e_all[i] = mean[j], pp, s, e
        ll[j] -= 0.5 * (_LOG_2PI + math.log(s) + e * e / s)
        mean[j] += ai * pp / s * e
        var[j] = pp * v[i] / s
    return ll, mean, var, m_prev, p_pred, s_all, e_all


def _make_filters(core: Any) -> tuple[Any, Any]:
    """``(filter_forward, filter_pullback)`` on ``core`` (plain, or compiled by numba)."""

    def filter_forward(
        q: np.ndarray,
        a: np.ndarray,
        r: np.ndarray,
        v: np.ndarray,
        dt: np.ndarray,
        mu: np.ndarray,
        tau2: np.ndarray,
        w: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = core(q, a, r, v, dt, mu, tau2, w, False)
        return out[0], out[1], out[2]

    def filter_pullback(
        q: np.ndarray,
        a: np.ndarray,
        r: np.ndarray,
        v: np.ndarray,
        dt: np.ndarray,
        mu: np.ndarray,
        tau2: np.ndarray,
        w: float,
        g_ll: np.ndarray,
        g_mean: np.ndarray,
        g_var: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
        n = q.shape[0]
        _, _, _, m_prev, p_pred, s_all, e_all = core(q, a, r, v, dt, mu, tau2, w, True)
        # Backward: b_mean, b_var hold the adjoints of each question's running state.
        b_mean = g_mean.copy()
        b_var = g_var.copy()
        d_a = np.empty(n)
        d_r = np.empty(n)
        d_v = np.empty(n)
        d_w = 0.0
        for i in range(n - 1, -1, -1):
            j = q[i]
            ai, vi = a[i], v[i]
            pp, s, e, mp = p_pred[i], s_all[i], e_all[i], m_prev[i]
            gain = ai * pp / s
            p_new = pp * vi / s
            bm, bp, bl = b_mean[j], b_var[j], g_ll[j]
            b_gain = bm * e
            b_e = bm * gain - bl * e / s
            b_s = -0.5 * bl * (1.0 / s - e * e / (s * s)) - b_gain * gain / s - bp * p_new / s
            b_pp = b_gain * ai / s + bp * vi / s + b_s * ai * ai
            d_v[i] = bp * pp / s + b_s
            d_a[i] = b_gain * pp / s + b_s * 2.0 * ai * pp - b_e * mp
            d_r[i] = b_e
            b_mean[j] = bm - b_e * ai
            b_var[j] = b_pp
            d_w += b_pp * dt[i]
        return d_a, d_r, d_v, b_mean, b_var, d_w

    return filter_forward, filter_pullback


#: ``filter_forward(q, a, r, v, dt, mu, tau2, w) -> (log_lik, mean, var)``: per question,
#: the forecasts' log marginal likelihood and phi(T)'s mean and variance.
#:
#: ``q`` (int64, one per forecast): its question, a question's forecasts in time order
#: (they may interleave with other questions'); ``a, r, v``: per forecast, the factor on
#: phi, the residual ``m - c`` and the noise variance; ``dt``: days since the question's
#: previous forecast (0 for its first); ``mu, tau2`` (one per question): the prior of phi
#: at its first forecast; ``w``: the walk's variance per day, ``omega^2``. A question
#: without forecasts keeps ``(0, mu, tau2)``.
#:
#: ``filter_pullback(q, a, r, v, dt, mu, tau2, w, g_ll, g_mean, g_var) -> (d_a, d_r, d_v,
#: d_mu, d_tau2, d_w)``: the gradients of ``sum(g_ll * ll + g_mean * mean + g_var * var)``,
#: in reverse mode. Both are plain Python here; :func:`_jitted` compiles them.
filter_forward, filter_pullback = _make_filters(_filter_core)


def filter_draws(
    q: np.ndarray,
    a: np.ndarray,
    r: np.ndarray,
    v: np.ndarray,
    dt: np.ndarray,
    mu: np.ndarray,
    tau2: np.ndarray,
    w: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`filter_forward` for many draws at once: ``a, r, v`` of shape (draws, n),
    ``mu, tau2`` (draws, n_questions), ``w`` (draws,); ``q`` and ``dt`` are shared."""
    k, nq = mu.shape
    ll = np.empty((k, nq))
    mean = np.empty((k, nq))
    var = np.empty((k, nq))
    kernel = _jitted()[0]
    for d in range(k):
        ll[d], mean[d], var[d] = kernel(q, a[d], r[d], v[d], dt, mu[d], tau2[d], float(w[d]))
    return ll, mean, var


_JITTED: list[Any] = []


def _jitted() -> tuple[Any, Any]:
    """``(filter_forward, filter_pullback)`` compiled by numba (once per process)."""
    if not _JITTED:
        import numba

        jit = numba.njit(cache=False, fastmath=_FASTMATH)
        _JITTED.extend(jit(f) for f in _make_filters(jit(_filter_core)))
    return _JITTED[0], _JITTED[1]


def time_steps(question: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Days since each forecast's question's previous forecast (0 for its first).

    ``question`` and ``seconds`` must be sorted by question, then time (see
    :func:`time_order`).
    """
    dt = np.zeros(question.shape[0])
    if question.shape[0] > 1:
        same = question[1:] == question[:-1]
        dt[1:] = np.where(same, np.diff(seconds) / DAY, 0.0)
    return dt


def time_order(question: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """The permutation sorting forecasts by question, then time (stable on ties)."""
    return np.lexsort((np.arange(question.shape[0]), seconds, question))


_OPS: list[Any] = []


def walk_filter_op() -> Any:
    """The PyTensor Op of :func:`filter_forward`:
    ``(q, a, r, v, dt, mu, tau2, w) -> (log_lik, mean, var)``.

    Gradients flow to ``a, r, v, mu, tau2, w`` through a second Op that runs
    :func:`filter_pullback`; both run as fused numba loops in the NUMBA backend that nutpie
    compiles, and as numba-compiled Python elsewhere. Built on first use, so that importing
    this module does not import PyTensor.
    """
    if _OPS:
        return _OPS[0]
    import pytensor.tensor as pt
    from pytensor.gradient import DisconnectedType, disconnected_type
    from pytensor.graph.basic import Apply
    from pytensor.graph.op import Op
    from pytensor.link.numba.dispatch.basic import (
        numba_njit,
        register_funcify_default_op_cache_key,
    )

    def as_float(x: Any) -> Any:
        return pt.as_tensor_variable(x).astype("float64")

    def check(q: Any, vectors: list[Any], w: Any) -> None:
        if q.ndim != 1 or any(x.ndim != 1 for x in vectors) or w.ndim != 0:
            raise TypeError("the walk filter takes vectors and a scalar variance")

    class WalkFilterPullback(Op):
        __props__ = ()

        def make_node(self, *inputs: Any) -> Apply:
            q = pt.as_tensor_variable(inputs[0]).astype("int64")
            a, r, v, dt, mu, tau2, w, g_ll, g_mean, g_var = (as_float(x) for x in inputs[1:])
            check(q, [a, r, v, dt, mu, tau2, g_ll, g_mean, g_var], w)
            ins = [q, a, r, v, dt, mu, tau2, w, g_ll, g_mean, g_var]
            outs = [a.type(), a.type(), a.type(), mu.type(), mu.type(), w.type()]
            return Apply(self, ins, outs)

        def perform(self, node: Any, inputs: Any, output_storage: Any) -> None:
            grads = _jitted()[1](*inputs[:7], float(inputs[7]), *inputs[8:])
            for store, value in zip(output_storage, grads, strict=True):
                store[0] = np.asarray(value, dtype=np.float64)

        def infer_shape(self, node: Any, shapes: Any) -> Any:
            return [shapes[1], shapes[1], shapes[1], shapes[5], shapes[5], ()]

    pullback_op = WalkFilterPullback()

    class WalkFilter(Op):
        __props__ = ()

        def make_node(self, *inputs: Any) -> Apply:
            q = pt.as_tensor_variable(inputs[0]).astype("int64")
            a, r, v, dt, mu, tau2, w = (as_float(x) for x in inputs[1:])
            check(q, [a, r, v, dt, mu, tau2], w)
            return Apply(self, [q, a, r, v, dt, mu, tau2, w], [mu.type(), mu.type(), mu.type()])

        def perform(self, node: Any, inputs: Any, output_storage: Any) -> None:
            outs = _jitted()[0](*inputs[:7], float(inputs[7]))
            for store, value in zip(output_storage, outs, strict=True):
                store[0] = value

        def infer_shape(self, node: Any, shapes: Any) -> Any:
            return [shapes[5]] * 3

        def connection_pattern(self, node: Any) -> list[list[bool]]:
            # The question index and the time steps are data: no gradient.
            return [[i not in (0, 4)] * 3 for i in range(8)]

        def pullback(self, inputs: Any, outputs: Any, cotangents: Any) -> Any:
            q, a, r, v, dt, mu, tau2, w = inputs
            g = [
                pt.zeros_like(out) if isinstance(c.type, DisconnectedType) else c
                for c, out in zip(cotangents, outputs, strict=True)
            ]
            grads: Any = pullback_op(q, a, r, v, dt, mu, tau2, w, *g)
            d_a, d_r, d_v, d_mu, d_tau2, d_w = grads
            return [
                disconnected_type(),
                d_a,
                d_r,
                d_v,
                disconnected_type(),
                d_mu,
                d_tau2,
                d_w,
            ]

    op = WalkFilter()
    code = b"".join(inspect.getsource(f).encode() for f in (_filter_core, _make_filters))
    salt = int.from_bytes(hashlib.sha256(code).digest()[:6], "big")
    forward_jit, pullback_jit = _jitted()

    @register_funcify_default_op_cache_key(WalkFilter)
    def _numba_filter(op: Any, node: Any = None, **kwargs: Any) -> Any:
        @numba_njit
        def walk(q: Any, a: Any, r: Any, v: Any, dt: Any, mu: Any, tau2: Any, w: Any) -> Any:
            return forward_jit(q, a, r, v, dt, mu, tau2, w.item())

        return walk, salt

    @register_funcify_default_op_cache_key(WalkFilterPullback)
    def _numba_pullback(op: Any, node: Any = None, **kwargs: Any) -> Any:
        @numba_njit
        def walk_pullback(
            q: Any,
            a: Any,
            r: Any,
            v: Any,
            dt: Any,
            mu: Any,
            tau2: Any,
            w: Any,
            g_ll: Any,
            g_mean: Any,
            g_var: Any,
        ) -> Any:
            d_a, d_r, d_v, d_mu, d_tau2, d_w = pullback_jit(
                q, a, r, v, dt, mu, tau2, w.item(), g_ll, g_mean, g_var
            )
            return d_a, d_r, d_v, d_mu, d_tau2, np.asarray(d_w)

        return walk_pullback, salt

    _OPS.append(op)
    return op
