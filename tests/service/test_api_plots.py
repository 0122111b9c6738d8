"""Plots, the posterior download and the history download, through the real app.

The ladder of every plot endpoint: before any fit (a clear problem), anonymous with public
reads off (401), unknown id (404), then a valid image of the stated type.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import datetime

import numpy as np
import pytest

from models.plots import _fmt_p
from service.store.tables import FitRow
from tests.service.conftest import post_evidence, record_fit, retract_evidence

Q = "truce-by-2027"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTS = [
    f"/v1/questions/{Q}/plots/posterior",
    f"/v1/questions/{Q}/plots/history",
    "/v1/plots/forest",
    "/v1/plots/forecasters",
    "/v1/fits/fit-fixture/plots/diagnostics",
]


def _problem(r, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["detail"]
    return body  # type: ignore[no-any-return]


def _png_size(content: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the signature; decodes it too."""
    import matplotlib.image as mpimg

    assert content[:8] == PNG_SIGNATURE, content[:16]
    pixels = mpimg.imread(io.BytesIO(content), format="png")
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    # Not a blank canvas: more than one colour is drawn.
    assert np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0).shape[0] > 10
    return pixels.shape[1], pixels.shape[0]


def _svg_text(content: bytes) -> str:
    root = ET.fromstring(content)
    assert root.tag.endswith("svg"), root.tag
    return "".join(root.itertext())


@pytest.mark.parametrize("path", [*PLOTS[:4]])
def test_every_live_plot_is_a_clear_503_before_any_fit(client, path):
    assert "fit" in _problem(client.get(path), 503)["detail"]


def test_diagnostics_of_an_unknown_fit_is_404_and_calibration_without_record_is_409(live_client):
    assert (
        "fit" in _problem(live_client.get("/v1/fits/no-such-fit/plots/diagnostics"), 404)["detail"]
    )
    assert "resolved" in _problem(live_client.get("/v1/plots/calibration"), 409)["detail"]
    assert _problem(live_client.get("/v1/questions/no-such-question/plots/posterior"), 404)


def test_calibration_409_names_the_resolution_endpoint_that_exists(live_client, keys):
    detail = _problem(live_client.get("/v1/plots/calibration"), 409)["detail"]
    assert "POST /v1/questions/{id}/resolution" in detail, detail
    # ...and that is the endpoint that resolves a question (a 404 would be a route miss).
    r = live_client.post(
        "/v1/questions/no-such-question/resolution",
        json={"outcome": 1, "resolved_at": "2026-07-01T00:00:00Z"},
        headers=keys.auth("admin"),
    )
    assert "no question" in _problem(r, 404)["detail"]


@pytest.mark.parametrize("path", PLOTS)
def test_every_plot_is_a_valid_png_and_svg(live_client, path):
    png = live_client.get(path)
    assert png.status_code == 200, png.text
    assert png.headers["content-type"] == "image/png"
    width, height = _png_size(png.content)
    assert width >= 300 and height >= 200

    svg = live_client.get(path, params={"format": "svg"})
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert _svg_text(svg.content)
    by_accept = live_client.get(path, headers={"Accept": "image/svg+xml"})
    assert by_accept.headers["content-type"] == "image/svg+xml"
    assert by_accept.content == svg.content


def test_format_errors_say_what_is_accepted(live_client):
    path = f"/v1/questions/{Q}/plots/posterior"
    assert "png" in _problem(live_client.get(path, params={"format": "gif"}), 422)["detail"]
    problem = _problem(live_client.get(path, headers={"Accept": "application/json"}), 406)
    assert "image/svg+xml" in problem["detail"]
    assert _problem(live_client.get(f"/v1/questions/{Q}/plots/density"), 422)


def test_an_unknown_format_is_a_422_with_errors_like_any_validation_error(live_client):
    for path in PLOTS:
        problem = _problem(live_client.get(path, params={"format": "gif"}), 422)
        assert problem["errors"] and problem["errors"][0]["loc"] == ["query", "format"], problem
        assert "'png' or 'svg'" in problem["errors"][0]["msg"] and "gif" in problem["detail"]


