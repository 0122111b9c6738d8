"""Resolved forecasting history: the forecasts CSV read into numpy arrays.

The forecasts CSV (``question_id, forecaster_id, probability, outcome, created_at`` and an
optional ``group``; see ``shared/data/README.md``) holds one forecast per row. It is read into a
:class:`ForecastTable`, the input of the reference aggregation rules and of the backtests, and
can be turned into the model's :class:`~models.dataset.ForecastData` with
:func:`to_forecast_data`.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from models.constants import PROB_EPS
from models.dataset import Forecast, ForecastData, Question, Resolution
from models.exceptions import DataError

#: Columns every forecasts CSV must have; any other column but ``group`` is ignored.
REQUIRED_COLUMNS = ("question_id", "forecaster_id", "probability", "outcome", "created_at")

#: The optional column naming a question's partial-pooling group.
GROUP_COLUMN = "group"

#: Group of a question whose file has no ``group`` column or an empty value.
DEFAULT_GROUP = "default"

#: How many reasons for skipped rows a table keeps (the count is always complete).
MAX_SKIP_REASONS = 10

#: A plain decimal number in ASCII: ``0.25``, ``.5``, ``1``, ``1e-3``. Python's ``float``
#: also takes ``0.2_5``, ``nan``, ``inf`` and digits of other scripts, which a forecasts
#: file should not carry unnoticed.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _frozen(values: object, dtype: type) -> np.ndarray:
    """A read-only copy, so that no consumer of a table can change it in place."""
    arr: np.ndarray = np.array(values, dtype=dtype, copy=True)
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class ForecastTable:
    """Forecasts on binary questions as parallel numpy arrays (one entry per forecast).

    Arrays are read-only copies; derived tables are made with the methods below or with
    :func:`dataclasses.replace`.

    Parameters
    ----------
    question_ids : tuple of str
        The questions, in order of first appearance in the file.
    forecaster_ids : tuple of str
        The forecasters, in order of first appearance in the file.
    question : ndarray of int64, shape (n_forecasts,)
        Index into ``question_ids`` of each forecast.
    forecaster : ndarray of int64, shape (n_forecasts,)
        Index into ``forecaster_ids`` of each forecast.
    probability : ndarray of float64, shape (n_forecasts,)
        The stated P(yes), in [0, 1] (0 and 1 kept as stated; consumers clip).
    created_at : ndarray of float64, shape (n_forecasts,)
        When each forecast was made, in seconds since the Unix epoch (UTC).
    outcome : ndarray of float64, shape (n_questions,)
        1.0 yes, 0.0 no, NaN unresolved (or hidden, see ``models.backtest.mask_outcomes``).
    group : ndarray of str, shape (n_questions,)
        The group of each question.
    source : str
        Where the table was read from (for messages).
    skipped : int
        How many bad rows ``read_forecasts_csv(..., skip_bad=True)`` skipped.
    skip_reasons : tuple of str
        The reasons of the first :data:`MAX_SKIP_REASONS` skipped rows.
    """

    question_ids: tuple[str, ...]
    forecaster_ids: tuple[str, ...]
    question: np.ndarray
    forecaster: np.ndarray
    probability: np.ndarray
    created_at: np.ndarray
    outcome: np.ndarray
    group: np.ndarray
    source: str = ""
    skipped: int = 0
    skip_reasons: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "question_ids", tuple(str(q) for q in self.question_ids))
        set_(self, "forecaster_ids", tuple(str(f) for f in self.forecaster_ids))
        set_(self, "question", _frozen(self.question, np.int64).reshape(-1))
        set_(self, "forecaster", _frozen(self.forecaster, np.int64).reshape(-1))
        set_(self, "probability", _frozen(self.probability, np.float64).reshape(-1))
        set_(self, "created_at", _frozen(self.created_at, np.float64).reshape(-1))
        set_(self, "outcome", _frozen(self.outcome, np.float64).reshape(-1))
        set_(self, "group", _frozen(self.group, np.str_).reshape(-1))
        set_(self, "skip_reasons", tuple(self.skip_reasons))

        n, nq, nf = self.n_forecasts, len(self.question_ids), len(self.forecaster_ids)
        if len(set(self.question_ids)) != nq:
            raise DataError("ForecastTable: question ids are not unique")
        if len(set(self.forecaster_ids)) != nf:
            raise DataError("ForecastTable: forecaster ids are not unique")
        for name in ("forecaster", "probability", "created_at"):
            if getattr(self, name).shape != (n,):
                raise DataError(
                    f"ForecastTable: {name} has {getattr(self, name).size} entries, "
                    f"question has {n}"
                )
        for name in ("outcome", "group"):
            if getattr(self, name).shape != (nq,):
                raise DataError(f"ForecastTable: {name} needs one entry per question ({nq})")
        if n and (self.question.min() < 0 or self.question.max() >= nq):
            raise DataError("ForecastTable: question index out of range")
        if n and (self.forecaster.min() < 0 or self.forecaster.max() >= nf):
            raise DataError("ForecastTable: forecaster index out of range")
        p = self.probability
        if not np.all((p >= 0.0) & (p <= 1.0)):
            raise DataError("ForecastTable: probabilities must lie in [0, 1]")
        if not np.all(np.isfinite(self.created_at)):
            raise DataError("ForecastTable: created_at must be finite")
        known = ~np.isnan(self.outcome)
        if not np.all((self.outcome[known] == 0.0) | (self.outcome[known] == 1.0)):
            raise DataError("ForecastTable: outcomes must be 0, 1 or NaN")

    @property
    def n_forecasts(self) -> int:
        """Number of forecasts (rows)."""
        return int(self.question.shape[0])

    @property
    def n_questions(self) -> int:
        """Number of questions."""
        return len(self.question_ids)

    @property
    def resolved(self) -> np.ndarray:
        """Boolean mask over questions: True where the outcome is known."""
        return ~np.isnan(self.outcome)

    def resolved_question_ids(self) -> list[str]:
        """Ids of the resolved questions, in table order.

        Returns
        -------
        list of str
        """
        return [q for q, r in zip(self.question_ids, self.resolved, strict=True) if r]

    def take_forecasts(self, index: np.ndarray) -> ForecastTable:
        """A table with only the forecasts at ``index`` (questions and forecasters kept).

        Parameters
        ----------
        index : ndarray of int or bool
            Positions (or a mask) of the forecasts to keep, in the order to keep them.

        Returns
        -------
        ForecastTable
        """
        return replace(
            self,
            question=self.question[index],
            forecaster=self.forecaster[index],
            probability=self.probability[index],
            created_at=self.created_at[index],
        )

    def latest_per_forecaster(self) -> ForecastTable:
        """Each forecaster's latest forecast on each question, the default basis of aggregation.

        Ties in ``created_at`` are broken by file order: the last row wins. The kept forecasts
        stay in file order.

        Returns
        -------
        ForecastTable
        """
        n = self.n_forecasts
        if n == 0:
            return self
        pair = self.question * len(self.forecaster_ids) + self.forecaster
        position = np.arange(n)
        # Sorted by pair, then time, then file position: the last of each pair run wins.
        order = np.lexsort((position, self.created_at, pair))
        sorted_pair = pair[order]
        last = np.ones(n, dtype=bool)
        last[:-1] = sorted_pair[1:] != sorted_pair[:-1]
        return self.take_forecasts(np.sort(order[last]))

    def of_groups(self, groups: Iterable[str] | None) -> ForecastTable:
        """Only the questions of ``groups`` (every question if None), with their forecasts.

        Parameters
        ----------
        groups : iterable of str, optional

        Returns
        -------
        ForecastTable
        """
        if groups is None:
            return self
        wanted = set(groups)
        return self.select_questions(
            q for q, g in zip(self.question_ids, self.group, strict=True) if g in wanted
        )

    def at_most_per_question(self, k: int, seed: int) -> ForecastTable:
        """Each forecaster's latest forecast, then at most ``k`` forecasters a question, the
        ``k`` kept drawn at random (seeded): the shared sets thinned to sparser shapes
        (benchmarks/backtest_shapes.py).

        Parameters
        ----------
        k : int
            Most forecasters kept on a question.
        seed : int
            Seed of the draw.

        Returns
        -------
        ForecastTable
        """
        latest = self.latest_per_forecaster()
        rng = np.random.default_rng(seed)
        keep = []
        for q in range(latest.n_questions):
            rows = np.flatnonzero(latest.question == q)
            if rows.size > k:
                rows = np.sort(rng.choice(rows, size=k, replace=False))
            keep.append(rows)
        return latest.take_forecasts(np.sort(np.concatenate(keep)))

    def select_questions(self, question_ids: Iterable[str]) -> ForecastTable:
        """A table with only the given questions, in the given order, and their forecasts.

        Forecaster ids (and indices) are kept unchanged, so forecasters line up across
        tables selected from the same source.

        Parameters
        ----------
        question_ids : iterable of str
            Questions to keep; each must be in the table, none twice.

        Returns
        -------
        ForecastTable

        Raises
        ------
        DataError
            If an id is unknown or repeated.
        """
        wanted = [str(q) for q in question_ids]
        position = {q: i for i, q in enumerate(self.question_ids)}
        unknown = [q for q in wanted if q not in position]
        if unknown:
            raise DataError(f"unknown question ids: {unknown[:5]}")
        if len(set(wanted)) != len(wanted):
            raise DataError("question ids to select are repeated")
        old = np.array([position[q] for q in wanted], dtype=np.int64)
        new_index = np.full(self.n_questions, -1, dtype=np.int64)
        new_index[old] = np.arange(len(old))
        keep = new_index[self.question] >= 0
        return replace(
            self,
            question_ids=tuple(wanted),
            question=new_index[self.question[keep]],
            forecaster=self.forecaster[keep],
            probability=self.probability[keep],
            created_at=self.created_at[keep],
            outcome=self.outcome[old],
            group=self.group[old],
        )


def _parse_probability(text: str) -> float:
    if _DECIMAL.fullmatch(text) is None:
        raise ValueError(f"not a number: {text!r} (write a decimal such as 0.25)")
    value = float(text)
    if value < 0.0 or value > 1.0:
        raise ValueError(f"must be in [0, 1], got {text!r}")
    return value


def _parse_outcome(text: str) -> float:
    if text == "":
        return math.nan
    value = float(text) if _DECIMAL.fullmatch(text) else math.nan
    if value not in (0.0, 1.0):
        raise ValueError(f"must be 0, 1 or empty, got {text!r}")
    return value


# The largest float of seconds since the epoch that is still a moment of year 9999 in UTC.
_LAST_STAMP = math.nextafter(datetime(9999, 12, 31, tzinfo=UTC).timestamp() + 86400, 0.0)


# 24:00 (with zero seconds and fractions, if given) after the date: the end of that day.
_END_OF_DAY = re.compile(r"(?<=[T ])24(?=(?::?00(?::?00(?:[.,]0+)?)?)?(?:Z|[+-]|$))")


def _parse_timestamp(text: str) -> float:
    # RFC 3339 allows a lower-case t and z; ISO 8601 writes the end of a day as 24:00.
    iso, end_of_day = _END_OF_DAY.subn("00", text.upper(), count=1)
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {text!r}") from None
    # Naive timestamps are taken to be UTC, as in models.dataset.
    offset = moment.utcoffset() or timedelta(0)
    try:
        # In UTC it must still be a date (0001-01-01T00:30+01:00 is in year 0 there); one
        # step, so that 0001-01-01T24:00+01:00 (23:00 on 1 January in UTC) is one.
        moment = moment.replace(tzinfo=None) + (timedelta(days=end_of_day) - offset)
        moment = moment.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError(f"{text!r} lies outside the years 1 to 9999 in UTC") from None
    # Seconds as a float are 3e-5 s apart near year 9999: 9999-12-31T23:59:59.99999 rounds up
    # to the first second of year 10000, which no datetime holds. Keep such a moment in 9999.
    return min(moment.timestamp(), _LAST_STAMP)


class _RowError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _parse_row(
    row: list[str], columns: list[str], col: dict[str, int], group_col: int | None
) -> tuple[str, str, float, float, float, str]:
    """The values of one data row; a bad value raises :class:`_RowError` naming its field."""
    if len(row) > len(columns):
        raise _RowError("row", f"{len(row)} fields, the header has {len(columns)}")

    def cell(name: str) -> str:
        i = col[name]
        return row[i].strip() if i < len(row) else ""

    def required(name: str) -> str:
        text = cell(name)
        if text == "":
            raise _RowError(name, "missing value")
        return text

    qid = required("question_id")
    fid = required("forecaster_id")
    try:
        prob = _parse_probability(required("probability"))
    except ValueError as exc:
        raise _RowError("probability", str(exc)) from None
    try:
        outcome = _parse_outcome(cell("outcome"))
    except ValueError as exc:
        raise _RowError("outcome", str(exc)) from None
    try:
        when = _parse_timestamp(required("created_at"))
    except ValueError as exc:
        raise _RowError("created_at", str(exc)) from None
    grp = row[group_col].strip() if group_col is not None and group_col < len(row) else ""
    return qid, fid, prob, outcome, when, grp


def _check_consistent(qid: str, outcome: float, grp: str, known: float, known_grp: str) -> None:
    """A row must agree with the question's earlier rows on outcome (if both given) and group."""
    if not math.isnan(outcome) and not math.isnan(known) and known != outcome:
        raise _RowError(
            "outcome",
            f"question {qid!r} has outcome {known:g} on an earlier row, {outcome:g} here",
        )
    if grp and known_grp and grp != known_grp:
        raise _RowError(
            "group", f"question {qid!r} is in group {known_grp!r} on an earlier row, {grp!r} here"
        )


