"""Reading evidence and elicitations back: by id, in pages newest first, with ETags; the
cause of a forecast resolved to what produced it; reads closed to anonymous callers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

Q = "truce-by-2027"
Q2 = "summit-by-2027"
Q3 = "sanctions-relief-by-2027"


def _evidence(title: str, effects: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "title": title,
        "observed_at": "2026-06-01T12:00:00Z",
        "reliability": "verified-report",
        "effects": effects,
        **extra,
    }


def _post_evidence(client, keys, body: dict[str, Any]) -> str:  # type: ignore[no-untyped-def]
    r = client.post("/v1/evidence", headers=keys.auth("forecaster"), json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _post_elicitation(client, keys, question_id: str, body: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.post(
        f"/v1/questions/{question_id}/elicitations", headers=keys.auth("forecaster"), json=body
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status
    return body  # type: ignore[no-any-return]


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _newest_first(items: list[dict[str, Any]]) -> bool:
    keys = [(_when(i["created_at"]), i["id"]) for i in items]
    return keys == sorted(keys, reverse=True)


def _all_pages(client, path: str, limit: int, **params: str) -> tuple[list[dict], int]:  # type: ignore[no-untyped-def]
    """Every item of a listing followed through `next`, and the number of pages read."""
    items: list[dict] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {**params, "limit": str(limit)}
        if cursor is not None:
            query["cursor"] = cursor
        r = client.get(path, params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        assert len(body["items"]) <= limit
        items.extend(body["items"])
        cursor = body["next"]
        if cursor is None:
            return items, pages
        assert cursor == body["items"][-1]["id"]
        assert pages < 100, "the pages do not end"


# -- evidence -----------------------------------------------------------------------------------


def test_evidence_reads_back_by_id_and_in_the_list_as_posted(client, keys):
    body = _evidence(
        "Talks announced",
        [
            {"question_id": Q, "likelihood_ratio": 2.5},
            {"question_id": Q2, "strength": "moderately-for"},
        ],
        source_url="https://example.org/news/1",
        observed_at="2026-06-01T14:00:00+02:00",
    )
    before = datetime.now(UTC)
    ev = _post_evidence(client, keys, body)
    after = datetime.now(UTC)

    r = client.get(f"/v1/evidence/{ev}")
    assert r.status_code == 200, r.text
    item = r.json()
    assert item["id"] == ev and item["title"] == "Talks announced"
    assert item["observed_at"] == "2026-06-01T12:00:00Z"  # the offset read, written back in UTC
    assert item["source_url"] == "https://example.org/news/1"
    assert item["reliability"] == "verified-report"
    assert item["effects"] == [
        {"question_id": Q, "likelihood_ratio": 2.5, "strength": None},
        {"question_id": Q2, "likelihood_ratio": 3.0, "strength": "moderately-for"},
    ]
    assert item["created_by"] == "fred"
    assert before <= _when(item["created_at"]) <= after  # when it was recorded
    assert item["retraction"] is None

    listed = client.get("/v1/evidence").json()
    assert listed["items"] == [item] and listed["next"] is None


def test_evidence_without_a_source_reads_back_with_a_null_source(client, keys):
    ev = _post_evidence(
        client, keys, _evidence("Rumour heard", [{"question_id": Q, "likelihood_ratio": 0.5}])
    )
    item = client.get(f"/v1/evidence/{ev}").json()
    assert item["source_url"] is None and item["effects"][0]["likelihood_ratio"] == 0.5


def test_evidence_pages_newest_first_without_losing_or_repeating_an_item(client, keys):
    posted = [
        _post_evidence(
            client,
            keys,
            _evidence(f"item {i}", [{"question_id": Q if i % 2 else Q2, "likelihood_ratio": 2}]),
        )
        for i in range(5)
    ]
    items, pages = _all_pages(client, "/v1/evidence", 2)
    ids = [i["id"] for i in items]
    assert pages == 3 and len(ids) == len(set(ids)) == 5 and set(ids) == set(posted)
    assert _newest_first(items)
    # One page holding them all says the same, in the same order.
    whole = client.get("/v1/evidence", params={"limit": 500}).json()
    assert [i["id"] for i in whole["items"]] == ids and whole["next"] is None


def test_evidence_filtered_by_question_holds_only_what_bears_on_it(client, keys):
    on_q = [
        _post_evidence(
            client, keys, _evidence(f"q {i}", [{"question_id": Q, "likelihood_ratio": 2}])
        )
        for i in range(3)
    ]
    both = _post_evidence(
        client,
        keys,
        _evidence(
            "both",
            [{"question_id": Q2, "likelihood_ratio": 2}, {"question_id": Q, "likelihood_ratio": 3}],
        ),
    )
    on_q2 = _post_evidence(
        client, keys, _evidence("q2", [{"question_id": Q2, "likelihood_ratio": 0.5}])
    )

    items, _ = _all_pages(client, "/v1/evidence", 1, question_id=Q)
    assert sorted(i["id"] for i in items) == sorted([*on_q, both]) and _newest_first(items)
    # The item bearing on two questions keeps both effects when listed under one.
    (shared,) = [i for i in items if i["id"] == both]
    assert {e["question_id"] for e in shared["effects"]} == {Q, Q2}

    items2, _ = _all_pages(client, "/v1/evidence", 1, question_id=Q2)
    assert sorted(i["id"] for i in items2) == sorted([both, on_q2])
    assert client.get("/v1/evidence", params={"question_id": Q3}).json() == {
        "items": [],
        "next": None,
    }


def test_a_retracted_item_shows_its_retraction_and_changes_its_etag(client, keys):
    ev = _post_evidence(
        client, keys, _evidence("Leak", [{"question_id": Q, "likelihood_ratio": 4}])
    )
    first = client.get(f"/v1/evidence/{ev}")
    etag = first.headers["etag"]
    same = client.get(f"/v1/evidence/{ev}", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.headers["etag"] == etag
    page = client.get("/v1/evidence")
    page_etag = page.headers["etag"]
    assert client.get("/v1/evidence", headers={"If-None-Match": page_etag}).status_code == 304

    r = client.post(
        f"/v1/evidence/{ev}/retraction",
        headers=keys.auth("forecaster"),
        json={"reason": "the leak was fabricated"},
    )
    assert r.status_code == 201, r.text
    retraction_id = r.json()["id"]

    after = client.get(f"/v1/evidence/{ev}", headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag
    retraction = after.json()["retraction"]
    assert retraction["id"] == retraction_id and retraction["reason"] == "the leak was fabricated"
    assert retraction["created_by"] == "fred" and _when(retraction["created_at"])
    # Everything else stays as it was posted.
    assert {k: v for k, v in after.json().items() if k != "retraction"} == {
        k: v for k, v in first.json().items() if k != "retraction"
    }
    listed = client.get("/v1/evidence", headers={"If-None-Match": page_etag})
    assert listed.status_code == 200 and listed.headers["etag"] != page_etag
    assert listed.json()["items"][0]["retraction"] == retraction


# -- elicitations -------------------------------------------------------------------------------


def test_elicitations_read_back_by_id_with_the_fit_the_post_showed(client, keys):
    before = datetime.now(UTC)
    by_probability = _post_elicitation(client, keys, Q, {"probability": 0.3, "confidence": 0.8})
    by_quantiles = _post_elicitation(
        client, keys, Q, {"quantiles": {"0.1": 0.1, "0.5": 0.25, "0.9": 0.5}}
    )
    bare = _post_elicitation(client, keys, Q2, {"probability": 0.6})
    after = datetime.now(UTC)

    for posted, stated in (
        (by_probability, {"probability": 0.3, "confidence": 0.8, "quantiles": None}),
        (
            by_quantiles,
            {
                "probability": None,
                "confidence": None,
                "quantiles": {"0.1": 0.1, "0.5": 0.25, "0.9": 0.5},
            },
        ),
        (bare, {"probability": 0.6, "confidence": None, "quantiles": None}),
    ):
        r = client.get(f"/v1/elicitations/{posted['id']}")
        assert r.status_code == 200, r.text
        record = r.json()
        assert record["id"] == posted["id"]
        assert record["question_id"] == posted["question_id"]
        assert record["forecaster_id"] == posted["forecaster_id"] == "fred"
        assert {k: record[k] for k in stated} == stated
        assert record["fitted"] == posted["fitted"]  # stored at the POST, not fitted again
        fitted = record["fitted"]
        low, high = fitted["interval"]
        assert 0 < low <= fitted["median"] <= high < 1 and 0 < fitted["probability"] < 1
        assert record["source"] == "api"
        assert before <= _when(record["created_at"]) <= after
        again = client.get(
            f"/v1/elicitations/{posted['id']}", headers={"If-None-Match": r.headers["etag"]}
        )
        assert again.status_code == 304


def test_a_questions_elicitations_page_newest_first(client, keys):
    posted = [_post_elicitation(client, keys, Q, {"probability": p})["id"] for p in (0.1, 0.2, 0.3)]
    other = _post_elicitation(client, keys, Q2, {"probability": 0.5})["id"]

    items, pages = _all_pages(client, f"/v1/questions/{Q}/elicitations", 2)
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids)) and set(posted) <= set(ids) and other not in ids
    assert {i["question_id"] for i in items} == {Q}
    # The catalog's elicitation of the question (tests/service/tiny_priors) is there too.
    assert any(i["source"].startswith("catalog") for i in items)
    assert pages == (len(ids) + 1) // 2 and _newest_first(items)
    whole = client.get(f"/v1/questions/{Q}/elicitations", params={"limit": 500}).json()
    assert [i["id"] for i in whole["items"]] == ids
    # Posted after the catalog's, the API's come first, newest first.
    assert ids[:3] == [
        i["id"]
        for i in sorted(
            (i for i in items if i["id"] in posted),
            key=lambda i: (_when(i["created_at"]), i["id"]),
            reverse=True,
        )
    ]
    # A record in a list is the record by id.
    assert whole["items"][0] == client.get(f"/v1/elicitations/{ids[0]}").json()


def test_a_stored_fit_without_its_summary_is_completed_from_its_parameters(
    prepared, client, monkeypatch
):
    """Without `probability`, `median`, `interval` in the stored fit, the read computes them
    from the stored logit-normal as the POST's fit does, and fits nothing."""
    from models.elicitation import fit_probability
    from service.domain import elicitations
    from service.store.database import make_engine, make_session_factory
    from service.store.tables import ElicitationRow

    expected = fit_probability(0.3, 0.7)
    engine = make_engine(prepared)
    with make_session_factory(engine)() as session:
        session.add(
            ElicitationRow(
                id="el-old-row",
                question_id=Q,
                forecaster_id="olga",
                created_at=datetime(2026, 3, 1, tzinfo=UTC),
                probability=0.3,
                confidence=0.7,
                logit_mean=expected.logit_mean,
                logit_sd=expected.logit_sd,
                fitted={"note": "written before the summary was stored"},
                source="api",
                created_by="olga",
            )
        )
        session.commit()
    engine.dispose()

    def no_fitting(*args: object, **kwargs: object) -> None:
        raise AssertionError("a read fitted the elicitation again")

    monkeypatch.setattr(elicitations, "fit_probability", no_fitting)
    monkeypatch.setattr(elicitations, "fit_quantiles", no_fitting)
    r = client.get("/v1/elicitations/el-old-row")
    assert r.status_code == 200, r.text
    fitted = r.json()["fitted"]
    assert fitted["note"] == "written before the summary was stored"
    assert fitted["probability"] == pytest.approx(expected.probability, rel=1e-9)
    assert fitted["median"] == pytest.approx(expected.median, rel=1e-9)
    assert fitted["interval"] == pytest.approx(list(expected.interval), rel=1e-9)
    assert fitted["interval_prob"] == 0.9
    assert fitted["logit_sd"] == pytest.approx(expected.logit_sd)


