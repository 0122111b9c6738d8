"""The question effects integrated out of the model, and drawn back afterwards.

Given everything else, a question's forecasts are linear-Gaussian in its forecast-scale
effect ``phi`` (``m_i = a_i phi + c_i + eps_i``, ``eps_i ~ Normal(0, v_i)``) under the prior
``phi ~ Normal(mu, tau^2)``. With the per-question sums

    P = sum a_i^2 / v_i,   B = sum a_i (m_i - c_i) / v_i,
    C = sum (m_i - c_i)^2 / v_i,   L = sum log(2 pi v_i)

the forecasts' marginal likelihood and the conditional posterior of ``phi`` are closed
form (Sherman-Morrison on a rank-one update of a diagonal covariance). An outcome adds
``Bernoulli(logistic(phi / alpha_bar + o))``, whose expectation under that Gaussian is a
one-dimensional integral ``E[logistic(Z)]``, ``Z ~ Normal(m, s^2)``: see
:func:`outcome_loglik`.

The functions take ``log`` so that one formula serves numpy (tests, post-processing) and
PyTensor (the model graph).
"""

from __future__ import annotations

import hashlib
import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import expit, log_expit

# --------------------------------------------------------------------------------------
# The outcome term: log E[logistic(Z)], Z ~ Normal(m, s^2), and its derivatives.
#
# Two rules, each exact in the limit and fast where the other is slow:
#
# * Gauss-Hermite in Z. The logistic has poles at +-i pi, so the error grows with s
#   (20 nodes: 4e-10 at s = 1, 2e-8 at 1.25, but 2e-5 at s = 2 and 8e-4 at s = 3).
# * The logistic distribution is a scale mixture of normals, L = N(0, V) with V = (2K)^2
#   and K Kolmogorov-distributed, so E[logistic(Z)] = P(L < Z) = E_V[Phi(m / sqrt(V + s^2))]:
#   a Gauss rule for V, whose error shrinks as s grows (24 nodes: 3e-8 at s = 1.25, 6e-11
#   at s = 2, but 1e-4 as s -> 0).
#
# The switch at s = 1.25 keeps the log-likelihood error below 3e-8 for every s and every
# |m| <= 12 (tests/models/test_marginal.py, against adaptive quadrature). Posteriors
# produce s between 0.1 and 1.5 (at most 0.59 on forecastbench, 0.61 on GJP, 1.40 on the
# simulated backtest shape with 3-4 forecasts a question, 1.55 during its warmup); s
# reaches the prior spread of the question log-odds only for a resolved question without
# forecasts.
# --------------------------------------------------------------------------------------

#: Gauss-Hermite nodes in Z = m + sqrt(2) s x, and their probabilities (sum 1).
GH_NODES, _GH_WEIGHTS = np.polynomial.hermite.hermgauss(20)
GH_PROBS = _GH_WEIGHTS / np.sqrt(np.pi)
assert GH_NODES.size % 2 == 0 and np.allclose(GH_NODES, -GH_NODES[::-1])

#: Gauss rule (24 nodes) of the mixing variance V of the logistic as a scale mixture of
#: normals, density ``sum_k (-1)^(k+1) k^2 exp(-k^2 v / 2)``: built by the discretised
#: Stieltjes procedure on a grid of step 0.002 over (0, 400]; grids of step 0.001 over
#: (0, 600] give the same rule to 1e-14. Its moments are the logistic's (E[V] = pi^2/3,
#: 3 E[V^2] = 7 pi^4/15, 15 E[V^3] = 31 pi^6/21; checked in the tests).
MIX_VARIANCES = np.array([
    0.7657068032192496, 1.3714156017646844, 2.288978543977837, 3.593160339716859,
    5.316654679185645, 7.468199882347902, 10.054370226424744, 13.085836667666563,
    16.576914345367978, 20.54539010619981, 25.012936604145644, 30.005850152821125,
    35.55610556863132, 41.70283205539198, 48.49440467771018, 55.991483353956816,
    64.27157924598905, 73.43621382780998, 83.62276304421763, 95.02546594148379,
    107.93634182876721, 122.83620197439076, 140.64357008618404, 163.715600926621,
])  # fmt: skip
MIX_PROBS = np.array([
    0.03435143594223117, 0.1973337969105748, 0.30594172411960824, 0.24609870502401837,
    0.13550932257387882, 0.056565693903926996, 0.01840429611935646, 0.004693299554425014,
    0.0009368517490473085, 0.0001456545988157, 1.7496444611477246e-05,
    1.6060901853460621e-06, 1.1107029030227669e-07, 5.6831617245839325e-09,
    2.103031848350594e-10, 5.467607315210848e-12, 9.62212224266339e-14,
    1.0914542939998228e-15, 7.46787959495047e-18, 2.806413891743683e-20,
    5.033325500763364e-23, 3.4226141020031795e-26, 5.7072049062064094e-30,
    7.78328529293452e-35,
])  # fmt: skip

