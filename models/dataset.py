"""The inputs of a fit: questions, forecasts, evidence and resolutions, as plain frozen records.

Everything the model sees goes through :class:`ForecastData`, whose ``content_hash`` is part
of every saved posterior's identity.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from models.constants import PROB_EPS, RELIABILITY_CLASSES
from models.exceptions import DataError


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def logit(p: float, eps: float = PROB_EPS) -> float:
    """Log-odds of ``p`` after clipping it to ``[eps, 1 - eps]``."""
    if not math.isfinite(p) or p < 0.0 or p > 1.0:
        raise DataError(f"probability must be a number in [0, 1], got {p!r}")
    q = min(max(p, eps), 1.0 - eps)
    return math.log(q / (1.0 - q))


@dataclass(frozen=True)
class Question:
    """A binary question; ``group`` is its partial-pooling group (e.g. ``belarus``)."""

    id: str
    group: str = "default"
    title: str = ""
    opens_at: datetime | None = None
    resolves_at: datetime | None = None


@dataclass(frozen=True)
class Forecast:
    """One forecaster's reading of one question at one time, on the log-odds scale.

    ``logit_center`` is the centre ``m`` of the statement and ``logit_spread`` the spread
    ``s`` the forecaster stated (0 for a bare probability).
    """

    question_id: str
    forecaster_id: str
    created_at: datetime
    logit_center: float
    logit_spread: float = 0.0
    id: str | None = None

    @classmethod
    def from_probability(
        cls,
        question_id: str,
        forecaster_id: str,
        probability: float,
        created_at: datetime,
        *,
        logit_spread: float = 0.0,
        id: str | None = None,
        eps: float = PROB_EPS,
    ) -> Forecast:
        return cls(
            question_id=question_id,
            forecaster_id=forecaster_id,
            created_at=as_utc(created_at),
            logit_center=logit(probability, eps),
            logit_spread=float(logit_spread),
            id=id,
        )


@dataclass(frozen=True)
class EvidenceEffect:
    """How strongly an evidence item bears on one question: LR = P(E | yes) / P(E | no)."""

    question_id: str
    likelihood_ratio: float

    @property
    def log_likelihood_ratio(self) -> float:
        return math.log(self.likelihood_ratio)


@dataclass(frozen=True)
class Evidence:
    """Something that happened at ``observed_at``, with a reliability class and its effects."""

    id: str
    observed_at: datetime
    reliability: str
    effects: tuple[EvidenceEffect, ...]
    title: str = ""


@dataclass(frozen=True)
class Resolution:
    """The outcome of a question (1 yes, 0 no) and when it became known."""

    question_id: str
    outcome: int
    resolved_at: datetime | None = None


def _default(o: object) -> object:
    if isinstance(o, datetime):
        return as_utc(o).isoformat()
    raise TypeError(type(o))


@dataclass(frozen=True)
class ForecastData:
    """All inputs of one fit. Validated on construction: a bad record raises :class:`DataError`."""

    questions: tuple[Question, ...]
    forecasts: tuple[Forecast, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    resolutions: tuple[Resolution, ...] = ()
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "questions", tuple(self.questions))
        object.__setattr__(self, "forecasts", tuple(self.forecasts))
        object.__setattr__(self, "evidence", tuple(self.evidence))
        object.__setattr__(self, "resolutions", tuple(self.resolutions))
        index: dict[str, int] = {}
        for i, q in enumerate(self.questions):
            if q.id in index:
                raise DataError(f"question {q.id!r} appears twice")
            index[q.id] = i
        object.__setattr__(self, "_index", index)
        for f in self.forecasts:
            self._check_question(f.question_id, "forecast")
            if not (math.isfinite(f.logit_center) and math.isfinite(f.logit_spread)):
                raise DataError(f"forecast on {f.question_id!r} has a non-finite log-odds")
            if f.logit_spread < 0:
                raise DataError(f"forecast on {f.question_id!r} has a negative spread")
        for ev in self.evidence:
            if ev.reliability not in RELIABILITY_CLASSES:
                raise DataError(
                    f"evidence {ev.id!r}: reliability must be one of {', '.join(RELIABILITY_CLASSES)}"
                    f", got {ev.reliability!r}"
                )
            for eff in ev.effects:
                self._check_question(eff.question_id, f"evidence {ev.id!r}")
                lr = eff.likelihood_ratio
                if not (math.isfinite(lr) and lr > 0):
                    raise DataError(
                        f"evidence {ev.id!r}: likelihood ratio on {eff.question_id!r} must be > 0"
                    )
        seen: set[str] = set()
        for r in self.resolutions:
            self._check_question(r.question_id, "resolution")
            if r.outcome not in (0, 1):
                raise DataError(f"resolution of {r.question_id!r}: outcome must be 0 or 1")
            if r.question_id in seen:
                raise DataError(f"question {r.question_id!r} is resolved twice")
            seen.add(r.question_id)

    def _check_question(self, question_id: str, what: str) -> None:
        if question_id not in self._index:
            raise DataError(f"{what} refers to unknown question {question_id!r}")

    def question_index(self, question_id: str) -> int:
        self._check_question(question_id, "lookup")
        return self._index[question_id]

    @property
    def question_ids(self) -> list[str]:
        return [q.id for q in self.questions]

    @property
    def forecaster_ids(self) -> list[str]:
        """Forecasters in order of first appearance."""
        return list(dict.fromkeys(f.forecaster_id for f in self.forecasts))

    @property
    def group_ids(self) -> list[str]:
        return list(dict.fromkeys(q.group for q in self.questions))

    def content_hash(self) -> str:
        """A SHA-256 of every input record, stable across runs and processes."""
        payload = {
            "questions": [asdict(q) for q in self.questions],
            "forecasts": [asdict(f) for f in self.forecasts],
            "evidence": [asdict(e) for e in self.evidence],
            "resolutions": [asdict(r) for r in self.resolutions],
        }
        blob = json.dumps(payload, default=_default, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def with_records(
        self,
        *,
        forecasts: tuple[Forecast, ...] = (),
        evidence: tuple[Evidence, ...] = (),
        resolutions: tuple[Resolution, ...] = (),
        questions: tuple[Question, ...] = (),
    ) -> ForecastData:
        """A copy with extra records appended (the data of the next refit)."""
        return ForecastData(
            questions=self.questions + tuple(questions),
            forecasts=self.forecasts + tuple(forecasts),
            evidence=self.evidence + tuple(evidence),
            resolutions=self.resolutions + tuple(resolutions),
        )
