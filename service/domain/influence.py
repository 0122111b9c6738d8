"""What moves a question's forecast: every elicitation and evidence item on it left out in
turn (models.forecast_model.Posterior.influence), on the live posterior; computed once per
state of it and kept in a small LRU."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from scipy.special import expit
from sqlalchemy.orm import Session

from models.constants import INTERVAL_PROB, KHAT_THRESHOLD
from models.dataset import Evidence
from models.forecast_model import Posterior, QuestionInfluence
from service.domain.forecasts import current_posterior, get_current_forecast, get_question_or_404
from service.domain.lru import Lru
from service.errors import Conflict, NoPublishedFit
from service.live import LiveForecasts, state_key
from service.schemas.influence import (
    ForecastInfluencePublic,
    GroupPriorPublic,
    InputInfluencePublic,
)


@dataclass(frozen=True)
class _Computed:
    #: The inputs carry their forecast or evidence; not the posterior, whose draws the cache
    #: must not keep alive.
    influence: QuestionInfluence
    computed_at: datetime


class InfluenceCache(Lru[tuple[str, str], _Computed]):
    """The last computations, by the state of the live posterior and the question."""

    def __init__(self, max_entries: int = 64) -> None:
        super().__init__(max_entries)
        self.computed = 0

    def get_or_compute(self, posterior: Posterior, question_id: str) -> _Computed:
        key = (state_key(posterior), question_id)
        hit = self.get(key)
        if hit is not None:
            return hit
        # Not under a lock (a question with many forecasts takes seconds); two requests for
        # the same state may both compute it, and get the same numbers.
        value = _Computed(posterior.influence(question_id), datetime.now(UTC))
        self.computed += 1
        self.put(key, value)
        return value


def _inputs(computed: _Computed, question_id: str) -> list[InputInfluencePublic]:
    out = []
    for x in computed.influence.inputs:
        reliable = x.khat is None or x.khat <= KHAT_THRESHOLD
        told = {
            "id": x.id,
            "probability_without": x.probability_without if reliable else None,
            "influence": x.influence if reliable else None,
            "khat": None if x.khat is None else min(x.khat, 1e6),
            "reliable": reliable,
        }
        if isinstance(x.source, Evidence):
            ev = x.source
            ratio = next(e.likelihood_ratio for e in ev.effects if e.question_id == question_id)
            out.append(
                InputInfluencePublic(
                    type="evidence",
                    label=ev.title or ev.id,
                    at=ev.observed_at,
                    likelihood_ratio=ratio,
                    reliability=ev.reliability,
                    **told,
                )
            )
        else:
            f = x.source
            out.append(
                InputInfluencePublic(
                    type="elicitation",
                    label=f.forecaster_id,
                    at=f.created_at,
                    median=float(expit(f.logit_center)),
                    **told,
                )
            )
    # The largest pull first; those the draws cannot tell after them.
    return sorted(out, key=lambda i: (not i.reliable, -abs(i.influence or 0.0)))


def question_influence(
    session: Session, live: LiveForecasts, cache: InfluenceCache, question_id: str
) -> tuple[ForecastInfluencePublic, str]:
    """What moves an open question's forecast now, and its ETag (the live state's)."""
    question = get_question_or_404(session, question_id)
    if question.status != "open":
        raise Conflict(
            f"question {question_id!r} is {question.status}: "
            + (
                "its outcome, not its forecasts, decides it"
                if question.status == "resolved"
                else "it has left the fits"
            )
        )
    posterior = current_posterior(live)
    if posterior is None or question_id not in posterior.question_ids:
        raise NoPublishedFit(
            f"question {question_id!r} is not in a published fit yet (see GET /v1/fits/latest)"
        )
    computed = cache.get_or_compute(posterior, question_id)
    served, _ = get_current_forecast(session, question_id)
    prior = computed.influence
    public = ForecastInfluencePublic(
        question_id=question_id,
        group=question.group,
        fit_id=posterior.fit_id,
        computed_at=computed.computed_at,
        probability=prior.probability,
        served=served,
        group_prior=GroupPriorPublic(
            probability=prior.group_prior,
            interval=prior.group_prior_interval,
            interval_prob=INTERVAL_PROB,
        ),
        inputs=_inputs(computed, question_id),
        elicitations_not_shown=prior.forecasts_not_shown,
    )
    version = f"{state_key(posterior)}|{question_id}|{served.computed_at.isoformat()}"
    return public, '"inf-' + hashlib.sha256(version.encode()).hexdigest()[:24] + '"'