# -- ties, and reading a page in a fixed number of queries ------------------------------------


def _insert_at_one_instant(settings, n: int) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    """``n`` evidence items (one effect each, the first retracted) and ``n`` elicitations of Q,
    all recorded at the same instant, as a burst of writes can be."""
    from service.store.database import make_engine, make_session_factory
    from service.store.tables import (
        ElicitationRow,
        EvidenceEffectRow,
        EvidenceRetractionRow,
        EvidenceRow,
    )

    at = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    ev_ids = [f"ev-tie-{i}" for i in range(n)]
    el_ids = [f"el-tie-{i}" for i in range(n)]
    engine = make_engine(settings)
    with make_session_factory(engine)() as session:
        for i, ev in enumerate(ev_ids):
            session.add(
                EvidenceRow(
                    id=ev,
                    title=f"tie {i}",
                    observed_at=at,
                    reliability="rumour",
                    created_at=at,
                    created_by="fred",
                )
            )
            session.flush()
            session.add(EvidenceEffectRow(evidence_id=ev, question_id=Q, likelihood_ratio=1.5))
        session.add(
            EvidenceRetractionRow(
                id="rt-tie", evidence_id=ev_ids[0], reason="r", created_at=at, created_by="fred"
            )
        )
        for el in el_ids:
            session.add(
                ElicitationRow(
                    id=el,
                    question_id=Q,
                    forecaster_id="fred",
                    created_at=at,
                    probability=0.4,
                    logit_mean=-0.4,
                    logit_sd=0.0,
                    fitted={},
                    source="api",
                    created_by="fred",
                )
            )
        session.commit()
    engine.dispose()
    return ev_ids, el_ids