def test_plots_are_drawn_once_per_state_and_revalidate_with_etags(live_client, keys):
    cache = live_client.app.state.plots
    path = f"/v1/questions/{Q}/plots/posterior"
    first = live_client.get(path, params={"format": "svg"})
    renders = cache.renders
    again = live_client.get(path, params={"format": "svg"})
    assert again.content == first.content and cache.renders == renders
    not_modified = live_client.get(
        path, params={"format": "svg"}, headers={"If-None-Match": first.headers["ETag"]}
    )
    assert not_modified.status_code == 304 and not not_modified.content

    # New evidence changes the posterior: a new image, drawn once more.
    r = live_client.post(
        "/v1/evidence",
        headers=keys.auth("forecaster"),
        json={
            "title": "Ceasefire talks announced",
            "observed_at": "2026-06-01T12:00:00Z",
            "reliability": "verified-report",
            "effects": [{"question_id": Q, "likelihood_ratio": 6.0}],
        },
    )
    assert r.status_code == 201, r.text
    after = live_client.get(path, params={"format": "svg"})
    assert after.headers["ETag"] != first.headers["ETag"]
    assert cache.renders == renders + 1
    history = live_client.get(f"/v1/questions/{Q}/plots/history", params={"format": "svg"})
    assert "Ceasefire talks announced (LR 6)" in _svg_text(history.content)


def test_a_retraction_then_new_evidence_is_a_new_state_not_the_retracted_one(live_client, keys):
    """After a retraction the live posterior is rebuilt; a later post may bring it back to as
    many updates as before, with other contents: its plot must not be the old one's."""
    path = f"/v1/questions/{Q}/plots/posterior"

    raised = post_evidence(live_client, keys, 8.0)
    with_raised = live_client.get(path, params={"format": "svg"})
    retract_evidence(live_client, keys, raised)
    post_evidence(live_client, keys, 0.125)
    with_lowered = live_client.get(path, params={"format": "svg"})
    assert with_lowered.headers["ETag"] != with_raised.headers["ETag"]
    assert with_lowered.content != with_raised.content


def test_posterior_plot_states_the_served_interval(live_client):
    forecast = live_client.get(f"/v1/questions/{Q}/forecast").json()
    text = _svg_text(live_client.get(f"/v1/questions/{Q}/plots/posterior?format=svg").content)
    low, high = forecast["interval"]
    # Two decimals, three near 0 and 1, as the plot writes probabilities.
    assert f"90% interval {_fmt_p(low)} – {_fmt_p(high)}" in text
    assert "prior" in text


def test_forest_plot_has_every_open_question(live_client):
    questions = live_client.get("/v1/questions").json()["items"]
    text = _svg_text(live_client.get("/v1/plots/forest?format=svg").content)
    for q in questions:
        assert q["title"][:40] in text


def test_diagnostics_of_a_rejected_fit_and_a_failed_one(live_client, published):
    """A rejected fit has a posterior to diagnose; a failed one says it has none."""
    fixture = live_client.get("/v1/fits/fit-fixture").json()
    with live_client.app.state.session_factory() as session:
        path = session.get(FitRow, "fit-fixture").artifact_path
    record_fit(
        published,
        "fit-rejected",
        "rejected",
        seconds=2.0,
        diagnostics={
            "max_rhat": 1.2,
            "min_ess_bulk": 12.0,
            "divergences": 7,
            "publishable": False,
            "reasons": ["max R-hat 1.2 > 1.01"],
        },
        reason="not publishable: max R-hat 1.2 > 1.01",
        artifact_path=path,
        artifact_sha256=fixture["artifact_sha256"],
    )
    record_fit(published, "fit-failed", "failed", reason="MemoryError: out of memory")
    svg = live_client.get("/v1/fits/fit-rejected/plots/diagnostics?format=svg")
    assert svg.status_code == 200, svg.text
    text = _svg_text(svg.content)
    assert "1.2 > 1.01" in text and "7" in text
    # A fit recorded without the topic gate says so (models/topics.py, describe).
    assert "topic terms (per group):" in text and "evidence test" in text
    problem = _problem(live_client.get("/v1/fits/fit-failed/plots/diagnostics"), 409)
    assert "failed" in problem["detail"] and "MemoryError" in problem["detail"]