#: Below this sd of Z the Gauss-Hermite rule is used, at or above it the mixture rule.
OUTCOME_SD_SWITCH = 1.25

_SQRT2 = math.sqrt(2.0)
_LOG_2PI = math.log(2.0 * math.pi)
#: Below this probability the sums are redone in log space (no underflow to log 0).
_TINY = 1e-280


def _log_ndtr(a: float) -> float:
    """log Phi(a), accurate far into the lower tail."""
    if a > -30.0:
        return math.log(0.5 * math.erfc(-a / _SQRT2))
    a2 = a * a
    series = 1.0 - 1.0 / a2 + 3.0 / a2**2 - 15.0 / a2**3 + 105.0 / a2**4
    return -0.5 * a2 - math.log(-a) - 0.5 * _LOG_2PI + math.log(series)


def _log_sigmoid(z: float) -> float:
    """log logistic(z) without overflow."""
    if z < 0.0:
        return z - math.log1p(math.exp(z))
    return -math.log1p(math.exp(-z))


def _make_kernel(log_ndtr: Callable[[float], float], log_sigmoid: Callable[[float], float]):
    """The elementwise kernel, written so that numba can compile it (and its helpers)."""

    def kernel(
        m: np.ndarray,
        s: np.ndarray,
        gh_x: np.ndarray,
        gh_p: np.ndarray,
        mix_v: np.ndarray,
        mix_p: np.ndarray,
        sd_switch: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = m.shape[0]
        n_gh = gh_x.shape[0]
        half = n_gh // 2  # the rule is symmetric with an even number of nodes
        ll = np.empty(n)
        d_m = np.empty(n)
        d_s = np.empty(n)
        for i in range(n):
            mi = m[i]
            si = s[i]
            p = 0.0
            pm = 0.0
            ps = 0.0
            if si < sd_switch:
                # Gauss-Hermite: p = sum_k P_k logistic(z_k), z_k = m + s sqrt(2) x_k. The
                # nodes come in pairs +-x_k: exp(-z) = exp(-m) * exp(-+s sqrt(2) x_k) takes
                # one exp per pair (while exp(-m) cannot overflow).
                if abs(mi) < 600.0:
                    u = math.exp(-mi)
                    for k in range(half):
                        xk = _SQRT2 * gh_x[n_gh - 1 - k]
                        t = math.exp(-si * xk)
                        wk = gh_p[n_gh - 1 - k]
                        e = u * t  # at +x_k
                        sig = 1.0 / (1.0 + e)
                        d = wk * sig * (e * sig)
                        p += wk * sig
                        pm += d
                        ps += d * xk
                        e = u / t  # at -x_k
                        sig = 1.0 / (1.0 + e)
                        d = wk * sig * (e * sig)
                        p += wk * sig
                        pm += d
                        ps -= d * xk
                else:
                    for k in range(n_gh):
                        xk = _SQRT2 * gh_x[k]
                        z = mi + si * xk
                        sig = math.exp(log_sigmoid(z))
                        d = gh_p[k] * sig * math.exp(log_sigmoid(-z))
                        p += gh_p[k] * sig
                        pm += d
                        ps += d * xk
                if p > _TINY:
                    ll[i] = math.log(p)
                    d_m[i] = pm / p
                    d_s[i] = ps / p
                    continue
                # Far in the tail: the same sums in log space.
                top = -math.inf
                for k in range(gh_x.shape[0]):
                    z = mi + si * _SQRT2 * gh_x[k]
                    top = max(top, math.log(gh_p[k]) + log_sigmoid(z))
                total = 0.0
                for k in range(gh_x.shape[0]):
                    xk = _SQRT2 * gh_x[k]
                    z = mi + si * xk
                    w = math.exp(math.log(gh_p[k]) + log_sigmoid(z) - top)
                    sig_c = math.exp(log_sigmoid(-z))
                    total += w
                    pm += w * sig_c
                    ps += w * sig_c * xk
            else:
                # Scale mixture: p = sum_j P_j Phi(m / sqrt(v_j + s^2)).
                for j in range(mix_v.shape[0]):
                    r = math.sqrt(mix_v[j] + si * si)
                    a = mi / r
                    dens = mix_p[j] * math.exp(-0.5 * a * a - 0.5 * _LOG_2PI) / r
                    p += mix_p[j] * 0.5 * math.erfc(-a / _SQRT2)
                    pm += dens
                    ps -= dens * a * si / r
                if p > _TINY:
                    ll[i] = math.log(p)
                    d_m[i] = pm / p
                    d_s[i] = ps / p
                    continue
                top = -math.inf
                for j in range(mix_v.shape[0]):
                    a = mi / math.sqrt(mix_v[j] + si * si)
                    top = max(top, math.log(mix_p[j]) + log_ndtr(a))
                total = 0.0
                for j in range(mix_v.shape[0]):
                    r = math.sqrt(mix_v[j] + si * si)
                    a = mi / r
                    log_cdf = log_ndtr(a)
                    w = math.exp(math.log(mix_p[j]) + log_cdf - top)
                    mills = math.exp(-0.5 * a * a - 0.5 * _LOG_2PI - log_cdf)  # phi / Phi
                    total += w
                    pm += w * mills / r
                    ps -= w * mills * a * si / (r * r)
            ll[i] = top + math.log(total)
            d_m[i] = pm / total
            d_s[i] = ps / total
        return ll, d_m, d_s

    return kernel


_JITTED: list[Any] = []
#: PyTensor's own fast-math flags: no assumptions about inf or NaN.
_FASTMATH = {"arcp", "contract", "afn", "reassoc", "nsz"}


def _jitted_kernel() -> Any:
    """The kernel compiled by numba (once per process)."""
    if not _JITTED:
        import numba

        jit = numba.njit(cache=False, fastmath=_FASTMATH)
        _JITTED.append(jit(_make_kernel(jit(_log_ndtr), jit(_log_sigmoid))))
    return _JITTED[0]


def outcome_loglik(m: Any, s: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log E[logistic(Z)]``, ``Z ~ Normal(m, s^2)``, and its derivatives in ``m`` and ``s``.

    For a question resolved with outcome ``y``, ``m = sign * (mean / alpha_bar + offset)``
    (``sign = +1`` for yes, ``-1`` for no) and ``s = sd / alpha_bar``, where ``mean`` and
    ``sd`` are those of phi given the question's forecasts.

    Parameters
    ----------
    m, s : array_like of float
        Same shape; ``s > 0``.

    Returns
    -------
    (log_lik, d_m, d_s) : ndarrays of the shape of ``m``
    """
    mm = np.ascontiguousarray(m, dtype=np.float64)
    ss = np.ascontiguousarray(np.broadcast_to(s, mm.shape), dtype=np.float64)
    ll, d_m, d_s = _jitted_kernel()(
        mm.ravel(), ss.ravel(), GH_NODES, GH_PROBS, MIX_VARIANCES, MIX_PROBS, OUTCOME_SD_SWITCH
    )
    return ll.reshape(mm.shape), d_m.reshape(mm.shape), d_s.reshape(mm.shape)


_OPS: list[Any] = []


def outcome_loglik_op() -> Any:
    """The PyTensor Op of :func:`outcome_loglik`: ``(m, s) -> (log_lik, d_m, d_s)``.

    Vectors in, three vectors out; only ``log_lik`` has a gradient (the other two are its
    derivatives, which it uses). It runs as one fused numba loop in the NUMBA backend that
    nutpie compiles, and through :func:`outcome_loglik` elsewhere. Built on first use, so
    that importing this module does not import PyTensor.
    """
    if _OPS:
        return _OPS[0]
    import pytensor.tensor as pt
    from pytensor.gradient import DisconnectedType, grad_not_implemented
    from pytensor.graph.basic import Apply
    from pytensor.graph.op import Op
    from pytensor.link.numba.dispatch.basic import (
        numba_njit,
        register_funcify_default_op_cache_key,
    )

    class OutcomeLogLik(Op):
        __props__ = ()

        def make_node(self, *inputs: Any) -> Apply:
            m, s = (pt.as_tensor_variable(x).astype("float64") for x in inputs)
            if m.ndim != 1 or s.ndim != 1:
                raise TypeError("outcome_loglik takes vectors")
            return Apply(self, [m, s], [m.type(), m.type(), m.type()])

        def perform(self, node: Any, inputs: Any, output_storage: Any) -> None:
            for store, value in zip(output_storage, outcome_loglik(*inputs), strict=True):
                store[0] = value

        def infer_shape(self, node: Any, shapes: Any) -> Any:
            return [shapes[0]] * 3

        def pullback(self, inputs: Any, outputs: Any, cotangents: Any) -> Any:
            g_ll, g_dm, g_ds = cotangents
            if not all(isinstance(g.type, DisconnectedType) for g in (g_dm, g_ds)):
                return [
                    grad_not_implemented(self, 0, inputs[0], "second derivatives"),
                    grad_not_implemented(self, 1, inputs[1], "second derivatives"),
                ]
            if isinstance(g_ll.type, DisconnectedType):
                return [pt.zeros_like(inputs[0]), pt.zeros_like(inputs[1])]
            return [g_ll * outputs[1], g_ll * outputs[2]]

    op = OutcomeLogLik()
    kernel = _jitted_kernel()
    gh_x, gh_p, mix_v, mix_p = GH_NODES, GH_PROBS, MIX_VARIANCES, MIX_PROBS
    sd_switch = OUTCOME_SD_SWITCH
    # PyTensor caches the compiled function under this salt: it covers the rules (constants
    # of the compiled function) and the kernel's code, so that an edit of either is never
    # served a stale compilation.
    code = b""
    for f in (_make_kernel, _log_ndtr, _log_sigmoid):
        try:
            code += inspect.getsource(f).encode()
        except OSError:  # pragma: no cover - no source shipped
            code += f.__code__.co_code
    rules = b"".join(a.tobytes() for a in (gh_x, gh_p, mix_v, mix_p))
    key = rules + repr((sd_switch, sorted(_FASTMATH))).encode() + code
    salt = int.from_bytes(hashlib.sha256(key).digest()[:6], "big")

    @register_funcify_default_op_cache_key(OutcomeLogLik)
    def _numba_outcome(op: Any, node: Any = None, **kwargs: Any) -> Any:
        @numba_njit
        def outcome(m: Any, s: Any) -> Any:
            return kernel(m, s, gh_x, gh_p, mix_v, mix_p, sd_switch)

        return outcome, salt

    _OPS.append(op)
    return op


def forecast_terms(
    a: Any, resid: Any, v: Any, log: Callable[[Any], Any]
) -> tuple[Any, Any, Any, Any]:
    """Each forecast's share of its question's sums ``P, B, C, L`` (docs/model.md,
    "Parametrisation" 2): ``a^2 / v``, ``a r / v``, ``r^2 / v`` and ``log 2 pi v``, where
    ``m = a phi + c + Normal(0, v)`` and ``r = m - c``."""
    return a**2 / v, a * resid / v, resid**2 / v, log(2 * np.pi * v)


def forecasts_marginal_loglik(
    p: Any, b: Any, c: Any, big_l: Any, mu: Any, tau: Any, log: Callable[[Any], Any]
) -> Any:
    """log p(forecasts of each question | everything but phi), phi integrated out."""
    t2 = tau**2
    s = b - mu * p
    quad = c - 2.0 * mu * b + mu**2 * p
    return -0.5 * (big_l + log(1.0 + t2 * p) + quad - t2 * s**2 / (1.0 + t2 * p))


def phi_posterior(p: Any, b: Any, mu: Any, tau: Any) -> tuple[Any, Any]:
    """Mean and variance of phi given the forecasts (before any outcome)."""
    prec = 1.0 / tau**2 + p
    return (mu / tau**2 + b) / prec, 1.0 / prec


def one_instant(
    p: Any,
    b: Any,
    c: Any,
    big_l: Any,
    mu: Any,
    tau2: Any,
    u: Any,
    log: Callable[[Any], Any],
    sqrt: Callable[[Any], Any],
) -> tuple[Any, Any, Any]:
    """A question whose forecasts were all made at one instant, where forecasts read phi plus
    the crowd's shared error ``d ~ Normal(0, u)`` (docs/model.md, "A crowd whose error
    drifts"): ``(log p(forecasts), mean, variance)`` of phi given them, in closed form.

    The forecasts see ``psi = phi + d ~ Normal(mu, tau2 + u)`` alone, so their likelihood is
    the closed form's with that prior; phi given psi is Gaussian with ``rho = tau2 / (tau2 +
    u)``: mean ``mu + rho (psi - mu)``, variance ``rho u``. Equal to the Kalman filter of
    models/_internal/walk.py on such a question (no time passes: the walk adds nothing), at
    the cost of the closed form's sums (``P, B, C, L`` as in :func:`forecasts_marginal_loglik`).
    """
    t2 = tau2 + u
    ll = forecasts_marginal_loglik(p, b, c, big_l, mu, sqrt(t2), log)
    mean_psi, var_psi = phi_posterior(p, b, mu, sqrt(t2))
    rho = tau2 / t2
    return ll, mu + rho * (mean_psi - mu), rho * (rho * var_psi + u)


def _tangent_point(
    mean: np.ndarray, sd: np.ndarray, scale: np.ndarray, offset: np.ndarray, sign: np.ndarray
) -> np.ndarray:
    """The mode of ``Normal(mean, sd^2)`` tilted by ``logistic(sign * (phi * scale + offset))``.

    The tilted log density is strictly concave, so its derivative
    ``(mean - phi) / sd^2 + sign * scale * logistic(-z)`` decreases; it is positive at
    ``mean`` and negative at ``mean + sd^2 * sign * scale`` (or the other way round for a
    negative sign), so bisection between the two converges.
    """
    lo = mean.copy()
    hi = mean + sd**2 * sign * scale
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        slope = (mean - mid) / sd**2 + sign * scale * expit(-sign * (mid * scale + offset))
        # Move the end that has the same sign of slope as mid's.
        toward_hi = slope * sign > 0
        lo = np.where(toward_hi, mid, lo)
        hi = np.where(toward_hi, hi, mid)
    return 0.5 * (lo + hi)


def sample_phi(
    rng: np.random.Generator,
    mean: np.ndarray,
    var: np.ndarray,
    outcome_logit_scale: np.ndarray | None = None,
    outcome_offset: np.ndarray | None = None,
    outcome: np.ndarray | None = None,
    max_rounds: int = 10_000,
) -> np.ndarray:
    """Exact draws of phi from its conditional posterior, one per element of ``mean``.

    Unresolved: the Gaussian itself. Resolved (``outcome`` not NaN): the Gaussian tilted by
    ``Bernoulli(outcome | logistic(phi * outcome_logit_scale + outcome_offset))``, drawn by
    rejection sampling with two envelopes, each exact:

    * the Gaussian itself (acceptance = the outcome's likelihood, at most 1): best when
      the outcome was not a surprise;
    * the Gaussian times the tangent of the concave ``log logistic`` at the tilted
      density's mode, which is again a Gaussian (shifted): near 1 when the outcome was a
      surprise, because far in the tail ``logistic`` is an exponential.

    The first rounds use the Gaussian; elements still pending then alternate between the
    two, so a surprising outcome (acceptance 1e-13 under the Gaussian, as draws from a
    stuck chain can give) takes a few rounds instead of never finishing.
    """
    sd = np.sqrt(var)
    draw = mean + sd * rng.standard_normal(mean.shape)
    if outcome is None:
        return draw
    assert outcome_logit_scale is not None and outcome_offset is not None
    sign = np.where(outcome == 1, 1.0, -1.0)
    # The pending elements, in increasing order; the list shrinks every round (a rare
    # surprising outcome can take many rounds, which must not each scan everything).
    idx = np.flatnonzero(~np.isnan(outcome))
    gaussian_rounds = 4
    mode: np.ndarray | None = None
    for r in range(max_rounds):
        if not idx.size:
            return draw
        a, o, sg = outcome_logit_scale[idx], outcome_offset[idx], sign[idx]
        z = sg * (draw[idx] * a + o)
        if r < gaussian_rounds or r % 2 == 0:
            log_accept = log_expit(z)
        else:
            # The previous round proposed from the tangent envelope at ``mode``.
            assert mode is not None
            z0 = sg * (mode * a + o)
            slope = expit(-z0)  # d log logistic(z) / dz at z0
            log_accept = log_expit(z) - log_expit(z0) - slope * (z - z0)
        accept = np.log(rng.random(idx.size)) < np.minimum(log_accept, 0.0)
        idx = idx[~accept]
        if not idx.size:
            return draw
        m_i, s_i = mean[idx], sd[idx]
        if r + 1 < gaussian_rounds or (r + 1) % 2 == 0:
            draw[idx] = m_i + s_i * rng.standard_normal(idx.size)
        else:
            a, o, sg = outcome_logit_scale[idx], outcome_offset[idx], sign[idx]
            mode = _tangent_point(m_i, s_i, a, o, sg)
            slope = sg * a * expit(-sg * (mode * a + o))  # d log logistic / d phi at mode
            draw[idx] = m_i + s_i**2 * slope + s_i * rng.standard_normal(idx.size)
    raise RuntimeError("rejection sampling of question effects did not finish")
