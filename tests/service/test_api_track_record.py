"""The service's track record (GET /v1/track-record, the calibration plot and the dashboard's
/track-record page): each resolved
question scored on the last forecast served at least `horizon_days` before it resolved, and
against the mean log-odds of the elicitations its forecasters had posted by then.

The questions, resolutions and annulment go through the API; the served history and the
elicitations are written with past times, as a service that has run for months holds them.
Expected scores are computed by hand from those rows.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

RESOLVED_AT = datetime(2026, 6, 1, tzinfo=UTC)
OPENED = datetime(2026, 1, 1, tzinfo=UTC)


def _t(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


#: question id -> (group, outcome or None for "annulled")
QUESTIONS: dict[str, tuple[str, int | None]] = {
    "q-a": ("alpha", 0),
    "q-b": ("alpha", 1),
    "q-c": ("beta", 0),
    "q-d": ("beta", 1),
    "q-e": ("beta", 1),
    "q-f": ("beta", None),
}

#: Forecasts served: (question, probability, computed_at). q-a's row after the resolution
#: and q-e's only row (also after it) must never be scored; q-f is annulled.
HISTORY = [
    ("q-a", 0.5, _t(5, 1)),
    ("q-a", 0.2, _t(5, 25, 12)),
    ("q-a", 0.95, _t(6, 2)),
    ("q-b", 0.6, _t(4, 1)),
    ("q-b", 0.7, _t(5, 20)),
    ("q-c", 0.9, _t(5, 31)),
    ("q-d", 0.4, _t(5, 30)),
    ("q-e", 0.8, _t(6, 3)),
    ("q-f", 0.1, _t(5, 1)),
]

#: Elicitations: (question, forecaster, probability, created_at).
ELICITATIONS = [
    ("q-a", "f2", 0.4, _t(4, 30)),
    ("q-a", "f1", 0.1, _t(5, 10)),
    ("q-a", "f1", 0.3, _t(5, 20)),  # replaces f1's 0.1
    ("q-a", "f3", 0.9, _t(5, 26)),  # after q-a's scored forecast: not in its crowd
    ("q-c", "f1", 0.6, _t(5, 1)),
]


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _log_loss(p: float, y: int) -> float:
    return -math.log(p if y else 1 - p)


def _problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["detail"]
    return body  # type: ignore[no-any-return]


@pytest.fixture
def record(client, keys, prepared):  # type: ignore[no-untyped-def]
    """The six questions created, resolved or annulled through the API, their history and
    elicitations written with past times."""
    from service.store.database import make_engine, make_session_factory
    from service.store.tables import ElicitationRow, ForecastHistoryRow, QuestionRow

    admin = keys.auth("admin")
    for qid, (group, outcome) in QUESTIONS.items():
        r = client.post(
            "/v1/questions",
            headers=admin,
            json={
                "id": qid,
                "title": f"Question {qid}?",
                "group": group,
                "resolution_criteria": "A test question.",
                "opens_at": "2026-01-01T00:00:00Z",
                "resolves_at": "2026-12-31T00:00:00Z",
            },
        )
        assert r.status_code == 201, r.text
        if outcome is None:
            r = client.post(f"/v1/questions/{qid}/annulment", headers=admin, json={"reason": "x"})
        else:
            r = client.post(
                f"/v1/questions/{qid}/resolution",
                headers=admin,
                json={"outcome": outcome, "resolved_at": RESOLVED_AT.isoformat()},
            )
        assert r.status_code == 200, r.text
    engine = make_engine(prepared)
    with make_session_factory(engine)() as session:
        # Added in January, as on a service that has run since then.
        for qid in QUESTIONS:
            session.get(QuestionRow, qid).created_at = OPENED  # type: ignore[union-attr]
        for qid, p, at in HISTORY:
            session.add(
                ForecastHistoryRow(
                    question_id=qid,
                    probability=p,
                    interval_low=p / 2,
                    interval_high=(1 + p) / 2,
                    interval_prob=0.9,
                    median=p,
                    tier="refit",
                    fit_id=f"fit-{qid}-{at:%m%d}",
                    computed_at=at,
                    cause_type="fit",
                    cause_id=f"fit-{qid}-{at:%m%d}",
                )
            )
        for qid, who, p, at in ELICITATIONS:
            session.add(
                ElicitationRow(
                    id=f"el-{uuid.uuid4().hex[:12]}",
                    question_id=qid,
                    forecaster_id=who,
                    created_at=at,
                    probability=p,
                    logit_mean=_logit(p),
                    logit_sd=0.5,
                    fitted={},
                    source="api",
                    created_by=who,
                )
            )
        session.commit()
    engine.dispose()
    return client


def test_each_question_is_scored_on_its_last_forecast_before_it_resolved(record):
    body = record.get("/v1/track-record").json()
    # The catalog's three questions are open; q-f is annulled; q-e has no forecast in time.
    assert (body["resolved"], body["resolved_before_added"], body["scored"]) == (5, 0, 4)
    served = {i["question_id"]: (i["forecast"]["probability"], i["outcome"]) for i in body["items"]}
    assert served == {"q-a": (0.2, 0), "q-b": (0.7, 1), "q-c": (0.9, 0), "q-d": (0.4, 1)}
    assert body["not_scored"] == [
        {"question_id": "q-e", "reason": "no forecast served before it resolved"}
    ]
    s = body["scores"]
    assert s["brier"] == pytest.approx((0.2**2 + 0.3**2 + 0.9**2 + 0.6**2) / 4)
    assert s["log_score"] == pytest.approx(
        (_log_loss(0.2, 0) + _log_loss(0.7, 1) + _log_loss(0.9, 0) + _log_loss(0.4, 1)) / 4
    )
    # One forecast per bin: |0.2 - 0|, |0.4 - 1|, |0.7 - 1|, |0.9 - 0|.
    assert s["ece"] == pytest.approx((0.2 + 0.6 + 0.3 + 0.9) / 4)
    assert s["sharpness"] == pytest.approx((0.6 + 0.2 + 0.4 + 0.8) / 4)
    assert s["base_rate"] == 0.5
    assert 0 < s["calibration"]["p_value"] <= 1 and s["calibration"]["expected_ece"] > 0
    bins = {(b["low"], b["count"], b["observed_frequency"]) for b in body["bins"] if b["count"]}
    assert bins == {(0.2, 1, 0.0), (0.4, 1, 1.0), (0.7, 1, 1.0), (0.9, 1, 0.0)}
    assert len(body["bins"]) == 10 and sum(b["count"] for b in body["bins"]) == 4
    a = next(i for i in body["items"] if i["question_id"] == "q-a")
    # The forecast as it was served: its interval, fit and time, 6.5 days before the outcome.
    assert a["forecast"]["interval"] == [0.1, 0.6] and a["forecast"]["fit_id"] == "fit-q-a-0525"
    assert a["forecast"]["computed_at"] == "2026-05-25T12:00:00Z"
    assert a["lead_days"] == pytest.approx(6.5)
    assert (a["group"], a["resolved_at"]) == ("alpha", "2026-06-01T00:00:00Z")


def test_a_question_that_had_resolved_before_it_was_added_is_not_in_the_record(record, prepared):
    """An imported record, or a question entered with its resolution, was never the
    service's to forecast, even where a forecast was served before the outcome's time."""
    from service.store.database import make_engine, make_session_factory
    from service.store.tables import QuestionRow

    engine = make_engine(prepared)
    with make_session_factory(engine)() as session:
        row = session.get(QuestionRow, "q-a")
        assert row is not None
        row.created_at = RESOLVED_AT + timedelta(days=1)
        session.commit()
    engine.dispose()
    body = record.get("/v1/track-record").json()
    assert (body["resolved"], body["resolved_before_added"], body["scored"]) == (4, 1, 3)
    assert "q-a" not in {i["question_id"] for i in body["items"]}
    assert body["scores"]["brier"] == pytest.approx((0.3**2 + 0.9**2 + 0.6**2) / 3)
    html = record.get("/track-record").text
    assert "1 more had resolved before they were added" in html


def test_a_horizon_scores_the_forecasts_served_that_long_before(record):
    body = record.get("/v1/track-record", params={"horizon_days": 7}).json()
    served = {i["question_id"]: i["forecast"]["probability"] for i in body["items"]}
    # q-a's 0.2 came 6.5 days before: its 0.5 of May 1 is scored instead.
    assert served == {"q-a": 0.5, "q-b": 0.7}
    assert body["scores"]["brier"] == pytest.approx((0.5**2 + 0.3**2) / 2)
    assert sorted(n["question_id"] for n in body["not_scored"]) == ["q-c", "q-d", "q-e"]
    assert {n["reason"] for n in body["not_scored"]} == {
        "no forecast served 7 days or more before it resolved"
    }
    assert body["horizon_days"] == 7


def test_the_crowd_is_each_forecasters_latest_elicitation_before_the_scored_forecast(record):
    body = record.get("/v1/track-record").json()
    crowd = {i["question_id"]: i["crowd"] for i in body["items"]}
    # q-a at May 25 noon: f1's 0.3 (not their 0.1) and f2's 0.4; f3 came a day later.
    assert crowd["q-a"]["forecasters"] == 2
    assert crowd["q-a"]["probability"] == pytest.approx(_sigmoid((_logit(0.3) + _logit(0.4)) / 2))
    assert crowd["q-c"] == {"probability": pytest.approx(0.6), "forecasters": 1}
    assert crowd["q-b"] is None and crowd["q-d"] is None
    versus = body["against_crowd"]
    assert versus["questions"] == 2
    mine = {"q-a": (0.2, 0), "q-c": (0.9, 0)}
    theirs = {q: crowd[q]["probability"] for q in mine}
    service_brier = sum((p - y) ** 2 for p, y in mine.values()) / 2
    crowd_brier = sum((theirs[q] - y) ** 2 for q, (_, y) in mine.items()) / 2
    assert versus["service_scores"]["brier"] == pytest.approx(service_brier)
    assert versus["crowd_scores"]["brier"] == pytest.approx(crowd_brier)
    differences = {d["score"]: d for d in versus["differences"]}
    assert set(differences) == {"brier", "log_score", "ece"}
    assert differences["brier"]["difference"] == pytest.approx(service_brier - crowd_brier)
    low, high = differences["brier"]["interval"]
    assert low <= high and 0 <= differences["brier"]["share_service_better"] <= 1
    # Seven days out, q-a's forecast of May 1 has only f2's elicitation of April 30 before it.
    early = record.get("/v1/track-record", params={"horizon_days": 7}).json()
    a = next(i for i in early["items"] if i["question_id"] == "q-a")
    assert a["crowd"] == {"probability": pytest.approx(0.4), "forecasters": 1}


def test_the_scored_questions_download_as_csv(record):
    import csv
    import io

    body = record.get("/v1/track-record", params={"horizon_days": 7}).json()
    r = record.get("/v1/track-record", params={"horizon_days": 7, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="track-record.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["question_id"] for row in rows] == [i["question_id"] for i in body["items"]]
    for row, item in zip(rows, body["items"], strict=True):
        assert float(row["probability"]) == item["forecast"]["probability"]
        assert row["computed_at"] == item["forecast"]["computed_at"]
        assert (
            float(row["lead_days"]) == item["lead_days"] and int(row["outcome"]) == item["outcome"]
        )
        crowd = item["crowd"]
        assert row["crowd_probability"] == ("" if crowd is None else repr(crowd["probability"]))
    a = next(row for row in rows if row["question_id"] == "q-a")
    assert (a["probability"], a["crowd_forecasters"], a["fit_id"]) == ("0.5", "1", "fit-q-a-0501")
    by_accept = record.get(
        "/v1/track-record", params={"horizon_days": 7}, headers={"Accept": "text/csv"}
    )
    assert by_accept.text == r.text
    again = record.get(
        "/v1/track-record",
        params={"horizon_days": 7, "format": "csv"},
        headers={"If-None-Match": r.headers["ETag"]},
    )
    assert again.status_code == 304


def test_a_group_scores_its_own_questions(record):
    body = record.get("/v1/track-record", params={"group": "beta"}).json()
    assert (body["group"], body["resolved"], body["scored"]) == ("beta", 3, 2)
    assert body["scores"]["brier"] == pytest.approx((0.9**2 + 0.6**2) / 2)
    problem = _problem(record.get("/v1/track-record", params={"group": "gamma"}), 422)
    assert "no question is in group 'gamma'" in problem["detail"]
    assert "alpha, belarus, beta, settlement" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["query", "group"]


@pytest.mark.parametrize("horizon", ["-1", "3651", "soon"])
def test_a_horizon_out_of_range_is_a_422_problem(record, horizon):
    problem = _problem(record.get("/v1/track-record", params={"horizon_days": horizon}), 422)
    assert "horizon_days" in str(problem["errors"][0]["loc"])


def test_nothing_resolved_is_an_empty_record_not_an_error(client):
    body = client.get("/v1/track-record").json()
    assert (body["resolved"], body["scored"], body["scores"], body["against_crowd"]) == (
        0,
        0,
        None,
        None,
    )
    assert [b["count"] for b in body["bins"]] == [0] * 10
    assert [b["low"] for b in body["bins"]] == pytest.approx([i / 10 for i in range(10)])


def test_the_record_has_an_etag_that_a_new_resolution_changes(record, keys):
    first = record.get("/v1/track-record")
    etag = first.headers["ETag"]
    assert record.get("/v1/track-record", headers={"If-None-Match": etag}).status_code == 304
    # Another horizon is another record.
    assert record.get("/v1/track-record", params={"horizon_days": 7}).headers["ETag"] != etag
    r = record.post(
        "/v1/questions/summit-by-2027/resolution",
        headers=keys.auth("admin"),
        json={"outcome": 1, "resolved_at": datetime.now(UTC).isoformat()},
    )
    assert r.status_code == 200, r.text
    after = record.get("/v1/track-record", headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.json()["resolved"] == 6


def test_the_calibration_plot_draws_the_same_record(record):
    svg = record.get("/v1/plots/calibration", params={"format": "svg", "horizon_days": 7})
    assert svg.status_code == 200, svg.text
    import xml.etree.ElementTree as ET

    text = "".join(ET.fromstring(svg.content).itertext())
    assert "Calibration on 2 resolved questions" in text and "7+ days before" in text
    beta = record.get("/v1/plots/calibration", params={"format": "svg", "group": "beta"})
    assert "Calibration on 2 resolved questions in beta" in "".join(
        ET.fromstring(beta.content).itertext()
    )
    problem = _problem(record.get("/v1/plots/calibration", params={"horizon_days": 90}), 409)
    assert "90 days or more before it resolved" in problem["detail"]


def test_a_question_resolved_through_the_api_is_scored_on_what_was_served(live_client, keys):
    """The whole loop on a real fit: the forecast the app read is the one scored, and the
    crowd is the catalog's elicitations, each forecaster's latest."""
    from service.store.tables import ElicitationRow

    q = "truce-by-2027"
    served = live_client.get(f"/v1/questions/{q}/forecast").json()
    resolved_at = datetime.now(UTC)
    r = live_client.post(
        f"/v1/questions/{q}/resolution",
        json={"outcome": 1, "resolved_at": resolved_at.isoformat()},
        headers=keys.auth("admin"),
    )
    assert r.status_code == 200, r.text
    body = live_client.get("/v1/track-record").json()
    assert body["scored"] == 1
    (item,) = body["items"]
    assert item["forecast"] == served
    assert body["scores"]["brier"] == pytest.approx((1 - served["probability"]) ** 2)
    with live_client.app.state.session_factory() as session:
        rows = session.query(ElicitationRow).filter_by(question_id=q).all()
    computed_at = datetime.fromisoformat(served["computed_at"].replace("Z", "+00:00"))
    latest: dict[str, ElicitationRow] = {}
    for e in sorted(rows, key=lambda e: (e.created_at, e.id)):
        if e.created_at.replace(tzinfo=UTC) < computed_at:
            latest[e.forecaster_id] = e
    assert latest, "the tiny catalog has elicitations on the question"
    expected = _sigmoid(sum(e.logit_mean for e in latest.values()) / len(latest))
    assert item["crowd"] == {"probability": pytest.approx(expected), "forecasters": len(latest)}
    png = live_client.get("/v1/plots/calibration")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"


# --- the dashboard's page --------------------------------------------------------------------


def _html(r: httpx.Response, status: int = 200) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html")
    return r.text


def _row(html: str, row_id: str) -> str:
    start = html.index(f'id="{row_id}"')
    return html[start : html.index("</tr>", start)]


def test_the_page_shows_the_scores_the_crowd_and_each_question(record):
    html = _html(record.get("/track-record"))
    assert "4 of 5 resolved questions scored;\n  1 had no forecast in time." in html
    service = _row(html, "scores-service")
    brier = (0.2**2 + 0.3**2 + 0.9**2 + 0.6**2) / 4
    assert f"{brier:.4f}" in service and f"{0.5:.4f}" in service  # Brier, ECE
    crowd_a = _sigmoid((_logit(0.3) + _logit(0.4)) / 2)
    crowd_brier = (crowd_a**2 + 0.6**2) / 2
    assert f"{crowd_brier:.4f}" in _row(html, "scores-crowd")
    a = _row(html, "item-q-a")
    assert "20.0%" in a and "10.0–60.0%" in a and f"{100 * crowd_a:.1f}%" in a
    assert "fit-q-a-0525" in a and "6.5" in a and "2026-06-01" in a
    assert "—" in _row(html, "item-q-b")  # no elicitation: no crowd
    assert "q-e</a>: no forecast served before it resolved" in html
    assert 'src="/v1/plots/calibration?format=svg&amp;horizon_days=0"' in html
    assert 'href="/v1/track-record?horizon_days=0"' in html


def test_the_page_scores_each_horizon(record):
    html = _html(record.get("/track-record"))
    zero, week = _row(html, "horizon-0"), _row(html, "horizon-7")
    assert f"{(0.2**2 + 0.3**2 + 0.9**2 + 0.6**2) / 4:.4f}" in zero
    assert f"{(0.5**2 + 0.3**2) / 2:.4f}" in week  # q-a's 0.5 of May 1, q-b's 0.7
    crowd_a = _sigmoid((_logit(0.3) + _logit(0.4)) / 2)
    assert f"{(crowd_a**2 + 0.6**2) / 2:.4f}" in zero  # the crowd on q-a and q-c
    assert f"{0.4**2:.4f}" in week  # seven days out, only q-a had a crowd: f2's 0.4
    assert "—" in _row(html, "horizon-90")  # nothing served that early
    # Asked for 90 days, with nothing to score there: the other horizons are still shown.
    early = _html(record.get("/track-record", params={"horizon_days": 90}))
    assert "Nothing to score yet" in early and 'id="horizon-0"' in early


def test_the_page_filters_by_horizon_and_group(record):
    html = _html(record.get("/track-record", params={"horizon_days": 7, "group": "alpha"}))
    assert "2 of 2 resolved questions scored." in html
    assert 'id="item-q-a"' in html and 'id="item-q-c"' not in html
    assert "50.0%" in _row(html, "item-q-a")  # the forecast of May 1, not the 0.2 of May 25
    assert '<option value="7" selected>' in html
    assert '<option value="alpha" selected>' in html
    assert 'src="/v1/plots/calibration?format=svg&amp;horizon_days=7&amp;group=alpha"' in html
    problem = _html(record.get("/track-record", params={"group": "gamma"}), 404)
    assert "no question is in group" in problem and "alpha, belarus, beta, settlement" in problem


def test_the_page_says_when_there_is_nothing_to_score(client):
    html = _html(client.get("/track-record"))
    assert "0 of 0 resolved questions scored." in html
    assert "Nothing to score yet" in html and 'id="scores"' not in html
    assert 'id="by-horizon"' not in html
