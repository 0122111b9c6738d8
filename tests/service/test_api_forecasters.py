"""GET /v1/forecasters: each forecaster as the published fit reads them (discrimination, bias,
noise with 90% intervals), a newcomer as the population, and each one's own record on
resolved questions, through the real app on a real fit of the tiny catalog."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
import pytest

Q = "truce-by-2027"


def _problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()  # type: ignore[no-any-return]


def _post_as_fred(client, keys, p: float) -> None:  # type: ignore[no-untyped-def]
    """An elicitation through the API by the forecaster key's holder, fred."""
    r = client.post(
        f"/v1/questions/{Q}/elicitations", headers=keys.auth("forecaster"), json={"probability": p}
    )
    assert r.status_code == 201, r.text


def _cells(item: dict[str, Any]) -> dict[str, tuple[float, list[float]]]:
    return {
        name: (item[field]["mean"], item[field]["interval"])
        for field, name in (("discrimination", "alpha"), ("bias", "beta"), ("noise", "sigma"))
    }


def test_before_any_fit_there_is_no_reading_of_forecasters(client):
    assert "no fit" in _problem(client.get("/v1/forecasters"), 503)["detail"]


def test_each_forecaster_is_read_as_the_published_fit_has_them(live_client):
    base = live_client.app.state.live.base
    body = live_client.get("/v1/forecasters").json()
    assert body["fit_id"] == base.fit_id == "fit-fixture" and body["interval_prob"] == 0.9
    expected = {r["forecaster_id"]: r for r in base.forecaster_summary()}
    assert [i["id"] for i in body["items"]] == sorted(expected) == ["tester"]
    (item,) = body["items"]
    assert item["in_fit"] and item["forecasts_in_fit"] == expected["tester"]["forecasts"] == 2
    for name, (mean, interval) in _cells(item).items():
        assert mean == pytest.approx(expected["tester"][name]["mean"], rel=1e-12)
        assert interval == pytest.approx(expected["tester"][name]["interval"], rel=1e-12)
        assert interval[0] <= mean <= interval[1]
    assert item["record"] == {"resolved_questions": 0, "brier": None, "log_score": None}


def test_a_newcomer_is_read_as_the_population(live_client, keys):
    """Someone who posted after the fit: the population's values, drawn per posterior draw
    (alpha = alpha_bar * exp(log_a_sd * z), a lognormal whose mean is known in closed form)."""
    _post_as_fred(live_client, keys, 0.3)
    body = live_client.get("/v1/forecasters").json()
    assert [i["id"] for i in body["items"]] == ["fred", "tester"]
    fred = live_client.get("/v1/forecasters/fred").json()
    assert fred == body["items"][0]
    assert not fred["in_fit"] and fred["forecasts_in_fit"] == 0
    assert {k: (v["mean"], v["interval"]) for k, v in body["newcomer"].items()} == {
        k: (fred[k]["mean"], fred[k]["interval"]) for k in ("discrimination", "bias", "noise")
    }
    # Not anyone's own reading: the fit's one forecaster is read from their statements.
    tester = body["items"][1]
    assert tester["in_fit"] and fred["discrimination"] != tester["discrimination"]
    d = live_client.app.state.live.base.draws
    w = live_client.app.state.live.base.weights
    alpha_mean = float(np.dot(w, d["alpha_bar"] * np.exp(d["log_a_sd"] ** 2 / 2)))
    assert fred["discrimination"]["mean"] == pytest.approx(alpha_mean, rel=0.05)
    assert fred["bias"]["mean"] == pytest.approx(float(np.dot(w, d["beta_mu"])), abs=0.05)
    assert problem_for(live_client, "nobody")["detail"].startswith("no forecaster 'nobody'")


def problem_for(client, who: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return _problem(client.get(f"/v1/forecasters/{who}"), 404)


def test_a_forecasters_record_scores_their_latest_elicitation_before_the_outcome(live_client, keys):
    from service.store.tables import ElicitationRow

    for p in (0.5, 0.3):  # fred's second statement replaces his first
        _post_as_fred(live_client, keys, p)
    r = live_client.post(
        f"/v1/questions/{Q}/resolution",
        json={"outcome": 1, "resolved_at": datetime.now(UTC).isoformat()},
        headers=keys.auth("admin"),
    )
    assert r.status_code == 200, r.text
    fred = live_client.get("/v1/forecasters/fred").json()["record"]
    assert fred == {
        "resolved_questions": 1,
        "brier": pytest.approx(0.7**2),
        "log_score": pytest.approx(-math.log(0.3)),
    }
    with live_client.app.state.session_factory() as session:
        (mine,) = session.query(ElicitationRow).filter_by(question_id=Q, forecaster_id="tester")
    p = 1 / (1 + math.exp(-mine.logit_mean))
    tester = live_client.get("/v1/forecasters/tester").json()["record"]
    assert tester["resolved_questions"] == 1 and tester["brier"] == pytest.approx((1 - p) ** 2)


def test_pages_follow_next_and_refuse_a_made_up_cursor(live_client, keys):
    _post_as_fred(live_client, keys, 0.3)
    first = live_client.get("/v1/forecasters", params={"limit": 1}).json()
    assert [i["id"] for i in first["items"]] == ["fred"] and first["next"] == "fred"
    second = live_client.get("/v1/forecasters", params={"limit": 1, "cursor": "fred"}).json()
    assert [i["id"] for i in second["items"]] == ["tester"] and second["next"] is None
    problem = _problem(live_client.get("/v1/forecasters", params={"cursor": "zed"}), 422)
    assert "invalid cursor" in problem["detail"]
    etag = live_client.get("/v1/forecasters").headers["ETag"]
    again = live_client.get("/v1/forecasters", headers={"If-None-Match": etag})
    assert again.status_code == 304


# --- the dashboard's page --------------------------------------------------------------------


def test_the_page_lists_each_forecaster_with_their_reading_and_record(live_client, keys):
    _post_as_fred(live_client, keys, 0.3)
    body = live_client.get("/v1/forecasters").json()
    page = live_client.get("/forecasters")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    tester = next(i for i in body["items"] if i["id"] == "tester")
    row = html[html.index('id="forecaster-2"') :]
    row = row[: row.index("</tr>")]
    alpha = tester["discrimination"]
    assert "tester" in row and f"{alpha['mean']:.2f}" in row
    assert f"[{alpha['interval'][0]:.2f}, {alpha['interval'][1]:.2f}]" in row
    fred = html[html.index('id="forecaster-1"') :]
    assert "fred" in fred[: fred.index("</tr>")] and "read as a newcomer" in fred
    newcomer = html[html.index('id="newcomer"') :]
    assert f"{body['newcomer']['noise']['mean']:.2f}" in newcomer[: newcomer.index("</tr>")]
    assert 'aria-current="page">Forecasters' in html


def test_the_page_before_any_fit_says_so(client):
    page = client.get("/forecasters")
    assert page.status_code == 503 and "No fit yet" in page.text and "no fit" in page.text
