"""Repositories: SQL only, one class per table family, long explicit method names (polar style).

No business rules here: the service functions in ``service/domain`` decide; these read and write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from service.store.tables import (
    ApiKeyRow,
    ElicitationRow,
    EvidenceEffectRow,
    EvidenceRetractionRow,
    EvidenceRow,
    FitJobRow,
    FitRow,
    ForecastHistoryRow,
    IdempotencyRow,
    QuestionRow,
)

#: Values bound in one ``IN (...)`` at most (both backends cap a statement's parameters).
IN_CHUNK = 500


def _in_chunks(values: Sequence[str]) -> list[list[str]]:
    items = list(values)
    return [items[start : start + IN_CHUNK] for start in range(0, len(items), IN_CHUNK)]


class ApiKeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: ApiKeyRow) -> ApiKeyRow:
        self.session.add(row)
        self.session.flush()
        return row

    def get_active_by_hash(self, key_hash: str) -> ApiKeyRow | None:
        return self.session.scalar(
            select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None))
        )

    def list_all(self) -> Sequence[ApiKeyRow]:
        return self.session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id)).all()

    def get_by_id(self, key_id: int) -> ApiKeyRow | None:
        return self.session.get(ApiKeyRow, key_id)


class QuestionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: QuestionRow) -> QuestionRow:
        self.session.add(row)
        self.session.flush()
        return row

    def get_by_id(self, question_id: str) -> QuestionRow | None:
        return self.session.get(QuestionRow, question_id)

    def get_by_id_for_update(self, question_id: str) -> QuestionRow | None:
        return self.session.scalar(
            select(QuestionRow).where(QuestionRow.id == question_id).with_for_update()
        )

    def list_page_after_id(
        self,
        after_id: str | None,
        limit: int,
        status: str | None = None,
        group: str | None = None,
        text: str | None = None,
    ) -> Sequence[QuestionRow]:
        """``text``: only questions whose title or id contains it, ignoring case (SQL's
        ``lower``: every letter on PostgreSQL, ASCII letters on SQLite); ``%`` and ``_``
        are matched as themselves."""
        stmt = select(QuestionRow).order_by(QuestionRow.id).limit(limit)
        if after_id is not None:
            stmt = stmt.where(QuestionRow.id > after_id)
        if status is not None:
            stmt = stmt.where(QuestionRow.status == status)
        if group is not None:
            stmt = stmt.where(QuestionRow.group == group)
        if text is not None:
            needle = text.lower()
            stmt = stmt.where(
                or_(
                    func.lower(QuestionRow.title).contains(needle, autoescape=True),
                    func.lower(QuestionRow.id).contains(needle, autoescape=True),
                )
            )
        return self.session.scalars(stmt).all()

    def get_by_ids(self, question_ids: Sequence[str]) -> dict[str, QuestionRow]:
        """The questions of ``question_ids`` that exist, by id (any number of ids)."""
        found: dict[str, QuestionRow] = {}
        for chunk in _in_chunks(question_ids):
            rows = self.session.scalars(select(QuestionRow).where(QuestionRow.id.in_(chunk)))
            found.update((r.id, r) for r in rows)
        return found

    def get_ids_by_criteria_of_questions_created_by(self, author: str) -> dict[str, str]:
        """``resolution_criteria -> id`` of the questions ``author`` created."""
        rows = self.session.execute(
            select(QuestionRow.resolution_criteria, QuestionRow.id).where(
                QuestionRow.created_by == author
            )
        )
        return {criteria: qid for criteria, qid in rows}

    def list_groups(self, include_annulled: bool = True) -> list[str]:
        stmt = select(QuestionRow.group).distinct()
        if not include_annulled:
            stmt = stmt.where(QuestionRow.status != "annulled")
        return sorted(self.session.scalars(stmt))

    def list_not_annulled(self) -> Sequence[QuestionRow]:
        return self.session.scalars(
            select(QuestionRow).where(QuestionRow.status != "annulled").order_by(QuestionRow.id)
        ).all()

    def count_all(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(QuestionRow)) or 0)


class ElicitationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: ElicitationRow) -> ElicitationRow:
        self.session.add(row)
        self.session.flush()
        return row

    def list_on_questions_not_annulled_in_creation_order(self) -> Sequence[ElicitationRow]:
        return self.session.scalars(
            select(ElicitationRow)
            .join(QuestionRow, QuestionRow.id == ElicitationRow.question_id)
            .where(QuestionRow.status != "annulled")
            .order_by(ElicitationRow.created_at, ElicitationRow.id)
        ).all()

    def list_of_questions_in_creation_order(
        self, question_ids: Sequence[str]
    ) -> list[ElicitationRow]:
        """The elicitations on ``question_ids`` (any number of ids)."""
        rows: list[ElicitationRow] = []
        for chunk in _in_chunks(question_ids):
            rows.extend(
                self.session.scalars(
                    select(ElicitationRow).where(ElicitationRow.question_id.in_(chunk))
                )
            )
        return sorted(rows, key=lambda e: (e.created_at, e.id))

    def list_existing_ids(self, elicitation_ids: Sequence[str]) -> set[str]:
        """Those of ``elicitation_ids`` already stored (any number of ids)."""
        found: set[str] = set()
        for chunk in _in_chunks(elicitation_ids):
            found.update(
                self.session.scalars(select(ElicitationRow.id).where(ElicitationRow.id.in_(chunk)))
            )
        return found

    def list_statements_on_resolved_questions_in_creation_order(
        self, forecaster_id: str | None = None
    ) -> Sequence[Row[str, str, datetime, float, datetime | None, int | None]]:
        """``(forecaster_id, question_id, created_at, logit_mean, resolved_at, outcome)`` of
        the elicitations on resolved questions made by the time the outcome became known
        (only the columns a record needs: a whole row carries its fit)."""
        query = (
            select(
                ElicitationRow.forecaster_id,
                ElicitationRow.question_id,
                ElicitationRow.created_at,
                ElicitationRow.logit_mean,
                QuestionRow.resolved_at,
                QuestionRow.outcome,
            )
            .join(QuestionRow, QuestionRow.id == ElicitationRow.question_id)
            .where(
                QuestionRow.status == "resolved",
                QuestionRow.outcome.is_not(None),
                ElicitationRow.created_at <= QuestionRow.resolved_at,
            )
        )
        if forecaster_id is not None:
            query = query.where(ElicitationRow.forecaster_id == forecaster_id)
        return self.session.execute(
            query.order_by(ElicitationRow.created_at, ElicitationRow.id)
        ).all()

    def list_forecaster_ids(self) -> set[str]:
        return set(self.session.scalars(select(ElicitationRow.forecaster_id).distinct()))

    def exists_of_forecaster(self, forecaster_id: str) -> bool:
        return (
            self.session.scalar(
                select(ElicitationRow.id)
                .where(ElicitationRow.forecaster_id == forecaster_id)
                .limit(1)
            )
            is not None
        )

    def get_by_id(self, elicitation_id: str) -> ElicitationRow | None:
        return self.session.get(ElicitationRow, elicitation_id)

    def list_of_question_in_creation_order(self, question_id: str) -> Sequence[ElicitationRow]:
        return self.session.scalars(
            select(ElicitationRow)
            .where(ElicitationRow.question_id == question_id)
            .order_by(ElicitationRow.created_at, ElicitationRow.id)
        ).all()

    def list_page_of_question_newest_first_after(
        self, question_id: str, after: ElicitationRow | None, limit: int
    ) -> Sequence[ElicitationRow]:
        """Newest first by (created_at, id), the page after ``after`` (a row of the previous
        page, its last); index ix_elicitations_question_id_created_at_id."""
        stmt = select(ElicitationRow).where(ElicitationRow.question_id == question_id)
        if after is not None:
            stmt = stmt.where(
                or_(
                    ElicitationRow.created_at < after.created_at,
                    and_(
                        ElicitationRow.created_at == after.created_at,
                        ElicitationRow.id < after.id,
                    ),
                )
            )
        return self.session.scalars(
            stmt.order_by(ElicitationRow.created_at.desc(), ElicitationRow.id.desc()).limit(limit)
        ).all()


class EvidenceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_with_effects(self, row: EvidenceRow, effects: list[EvidenceEffectRow]) -> EvidenceRow:
        self.session.add(row)
        self.session.flush()
        self.session.add_all(effects)
        self.session.flush()
        return row

    def get_by_id(self, evidence_id: str) -> EvidenceRow | None:
        return self.session.get(EvidenceRow, evidence_id)

    def list_effects_of_evidence(self, evidence_id: str) -> Sequence[EvidenceEffectRow]:
        return self.session.scalars(
            select(EvidenceEffectRow)
            .where(EvidenceEffectRow.evidence_id == evidence_id)
            .order_by(EvidenceEffectRow.id)
        ).all()

    def list_not_retracted_with_effects_in_creation_order(
        self,
    ) -> list[tuple[EvidenceRow, list[EvidenceEffectRow]]]:
        retracted = select(EvidenceRetractionRow.evidence_id)
        rows = self.session.scalars(
            select(EvidenceRow)
            .where(EvidenceRow.id.not_in(retracted))
            .order_by(EvidenceRow.created_at, EvidenceRow.id)
        ).all()
        effects: dict[str, list[EvidenceEffectRow]] = {r.id: [] for r in rows}
        for eff in self.session.scalars(
            select(EvidenceEffectRow)
            .where(EvidenceEffectRow.evidence_id.not_in(retracted))
            .order_by(EvidenceEffectRow.id)
        ):
            effects.setdefault(eff.evidence_id, []).append(eff)
        return [(r, effects[r.id]) for r in rows]

    def count_all(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(EvidenceRow)) or 0)

    def get_retraction_of_evidence(self, evidence_id: str) -> EvidenceRetractionRow | None:
        return self.session.scalar(
            select(EvidenceRetractionRow).where(EvidenceRetractionRow.evidence_id == evidence_id)
        )

    def add_retraction(self, row: EvidenceRetractionRow) -> EvidenceRetractionRow:
        self.session.add(row)
        self.session.flush()
        return row

    def get_retraction_by_id(self, retraction_id: str) -> EvidenceRetractionRow | None:
        return self.session.get(EvidenceRetractionRow, retraction_id)

    def list_page_newest_recorded_first_after(
        self, after: EvidenceRow | None, limit: int, question_id: str | None = None
    ) -> Sequence[EvidenceRow]:
        """Newest recorded first by (created_at, id), the page after ``after`` (the last row
        of the previous page); only those with an effect on ``question_id`` when given.
        Index ix_evidence_created_at_id."""
        stmt = select(EvidenceRow)
        if question_id is not None:
            stmt = stmt.where(
                EvidenceRow.id.in_(
                    select(EvidenceEffectRow.evidence_id).where(
                        EvidenceEffectRow.question_id == question_id
                    )
                )
            )
        if after is not None:
            stmt = stmt.where(
                or_(
                    EvidenceRow.created_at < after.created_at,
                    and_(EvidenceRow.created_at == after.created_at, EvidenceRow.id < after.id),
                )
            )
        return self.session.scalars(
            stmt.order_by(EvidenceRow.created_at.desc(), EvidenceRow.id.desc()).limit(limit)
        ).all()

    def list_effects_of_evidence_ids(
        self, evidence_ids: Sequence[str]
    ) -> dict[str, list[EvidenceEffectRow]]:
        """The effects of every evidence item in ``evidence_ids``, in posting order, in one query."""
        out: dict[str, list[EvidenceEffectRow]] = {i: [] for i in evidence_ids}
        if not evidence_ids:
            return out
        for eff in self.session.scalars(
            select(EvidenceEffectRow)
            .where(EvidenceEffectRow.evidence_id.in_(evidence_ids))
            .order_by(EvidenceEffectRow.id)
        ):
            out[eff.evidence_id].append(eff)
        return out

    def get_retractions_of_evidence_ids(
        self, evidence_ids: Sequence[str]
    ) -> dict[str, EvidenceRetractionRow]:
        """The retraction of each retracted item in ``evidence_ids``, in one query."""
        if not evidence_ids:
            return {}
        rows = self.session.scalars(
            select(EvidenceRetractionRow).where(EvidenceRetractionRow.evidence_id.in_(evidence_ids))
        ).all()
        return {r.evidence_id: r for r in rows}

    def list_with_effect_on_question_and_retraction_newest_observed_first(
        self, question_id: str
    ) -> list[tuple[EvidenceRow, EvidenceEffectRow, EvidenceRetractionRow | None]]:
        rows = self.session.execute(
            select(EvidenceRow, EvidenceEffectRow, EvidenceRetractionRow)
            .join(EvidenceEffectRow, EvidenceEffectRow.evidence_id == EvidenceRow.id)
            .outerjoin(EvidenceRetractionRow, EvidenceRetractionRow.evidence_id == EvidenceRow.id)
            .where(EvidenceEffectRow.question_id == question_id)
            .order_by(EvidenceRow.observed_at.desc(), EvidenceRow.created_at.desc())
        ).all()
        return [(ev, eff, rt) for ev, eff, rt in rows]


class ForecastHistoryRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_all(self, rows: list[ForecastHistoryRow]) -> None:
        self.session.add_all(rows)
        self.session.flush()

    def get_latest_of_question(self, question_id: str) -> ForecastHistoryRow | None:
        return self.session.scalar(
            select(ForecastHistoryRow)
            .where(ForecastHistoryRow.question_id == question_id)
            .order_by(ForecastHistoryRow.id.desc())
            .limit(1)
        )

    def get_latest_of_question_before(
        self, question_id: str, before: datetime
    ) -> ForecastHistoryRow | None:
        return self.session.scalar(
            select(ForecastHistoryRow)
            .where(
                ForecastHistoryRow.question_id == question_id,
                ForecastHistoryRow.computed_at < before,
            )
            .order_by(ForecastHistoryRow.id.desc())
            .limit(1)
        )

    def get_latest_of_questions(self, question_ids: Sequence[str]) -> dict[str, ForecastHistoryRow]:
        if not question_ids:
            return {}
        latest = (
            select(func.max(ForecastHistoryRow.id))
            .where(ForecastHistoryRow.question_id.in_(question_ids))
            .group_by(ForecastHistoryRow.question_id)
        )
        rows = self.session.scalars(
            select(ForecastHistoryRow).where(ForecastHistoryRow.id.in_(latest))
        ).all()
        return {r.question_id: r for r in rows}

    def list_of_question_between(
        self, question_id: str, since: datetime | None, until: datetime | None, limit: int
    ) -> Sequence[ForecastHistoryRow]:
        stmt = select(ForecastHistoryRow).where(ForecastHistoryRow.question_id == question_id)
        if since is not None:
            stmt = stmt.where(ForecastHistoryRow.computed_at >= since)
        if until is not None:
            stmt = stmt.where(ForecastHistoryRow.computed_at <= until)
        return self.session.scalars(stmt.order_by(ForecastHistoryRow.id).limit(limit)).all()

    def list_after_id(self, after_id: int, limit: int) -> Sequence[ForecastHistoryRow]:
        return self.session.scalars(
            select(ForecastHistoryRow)
            .where(ForecastHistoryRow.id > after_id)
            .order_by(ForecastHistoryRow.id)
            .limit(limit)
        ).all()

    def get_max_id(self) -> int:
        return int(self.session.scalar(select(func.max(ForecastHistoryRow.id))) or 0)

    def list_newest_of_question_oldest_first(
        self, question_id: str, limit: int
    ) -> Sequence[ForecastHistoryRow]:
        rows = self.session.scalars(
            select(ForecastHistoryRow)
            .where(ForecastHistoryRow.question_id == question_id)
            .order_by(ForecastHistoryRow.id.desc())
            .limit(limit)
        ).all()
        return rows[::-1]

    def list_newest_per_question_oldest_first(
        self, limit: int
    ) -> dict[str, list[ForecastHistoryRow]]:
        """The newest ``limit`` rows of every question, oldest first, in one query."""
        rank = (
            func.row_number()
            .over(
                partition_by=ForecastHistoryRow.question_id, order_by=ForecastHistoryRow.id.desc()
            )
            .label("rank")
        )
        ranked = select(ForecastHistoryRow.id, rank).subquery()
        rows = self.session.scalars(
            select(ForecastHistoryRow)
            .join(ranked, ranked.c.id == ForecastHistoryRow.id)
            .where(ranked.c.rank <= limit)
            .order_by(ForecastHistoryRow.question_id, ForecastHistoryRow.id)
        ).all()
        out: dict[str, list[ForecastHistoryRow]] = {}
        for row in rows:
            out.setdefault(row.question_id, []).append(row)
        return out

    def exists_for_fit_cause(self, fit_id: str) -> bool:
        return (
            self.session.scalar(
                select(ForecastHistoryRow.id)
                .where(
                    ForecastHistoryRow.cause_type == "fit", ForecastHistoryRow.cause_id == fit_id
                )
                .limit(1)
            )
            is not None
        )


class FitRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: FitRow) -> FitRow:
        self.session.add(row)
        self.session.flush()
        return row

    def get_by_id(self, fit_id: str) -> FitRow | None:
        return self.session.get(FitRow, fit_id)

    def get_latest_published(self) -> FitRow | None:
        return self.session.scalar(
            select(FitRow)
            .where(FitRow.status == "published")
            .order_by(FitRow.published_at.desc(), FitRow.id.desc())
            .limit(1)
        )

    def get_latest_published_id(self) -> str | None:
        row = self.get_latest_published()
        return None if row is None else row.id

    def get_latest(self) -> FitRow | None:
        return self.session.scalar(
            select(FitRow).order_by(FitRow.started_at.desc(), FitRow.id.desc()).limit(1)
        )

    def count_by_status(self) -> dict[str, int]:
        rows = self.session.execute(select(FitRow.status, func.count()).group_by(FitRow.status))
        return {status: int(n) for status, n in rows}

    def sum_and_count_of_finished_seconds(self) -> tuple[float, int]:
        total, n = self.session.execute(
            select(func.coalesce(func.sum(FitRow.seconds), 0.0), func.count(FitRow.seconds))
        ).one()
        return float(total or 0.0), int(n)

    def list_latest_started(self, limit: int) -> Sequence[FitRow]:
        return self.session.scalars(
            select(FitRow).order_by(FitRow.started_at.desc(), FitRow.id.desc()).limit(limit)
        ).all()

    def get_by_id_for_update(self, fit_id: str) -> FitRow | None:
        return self.session.scalar(
            select(FitRow)
            .where(FitRow.id == fit_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def fail_running_of_job(self, job_id: int, now: datetime, reason: str) -> int:
        result = self.session.execute(
            update(FitRow)
            .where(FitRow.job_id == job_id, FitRow.status == "running")
            .values(status="failed", finished_at=now, reason=reason)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))


class FitJobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: FitJobRow) -> FitJobRow:
        self.session.add(row)
        self.session.flush()
        return row

    def get_by_id(self, job_id: int) -> FitJobRow | None:
        return self.session.get(FitJobRow, job_id)

    def get_first_queued(self) -> FitJobRow | None:
        return self.session.scalar(
            select(FitJobRow).where(FitJobRow.status == "queued").order_by(FitJobRow.id).limit(1)
        )

    def get_first_running(self) -> FitJobRow | None:
        return self.session.scalar(
            select(FitJobRow).where(FitJobRow.status == "running").order_by(FitJobRow.id).limit(1)
        )

    def get_latest(self) -> FitJobRow | None:
        return self.session.scalar(select(FitJobRow).order_by(FitJobRow.id.desc()).limit(1))

    def list_running_owned_by_for_update(self, worker_id: str) -> Sequence[FitJobRow]:
        return self.session.scalars(
            select(FitJobRow)
            .where(FitJobRow.worker_id == worker_id, FitJobRow.status == "running")
            .order_by(FitJobRow.id)
            .with_for_update()
        ).all()

    def requeue_if_still_running_owned_by(self, job_id: int, worker_id: str) -> bool:
        return self._update_if_still_running_owned_by(
            job_id, worker_id, status="queued", heartbeat_at=None, fit_id=None
        )

    def requeue_giving_back_its_attempt_if_still_running_owned_by(
        self, job_id: int, worker_id: str
    ) -> bool:
        """Queued again with the attempt its claim counted taken back (never below 0)."""
        return self._update_if_still_running_owned_by(
            job_id,
            worker_id,
            status="queued",
            heartbeat_at=None,
            fit_id=None,
            attempts=case((FitJobRow.attempts > 0, FitJobRow.attempts - 1), else_=0),
        )

    def fail_if_still_running_owned_by(
        self, job_id: int, worker_id: str, now: datetime, error: str
    ) -> bool:
        return self._update_if_still_running_owned_by(
            job_id, worker_id, status="failed", finished_at=now, error=error
        )

    def finish_if_still_running_owned_by(self, job_id: int, worker_id: str, now: datetime) -> bool:
        return self._update_if_still_running_owned_by(
            job_id, worker_id, status="done", finished_at=now
        )

    def set_fit_if_still_running_owned_by(self, job_id: int, worker_id: str, fit_id: str) -> bool:
        return self._update_if_still_running_owned_by(job_id, worker_id, fit_id=fit_id)

    def _update_if_still_running_owned_by(
        self, job_id: int, worker_id: str, **values: object
    ) -> bool:
        """Whether the job was still running under ``worker_id`` and now has ``values``.

        One guarded ``UPDATE``: the check and the write cannot be separated by another
        transaction's claim or release (PostgreSQL locks the row and re-checks the condition
        on the version it waited for; SQLite takes its single writer lock), and on PostgreSQL
        the row stays locked until the caller's transaction ends."""
        result = self.session.execute(
            update(FitJobRow)
            .where(
                FitJobRow.id == job_id,
                FitJobRow.worker_id == worker_id,
                FitJobRow.status == "running",
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return getattr(result, "rowcount", 0) == 1

    def count_queued(self) -> int:
        return int(
            self.session.scalar(
                select(func.count()).select_from(FitJobRow).where(FitJobRow.status == "queued")
            )
            or 0
        )

    def count_queued_or_running(self) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(FitJobRow)
                .where(FitJobRow.status.in_(("queued", "running")))
            )
            or 0
        )

    def _claimable(self, stale_before: datetime):  # type: ignore[no-untyped-def]
        return or_(
            FitJobRow.status == "queued",
            (FitJobRow.status == "running") & (FitJobRow.heartbeat_at < stale_before),
        )

    def get_claimable_id_skip_locked(self, stale_before: datetime) -> int | None:
        # FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite ignores it (the guarded UPDATE decides).
        return self.session.scalar(
            select(FitJobRow.id)
            .where(self._claimable(stale_before))
            .order_by(FitJobRow.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )

    def claim_if_still_claimable_with_attempts(
        self, job_id: int, attempts: int, worker_id: str, now: datetime, stale_before: datetime
    ) -> bool:
        return self._update_if_still_claimable_with_attempts(
            job_id,
            attempts,
            stale_before,
            status="running",
            worker_id=worker_id,
            claimed_at=now,
            heartbeat_at=now,
            attempts=FitJobRow.attempts + 1,
        )

    def fail_if_still_claimable_with_attempts(
        self, job_id: int, attempts: int, now: datetime, stale_before: datetime, error: str
    ) -> bool:
        return self._update_if_still_claimable_with_attempts(
            job_id, attempts, stale_before, status="failed", finished_at=now, error=error
        )

    def _update_if_still_claimable_with_attempts(
        self, job_id: int, attempts: int, stale_before: datetime, /, **values: object
    ) -> bool:
        """Whether the job was still claimable with ``attempts`` counted (as the caller read
        it) and now has ``values`` (``attempts`` among them, hence positional-only): one
        guarded ``UPDATE``, as in ``_update_if_still_running_owned_by``."""
        result = self.session.execute(
            update(FitJobRow)
            .where(
                FitJobRow.id == job_id,
                FitJobRow.attempts == attempts,
                self._claimable(stale_before),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return getattr(result, "rowcount", 0) == 1

    def touch_heartbeat_of_job_owned_by(self, job_id: int, worker_id: str, now: datetime) -> bool:
        return self._update_if_still_running_owned_by(job_id, worker_id, heartbeat_at=now)


class IdempotencyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_by_principal_and_key(self, principal: str, key: str) -> IdempotencyRow | None:
        return self.session.scalar(
            select(IdempotencyRow).where(
                IdempotencyRow.principal == principal, IdempotencyRow.key == key
            )
        )

    def add(self, row: IdempotencyRow) -> None:
        self.session.add(row)
        self.session.flush()