def test_items_recorded_at_the_same_instant_page_by_id_descending(prepared, client):
    ev_ids, el_ids = _insert_at_one_instant(prepared, 4)
    items, pages = _all_pages(client, "/v1/evidence", 1)
    assert [i["id"] for i in items] == sorted(ev_ids, reverse=True) and pages == 4
    assert [i["retraction"] is not None for i in items] == [False, False, False, True]
    els, _ = _all_pages(client, f"/v1/questions/{Q}/elicitations", 3)
    tied = [i["id"] for i in els if i["id"].startswith("el-tie-")]
    assert tied == sorted(el_ids, reverse=True) and [i["id"] for i in els][:4] == tied


def test_an_evidence_page_reads_effects_and_retractions_in_one_query_each(prepared):
    from sqlalchemy import event

    from service.domain.evidence import list_evidence
    from service.store.database import make_engine, make_session_factory

    _insert_at_one_instant(prepared, 6)
    engine = make_engine(prepared)
    statements: list[str] = []

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        counts = []
        for limit in (1, 6):
            statements.clear()
            with make_session_factory(engine)() as session:
                page = list_evidence(session, None, None, limit)
            assert len(page.items) == limit
            counts.append(len(statements))
            assert sum("FROM evidence_effects" in s for s in statements) == 1
            assert sum("FROM evidence_retractions" in s for s in statements) == 1
        assert counts[0] == counts[1], statements
    finally:
        event.remove(engine, "before_cursor_execute", record)
        engine.dispose()


