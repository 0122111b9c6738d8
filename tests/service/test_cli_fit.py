"""`helsinki fit`: the catalog (plus history) fitted, printed as a table or one JSON object."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from models.catalog import load_catalog
from service.cli import DEFAULT_PRIORS, main
from tests.service.conftest import newest_elicitations


@pytest.fixture
def quick_priors(tmp_path: Path) -> Path:
    """The real catalog with a shorter sampler, so the test is quick."""
    dest = tmp_path / "priors"
    shutil.copytree(DEFAULT_PRIORS, dest)
    model = dest / "model.yaml"
    text = model.read_text()
    text = text.replace("  tune: 1000 ", "  tune: 400 ").replace("  draws: 1000 ", "  draws: 400 ")
    model.write_text(text)
    return dest


def test_fit_json_gives_every_catalog_question_a_probability(quick_priors, tmp_path, capsys):
    out = tmp_path / "fit.nc"
    code = main(["fit", "--priors", str(quick_priors), "--json", "--out", str(out)])
    payload = json.loads(capsys.readouterr().out)
    assert code == (0 if payload["diagnostics"]["publishable"] else 1)
    assert set(payload) >= {"fit_id", "created_at", "diagnostics", "questions"}
    assert set(payload["diagnostics"]) >= {"max_rhat", "min_ess_bulk", "divergences", "publishable"}
    ids = [q["id"] for q in payload["questions"]]
    assert ids == [q.id for q in load_catalog(quick_priors).questions]
    newest = newest_elicitations(quick_priors)
    for q in payload["questions"]:
        stated = newest[q["id"]]
        assert q["as_of"] == (None if stated is None else stated.isoformat())
        lo, hi = q["interval"]
        assert 0 < lo < q["probability"] < hi < 1
        assert q["interval_prob"] == 0.9 and q["title"]
        assert 0.0 <= q["contentious"] <= 1.0
    assert out.exists() and payload["artifact"] == str(out)


def _history_csv(tmp_path):
    csv = tmp_path / "history.csv"
    rng = np.random.default_rng(0)
    rows = ["question_id,forecaster_id,probability,outcome,created_at,group"]
    # "hi" says about 0.9 and "lo" about 0.1 whatever happens; "mid" tracks the outcome.
    for i in range(16):
        outcome = 1 if i < 4 else 0
        centres = {"hi": 2.2, "lo": -2.2, "mid": 1.0 if outcome else -1.5}
        for who, c in centres.items():
            p = 1 / (1 + np.exp(-(c + rng.normal(0, 0.6))))
            rows.append(f"h{i},{who},{p:.4f},{outcome},2024-01-01T00:00:00Z,test")
    csv.write_text("\n".join(rows) + "\n")
    return csv


def test_fit_with_history_reports_what_it_learned_about_forecasters(quick_priors, tmp_path, capsys):
    csv = _history_csv(tmp_path)
    main(["fit", "--priors", str(quick_priors), "--history", str(csv), "--json"])
    payload = json.loads(capsys.readouterr().out)
    learned = {f["forecaster_id"]: f for f in payload["forecasters"]}
    assert set(learned) >= {"hi", "lo", "mid"}
    # "mid" discriminates between outcomes, "hi" and "lo" do not; "hi" leans up.
    assert learned["mid"]["alpha"]["mean"] > learned["hi"]["alpha"]["mean"]
    assert learned["mid"]["alpha"]["mean"] > learned["lo"]["alpha"]["mean"]
    assert (
        learned["hi"]["beta"]["mean"]
        > learned["mid"]["beta"]["mean"]
        > learned["lo"]["beta"]["mean"]
    )
    assert "alpha_bar" in payload["population"]
    # Per group, what its resolved questions taught (docs/model.md, "Topics"): the history's
    # group has all 16 outcomes; the catalog's groups have none.
    topics = {t["group"]: t for t in payload["topics"]}
    assert topics["test"]["resolved"] == 16
    assert sum(t["resolved"] for t in topics.values()) == 16 and len(topics) > 1
    # Only one group has outcomes, so nothing tells groups apart: the topic terms are off
    # (models/topics.py), every shift is 0 and every factor the population's.
    assert payload["topic_terms"]["on"] is False and payload["topic_terms"]["p_value"] is None
    assert payload["topic_terms"]["reason"].startswith("off: fewer than two groups")
    for t in topics.values():
        assert t["shift"]["mean"] == 0.0 and t["shift"]["interval"] == [0.0, 0.0]
        assert 0.0 < t["extremizing"]["interval"][0] < t["extremizing"]["interval"][1]
        assert t["extremizing"]["mean"] == pytest.approx(topics["test"]["extremizing"]["mean"])


def test_fit_with_history_prints_forecasters_and_topics(quick_priors, tmp_path, capsys):
    main(["fit", "--priors", str(quick_priors), "--history", str(_history_csv(tmp_path))])
    out = capsys.readouterr().out
    assert "what the model learned about forecasters" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("  ")}
    # Per group: resolved questions, then extremizing and shift as "mean ±half-width".
    assert rows["test"][1] == "16" and rows["test"][3].startswith("±")
    for who in ("hi", "lo", "mid"):
        assert rows[who][1] == "16" and len(rows[who]) == 8  # n, then 3 x (mean, ±half)


def test_fit_refuses_a_broken_catalog(tmp_path, capsys):
    dest = tmp_path / "priors"
    shutil.copytree(DEFAULT_PRIORS, dest)
    (dest / "questions.yaml").write_text("questions: [{id: x}]\n")
    assert main(["fit", "--priors", str(dest)]) == 2
    assert "questions.yaml" in capsys.readouterr().err


def test_a_deployment_fits_the_catalog_with_the_walk_or_without_it(quick_priors, tmp_path, capsys):
    """By default the catalog (elicitations and evidence spread over months) and a history
    are fitted with the walk and the crowd's drift, which the output names; with both set
    to null in the priors folder, without them."""
    history = str(_history_csv(tmp_path))
    # The real sampler settings: at the quick ones the default model's fit of the catalog
    # and history once missed R-hat 1.01 (1.011) on a fresh CI machine.
    model = quick_priors / "model.yaml"
    text = model.read_text().replace("  tune: 400 ", "  tune: 1000 ")
    model.write_text(text.replace("  draws: 400 ", "  draws: 1000 "))
    args = ["fit", "--priors", str(quick_priors), "--history", history]
    code = main([*args, "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["diagnostics"]["publishable"], payload["diagnostics"]
    assert payload["population"]["drift_sd"] > 0
    assert payload["population"]["crowd_drift_sd"] > 0
    for q in payload["questions"]:
        lo, hi = q["interval"]
        assert 0 < lo < q["probability"] < hi < 1
    main(args)
    out = capsys.readouterr().out
    assert "questions' walk" in out and "crowd's shared error" in out

    text = model.read_text()
    assert "  drift_sd: {sigma: 0.15}" in text and "  crowd_drift_sd: {sigma: 1.0}" in text
    text = text.replace("  drift_sd: {sigma: 0.15}", "  drift_sd: null")
    model.write_text(text.replace("  crowd_drift_sd: {sigma: 1.0}", "  crowd_drift_sd: null"))
    code = main([*args, "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["diagnostics"]["publishable"], payload["diagnostics"]
    assert not {"drift_sd", "crowd_drift_sd"} & set(payload["population"])
    main(args)
    assert "questions' walk" not in capsys.readouterr().out
