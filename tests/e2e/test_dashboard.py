"""The dashboard in a real browser: the list, a question, posting evidence and an elicitation
through the forms, a wrong key, the fits. Screenshots go to var/test-artifacts/e2e/."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.service.conftest import TINY_TITLES, record_fit

pytestmark = pytest.mark.e2e

TRUCE = "truce-by-2027"
SUMMIT = "summit-by-2027"
TITLES = TINY_TITLES


def shown_probability(page: Any) -> float:
    """The probability on a question page, as shown (e.g. '23.4%' -> 0.234)."""
    text = page.locator("#current-probability").inner_text().strip()
    assert re.fullmatch(r"\d{1,3}\.\d%", text), text
    return float(text.rstrip("%")) / 100


def wait_for_probability_change(page: Any, before_text: str) -> None:
    page.wait_for_function(
        "before => document.getElementById('current-probability').textContent.trim() !== before",
        arg=before_text,
    )


def settle_images(page: Any) -> None:
    """Wait until the images have loaded or failed."""
    page.wait_for_function(
        "() => Array.from(document.images).every("
        "i => i.complete || (i.loading === 'lazy' && !i.checkVisibility()))"
    )


def assert_plots_drawn(plots: Any) -> None:
    """Every plot image was served and decoded by the browser (an SVG of real size)."""
    for i in range(plots.count()):
        width = plots.nth(i).evaluate("img => img.complete ? img.naturalWidth : -1")
        assert width > 200, f"plot {plots.nth(i).get_attribute('src')} did not load ({width})"


def test_question_list_shows_the_catalog_and_sorts(page: Any, screenshot: Any) -> None:
    page.goto("/")
    assert page.title().startswith("Questions")
    rows = page.locator("table#questions tbody tr")
    assert rows.count() == len(TITLES)
    for qid, title in TITLES.items():
        row = page.locator(f"tr[data-question-id='{qid}']")
        assert row.get_by_role("link", name=title).is_visible()
        assert re.fullmatch(r"\d{1,3}\.\d%", row.locator("td.prob").inner_text().strip())
        assert row.locator("svg.sparkline").count() == 1
    screenshot("01-question-list")

    # Sorting by clicking the header happens in the page (no navigation).
    header = page.locator("th[data-sort-key='probability']")
    header.get_by_role("link").click()
    assert header.get_attribute("aria-sort") == "descending"
    assert "sort=" not in page.url
    values = [
        float(v)
        for v in page.locator("table#questions tbody td.prob").evaluate_all(
            "cells => cells.map(c => c.dataset.sortValue)"
        )
    ]
    assert values == sorted(values, reverse=True)
    header.get_by_role("link").click()
    assert header.get_attribute("aria-sort") == "ascending"
    values = [
        float(v)
        for v in page.locator("table#questions tbody td.prob").evaluate_all(
            "cells => cells.map(c => c.dataset.sortValue)"
        )
    ]
    assert values == sorted(values)
    page.locator("th[data-sort-key='title']").get_by_role("link").click()
    titles = page.locator("table#questions tbody td.title-cell a").all_inner_texts()
    assert titles == sorted(TITLES.values(), key=str.casefold)
    screenshot("02-question-list-sorted-by-title")

    # On a phone the table scrolls sideways inside its frame; the page itself does not.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("02b-question-list-narrow")


def test_posting_evidence_through_the_form_raises_the_probability(
    page: Any, live_server: Any, screenshot: Any
) -> None:
    page.goto("/")
    page.get_by_role("link", name=TITLES[TRUCE]).click()
    page.wait_for_url(f"**/questions/{TRUCE}")
    assert page.get_by_role("heading", level=1).inner_text() == TITLES[TRUCE]

    plots = page.locator("img.plot")
    assert plots.count() == 2
    assert plots.nth(0).get_attribute("src") == f"/v1/questions/{TRUCE}/plots/posterior?format=svg"
    assert plots.nth(1).get_attribute("src") == f"/v1/questions/{TRUCE}/plots/history?format=svg"
    assert "Posterior distribution" in (plots.nth(0).get_attribute("alt") or "")
    settle_images(page)
    assert_plots_drawn(plots)
    screenshot("03-question-page")

    before_text = page.locator("#current-probability").inner_text().strip()
    before = shown_probability(page)
    form = page.locator("#evidence-form")
    form.get_by_label("What happened").fill("Both sides agree to talks in Geneva")
    form.get_by_label("Likelihood ratio").fill("4")
    form.get_by_label("Reliability of the source").select_option("verified-report")
    form.get_by_label("Source URL").fill("https://example.org/report")
    form.get_by_label("API key").fill(live_server.forecaster_key)
    screenshot("04-evidence-form-filled")

    # A preview says where the forecast would go, and posts nothing.
    form.get_by_role("button", name="Preview").click()
    page.wait_for_function(
        "() => document.getElementById('evidence-result').textContent.startsWith('Preview')"
    )
    previewed = form.get_by_role("status").inner_text()
    assert f"P(yes) {before_text} → " in previewed and "nothing posted" in previewed
    assert page.locator("#current-probability").inner_text().strip() == before_text
    assert live_server.get_json("/v1/evidence")["items"] == []
    screenshot("04b-evidence-previewed")

    form.get_by_role("button", name="Post evidence").click()
    wait_for_probability_change(page, before_text)
    after = shown_probability(page)
    # ...and the post lands where the preview said.
    assert re.search(r"→ (\d+\.\d%)", previewed).group(1) == f"{100 * after:.1f}%"  # type: ignore[union-attr]
    assert after > before, "a likelihood ratio above 1 raises the probability"
    result = form.get_by_role("status")
    assert "→" in result.inner_text() and before_text in result.inner_text()
    assert form.get_by_role("alert").count() == 0
    served = live_server.get_json(f"/v1/questions/{TRUCE}/forecast")
    assert (
        f"{100 * served['probability']:.1f}%" == page.locator("#current-probability").inner_text()
    )
    assert page.locator("#current-tier").inner_text() == "instant"
    assert (
        f"{100 * served['contentious']:.1f}%" == page.locator("#current-contentious").inner_text()
    )
    screenshot("05-evidence-posted")
    # Without a reload: the timeline has the new item, and the plots were asked for again.
    page.wait_for_selector(
        "table#evidence tbody tr:has-text('Both sides agree to talks in Geneva')"
    )
    assert "&v=" in (page.locator("img.plot").nth(0).get_attribute("src") or "")
    settle_images(page)
    assert_plots_drawn(page.locator("img.plot"))

    # After a reload: the evidence is in the timeline, and the key is remembered for the tab.
    page.reload()
    row = page.locator("table#evidence tbody tr", has_text="Both sides agree to talks in Geneva")
    assert row.locator("td.created-by").inner_text() == "fred"
    assert row.locator("td.lr").inner_text() == "4"
    assert page.locator("#ev-key").input_value() == live_server.forecaster_key
    assert page.locator("#el-key").input_value() == live_server.forecaster_key
    settle_images(page)
    screenshot("06-evidence-in-timeline")

    # Back on the list: the new probability, its rise, and the evidence as its cause.
    page.get_by_role("link", name="Questions").first.click()
    row = page.locator(f"tr[data-question-id='{TRUCE}']")
    assert row.locator("td.prob").inner_text() == f"{100 * after:.1f}%"
    assert row.locator(".delta.up").inner_text().startswith("+")
    assert row.locator(".cause").inner_text().endswith("Both sides agree to talks in Geneva")
    assert row.locator("svg.sparkline polyline").count() == 1
    screenshot("06b-question-list-after-evidence")


def test_posting_an_elicitation_through_the_form(
    page: Any, live_server: Any, screenshot: Any
) -> None:
    page.goto(f"/questions/{SUMMIT}")
    before_text = page.locator("#current-probability").inner_text().strip()
    before = shown_probability(page)
    served = page.request.get(f"/v1/questions/{SUMMIT}/forecast").json()["as_of"]
    assert page.locator("#current-as-of").inner_text().strip() == f"as of {served[:10]}"
    form = page.locator("#elicitation-form")
    stated = 0.9 if before < 0.5 else 0.1
    form.get_by_label("Probability P(yes)").fill(str(stated))
    form.get_by_label("Confidence").fill("0.8")
    form.get_by_label("API key").fill(live_server.forecaster_key)
    form.get_by_role("button", name="Post elicitation").click()

    wait_for_probability_change(page, before_text)
    after = shown_probability(page)
    assert (after - before) * (stated - before) > 0, "the forecast moves towards the statement"
    result = form.get_by_role("status").inner_text()
    assert "Elicitation recorded" in result and "fitted logit-normal" in result
    # The question is now read at the new elicitation: the page says so without a reload.
    posted = page.request.get(f"/v1/questions/{SUMMIT}/elicitations?limit=1").json()
    now_as_of = page.request.get(f"/v1/questions/{SUMMIT}/forecast").json()["as_of"]
    assert now_as_of == posted["items"][0]["created_at"]
    assert page.locator("#current-as-of").inner_text().strip() == f"as of {now_as_of[:10]}"
    screenshot("07-elicitation-posted")
    page.wait_for_selector("table#elicitations tbody tr:has-text('fred')")

    page.reload()
    assert page.locator("table#elicitations tbody tr", has_text="fred").count() == 1
    settle_images(page)
    screenshot("08-elicitation-listed")


def test_a_wrong_key_shows_the_problem_in_an_alert(page: Any, screenshot: Any) -> None:
    page.goto(f"/questions/{TRUCE}")
    before_text = page.locator("#current-probability").inner_text().strip()
    form = page.locator("#evidence-form")
    form.get_by_label("What happened").fill("A rumour of a ceasefire")
    form.get_by_label("Likelihood ratio").fill("2")
    form.get_by_label("API key").fill("hk_not-a-real-key")
    form.get_by_role("button", name="Post evidence").click()

    alert = form.get_by_role("alert")
    alert.wait_for(state="visible")
    assert "unknown or revoked" in alert.inner_text()
    assert page.locator("#current-probability").inner_text().strip() == before_text
    screenshot("09-wrong-key-alert")


def record_rejected_fit(settings: Any, fit_id: str, reason: str) -> None:
    """A fit the worker ran but did not publish (as service/jobs/worker.py records it)."""
    record_fit(
        settings,
        fit_id,
        "rejected",
        seconds=41.3,
        diagnostics={"max_rhat": 1.043, "min_ess_bulk": 212.0, "divergences": 7},
        reason=reason,
    )


def test_fits_page_lists_the_published_fit(page: Any, live_server: Any, screenshot: Any) -> None:
    reason = "not publishable: max R-hat 1.043 > 1.01; 7 divergences > 0"
    record_rejected_fit(live_server.settings, "fit-rejected-e2e", reason)
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Fits").click()
    page.wait_for_url("**/fits")
    fit = page.locator("tbody#fit-fixture")
    assert fit.get_by_role("link", name="fit-fixture").get_attribute("href") == (
        "/v1/fits/fit-fixture"
    )
    assert fit.locator(".status").inner_text() == "published"
    rejected = page.locator("tbody#fit-rejected-e2e")
    assert rejected.locator(".status").inner_text() == "rejected"
    assert rejected.locator("td.reason").inner_text() == reason
    img = fit.locator("details img.plot")
    assert not img.is_visible()  # behind <details>, loaded lazily when opened
    fit.get_by_text("Diagnostics plot").click()
    assert img.get_attribute("src") == "/v1/fits/fit-fixture/plots/diagnostics?format=svg"
    settle_images(page)
    assert_plots_drawn(img)
    screenshot("10-fits")


def test_forecasters_and_track_record_pages_through_the_menu(
    page: Any, live_server: Any, screenshot: Any
) -> None:
    page.goto("/")
    menu = page.get_by_role("navigation", name="Main")
    menu.get_by_role("link", name="Forecasters").click()
    page.wait_for_url("**/forecasters")
    assert page.get_by_role("heading", level=1).inner_text() == "Forecasters"
    tester = page.locator("table#forecasters tbody tr", has_text="tester")
    assert tester.count() == 1
    # Discrimination, bias and noise: a mean with its 90% interval each.
    cells = tester.locator("td.num").all_inner_texts()
    assert (
        sum(bool(re.fullmatch(r"-?\d+\.\d\d \[-?\d+\.\d\d, -?\d+\.\d\d\]", c)) for c in cells) == 3
    )
    screenshot("11-forecasters")
    menu.get_by_role("link", name="Track record").click()
    page.wait_for_url("**/track-record")
    assert page.locator("#record-counts").inner_text().startswith("0 of 0 resolved questions")
    page.locator("select[name=horizon_days]").select_option("30")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/track-record?horizon_days=30*")
    assert page.locator("select[name=horizon_days]").input_value() == "30"
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("12-track-record-narrow")
