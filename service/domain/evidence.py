"""Evidence: store it, update the live posterior instantly, enqueue a (coalesced) refit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from models.evidence import likelihood_ratio_from_verbal
from service.domain.forecasts import forecast_public, get_question_or_404
from service.domain.inputs import evidence_of
from service.domain.keys import Principal
from service.domain.questions import require_open
from service.domain.writes import WriteResult
from service.errors import Conflict, NotFound
from service.jobs.queue import enqueue_refit
from service.live import Change, LiveForecasts
from service.schemas.evidence import (
    EvidenceCreate,
    EvidencePublic,
    EvidenceRetractionCreate,
    EvidenceRetractionPublic,
)
from service.store.repositories import EvidenceRepository
from service.store.tables import EvidenceEffectRow, EvidenceRetractionRow, EvidenceRow


def create_evidence(
    session: Session, live: LiveForecasts, who: Principal, body: EvidenceCreate
) -> WriteResult:
    """Call under ``live.lock`` (perform_write does)."""
    for eff in body.effects:
        require_open(get_question_or_404(session, eff.question_id))
    now = datetime.now(UTC)
    row = EvidenceRow(
        id="ev-" + uuid.uuid4().hex[:16],
        title=body.title,
        observed_at=body.observed_at,
        source_url=body.source_url,
        reliability=body.reliability,
        created_at=now,
        created_by=who.label,
    )
    effects = [
        EvidenceEffectRow(
            evidence_id=row.id,
            question_id=e.question_id,
            likelihood_ratio=(
                e.likelihood_ratio
                if e.likelihood_ratio is not None
                else likelihood_ratio_from_verbal(str(e.strength))
            ),
            strength=e.strength,
        )
        for e in body.effects
    ]
    EvidenceRepository(session).add_with_effects(row, effects)
    job = enqueue_refit(session, f"evidence:{row.id}", who.label)
    current = live.current
    known = [e for e in effects if current is not None and e.question_id in current.question_ids]
    if current is None or not known:
        return WriteResult(EvidencePublic(id=row.id, forecasts=[], refit_job_id=job))
    updated = current.with_evidence(evidence_of(row, known))
    forecasts = updated.predict([e.question_id for e in known])
    rows = live.write_history(
        session, updated, [Change(f, "evidence", row.id) for f in forecasts], now
    )
    return WriteResult(
        EvidencePublic(
            id=row.id,
            forecasts=[forecast_public(r) for r in rows],
            refit_job_id=job,
            needs_refit=updated.needs_refit(),
        ),
        posterior=updated,
    )


def retract_evidence(
    session: Session,
    live: LiveForecasts,
    who: Principal,
    evidence_id: str,
    body: EvidenceRetractionCreate,
) -> WriteResult:
    """A retraction is a new record; the evidence row stays. Exact at once when the evidence
    came after the published fit (its instant update is undone); otherwise at the refit."""
    repo = EvidenceRepository(session)
    if repo.get_by_id(evidence_id) is None:
        raise NotFound(f"no evidence {evidence_id!r}")
    if repo.get_retraction_of_evidence(evidence_id) is not None:
        raise Conflict(f"evidence {evidence_id!r} is retracted already")
    now = datetime.now(UTC)
    retraction = repo.add_retraction(
        EvidenceRetractionRow(
            id="rt-" + uuid.uuid4().hex[:16],
            evidence_id=evidence_id,
            reason=body.reason,
            created_at=now,
            created_by=who.label,
        )
    )
    job = enqueue_refit(session, f"retraction:{evidence_id}", who.label)
    affected = [e.question_id for e in repo.list_effects_of_evidence(evidence_id)]
    base = live.base
    if base is None:
        return WriteResult(
            EvidenceRetractionPublic(
                id=retraction.id, evidence_id=evidence_id, forecasts=[], refit_job_id=job
            )
        )
    updated = live.replay(session, base)
    known = [q for q in affected if q in updated.question_ids]
    rows = live.write_history(
        session,
        updated,
        [Change(f, "retraction", retraction.id) for f in updated.predict(known)],
        now,
    )
    return WriteResult(
        EvidenceRetractionPublic(
            id=retraction.id,
            evidence_id=evidence_id,
            forecasts=[forecast_public(r) for r in rows],
            refit_job_id=job,
        ),
        posterior=updated,
        stale_evidence=set(live.stale_evidence),
    )
