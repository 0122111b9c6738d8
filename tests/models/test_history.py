"""Reading the forecasts CSV: good files, each kind of bad row, the real shared files."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from models.aggregators import REFERENCE_RULES
from models.dataset import logit
from models.exceptions import DataError
from models.history import (
    MAX_SKIP_REASONS,
    ForecastTable,
    read_forecasts_csv,
    to_forecast_data,
)
from models.scoring import score_all

HEADER = "question_id,forecaster_id,probability,outcome,created_at,group"
T0 = "2024-07-21T00:00:00Z"  # 1721520000 s after the epoch


def write_csv(tmp_path: Path, *lines: str, name: str = "forecasts.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_reads_a_small_file(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        HEADER + ",comment",
        f"q1,alice,0.25,1,{T0},europe,extra columns are ignored",
        "q2,alice,0.5,,2024-07-22T06:00:00+02:00,asia,",
        f"q1,bob,0.75,1,{T0},europe,",
        "q2,bob,0.1,,2024-07-22T04:00:00,asia,",
    )
    table = read_forecasts_csv(path)
    assert table.question_ids == ("q1", "q2")
    assert table.forecaster_ids == ("alice", "bob")
    assert table.question.tolist() == [0, 1, 0, 1]
    assert table.forecaster.tolist() == [0, 0, 1, 1]
    assert table.probability.tolist() == [0.25, 0.5, 0.75, 0.1]
    # 06:00+02:00 and the naive 04:00 (taken as UTC) are the same instant: T0 + 28 h.
    assert table.created_at.tolist() == [1721520000.0, 1721620800.0, 1721520000.0, 1721620800.0]
    assert table.outcome[0] == 1.0 and math.isnan(table.outcome[1])
    assert table.group.tolist() == ["europe", "asia"]
    assert table.resolved_question_ids() == ["q1"]
    assert table.skipped == 0 and table.skip_reasons == ()
    assert table.source == str(path)


def test_group_column_is_optional(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "created_at,outcome,probability,forecaster_id,question_id",  # any column order
        f"{T0},0,0.3,f1,q1",
    )
    table = read_forecasts_csv(path)
    assert table.group.tolist() == ["default"]
    assert table.probability.tolist() == [0.3]
    assert table.outcome.tolist() == [0.0]


def test_outcome_may_be_empty_on_some_rows_of_a_resolved_question(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, HEADER, f"q1,a,0.2,,{T0},g", f"q1,b,0.4,0,{T0},g", f"q1,c,0.5,,{T0},g"
    )
    assert read_forecasts_csv(path).outcome.tolist() == [0.0]


def test_arrays_are_read_only(tmp_path: Path) -> None:
    table = read_forecasts_csv(write_csv(tmp_path, HEADER, f"q1,a,0.2,1,{T0},g"))
    with pytest.raises(ValueError, match="read-only"):
        table.outcome[0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        table.probability[0] = 0.9


GOOD = f"q1,alice,0.2,1,{T0},g"

BAD_ROWS = [
    (f",alice,0.2,1,{T0},g", "question_id", "missing value"),
    (f"q2,,0.2,1,{T0},g", "forecaster_id", "missing value"),
    (f"q2,alice,,1,{T0},g", "probability", "missing value"),
    (f"q2,alice,abc,1,{T0},g", "probability", "not a number"),
    (f"q2,alice,1.5,1,{T0},g", "probability", "[0, 1]"),
    (f"q2,alice,-0.1,1,{T0},g", "probability", "[0, 1]"),
    (f"q2,alice,nan,1,{T0},g", "probability", "not a number"),
    (f"q2,alice,inf,1,{T0},g", "probability", "not a number"),
    # float() reads these; a forecasts file should not.
    (f"q2,alice,0.2_5,1,{T0},g", "probability", "not a number"),
    (f"q2,alice,\u0660.\u0665,1,{T0},g", "probability", "not a number"),
    (f"q2,alice,0x1p-2,1,{T0},g", "probability", "not a number"),
    (f"q2,alice,0.2,1_0,{T0},g", "outcome", "0, 1 or empty"),
    (f"q2,alice,0.2,\u0661,{T0},g", "outcome", "0, 1 or empty"),
    (f"q2,alice,0.2,2,{T0},g", "outcome", "0, 1 or empty"),
    (f"q2,alice,0.2,yes,{T0},g", "outcome", "0, 1 or empty"),
    ("q2,alice,0.2,1,yesterday,g", "created_at", "ISO 8601"),
    ("q2,alice,0.2,1,2024-13-01T00:00:00Z,g", "created_at", "ISO 8601"),
    ("q2,alice,0.2,1,,g", "created_at", "missing value"),
    # Year 0 and year 10000 in UTC: accepted as text, no date there.
    ("q2,alice,0.2,1,0001-01-01T00:30:00+01:00,g", "created_at", "years 1 to 9999"),
    ("q2,alice,0.2,1,9999-12-31T23:30:00-01:00,g", "created_at", "years 1 to 9999"),
    ("q2,alice,0.2,1,9999-12-31T24:00:00Z,g", "created_at", "years 1 to 9999"),
    # 24:00 is the end of a day; later in hour 24 is no time. Reduced and ordinal dates
    # are ISO 8601 too, but name a month or a day, not a moment.
    ("q2,alice,0.2,1,2024-07-21T24:00:01Z,g", "created_at", "ISO 8601"),
    ("q2,alice,0.2,1,2024-07-21T24:30Z,g", "created_at", "ISO 8601"),
    ("q2,alice,0.2,1,2024-07,g", "created_at", "ISO 8601"),
    ("q2,alice,0.2,1,2024-203,g", "created_at", "ISO 8601"),
    (f"q1,bob,0.2,0,{T0},g", "outcome", "earlier row"),  # q1 resolved 1 on line 2
    (f"q1,bob,0.2,1,{T0},other", "group", "earlier row"),
    (f"q2,alice,0.2,1,{T0},g,surplus", "row", "7 fields"),
]


@pytest.mark.parametrize(("row", "field", "reason"), BAD_ROWS)
def test_bad_row_names_file_line_and_field(
    tmp_path: Path, row: str, field: str, reason: str
) -> None:
    path = write_csv(tmp_path, HEADER, GOOD, f"q3,carol,0.4,0,{T0},g", row)
    with pytest.raises(DataError) as info:
        read_forecasts_csv(path)
    message = str(info.value)
    assert str(path) in message
    assert "line 4," in message  # header is line 1, the bad row the fourth line
    assert f"field {field!r}" in message
    assert reason in message


def test_an_empty_group_cell_states_no_group(tmp_path: Path) -> None:
    """Only two stated groups conflict; a question whose rows all leave it empty is default."""
    path = write_csv(
        tmp_path,
        HEADER,
        f"q1,alice,0.2,1,{T0},",
        f"q1,bob,0.3,1,{T0},g",
        f"q1,carol,0.4,1,{T0},",
        f"q2,alice,0.5,0,{T0},",
    )
    table = read_forecasts_csv(path)
    assert table.group.tolist() == ["g", "default"]
    assert to_forecast_data(table).questions[0].group == "g"


@pytest.mark.parametrize(("row", "field", "reason"), BAD_ROWS)
def test_skip_bad_skips_and_counts(tmp_path: Path, row: str, field: str, reason: str) -> None:
    path = write_csv(tmp_path, HEADER, GOOD, row, f"q3,carol,0.4,0,{T0},g")
    table = read_forecasts_csv(path, skip_bad=True)
    assert table.skipped == 1
    assert table.n_forecasts == 2
    assert table.question_ids == ("q1", "q3")  # nothing of the bad row is kept
    assert len(table.skip_reasons) == 1
    assert "line 3," in table.skip_reasons[0] and f"field {field!r}" in table.skip_reasons[0]


def test_skip_bad_keeps_only_the_first_reasons(tmp_path: Path) -> None:
    bad = [f"q{i},alice,x,1,{T0},g" for i in range(15)]
    table = read_forecasts_csv(write_csv(tmp_path, HEADER, GOOD, *bad), skip_bad=True)
    assert table.skipped == 15
    assert len(table.skip_reasons) == MAX_SKIP_REASONS == 10
    assert "line 3," in table.skip_reasons[0] and "line 12," in table.skip_reasons[-1]


def test_conflicting_outcome_skipped_keeps_the_first(tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER, GOOD, f"q1,bob,0.9,0,{T0},g", f"q1,carol,0.7,1,{T0},g")
    table = read_forecasts_csv(path, skip_bad=True)
    assert table.skipped == 1
    assert table.outcome.tolist() == [1.0]
    assert table.probability.tolist() == [0.2, 0.7]


def test_line_numbers_count_blank_lines_and_multiline_fields(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        HEADER,
        GOOD,
        "",  # line 3, blank: ignored
        f'"q2 spans\ntwo lines",bob,0.3,0,{T0},g',  # lines 4-5
        f"q3,carol,oops,0,{T0},g",  # line 6
    )
    with pytest.raises(DataError, match=r"line 6, field 'probability'"):
        read_forecasts_csv(path)
    table = read_forecasts_csv(path, skip_bad=True)
    assert table.question_ids == ("q1", "q2 spans\ntwo lines")


@pytest.mark.parametrize("skip_bad", [False, True])
def test_missing_required_column_is_always_an_error(tmp_path: Path, skip_bad: bool) -> None:
    path = write_csv(tmp_path, "question_id,forecaster_id,probability,created_at", f"q1,a,0.2,{T0}")
    with pytest.raises(DataError, match=r"line 1: header lacks required column\(s\) outcome"):
        read_forecasts_csv(path, skip_bad=skip_bad)


def test_empty_and_missing_files_are_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty file"):
        read_forecasts_csv(empty)
    with pytest.raises(DataError, match="cannot read"):
        read_forecasts_csv(tmp_path / "absent.csv")


def test_zero_and_one_probabilities_are_kept_and_clipped_downstream(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        HEADER,
        f"q1,a,0,0,{T0},g",
        f"q1,b,1,0,{T0},g",
        f"q2,a,1,1,{T0},g",
        f"q2,b,1.0,1,{T0},g",
        f"q3,a,0.0,0,{T0},g",
    )
    table = read_forecasts_csv(path)
    assert table.probability.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    data = to_forecast_data(table)
    centers = [f.logit_center for f in data.forecasts]
    assert all(math.isfinite(c) for c in centers)
    assert centers[0] == pytest.approx(math.log(0.01 / 0.99))  # clipped to 0.01
    for name, rule in REFERENCE_RULES.items():
        p = rule().fit(table).predict(table)
        assert np.all(np.isfinite(p)), name
        assert math.isfinite(score_all(p, table.outcome)["log_score"]), name
    # Mean log-odds of 0 and 1 after clipping: (logit 0.01 + logit 0.99) / 2 = 0 -> 0.5;
    # of 1 and 1: logit 0.99 -> 0.99.
    p = REFERENCE_RULES["mean_logodds"]().fit(table).predict(table)
    assert p.tolist() == pytest.approx([0.5, 0.99, 0.01])


def test_decimal_forms_that_are_read(tmp_path: Path) -> None:
    """Plain decimals in any usual spelling are numbers; only odd spellings are bad rows."""
    path = write_csv(
        tmp_path,
        HEADER,
        f"q1,a,.25,1.0,{T0},g",
        f"q1,b,+0.5,1e0,{T0},g",
        f"q2,a,25e-2,0.,{T0},g",
        f"q2,b,1.,+0,{T0},g",
    )
    table = read_forecasts_csv(path)
    assert table.probability.tolist() == [0.25, 0.5, 0.25, 1.0]
    assert table.outcome.tolist() == [1.0, 0.0]


def test_lower_case_separators_and_the_end_of_a_day_are_read(tmp_path: Path) -> None:
    """RFC 3339's lower-case t and z, and ISO 8601's 24:00 as the next day's first moment."""
    path = write_csv(
        tmp_path,
        HEADER,
        "q1,a,0.2,1,2024-07-21t06:00:00z,g",
        "q1,b,0.3,1,2024-07-21T24:00:00Z,g",
        "q1,c,0.4,1,2024-07-21t24:00+02:00,g",
        "q1,d,0.5,1,2024-12-31 24:00:00.000,g",
        "q1,e,0.6,1,0001-01-01T24:00+01:00,g",
    )
    stamps = read_forecasts_csv(path).created_at.tolist()
    assert stamps == [
        datetime(2024, 7, 21, 6, tzinfo=UTC).timestamp(),
        datetime(2024, 7, 22, tzinfo=UTC).timestamp(),
        datetime(2024, 7, 21, 22, tzinfo=UTC).timestamp(),
        datetime(2025, 1, 1, tzinfo=UTC).timestamp(),
        datetime(1, 1, 1, 23, tzinfo=UTC).timestamp(),
    ]