def read_forecasts_csv(path: str | Path, *, skip_bad: bool = False) -> ForecastTable:
    """Read a forecasts CSV into a :class:`ForecastTable`.

    A row is bad if a required value is missing, ``probability`` is not a number in [0, 1],
    ``outcome`` is not ``0``, ``1`` or empty, ``created_at`` is not ISO 8601 (or not a
    date in UTC), a non-empty ``group`` differs from one stated on the question's earlier
    rows (an empty group cell states nothing), or ``outcome`` contradicts the outcome of the
    question's earlier rows (an empty outcome contradicts nothing: the question is resolved
    if any row says so). Naive timestamps are taken as UTC. Blank lines are ignored.

    Parameters
    ----------
    path : str or Path
        The CSV file (UTF-8, optional BOM), with a header row.
    skip_bad : bool, default False
        If True, skip bad rows and count them in ``ForecastTable.skipped`` (the first
        :data:`MAX_SKIP_REASONS` reasons are kept in ``skip_reasons``); else raise on the
        first bad row.

    Returns
    -------
    ForecastTable
        Forecasts in file order.

    Raises
    ------
    DataError
        On a bad row (unless ``skip_bad``), naming the file, the 1-based line number (the
        header is line 1) and the field; always if the file cannot be read, is empty or its
        header lacks a required column.
    """
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"{path}: cannot read forecasts CSV: {exc}") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: empty file, expected a header row")
            columns = [c.strip() for c in header]
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise DataError(
                    f"{path}, line 1: header lacks required column(s) {', '.join(missing)}"
                )
            col = {name: columns.index(name) for name in REQUIRED_COLUMNS}
            group_col = columns.index(GROUP_COLUMN) if GROUP_COLUMN in columns else None

            question_pos: dict[str, int] = {}
            forecaster_pos: dict[str, int] = {}
            outcomes: list[float] = []
            groups: list[str] = []
            q_idx: list[int] = []
            f_idx: list[int] = []
            probs: list[float] = []
            times: list[float] = []
            skipped = 0
            reasons: list[str] = []

            end_of_previous = reader.line_num
            for row in reader:
                # A quoted field may span lines: name the line the record starts on.
                line, end_of_previous = end_of_previous + 1, reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                try:
                    qid, fid, prob, outcome, when, grp = _parse_row(row, columns, col, group_col)
                    qi = question_pos.get(qid)
                    if qi is not None:
                        _check_consistent(qid, outcome, grp, outcomes[qi], groups[qi])
                except _RowError as err:
                    message = f"{path}, line {line}, field {err.field!r}: {err.reason}"
                    if not skip_bad:
                        raise DataError(message) from None
                    skipped += 1
                    if len(reasons) < MAX_SKIP_REASONS:
                        reasons.append(message)
                    continue

                if qi is None:
                    qi = question_pos[qid] = len(question_pos)
                    outcomes.append(outcome)
                    groups.append(grp)
                else:
                    if math.isnan(outcomes[qi]):
                        outcomes[qi] = outcome
                    if not groups[qi]:  # an empty group cell states nothing
                        groups[qi] = grp
                fi = forecaster_pos.setdefault(fid, len(forecaster_pos))
                q_idx.append(qi)
                f_idx.append(fi)
                probs.append(prob)
                times.append(when)
        except csv.Error as exc:
            raise DataError(f"{path}, line {reader.line_num}: malformed CSV: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text: {exc}") from exc

    return ForecastTable(
        question_ids=tuple(question_pos),
        forecaster_ids=tuple(forecaster_pos),
        question=np.array(q_idx, dtype=np.int64),
        forecaster=np.array(f_idx, dtype=np.int64),
        probability=np.array(probs, dtype=np.float64),
        created_at=np.array(times, dtype=np.float64),
        outcome=np.array(outcomes, dtype=np.float64),
        group=np.array([g or DEFAULT_GROUP for g in groups], dtype=np.str_),
        source=str(path),
        skipped=skipped,
        skip_reasons=tuple(reasons),
    )