# -- the loop an app runs: a forecast's cause, resolved -----------------------------------------


def test_the_cause_of_the_latest_forecast_resolves_through_the_reads(live_client, keys):
    ev = _post_evidence(
        live_client,
        keys,
        _evidence("Ceasefire signed", [{"question_id": Q, "likelihood_ratio": 5}]),
    )
    cause = live_client.get(f"/v1/questions/{Q}/forecast").json()["cause"]
    assert cause == {"type": "evidence", "id": ev}
    item = live_client.get(f"/v1/evidence/{cause['id']}").json()
    assert item["title"] == "Ceasefire signed" and item["effects"][0]["question_id"] == Q

    posted = _post_elicitation(live_client, keys, Q, {"probability": 0.7, "confidence": 0.6})
    history = live_client.get(f"/v1/questions/{Q}/forecast/history").json()["items"]
    cause = history[-1]["cause"]
    assert cause == {"type": "elicitation", "id": posted["id"]}
    record = live_client.get(f"/v1/elicitations/{cause['id']}").json()
    assert record["question_id"] == Q and record["probability"] == 0.7
    assert record["fitted"] == posted["fitted"]
    # Every evidence or elicitation cause in the history resolves.
    for point in history:
        kind, ident = point["cause"]["type"], point["cause"]["id"]
        if kind == "evidence":
            assert live_client.get(f"/v1/evidence/{ident}").status_code == 200
        elif kind == "elicitation":
            assert live_client.get(f"/v1/elicitations/{ident}").status_code == 200

    retraction = live_client.post(
        f"/v1/evidence/{ev}/retraction",
        headers=keys.auth("forecaster"),
        json={"reason": "the signing was denied"},
    )
    assert retraction.status_code == 201, retraction.text
    cause = live_client.get(f"/v1/questions/{Q}/forecast").json()["cause"]
    assert cause == {"type": "retraction", "id": retraction.json()["id"]}
    record = live_client.get(f"/v1/retractions/{cause['id']}").json()
    assert record["evidence_id"] == ev and record["reason"] == "the signing was denied"
    assert record["created_by"] == "fred" and record["id"] == cause["id"]


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,needle",
    [
        ("/v1/evidence/ev-nope", "no evidence 'ev-nope'"),
        ("/v1/elicitations/el-nope", "no elicitation 'el-nope'"),
        ("/v1/retractions/rt-nope", "no retraction 'rt-nope'"),
        ("/v1/evidence?question_id=no-such-question", "no question 'no-such-question'"),
        ("/v1/questions/no-such-question/elicitations", "no question 'no-such-question'"),
    ],
)
def test_unknown_ids_and_questions_are_404_problems(client, path, needle):
    problem = _problem(client.get(path), 404)
    assert problem["type"].endswith("/not-found") and needle in problem["detail"], problem