def test_the_first_and_last_moments_of_the_years_1_to_9999_are_read(tmp_path: Path) -> None:
    """The last microseconds of 9999 are still 9999, though their float seconds round to 10000."""
    path = write_csv(
        tmp_path,
        HEADER,
        "q1,a,0.2,1,0001-01-01T00:00:00Z,g",
        "q1,b,0.3,1,0001-01-01T01:00:00.000001+01:00,g",
        "q2,a,0.4,0,9999-12-31T23:59:59,g",
        "q2,b,0.5,0,9999-12-31T23:59:59.99999Z,g",
        "q2,c,0.6,0,9999-12-31T23:59:59.999999-00:00,g",
        "q2,d,0.7,0,9999-12-31T22:59:59.999999-01:00,g",
    )
    table = read_forecasts_csv(path)
    assert table.skipped == 0 and table.n_forecasts == 6
    stamps = table.created_at.tolist()
    assert stamps[0] == datetime(1, 1, 1, tzinfo=UTC).timestamp()
    assert stamps[0] <= stamps[1] < stamps[2] < stamps[3] <= stamps[4] == stamps[5]
    moments = [f.created_at for f in to_forecast_data(table).forecasts]
    assert moments[0] == datetime(1, 1, 1, tzinfo=UTC)
    assert moments[2] == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    for moment in moments[3:]:
        assert datetime(9999, 12, 31, 23, 59, 59, 999_900, tzinfo=UTC) < moment


