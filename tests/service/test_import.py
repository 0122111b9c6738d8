"""`helsinki import`: a forecasts CSV into the service's database, in one transaction, read by
the worker's fit exactly as `helsinki fit --history` reads the file."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from models.exceptions import DataError
from service.domain.imports import ImportConflict, question_slugs

CSV = """question_id,forecaster_id,probability,outcome,created_at,group
Q:1,ann,0.2,0,2024-01-01T00:00:00Z,Geo Politics
Q:1,bob,0.4,0,2024-01-03T00:00:00Z,Geo Politics
Q:1,ann,0.1,0,2024-01-05T00:00:00Z,Geo Politics
Q:2,ann,0,1,2024-02-01T00:00:00Z,markets
Q:2,cat,0.7,1,2024-02-02T12:00:00Z,markets
Q:3,bob,0.35,,2024-03-01T00:00:00Z,markets
"""


def _write(tmp_path: Path, text: str = CSV, name: str = "record.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _rows(settings):  # type: ignore[no-untyped-def]
    """Every question, elicitation and fit job in the database, as plain tuples."""
    from service.store.database import make_engine, make_session_factory
    from service.store.tables import ElicitationRow, FitJobRow, QuestionRow

    engine = make_engine(settings)
    with make_session_factory(engine)() as session:
        questions = {
            q.id: (q.title, q.group, q.status, q.outcome, q.opens_at, q.resolved_at, q.created_by)
            for q in session.query(QuestionRow)
        }
        elicitations = sorted(
            (e.question_id, e.forecaster_id, e.probability, e.logit_mean, e.created_at, e.source)
            for e in session.query(ElicitationRow)
        )
        jobs = [(j.id, j.status) for j in session.query(FitJobRow)]
    engine.dispose()
    return questions, elicitations, jobs


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _as_utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def test_a_record_becomes_questions_latest_elicitations_and_resolutions(prepared, tmp_path):
    from service.serving import import_file

    report = import_file(prepared, _write(tmp_path), prefix="hist")
    questions, elicitations, jobs = _rows(prepared)
    imported = {k: v for k, v in questions.items() if k.startswith("hist-")}
    assert set(imported) == {"hist-q-1", "hist-q-2", "hist-q-3"}
    title, group, status, outcome, opens, resolved, author = imported["hist-q-1"]
    assert title == "Q:1 (imported from record.csv)" and group == "geo-politics"
    assert (status, outcome, author) == ("resolved", 0, "import:record.csv")
    # Opens at its first forecast, resolved at its newest (the file has no resolution times).
    assert _as_utc(opens) == _utc("2024-01-01T00:00:00Z")
    assert _as_utc(resolved) == _utc("2024-01-05T00:00:00Z")
    assert imported["hist-q-3"][2:4] == ("open", None) and imported["hist-q-3"][5] is None
    mine = [e for e in elicitations if e[0].startswith("hist-")]
    # ann's 0.2 on Q:1 gave way to her 0.1; the 0 is clipped as the model clips it (eps 0.01).
    assert [(q, who, p) for q, who, p, *_ in mine] == [
        ("hist-q-1", "ann", 0.1),
        ("hist-q-1", "bob", 0.4),
        ("hist-q-2", "ann", 0.0),
        ("hist-q-2", "cat", 0.7),
        ("hist-q-3", "bob", 0.35),
    ]
    assert mine[2][3] == pytest.approx(math.log(0.01 / 0.99))
    assert mine[0][3] == pytest.approx(math.log(0.1 / 0.9)) and mine[0][5] == "import"
    assert _as_utc(mine[3][4]) == _utc("2024-02-02T12:00:00Z")
    assert (report.questions_added, report.resolved_added, report.elicitations_added) == (3, 2, 5)
    assert (report.rows, report.earlier_forecasts_dropped, report.forecasters) == (6, 1, 3)
    # One refit is queued for it (joined with the first start's, which is still queued).
    assert report.refit_job_id is not None and (report.refit_job_id, "queued") in jobs


def test_importing_the_same_file_again_adds_nothing(prepared, tmp_path):
    from service.serving import import_file

    path = _write(tmp_path)
    import_file(prepared, path, prefix="hist")
    before = _rows(prepared)
    again = import_file(prepared, path, prefix="hist")
    assert _rows(prepared) == before
    assert (again.questions_added, again.elicitations_added, again.refit_job_id) == (0, 0, None)
    assert (again.questions_already_there, again.elicitations_already_there) == (3, 5)
    # A later forecast in a longer file is added; what was there stays.
    longer = _write(tmp_path, CSV + "Q:3,cat,0.6,,2024-03-02T00:00:00Z,markets\n")
    more = import_file(prepared, longer, prefix="hist")
    assert (more.questions_added, more.elicitations_added) == (0, 1)
    assert len(_rows(prepared)[1]) == len(before[1]) + 1


def test_a_clash_writes_nothing_and_says_how_to_fix_it(prepared, tmp_path):
    from service.serving import import_file

    path = _write(tmp_path)
    import_file(prepared, path, prefix="hist")
    before = _rows(prepared)
    # The same file under another prefix would count the same forecasts twice.
    with pytest.raises(ImportConflict, match=r"before as 'hist-q-1': import the file again"):
        import_file(prepared, path, prefix="other")
    # An id the catalog holds, from another file.
    clash = _write(
        tmp_path,
        "question_id,forecaster_id,probability,outcome,created_at\n"
        "truce-by-2027,ann,0.3,1,2024-01-01T00:00:00Z\n"
        "brand-new,ann,0.3,1,2024-01-01T00:00:00Z\n",
        name="clash.csv",
    )
    with pytest.raises(ImportConflict, match=r"'truce-by-2027'.*already a question") as caught:
        import_file(prepared, clash)
    assert "nothing was written" in str(caught.value) and "--prefix" in str(caught.value)
    assert _rows(prepared) == before


def test_a_bad_row_writes_nothing_unless_skipped(prepared, tmp_path):
    from service.serving import import_file

    bad = _write(tmp_path, CSV + "Q:4,dan,1.5,0,2024-03-01T00:00:00Z,markets\n", name="bad.csv")
    before = _rows(prepared)
    with pytest.raises(DataError, match="line 8"):
        import_file(prepared, bad)
    assert _rows(prepared) == before
    report = import_file(prepared, bad, skip_bad=True)
    assert report.skipped_bad_rows == 1 and report.questions_added == 3


def test_a_dry_run_counts_and_writes_nothing(prepared, tmp_path):
    from service.serving import import_file

    before = _rows(prepared)
    report = import_file(prepared, _write(tmp_path), dry_run=True)
    assert (report.questions_added, report.elicitations_added, report.dry_run) == (3, 5, True)
    assert report.refit_job_id is None and _rows(prepared) == before


def test_ids_that_share_a_slug_are_told_apart():
    ids = question_slugs(["A:1", "a-1", "ok", "???", "x" * 200], prefix="Src")
    assert ids["ok"] == "src-ok"
    assert ids["A:1"] != ids["a-1"] and ids["A:1"].startswith("src-a-1-")
    assert ids["???"].startswith("src-") and len(ids["x" * 200]) <= 120
    assert all(i.replace("-", "").isalnum() and i == i.lower() for i in ids.values())
    assert question_slugs(["A:1", "a-1"]) == question_slugs(["A:1", "a-1"])  # deterministic


def test_the_fit_reads_an_imported_record_as_fit_history_reads_the_file(prepared, shared_data):
    """The worker's inputs after an import hold the file's forecasts and outcomes exactly as
    `helsinki fit --history FILE` has them (each forecaster's latest, clipped the same)."""
    from models.catalog import load_catalog
    from models.history import read_forecasts_csv, to_forecast_data
    from service.domain.inputs import fit_inputs
    from service.serving import import_file
    from service.store.database import make_engine, make_session_factory

    path = shared_data / "gjp-y1-week1.csv"
    report = import_file(prepared, path, prefix="gjp")
    eps = load_catalog(prepared.priors_dir).model_config.probability_eps
    expected = to_forecast_data(read_forecasts_csv(path).latest_per_forecaster(), eps=eps)
    engine = make_engine(prepared)
    with make_session_factory(engine)() as session:
        data, _ = fit_inputs(session, eps)
    engine.dispose()

    def forecasts(d, rename):  # type: ignore[no-untyped-def]
        return sorted(
            (rename(f.question_id), f.forecaster_id, round(f.logit_center, 12), f.logit_spread,
             _as_utc(f.created_at))
            for f in d.forecasts
            if rename(f.question_id) is not None
        )  # fmt: skip

    served = forecasts(data, lambda q: q if q.startswith("gjp-") else None)
    from_file = forecasts(expected, lambda q: report.ids[q])
    assert len(served) == 3092 and served == from_file
    outcomes = {r.question_id: r.outcome for r in data.resolutions}
    assert {report.ids[r.question_id]: r.outcome for r in expected.resolutions} == {
        q: y for q, y in outcomes.items() if q.startswith("gjp-")
    }
    groups = {q.id: q.group for q in data.questions if q.id.startswith("gjp-")}
    assert set(groups.values()) == {"gjp-y1"} and len(groups) == 14


def test_the_command_prints_its_report_and_refuses_a_clash(tmp_path):
    helsinki = Path(sys.executable).with_name("helsinki")
    env = {**os.environ, "HELSINKI_DATA_DIR": str(tmp_path / "var")}
    path = _write(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(helsinki), "import", str(path), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = run("--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["questions_added"], report["elicitations_added"]) == (3, 5)
    assert isinstance(report["refit_job_id"], int) and done.stderr == ""
    text = run()
    assert text.returncode == 0
    assert "already there: 3 questions, 5 elicitations" in text.stdout
    clash = run("--prefix", "again")
    assert clash.returncode == 2 and clash.stdout == ""
    assert clash.stderr.startswith("helsinki import: 3 question(s) of the file clash")
