"""Evidence: store it, update the live posterior instantly, enqueue a (coalesced) refit;
read it back (one item, or a page newest recorded first) with its effects and retraction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from models.evidence import likelihood_ratio_from_verbal
from models.forecast_model import Posterior
from service.domain.forecasts import (
    current_posterior,
    forecast_previews,
    forecast_public,
    get_question_or_404,
)
from service.domain.inputs import evidence_of
from service.domain.keys import Principal
from service.domain.pages import invalid_cursor, page_and_next
from service.domain.questions import require_open
from service.domain.writes import WriteResult
from service.errors import Conflict, NotFound
from service.jobs.queue import enqueue_refit
from service.live import Change, LiveForecasts
from service.schemas.evidence import (
    EvidenceCreate,
    EvidenceEffectPublic,
    EvidenceItemPublic,
    EvidenceItemsPublic,
    EvidencePreviewPublic,
    EvidencePublic,
    EvidenceRetractionCreate,
    EvidenceRetractionPublic,
    EvidenceRetractionRecord,
    RetractionPublic,
)
from service.store.repositories import EvidenceRepository
from service.store.tables import EvidenceEffectRow, EvidenceRetractionRow, EvidenceRow


def _evidence_rows(
    body: EvidenceCreate, who: Principal, evidence_id: str, now: datetime
) -> tuple[EvidenceRow, list[EvidenceEffectRow]]:
    """The records of ``body`` (not added to any session), each effect with its ratio."""
    row = EvidenceRow(
        id=evidence_id,
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
    return row, effects


def _require_open_questions(session: Session, body: EvidenceCreate) -> None:
    for eff in body.effects:
        require_open(get_question_or_404(session, eff.question_id))


def _in_fit(
    posterior: Posterior | None, effects: list[EvidenceEffectRow]
) -> list[EvidenceEffectRow]:
    return [e for e in effects if posterior is not None and e.question_id in posterior.question_ids]


def create_evidence(
    session: Session, live: LiveForecasts, who: Principal, body: EvidenceCreate
) -> WriteResult:
    """Call under ``live.lock`` (perform_write does)."""
    _require_open_questions(session, body)
    now = datetime.now(UTC)
    row, effects = _evidence_rows(body, who, "ev-" + uuid.uuid4().hex[:16], now)
    EvidenceRepository(session).add_with_effects(row, effects)
    job = enqueue_refit(session, f"evidence:{row.id}", who.label)
    current = live.current
    known = _in_fit(current, effects)
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


def preview_evidence(
    session: Session, live: LiveForecasts, who: Principal, body: EvidenceCreate
) -> EvidencePreviewPublic:
    """What posting ``body`` would do to the forecasts now: the same checks and the same
    instant update as :func:`create_evidence`, on a snapshot of the live posterior; nothing
    is written and no refit is queued."""
    _require_open_questions(session, body)
    row, effects = _evidence_rows(body, who, "ev-preview", datetime.now(UTC))
    current = current_posterior(live)
    known = _in_fit(current, effects)
    not_in_fit = [e.question_id for e in effects if e not in known]
    if current is None or not known:
        return EvidencePreviewPublic(forecasts=[], not_in_fit=not_in_fit, needs_refit=False)
    updated = current.with_evidence(evidence_of(row, known))
    return EvidencePreviewPublic(
        forecasts=forecast_previews(
            session, updated, updated.predict([e.question_id for e in known])
        ),
        not_in_fit=not_in_fit,
        needs_refit=updated.needs_refit(),
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
        raise evidence_not_found(evidence_id)
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


# --- reading it back ---------------------------------------------------------------------


def evidence_not_found(evidence_id: str) -> NotFound:
    return NotFound(f"no evidence {evidence_id!r}; list it with GET /v1/evidence")


def evidence_item_public(
    row: EvidenceRow,
    effects: list[EvidenceEffectRow],
    retraction: EvidenceRetractionRow | None,
) -> EvidenceItemPublic:
    return EvidenceItemPublic(
        id=row.id,
        title=row.title,
        observed_at=row.observed_at,
        source_url=row.source_url,
        reliability=row.reliability,  # type: ignore[arg-type]
        effects=[
            EvidenceEffectPublic(
                question_id=e.question_id,
                likelihood_ratio=e.likelihood_ratio,
                strength=e.strength,  # type: ignore[arg-type]
            )
            for e in effects
        ],
        created_by=row.created_by,
        created_at=row.created_at,
        retraction=None if retraction is None else _retraction_record(retraction),
    )


def _retraction_record(row: EvidenceRetractionRow) -> EvidenceRetractionRecord:
    return EvidenceRetractionRecord(
        id=row.id, reason=row.reason, created_by=row.created_by, created_at=row.created_at
    )


def get_retraction(session: Session, retraction_id: str) -> RetractionPublic:
    row = EvidenceRepository(session).get_retraction_by_id(retraction_id)
    if row is None:
        raise NotFound(
            f"no retraction {retraction_id!r}; an evidence item's retraction is in "
            "GET /v1/evidence/{id}"
        )
    return RetractionPublic(evidence_id=row.evidence_id, **_retraction_record(row).model_dump())


def get_evidence_item(session: Session, evidence_id: str) -> EvidenceItemPublic:
    repo = EvidenceRepository(session)
    row = repo.get_by_id(evidence_id)
    if row is None:
        raise evidence_not_found(evidence_id)
    return evidence_item_public(
        row, list(repo.list_effects_of_evidence(row.id)), repo.get_retraction_of_evidence(row.id)
    )


def list_evidence(
    session: Session, question_id: str | None, cursor: str | None, limit: int
) -> EvidenceItemsPublic:
    """Newest recorded first: by ``created_at``, then ``id``, both descending. A cursor is the
    id of the last item of a page (evidence is never deleted); effects and retractions are
    read for the whole page at once."""
    if question_id is not None:
        get_question_or_404(session, question_id)
    repo = EvidenceRepository(session)
    after = None if cursor is None else repo.get_by_id(cursor)
    if cursor is not None and after is None:
        raise invalid_cursor(cursor)
    page, following = page_and_next(
        repo.list_page_newest_recorded_first_after(after, limit + 1, question_id), limit
    )
    ids = [r.id for r in page]
    effects = repo.list_effects_of_evidence_ids(ids)
    retractions = repo.get_retractions_of_evidence_ids(ids)
    return EvidenceItemsPublic(
        items=[evidence_item_public(r, effects[r.id], retractions.get(r.id)) for r in page],
        next=following,
    )