def _table(rows: list[tuple[str, str, float, float]], outcome: dict[str, float]) -> ForecastTable:
    """A table from (question, forecaster, probability, created_at) rows."""
    qids = list(dict.fromkeys(r[0] for r in rows))
    fids = list(dict.fromkeys(r[1] for r in rows))
    return ForecastTable(
        question_ids=tuple(qids),
        forecaster_ids=tuple(fids),
        question=np.array([qids.index(r[0]) for r in rows]),
        forecaster=np.array([fids.index(r[1]) for r in rows]),
        probability=np.array([r[2] for r in rows]),
        created_at=np.array([r[3] for r in rows]),
        outcome=np.array([outcome.get(q, np.nan) for q in qids]),
        group=np.array(["g"] * len(qids)),
    )


def test_latest_per_forecaster_keeps_the_latest_and_breaks_ties_by_file_order() -> None:
    table = _table(
        [
            ("q1", "a", 0.1, 10.0),  # 0: a's first on q1
            ("q1", "b", 0.2, 10.0),  # 1: b's only on q1
            ("q1", "a", 0.3, 30.0),  # 2: a's latest on q1
            ("q2", "a", 0.4, 20.0),  # 3: tie with 4 ...
            ("q1", "a", 0.5, 20.0),  # 4: older than 2
            ("q2", "a", 0.6, 20.0),  # 5: ... the last row of the tie wins
            ("q2", "a", 0.7, 5.0),  # 6: oldest on q2
        ],
        {"q1": 1.0},
    )
    latest = table.latest_per_forecaster()
    assert latest.probability.tolist() == [0.2, 0.3, 0.6]  # file order kept
    assert latest.question.tolist() == [0, 0, 1]
    assert latest.forecaster.tolist() == [1, 0, 0]
    assert latest.question_ids == table.question_ids
    assert latest.outcome.tolist()[0] == 1.0