def test_plots_need_a_reader_key_when_public_reads_are_off(published, keys):
    from fastapi.testclient import TestClient

    from service.app import create_app

    private = published.model_copy(update={"public_reads": False})
    with TestClient(create_app(private)) as c:
        for path in PLOTS:
            _problem(c.get(path), 401)
        ok = c.get(PLOTS[0], headers=keys.auth("reader"))
        assert ok.status_code == 200 and ok.content[:8] == PNG_SIGNATURE


# -- downloads ----------------------------------------------------------------------------------
def test_the_posterior_download_opens_with_arviz_and_holds_the_served_numbers(
    live_client, tmp_path
):
    import arviz as az

    r = live_client.get("/v1/fits/fit-fixture/posterior.nc")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-netcdf"
    assert "helsinki-fit-fixture.nc" in r.headers["content-disposition"]
    path = tmp_path / "download.nc"
    path.write_bytes(r.content)
    tree = az.from_netcdf(path)
    assert tree.attrs["fit_id"] == "fit-fixture"
    assert tree.attrs["model_type"] and tree.attrs["model_hash"]
    assert {"posterior", "sample_stats"} <= set(tree.children)
    probability = tree["posterior"]["probability"]
    assert probability.dims == ("chain", "draw", "question")
    for q in live_client.get("/v1/questions").json()["items"]:
        history = live_client.get(f"/v1/questions/{q['id']}/forecast/history").json()["items"]
        from_fit = next(h for h in history if h["cause"]["type"] == "fit")
        draws = probability.sel(question=q["id"]).to_numpy().ravel()
        assert float(draws.mean()) == pytest.approx(from_fit["probability"], rel=1e-12)
        lo, hi = np.quantile(draws, [0.05, 0.95], method="hazen")
        assert (lo, hi) == pytest.approx(tuple(from_fit["interval"]), abs=1e-9)


def test_posterior_download_errors(live_client, published):
    _problem(live_client.get("/v1/fits/nope/posterior.nc"), 404)
    record_fit(published, "fit-failed", "failed", reason="MemoryError: out of memory")
    assert (
        "no posterior file"
        in _problem(live_client.get("/v1/fits/fit-failed/posterior.nc"), 409)["detail"]
    )


def test_history_downloads_as_csv_with_the_same_numbers_as_json(live_client, keys):
    live_client.post(
        f"/v1/questions/{Q}/elicitations",
        json={"probability": 0.7},
        headers=keys.auth("forecaster"),
    )
    as_json = live_client.get(f"/v1/questions/{Q}/forecast/history").json()["items"]
    r = live_client.get(f"/v1/questions/{Q}/forecast/history", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert f'filename="{Q}-history.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(as_json) >= 2
    for row, item in zip(rows, as_json, strict=True):
        assert int(row["event_id"]) == item["event_id"]
        assert float(row["probability"]) == item["probability"]
        assert (float(row["interval_low"]), float(row["interval_high"])) == tuple(item["interval"])
        assert row["cause_type"] == item["cause"]["type"] and row["fit_id"] == item["fit_id"]
        assert float(row["contentious"]) == item["contentious"]
        assert datetime.fromisoformat(row["computed_at"]) == datetime.fromisoformat(
            item["computed_at"].replace("Z", "+00:00")
        )
        # The same text as the JSON: UTC written with Z, not +00:00.
        assert row["computed_at"] == item["computed_at"] and row["computed_at"].endswith("Z")
        assert row["as_of"] == item["as_of"] and row["as_of"].endswith("Z")
    by_accept = live_client.get(
        f"/v1/questions/{Q}/forecast/history", headers={"Accept": "text/csv"}
    )
    assert by_accept.text == r.text
    assert _problem(
        live_client.get(f"/v1/questions/{Q}/forecast/history", params={"format": "xml"}), 422
    )