def to_forecast_data(
    table: ForecastTable,
    *,
    eps: float = PROB_EPS,
    include_outcomes_for: Collection[str] | None = None,
) -> ForecastData:
    """Convert a table to the model's :class:`~models.dataset.ForecastData`.

    Every forecast in the table becomes a :class:`~models.dataset.Forecast` (pass
    ``table.latest_per_forecaster()`` to keep only the latest ones).

    Parameters
    ----------
    table : ForecastTable
    eps : float, default ``models.constants.PROB_EPS``
        Probabilities are clipped to ``[eps, 1 - eps]`` before taking log-odds.
    include_outcomes_for : collection of str, optional
        Questions whose outcomes become :class:`~models.dataset.Resolution` records; the
        others are left unresolved (a backtest's held-out questions). None means every
        resolved question. Listed questions without an outcome get no resolution.

    Returns
    -------
    ForecastData

    Raises
    ------
    DataError
        If ``include_outcomes_for`` names a question not in the table.
    """
    if include_outcomes_for is not None:
        include = {str(q) for q in include_outcomes_for}
        unknown = sorted(include.difference(table.question_ids))
        if unknown:
            raise DataError(f"include_outcomes_for names unknown questions: {unknown[:5]}")
    else:
        include = set(table.question_ids)
    questions = tuple(
        Question(id=q, group=str(g)) for q, g in zip(table.question_ids, table.group, strict=True)
    )
    forecasts = tuple(
        Forecast.from_probability(
            table.question_ids[qi],
            table.forecaster_ids[fi],
            float(p),
            datetime.fromtimestamp(float(t), tz=UTC),
            eps=eps,
        )
        for qi, fi, p, t in zip(
            table.question.tolist(),
            table.forecaster.tolist(),
            table.probability.tolist(),
            table.created_at.tolist(),
            strict=True,
        )
    )
    resolutions = tuple(
        Resolution(question_id=q, outcome=int(y))
        for q, y in zip(table.question_ids, table.outcome.tolist(), strict=True)
        if q in include and not math.isnan(y)
    )
    return ForecastData(questions=questions, forecasts=forecasts, resolutions=resolutions)