def test_select_questions_reorders_and_keeps_forecasters() -> None:
    table = _table(
        [("q1", "a", 0.1, 1.0), ("q2", "b", 0.2, 1.0), ("q3", "a", 0.3, 1.0)],
        {"q1": 1.0, "q3": 0.0},
    )
    sub = table.select_questions(["q3", "q1"])
    assert sub.question_ids == ("q3", "q1")
    assert sub.forecaster_ids == ("a", "b")
    assert sub.question.tolist() == [1, 0]
    assert sub.probability.tolist() == [0.1, 0.3]
    assert sub.outcome.tolist() == [0.0, 1.0]
    with pytest.raises(DataError, match="unknown"):
        table.select_questions(["q4"])


def test_to_forecast_data_includes_only_the_requested_outcomes() -> None:
    table = _table(
        [("q1", "a", 0.2, 1721520000.0), ("q2", "a", 0.6, 1721520000.5), ("q3", "b", 0.9, 0.0)],
        {"q1": 1.0, "q2": 0.0},
    )
    everything = to_forecast_data(table)
    assert [(r.question_id, r.outcome) for r in everything.resolutions] == [("q1", 1), ("q2", 0)]
    assert [q.group for q in everything.questions] == ["g", "g", "g"]
    assert everything.forecasts[0].created_at == datetime(2024, 7, 21, tzinfo=UTC)
    assert everything.forecasts[1].created_at == datetime(2024, 7, 21, 0, 0, 0, 500000, UTC)
    assert everything.forecasts[0].logit_center == pytest.approx(logit(0.2))

    train_only = to_forecast_data(table, include_outcomes_for={"q2", "q3"})
    assert [r.question_id for r in train_only.resolutions] == ["q2"]  # q3 is unresolved
    assert len(train_only.forecasts) == 3

    loose = to_forecast_data(table, eps=0.2)
    assert loose.forecasts[2].logit_center == pytest.approx(math.log(0.8 / 0.2))

    with pytest.raises(DataError, match="unknown"):
        to_forecast_data(table, include_outcomes_for={"q9"})


