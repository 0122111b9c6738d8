"""Questions that move while open: a Kalman filter over each question's forecasts in time.

With drift switched on (``question.drift_sd`` in the priors; docs/model.md, "Questions that
move"), a question's forecast-scale effect is a Gaussian random walk in time,
``phi(t') = phi(t) + Normal(0, omega^2 (t' - t))`` (``t`` in days), started at its first
forecast from the prior ``Normal(mu, tau^2)``. A forecast made at ``t_i`` reads
``phi(t_i)``: ``m_i = a_i phi(t_i) + c_i + eps_i``, ``eps_i ~ Normal(0, v_i)``. The
forecasts of a question are then jointly Gaussian, but no longer exchangeable: two made on
the same day share the walk, and an old one says less about where the question stands now.

With the crowd's drift switched on too (``question.crowd_drift_sd``), forecasts read
``phi(t_i) + d(t_i)``, where ``d`` is the crowd's shared error on the question: a
mean-reverting (Ornstein-Uhlenbeck) process with variance ``u`` at rest and rate ``kappa``
a day, ``d(t') = f d(t) + Normal(0, u (1 - f^2))``, ``f = exp(-kappa (t' - t))``, at rest
at the first forecast. Outcomes read ``phi`` alone: forecasts of nearby days that agree
because the crowd's mood moved say less about the question than ones that agree because it
moved.

The Kalman filter over the question's forecasts in time order, with the state
``(phi, d)``, gives in one pass the forecasts' exact log marginal likelihood and the
Gaussian of the question's effect at its newest forecast, ``phi(T)``, which outcomes and
predictions read. With ``omega = 0`` and ``u = 0`` both equal the closed forms of
:mod:`models._internal.marginal`.

Per forecast ``i`` of question ``q``, with the running state ``(m1, m2; p11, p12, p22)`` of
``q`` (``(mu, 0; tau^2, 0, u)`` before its first forecast) and ``dt_i`` the days since the
question's previous forecast (0 for its first)::

    f = exp(-kappa dt_i)                                   predict
    m2' = f m2;  q11 = p11 + omega^2 dt_i;  q12 = f p12;  q22 = f^2 p22 + u (1 - f^2)
    c1 = q11 + q12;  c2 = q12 + q22                        (covariances with phi + d)
    e  = r_i - a_i (m1 + m2')                              (r_i = m_i - c_i)
    S  = a_i^2 (c1 + c2) + v_i
    ll += -(log(2 pi S) + e^2 / S) / 2
    m1 += (a_i c1 / S) e;  m2 = m2' + (a_i c2 / S) e      update
    p11 = q11 - a_i^2 c1^2 / S;  p12 = q12 - a_i^2 c1 c2 / S;  p22 = q22 - a_i^2 c2^2 / S

The pullback (:func:`filter_pullback`) runs the same recursion backwards, from the forward
pass's stored states: a gradient costs about two filter passes, one fused loop each, with
no graph per forecast (docs/performance.md, "Questions that move": a PyTensor ``scan`` over
forecasts cost ten times and more).
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
    u: float,
    kappa: float,
    keep: bool,
) -> tuple[np.ndarray, ...]:
    """The filter's forward pass: ``(log_lik, mean, var)`` per question and, if ``keep``, what
    the pullback needs of each step: the state before it ``(m1, m2, p12, p22)``, the
    predicted covariance ``(q11, q12, q22)``, the innovation variance and the innovation."""
    nq = mu.shape[0]
    size = q.shape[0] if keep else 0
    kept = np.empty((9, size))
    ll = np.zeros(nq)
    m1 = mu.copy()
    m2 = np.zeros(nq)
    p11 = tau2.copy()
    p12 = np.zeros(nq)
    p22 = np.full(nq, u)
    for i in range(q.shape[0]):
        j = q[i]
        ai = a[i]
        f = math.exp(-kappa * dt[i])
        n2 = f * m2[j]
        q11 = p11[j] + w * dt[i]
        q12 = f * p12[j]
        q22 = f * f * p22[j] + u * (1.0 - f * f)
        c1 = q11 + q12
        c2 = q12 + q22
        e = r[i] - ai * (m1[j] + n2)
        s = ai * ai * (c1 + c2) + v[i]
        if keep:
            kept[0, i], kept[1, i], kept[2, i], kept[3, i] = m1[j], m2[j], p12[j], p22[j]
            kept[4, i], kept[5, i], kept[6, i], kept[7, i], kept[8, i] = q11, q12, q22, s, e
        ll[j] -= 0.5 * (_LOG_2PI + math.log(s) + e * e / s)
        k = ai / s
        m1[j] += k * c1 * e
        m2[j] = n2 + k * c2 * e
        p11[j] = q11 - ai * k * c1 * c1
        p12[j] = q12 - ai * k * c1 * c2
        p22[j] = q22 - ai * k * c2 * c2
    return ll, m1, p11, kept


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
        u: float,
        kappa: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = core(q, a, r, v, dt, mu, tau2, w, u, kappa, False)
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
        u: float,
        kappa: float,
        g_ll: np.ndarray,
        g_mean: np.ndarray,
        g_var: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float, float]:
        n = q.shape[0]
        kept = core(q, a, r, v, dt, mu, tau2, w, u, kappa, True)[3]
        # Backward: the adjoints of each question's running state (m1, m2, p11, p12, p22).
        b1 = g_mean.copy()
        b2 = np.zeros_like(g_mean)
        c11 = g_var.copy()
        c12 = np.zeros_like(g_var)
        c22 = np.zeros_like(g_var)
        d_a = np.empty(n)
        d_r = np.empty(n)
        d_v = np.empty(n)
        d_w = 0.0
        d_u = 0.0
        d_kappa = 0.0
        for i in range(n - 1, -1, -1):
            j = q[i]
            ai = a[i]
            m1p, m2p, p12p, p22p = kept[0, i], kept[1, i], kept[2, i], kept[3, i]
            q11, q12, q22, s, e = kept[4, i], kept[5, i], kept[6, i], kept[7, i], kept[8, i]
            f = math.exp(-kappa * dt[i])
            n2 = f * m2p
            c1 = q11 + q12
            c2 = q12 + q22
            k = ai / s
            z = ai * k
            bm1, bm2, bl = b1[j], b2[j], g_ll[j]
            bc11, bc12, bc22 = c11[j], c12[j], c22[j]
            proj = bm1 * c1 + bm2 * c2
            b_k = proj * e
            b_e = k * proj - bl * e / s
            b_z = -(bc11 * c1 * c1 + bc12 * c1 * c2 + bc22 * c2 * c2)
            b_s = -0.5 * bl * (1.0 / s - e * e / (s * s)) - (b_k * ai + b_z * ai * ai) / (s * s)
            b_c1 = bm1 * k * e - z * (2.0 * bc11 * c1 + bc12 * c2) + b_s * ai * ai
            b_c2 = bm2 * k * e - z * (bc12 * c1 + 2.0 * bc22 * c2) + b_s * ai * ai
            d_a[i] = b_k / s + 2.0 * ai * (b_z / s + b_s * (c1 + c2)) - b_e * (m1p + n2)
            d_r[i] = b_e
            d_v[i] = b_s
            b_n2 = bm2 - b_e * ai
            b_q11 = bc11 + b_c1
            b_q12 = bc12 + b_c1 + b_c2
            b_q22 = bc22 + b_c2
            b_f = b_n2 * m2p + b_q12 * p12p + 2.0 * f * b_q22 * (p22p - u)
            b1[j] = bm1 - b_e * ai
            b2[j] = b_n2 * f
            c11[j] = b_q11
            c12[j] = b_q12 * f
            c22[j] = b_q22 * f * f
            d_w += b_q11 * dt[i]
            d_u += b_q22 * (1.0 - f * f)
            d_kappa -= b_f * dt[i] * f
        # Every question starts with its crowd's error at rest: p22 = u.
        d_u += c22.sum()
        return d_a, d_r, d_v, b1, c11, d_w, d_u, d_kappa

    return filter_forward, filter_pullback


#: ``filter_forward(q, a, r, v, dt, mu, tau2, w, u, kappa) -> (log_lik, mean, var)``: per
#: question, the forecasts' log marginal likelihood and phi(T)'s mean and variance.
#:
#: ``q`` (int64, one per forecast): its question, a question's forecasts in time order
#: (they may interleave with other questions'); ``a, r, v``: per forecast, the factor on
#: phi, the residual ``m - c`` and the noise variance; ``dt``: days since the question's
#: previous forecast (0 for its first); ``mu, tau2`` (one per question): the prior of phi
#: at its first forecast; ``w``: the walk's variance per day, ``omega^2``; ``u`` and
#: ``kappa``: the crowd's drift, its variance at rest and its rate of return per day (0 and
#: anything: none). A question without forecasts keeps ``(0, mu, tau2)``.
#:
#: ``filter_pullback(q, a, r, v, dt, mu, tau2, w, u, kappa, g_ll, g_mean, g_var) -> (d_a,
#: d_r, d_v, d_mu, d_tau2, d_w, d_u, d_kappa)``: the gradients of ``sum(g_ll * ll + g_mean *
#: mean + g_var * var)``, in reverse mode. Both are plain Python here; :func:`_jitted`
#: compiles them.
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
    u: np.ndarray | None = None,
    kappa: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`filter_forward` for many draws at once: ``a, r, v`` of shape (draws, n),
    ``mu, tau2`` (draws, n_questions), ``w`` and ``u`` (draws,; ``u`` None: no crowd
    drift); ``q``, ``dt`` and ``kappa`` are shared."""
    k, nq = mu.shape
    ll = np.empty((k, nq))
    mean = np.empty((k, nq))
    var = np.empty((k, nq))
    f64 = np.float64
    _jitted()[2](
        np.ascontiguousarray(q, dtype=np.int64),
        np.ascontiguousarray(a, dtype=f64),
        np.ascontiguousarray(r, dtype=f64),
        np.ascontiguousarray(v, dtype=f64),
        np.ascontiguousarray(dt, dtype=f64),
        np.ascontiguousarray(mu, dtype=f64),
        np.ascontiguousarray(tau2, dtype=f64),
        np.ascontiguousarray(w, dtype=f64).reshape(k),
        np.zeros(k) if u is None else np.ascontiguousarray(u, dtype=f64).reshape(k),
        float(kappa),
        ll,
        mean,
        var,
    )
    return ll, mean, var


