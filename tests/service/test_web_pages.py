"""The dashboard's pages against the real app: list, question, fits, 404, public reads off;
and the sparkline drawing on its own."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import escape

from service.web.sparkline import MIN_SPAN, sparkline_points, sparkline_svg
from tests.service.conftest import TINY_TITLES, record_fit

Q = "truce-by-2027"
TITLES = TINY_TITLES


def pct(p: float) -> str:
    return f"{100 * p:.1f}%"


def evidence_body(title: str, lr: float = 4.0, **extra: object) -> dict[str, object]:
    return {
        "title": title,
        "observed_at": "2026-06-01T12:00:00Z",
        "source_url": "https://example.org/news/1",
        "reliability": "verified-report",
        "effects": [{"question_id": Q, "likelihood_ratio": lr}],
        **extra,
    }


def add_fit_row(settings, fit_id: str, status: str, reason: str | None, **fields) -> None:  # type: ignore[no-untyped-def]
    fields.setdefault("seconds", 12.5)
    fields.setdefault("diagnostics", None)
    record_fit(settings, fit_id, status, reason=reason, published_at=None, **fields)


def assert_html(response, status: int = 200) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    return str(response.text)


# --- the sparkline -------------------------------------------------------------------------


def test_sparkline_points_are_scaled_into_the_viewbox() -> None:
    points = sparkline_points([0.2, 0.5, 0.3, 0.8], width=100, height=20, pad=2)
    xs, ys = [x for x, _ in points], [y for _, y in points]
    assert xs == [2.0, 34.0, 66.0, 98.0]  # evenly spaced, first and last at the padding
    assert ys[3] == 2.0  # the highest value at the top
    assert ys[0] == 18.0  # the lowest at the bottom
    assert ys[1] == pytest.approx(2 + 16 * (0.8 - 0.5) / 0.6)
    assert all(2 <= y <= 18 for y in ys)


def test_sparkline_flat_history_sits_in_the_middle_of_a_minimum_span() -> None:
    points = sparkline_points([0.4, 0.4, 0.41], width=60, height=30, pad=0)
    lo, hi = 0.405 - MIN_SPAN / 2, 0.405 + MIN_SPAN / 2
    assert [y for _, y in points] == pytest.approx(
        [30 * (hi - 0.4) / (hi - lo)] * 2 + [30 * (hi - 0.41) / (hi - lo)], abs=0.01
    )
    # Near the edges the span is kept inside [0, 1]: 0.0 sits on the bottom line.
    (_, y_low), (_, y_high) = sparkline_points([0.0, 0.01], width=10, height=10, pad=0)
    assert y_low == 10.0 and y_high == pytest.approx(10 * (MIN_SPAN - 0.01) / MIN_SPAN)


def test_sparkline_single_point_is_a_level_line_to_a_dot_at_the_end() -> None:
    assert sparkline_points([0.3], width=120, height=28, pad=2) == [(118.0, 14.0)]
    svg = str(sparkline_svg([0.3], label="one"))
    assert svg.startswith("<svg") and 'viewBox="0 0 120 28"' in svg
    assert '<line class="level" x1="2" y1="14" x2="118" y2="14" />' in svg
    assert '<circle cx="118" cy="14"' in svg
    assert "<polyline" not in svg


def test_sparkline_of_an_empty_history_is_empty() -> None:
    assert sparkline_points([], width=120, height=28) == []
    assert str(sparkline_svg([], label="nothing")) == ""


def test_sparkline_svg_draws_the_line_and_escapes_its_label() -> None:
    svg = str(sparkline_svg([0.1, 0.2, 0.15], label='<b>"x"</b>', width=50, height=10))
    assert re.search(r'<polyline points="2,8 25,2 48,5" />', svg), svg
    assert '<circle cx="48" cy="5" r="2" />' in svg
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert 'role="img"' in svg


# --- the question list ---------------------------------------------------------------------


def test_question_list_without_a_fit(client) -> None:  # type: ignore[no-untyped-def]
    html = assert_html(client.get("/"))
    for qid, title in TITLES.items():
        assert f'href="/questions/{qid}"' in html
        assert title in html
    assert "no forecast yet" in html
    assert '<svg class="sparkline"' not in html
    assert 'href="/fits"' in html and 'href="/docs"' in html
    assert client.get("/static/style.css").status_code == 200
    js = client.get("/static/dashboard.js")
    assert js.status_code == 200 and "sessionStorage" in js.text


def test_question_list_shows_open_questions_unless_asked_for_others(client, keys) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        f"/v1/questions/{Q}/resolution",
        json={"outcome": 1, "resolved_at": "2026-06-01T00:00:00Z"},
        headers=keys.auth("admin"),
    )
    assert r.status_code == 200, r.text
    html = assert_html(client.get("/"))
    assert f'href="/questions/{Q}"' not in html and 'href="/questions/summit-by-2027"' in html
    assert '<option value="open" selected>' in html
    resolved = assert_html(client.get("/", params={"status": "resolved", "sort": "title"}))
    assert f'href="/questions/{Q}"' in resolved
    assert 'href="/questions/summit-by-2027"' not in resolved
    # Sorting keeps the filter; the filter form keeps the sort.
    assert 'href="?sort=probability&amp;status=resolved"' in resolved
    assert '<input type="hidden" name="sort" value="title">' in resolved
    every = assert_html(client.get("/", params={"status": "all"}))
    assert all(f'href="/questions/{qid}"' in every for qid in TITLES)
    none = assert_html(client.get("/", params={"status": "annulled"}))
    assert "No annulled questions." in none and 'href="/?status=all"' in none


def test_a_question_page_shows_what_moves_its_forecast(live_client, keys) -> None:  # type: ignore[no-untyped-def]
    body = {
        "title": "Talks announced",
        "observed_at": "2026-06-01T12:00:00Z",
        "reliability": "verified-report",
        "effects": [{"question_id": Q, "likelihood_ratio": 4.0}],
    }
    assert live_client.post("/v1/evidence", json=body, headers=keys.auth("forecaster")).is_success
    api = live_client.get(f"/v1/questions/{Q}/forecast/influence").json()
    html = assert_html(live_client.get(f"/questions/{Q}"))
    assert 'id="influence-heading">What moves it' in html
    for item in api["inputs"]:
        row = re.search(rf'<tr data-input-id="{item["id"]}">.*?</tr>', html, re.S)
        assert row is not None, item["id"]
        assert item["label"] in row.group(0)
        assert (
            f'<td class="num without">{100 * item["probability_without"]:.1f}%</td>' in row.group(0)
        )
    assert f"{100 * api['group_prior']['probability']:.1f}%" in html
    # A resolved question has nothing left to move.
    r = live_client.post(
        f"/v1/questions/{Q}/resolution",
        json={"outcome": 1, "resolved_at": "2026-07-01T00:00:00Z"},
        headers=keys.auth("admin"),
    )
    assert r.status_code == 200, r.text
    assert "What moves it" not in assert_html(live_client.get(f"/questions/{Q}"))


def test_question_list_finds_questions_by_title_or_id(client) -> None:  # type: ignore[no-untyped-def]
    found = assert_html(client.get("/", params={"q": "SUMMIT", "sort": "title"}))
    assert 'href="/questions/summit-by-2027"' in found and f'href="/questions/{Q}"' not in found
    assert 'name="q" value="SUMMIT"' in found
    # Sorting keeps the search.
    assert 'href="?sort=probability&amp;q=SUMMIT"' in found
    by_id = assert_html(client.get("/", params={"q": "relief-by", "status": "all"}))
    assert 'href="/questions/sanctions-relief-by-2027"' in by_id
    assert 'href="/questions/summit-by-2027"' not in by_id
    none = assert_html(client.get("/", params={"q": "ceasefire <b>"}))
    assert "No open question has “ceasefire &lt;b&gt;” in its title or id." in none
    # An empty search box shows the list as without it.
    assert assert_html(client.get("/", params={"q": " "})).count('href="/questions/') == len(TITLES)


def test_question_list_shows_forecasts_sparklines_and_last_change(live_client) -> None:  # type: ignore[no-untyped-def]
    items = live_client.get("/v1/questions").json()["items"]
    html = assert_html(live_client.get("/"))
    for item in items:
        f = item["forecast"]
        row = re.search(rf'<tr id="q-{item["id"]}".*?</tr>', html, re.S)
        assert row, item["id"]
        assert TITLES[item["id"]] in row.group(0)
        assert pct(f["probability"]) in row.group(0)
        lo, hi = f["interval"]
        assert f"{100 * lo:.1f}–{100 * hi:.1f}%" in row.group(0)
        assert '<svg class="sparkline"' in row.group(0)
        assert '<span class="cause-type">fit</span>' in row.group(0)
        assert ">fit-fixture</a>" in row.group(0)
        assert "first forecast" in row.group(0)
        assert item["group"] in row.group(0)
        assert "open" in row.group(0)
        assert "2027-12-31" in row.group(0)


def test_question_list_last_change_names_the_evidence(live_client, keys) -> None:  # type: ignore[no-untyped-def]
    before = live_client.get(f"/v1/questions/{Q}/forecast").json()["probability"]
    r = live_client.post(
        "/v1/evidence", headers=keys.auth("forecaster"), json=evidence_body("Talks")
    )
    assert r.status_code == 201, r.text
    after = r.json()["forecasts"][0]["probability"]
    assert after > before
    html = assert_html(live_client.get("/"))
    row = re.search(rf'<tr id="q-{Q}".*?</tr>', html, re.S)
    assert row
    assert pct(after) in row.group(0)
    assert f"+{100 * (after - before):.1f} pp" in row.group(0)
    assert ">Talks</a>" in row.group(0) and "evidence" in row.group(0)
    # Two forecasts served now: the sparkline is a line, not a single dot.
    assert "<polyline" in row.group(0)


def test_recent_history_of_every_question_comes_in_one_query(live_client, keys, published) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import event

    from service.store.database import make_engine, make_session_factory
    from service.store.repositories import ForecastHistoryRepository

    for k, lr in enumerate([3.0, 0.5, 2.0]):
        body = evidence_body(f"Item {k}", lr)
        body["effects"].append({"question_id": "summit-by-2027", "likelihood_ratio": 1 / lr})  # type: ignore[union-attr]
        r = live_client.post("/v1/evidence", headers=keys.auth("forecaster"), json=body)
        assert r.status_code == 201, r.text
    engine = make_engine(published)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        with make_session_factory(engine)() as session:
            repo = ForecastHistoryRepository(session)
            recent = repo.list_newest_per_question_oldest_first(2)
            assert len(statements) == 1
            assert set(recent) == set(TITLES)
            for q in TITLES:
                one = repo.list_newest_of_question_oldest_first(q, 2)
                assert [r.id for r in recent[q]] == [r.id for r in one]
            # The truce question has 4 rows (fit + 3 items): the newest 2, oldest first.
            ids = [r.id for r in recent[Q]]
            assert len(ids) == 2 and ids[0] < ids[1]
            assert len(recent["sanctions-relief-by-2027"]) == 1  # the fit's row only
    finally:
        engine.dispose()


def _row_order(html: str) -> list[str]:
    return re.findall(r'<tr id="q-([a-z0-9-]+)"', html)


@pytest.mark.parametrize("sort", ["probability", "title", "resolves_at", "change", "bogus"])
def test_question_list_sorts_on_the_server(live_client, sort: str) -> None:  # type: ignore[no-untyped-def]
    items = {i["id"]: i for i in live_client.get("/v1/questions").json()["items"]}
    html = assert_html(live_client.get("/", params={"sort": sort}))
    order = _row_order(html)
    assert sorted(order) == sorted(items)
    if sort == "probability":
        probs = [items[q]["forecast"]["probability"] for q in order]
        assert probs == sorted(probs, reverse=True)
        assert 'data-sort-key="probability"' in html and 'aria-sort="descending"' in html
    elif sort == "title":
        assert order == sorted(items, key=lambda q: TITLES[q].casefold())
        assert 'aria-sort="ascending"' in html
    elif sort == "bogus":
        assert order == sorted(items)  # the API's id order
        assert 'aria-sort="ascending"' not in html and 'aria-sort="descending"' not in html


# --- a question ------------------------------------------------------------------------------


def test_question_page_without_a_fit(client) -> None:  # type: ignore[no-untyped-def]
    html = assert_html(client.get(f"/questions/{Q}"))
    assert TITLES[Q] in html
    assert "A test question." in html  # the resolution criteria
    assert 'id="current-probability"' in html
    assert "No forecast yet" in html
    assert "plots/posterior" not in html and "No plots yet" in html
    # The catalog's elicitation, with its fitted distribution.
    assert "tester" in html and pct(0.2) in html
    assert 'id="evidence-form"' in html and 'id="elicitation-form"' in html


def test_question_page_shows_forecast_plots_evidence_and_elicitations(live_client, keys) -> None:  # type: ignore[no-untyped-def]
    r = live_client.post(
        "/v1/evidence", headers=keys.auth("forecaster"), json=evidence_body("Talks in Geneva")
    )
    assert r.status_code == 201, r.text
    evidence_id = r.json()["id"]
    r = live_client.post(
        f"/v1/questions/{Q}/elicitations",
        headers=keys.auth("forecaster"),
        json={"quantiles": {"0.1": 0.1, "0.5": 0.25, "0.9": 0.5}},
    )
    assert r.status_code == 201, r.text
    elicitation = r.json()
    forecast = elicitation["forecast"]

    html = assert_html(live_client.get(f"/questions/{Q}"))
    assert f'<span id="current-probability" data-probability="{forecast["probability"]}">' in html
    assert f">{pct(forecast['probability'])}</span>" in html
    lo, hi = forecast["interval"]
    assert f"{100 * lo:.1f}–{100 * hi:.1f}%" in html
    assert forecast["fit_id"] in html and forecast["tier"] in html
    assert f'<dd id="current-contentious">{pct(forecast["contentious"])}</dd>' in html
    created = live_client.get(f"/v1/elicitations/{elicitation['id']}").json()["created_at"]
    assert forecast["as_of"] == created
    assert f'as of <time datetime="{created.replace("Z", "+00:00")}">{created[:10]}</time>' in html
    assert f'src="/v1/questions/{Q}/plots/posterior?format=svg"' in html
    assert f'src="/v1/questions/{Q}/plots/history?format=svg"' in html
    assert 'alt="Posterior distribution of P(yes)' in html

    row = re.search(rf'<tr id="{evidence_id}".*?</tr>', html, re.S)
    assert row, "the evidence is in the timeline"
    assert "Talks in Geneva" in row.group(0)
    assert '<td class="created-by">fred</td>' in row.group(0)
    assert '<td class="num lr">4</td>' in row.group(0)
    assert "verified-report" in row.group(0) and "in force" in row.group(0)
    assert 'href="https://example.org/news/1"' in row.group(0)

    row = re.search(rf'<tr id="{elicitation["id"]}".*?</tr>', html, re.S)
    assert row, "the elicitation is listed"
    fitted = elicitation["fitted"]["fitted_logitnormal"]
    for level in ("0.05", "0.5", "0.95"):
        assert pct(fitted[level]) in row.group(0)
    assert f"{elicitation['fitted']['logit_mean']:.2f}" in row.group(0)
    assert "q10 10.0%" in row.group(0) and "q90 50.0%" in row.group(0)


def test_question_page_marks_retracted_evidence_and_escapes_input(live_client, keys) -> None:  # type: ignore[no-untyped-def]
    body = evidence_body("<script>alert(1)</script>", lr=0.5)
    r = live_client.post("/v1/evidence", headers=keys.auth("forecaster"), json=body)
    assert r.status_code == 201, r.text
    evidence_id = r.json()["id"]
    # The API refuses a source_url that is not http(s) (422); a row stored before it did
    # must still not become a link.
    from service.store.tables import EvidenceRow

    with live_client.app.state.session_factory() as session:
        session.get(EvidenceRow, evidence_id).source_url = "javascript:alert(1)"
        session.commit()
    r = live_client.post(
        f"/v1/evidence/{evidence_id}/retraction",
        headers=keys.auth("forecaster"),
        json={"reason": "misreported"},
    )
    assert r.status_code == 201, r.text
    html = assert_html(live_client.get(f"/questions/{Q}"))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html
    row = re.search(rf'<tr id="{evidence_id}" class="retracted">.*?</tr>', html, re.S)
    assert row and "retracted" in row.group(0) and "misreported" in row.group(0)
    assert '<td class="num lr">0.5</td>' in row.group(0)


def test_unknown_question_is_a_404_page(client) -> None:  # type: ignore[no-untyped-def]
    html = assert_html(client.get("/questions/no-such-question"), 404)
    assert "Not found" in html and "no-such-question" in html


# --- fits ------------------------------------------------------------------------------------


def test_fits_page_lists_published_rejected_and_failed_fits(live_client, published) -> None:  # type: ignore[no-untyped-def]
    reason = "not publishable: max R-hat 1.08 > 1.01; min bulk ESS 37 < 400"
    add_fit_row(
        published,
        "fit-rejected",
        "rejected",
        reason,
        diagnostics={"max_rhat": 1.0812, "min_ess_bulk": 37.2, "divergences": 3},
        started_at=datetime.now(UTC) + timedelta(seconds=1),
    )
    add_fit_row(
        published,
        "fit-failed",
        "failed",
        "RuntimeError: <sampler crashed>",
        started_at=datetime.now(UTC) + timedelta(seconds=2),
    )
    html = assert_html(live_client.get("/fits"))
    order = re.findall(r'<tbody id="(fit-[a-z]+)"', html)
    assert order == ["fit-failed", "fit-rejected", "fit-fixture"]  # newest started first
    assert 'href="/v1/fits/fit-fixture"' in html and 'href="/v1/fits/fit-rejected"' in html
    rejected = re.search(r'<tbody id="fit-rejected" class="fit">.*?</tbody>', html, re.S)
    assert rejected
    assert str(escape(reason)) in rejected.group(0)  # as autoescaped
    assert "1.081" in rejected.group(0) and "37.2" in rejected.group(0)
    assert ">3</td>" in rejected.group(0) and "12.5" in rejected.group(0)
    assert "<details>" in rejected.group(0)
    assert 'src="/v1/fits/fit-rejected/plots/diagnostics?format=svg"' in rejected.group(0)
    assert 'loading="lazy"' in rejected.group(0)
    assert "RuntimeError: &lt;sampler crashed&gt;" in html


def test_fits_page_without_fits(client) -> None:  # type: ignore[no-untyped-def]
    html = assert_html(client.get("/fits"))
    assert "No fit yet" in html


# --- public reads off ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", f"/questions/{Q}", "/fits", "/track-record", "/forecasters"])
def test_pages_need_public_reads(prepared, path: str) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from service.app import create_app

    closed = prepared.model_copy(update={"public_reads": False})
    with TestClient(create_app(closed)) as c:
        html = assert_html(c.get(path), 401)
        assert "HELSINKI_PUBLIC_READS=true" in html
        assert TITLES[Q] not in html
        # The API says the same in its own way; static files stay available.
        assert c.get("/v1/questions").status_code == 401
        assert c.get("/static/style.css").status_code == 200