@pytest.mark.parametrize(
    ("name", "rows", "questions", "forecasters", "resolved_yes"),
    [
        ("forecastbench-supers-2024-07-21.csv", 4797, 578, 40, 183),
        ("gjp-y1-week1.csv", 3227, 14, 537, 3),
    ],
)
def test_reads_the_shared_files(
    shared_data: Path, name: str, rows: int, questions: int, forecasters: int, resolved_yes: int
) -> None:
    table = read_forecasts_csv(shared_data / name)
    assert table.skipped == 0
    assert table.n_forecasts == rows
    assert table.n_questions == questions
    assert len(table.forecaster_ids) == forecasters
    assert np.all(table.resolved)
    assert int(np.sum(table.outcome)) == resolved_yes  # base rates 0.32 and 0.21 (README)
    latest = table.latest_per_forecaster()
    pairs = set(zip(latest.question.tolist(), latest.forecaster.tolist(), strict=True))
    assert len(pairs) == latest.n_forecasts  # one forecast per (question, forecaster)
    data = to_forecast_data(latest)
    assert len(data.questions) == questions and len(data.resolutions) == questions


def test_the_scale_benchmarks_csv_reads_back_as_its_simulated_data(tmp_path: Path) -> None:
    """``benchmarks/backtest_scale.py --write-csv`` writes the data the scale figures used, in
    the format ``helsinki backtest`` reads: every forecast, outcome and group comes back."""
    import subprocess
    import sys

    from scipy.special import expit

    root = Path(__file__).resolve().parents[2]
    script = root / "benchmarks" / "backtest_scale.py"
    path = tmp_path / "scale.csv"
    subprocess.run(
        [sys.executable, str(script), "--sizes", "5000", "--seed", "3", "--write-csv", str(path)],
        check=True,
        capture_output=True,
    )
    sys.path.insert(0, str(script.parent))
    try:
        from backtest_scale import shaped_data
    finally:
        sys.path.remove(str(script.parent))
    data, _ = shaped_data(5000, seed=3)
    table = read_forecasts_csv(path)

    assert len(table.probability) == len(data.forecasts) == 5000
    assert table.question_ids == tuple(q.id for q in data.questions)
    assert len(table.forecaster_ids) == len({f.forecaster_id for f in data.forecasts})
    expected = np.array([expit(f.logit_center) for f in data.forecasts])
    np.testing.assert_allclose(table.probability, expected, atol=5e-5)
    resolved = {r.question_id: r.outcome for r in data.resolutions}
    assert table.outcome.tolist() == [resolved[q] for q in table.question_ids]
    assert table.group.tolist() == [q.group for q in data.questions]
    assert [table.question_ids[i] for i in table.question] == [
        f.question_id for f in data.forecasts
    ]