def _make_over_draws(forward: Any) -> Any:
    """``forward`` of one draw, run over every draw in one compiled loop (a Python loop calls
    into numba once per draw: 9.9 ms for 4,000 draws of three forecasts, against 1.4 ms;
    benchmarks/filter_draws_cost.py)."""

    def over_draws(q, a, r, v, dt, mu, tau2, w, u, kappa, ll, mean, var):  # type: ignore[no-untyped-def]
        for d in range(mu.shape[0]):
            ll[d], mean[d], var[d] = forward(
                q, a[d], r[d], v[d], dt, mu[d], tau2[d], w[d], u[d], kappa
            )

    return over_draws


_JITTED: list[Any] = []


def _jitted() -> tuple[Any, Any, Any]:
    """``(filter_forward, filter_pullback, over_draws)`` compiled by numba (once per
    process); ``over_draws`` is :func:`filter_draws`'s loop."""
    if not _JITTED:
        import numba

        jit = numba.njit(cache=False, fastmath=_FASTMATH)
        _JITTED.extend(jit(f) for f in _make_filters(jit(_filter_core)))
        _JITTED.append(jit(_make_over_draws(_JITTED[0])))
    return _JITTED[0], _JITTED[1], _JITTED[2]


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
    ``(q, a, r, v, dt, mu, tau2, w, u, kappa) -> (log_lik, mean, var)``.

    Gradients flow to ``a, r, v, mu, tau2, w, u, kappa`` through a second Op that runs
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

    def check(q: Any, vectors: list[Any], scalars: list[Any]) -> None:
        if q.ndim != 1 or any(x.ndim != 1 for x in vectors) or any(x.ndim for x in scalars):
            raise TypeError("the walk filter takes vectors and three scalars (w, u, kappa)")

    class WalkFilterPullback(Op):
        __props__ = ()

        def make_node(self, *inputs: Any) -> Apply:
            q = pt.as_tensor_variable(inputs[0]).astype("int64")
            a, r, v, dt, mu, tau2, w, u, kappa, g_ll, g_mean, g_var = (
                as_float(x) for x in inputs[1:]
            )
            check(q, [a, r, v, dt, mu, tau2, g_ll, g_mean, g_var], [w, u, kappa])
            ins = [q, a, r, v, dt, mu, tau2, w, u, kappa, g_ll, g_mean, g_var]
            outs = [a.type(), a.type(), a.type(), mu.type(), mu.type()] + [w.type() for _ in "wuk"]
            return Apply(self, ins, outs)

        def perform(self, node: Any, inputs: Any, output_storage: Any) -> None:
            scalars = (float(x) for x in inputs[7:10])
            grads = _jitted()[1](*inputs[:7], *scalars, *inputs[10:])
            for store, value in zip(output_storage, grads, strict=True):
                store[0] = np.asarray(value, dtype=np.float64)

        def infer_shape(self, node: Any, shapes: Any) -> Any:
            return [shapes[1], shapes[1], shapes[1], shapes[5], shapes[5], (), (), ()]

    pullback_op = WalkFilterPullback()

    class WalkFilter(Op):
        __props__ = ()

        def make_node(self, *inputs: Any) -> Apply:
            q = pt.as_tensor_variable(inputs[0]).astype("int64")
            a, r, v, dt, mu, tau2, w, u, kappa = (as_float(x) for x in inputs[1:])
            check(q, [a, r, v, dt, mu, tau2], [w, u, kappa])
            ins = [q, a, r, v, dt, mu, tau2, w, u, kappa]
            return Apply(self, ins, [mu.type(), mu.type(), mu.type()])

        def perform(self, node: Any, inputs: Any, output_storage: Any) -> None:
            outs = _jitted()[0](*inputs[:7], *(float(x) for x in inputs[7:]))
            for store, value in zip(output_storage, outs, strict=True):
                store[0] = value

        def infer_shape(self, node: Any, shapes: Any) -> Any:
            return [shapes[5]] * 3

        def connection_pattern(self, node: Any) -> list[list[bool]]:
            # The question index and the time steps are data: no gradient.
            return [[i not in (0, 4)] * 3 for i in range(10)]

        def pullback(self, inputs: Any, outputs: Any, cotangents: Any) -> Any:
            g = [
                pt.zeros_like(out) if isinstance(c.type, DisconnectedType) else c
                for c, out in zip(cotangents, outputs, strict=True)
            ]
            grads: Any = pullback_op(*inputs, *g)
            d_a, d_r, d_v, d_mu, d_tau2, d_w, d_u, d_kappa = grads
            return [
                disconnected_type(),
                d_a,
                d_r,
                d_v,
                disconnected_type(),
                d_mu,
                d_tau2,
                d_w,
                d_u,
                d_kappa,
            ]

    op = WalkFilter()
    code = b"".join(inspect.getsource(f).encode() for f in (_filter_core, _make_filters))
    salt = int.from_bytes(hashlib.sha256(code).digest()[:6], "big")
    forward_jit, pullback_jit, _ = _jitted()

    @register_funcify_default_op_cache_key(WalkFilter)
    def _numba_filter(op: Any, node: Any = None, **kwargs: Any) -> Any:
        @numba_njit
        def walk(
            q: Any, a: Any, r: Any, v: Any, dt: Any, mu: Any, tau2: Any, w: Any, u: Any, kappa: Any
        ) -> Any:
            return forward_jit(q, a, r, v, dt, mu, tau2, w.item(), u.item(), kappa.item())

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
            u: Any,
            kappa: Any,
            g_ll: Any,
            g_mean: Any,
            g_var: Any,
        ) -> Any:
            d_a, d_r, d_v, d_mu, d_tau2, d_w, d_u, d_kappa = pullback_jit(
                q, a, r, v, dt, mu, tau2, w.item(), u.item(), kappa.item(), g_ll, g_mean, g_var
            )
            return (
                d_a,
                d_r,
                d_v,
                d_mu,
                d_tau2,
                np.asarray(d_w),
                np.asarray(d_u),
                np.asarray(d_kappa),
            )

        return walk_pullback, salt

    _OPS.append(op)
    return op