@pytest.mark.parametrize("path", ["/v1/evidence", f"/v1/questions/{Q}/elicitations"])
def test_a_cursor_that_is_not_a_next_is_a_422(client, keys, path):
    problem = _problem(client.get(path, params={"cursor": "garbage"}), 422)
    assert "invalid cursor" in problem["detail"] and "`next`" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["query", "cursor"]
    for limit in (0, 501):
        _problem(client.get(path, params={"limit": limit}), 422)


def test_another_questions_elicitation_is_not_a_cursor(client, keys):
    other = _post_elicitation(client, keys, Q2, {"probability": 0.5})["id"]
    problem = _problem(client.get(f"/v1/questions/{Q}/elicitations", params={"cursor": other}), 422)
    assert "invalid cursor" in problem["detail"]
    ok = client.get(f"/v1/questions/{Q2}/elicitations", params={"cursor": other})
    assert ok.status_code == 200


def test_reads_need_a_reader_key_when_public_reads_are_off(prepared, keys):
    from fastapi.testclient import TestClient

    from service.app import create_app

    private = prepared.model_copy(update={"public_reads": False})
    with TestClient(create_app(private)) as c:
        ev = _post_evidence(c, keys, _evidence("x", [{"question_id": Q, "likelihood_ratio": 2}]))
        el = _post_elicitation(c, keys, Q, {"probability": 0.4})["id"]
        paths = [
            f"/v1/evidence/{ev}",
            "/v1/evidence",
            f"/v1/elicitations/{el}",
            f"/v1/questions/{Q}/elicitations",
            "/v1/track-record",
        ]
        for path in paths:
            problem = _problem(c.get(path), 401)
            assert "reader" in problem["detail"]
            assert c.get(path, headers=keys.auth("reader")).status_code == 200, path


def test_the_reads_are_in_the_openapi_description(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/evidence/{evidence_id}",
        "/v1/elicitations/{elicitation_id}",
        "/v1/questions/{question_id}/elicitations",
        "/v1/track-record",
        "/v1/plots/calibration",
    ):
        assert "get" in paths[path], path
    params = {
        p["name"] for p in paths["/v1/track-record"]["get"]["parameters"] if p["in"] == "query"
    }
    assert params == {"horizon_days", "group", "format"}
    assert "get" in paths["/v1/evidence"] and "post" in paths["/v1/evidence"]
    ref = paths["/v1/evidence/{evidence_id}"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    assert ref.endswith("/EvidenceItemPublic")
    assert "retraction" in spec["components"]["schemas"]["EvidenceItemPublic"]["properties"]
