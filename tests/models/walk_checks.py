"""Checks of fits that read forecasts in time, shared by the tests of questions that move
and of a crowd whose error drifts: the instant updates' Kalman filter by hand, and a save
and load."""

from __future__ import annotations

import numpy as np

from models._internal.walk import filter_forward, time_steps


def gaussian_by_hand(post, data, question_id: str, d: int):
    """``(post._gaussian's (ll, mean, var) at draw d, filter_forward's on that draw)`` for the
    forecasts of ``question_id`` in ``data``, the walk and the crowd's drift as the fit has
    them."""
    j = post._positions[question_id]
    g = post._group_of(j)
    mu, tau = post.draws["mu_group_phi"][:, g], post.draws["tau_phi"][:, g]
    mine = sorted(
        (f for f in data.forecasts if f.question_id == question_id), key=lambda f: f.created_at
    )
    stated = [post._stated(f) for f in mine]
    ll, mean, var = post._gaussian(stated, 1.0, mu, tau)
    q = np.zeros(len(mine), dtype=np.int64)

    def variance(name: str) -> float:
        return float(post.draws[name][d] ** 2) if name in post.draws else 0.0

    want = filter_forward(
        q,
        np.array([s[0][d] for s in stated]),
        np.array([s[3] - s[1][d] for s in stated]),
        np.array([s[2][d] for s in stated]),
        time_steps(q, np.array([s[4] for s in stated])),
        mu[d : d + 1],
        tau[d : d + 1] ** 2,
        variance("drift_sd"),
        variance("crowd_drift_sd"),
        1.0 / post.config.question.crowd_drift_days,
    )
    return (ll[d], mean[d], var[d]), tuple(x[0] for x in want)


def assert_saves_and_loads(post, data, config, name: str, tmp_path) -> None:
    """A fit saved and loaded keeps the draws of ``name`` and serves the same forecasts."""
    from models.artifacts import load, save

    back = load(save(post, tmp_path / "fit.nc"), config=config, data=data)
    np.testing.assert_array_equal(back.draws[name], post.draws[name])
    qids = [q.id for q in data.questions[:5]]
    assert [p.probability for p in back.predict(qids)] == [
        p.probability for p in post.predict(qids)
    ]
