"""The tables. Nothing is ever deleted: retractions and annulments are new records or flags."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


#: An autoincrementing 64-bit key on PostgreSQL that is still SQLite's INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class QuestionRow(Base):
    __tablename__ = "questions"
    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    group: Mapped[str] = mapped_column("group_id", String(120))
    resolution_criteria: Mapped[str] = mapped_column(Text, default="")
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolves_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: open | resolved | annulled
    status: Mapped[str] = mapped_column(String(20), default="open")
    outcome: Mapped[int | None] = mapped_column(Integer, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    annulled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    annulled_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    annul_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ElicitationRow(Base):
    __tablename__ = "elicitations"
    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), index=True)
    forecaster_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    quantiles: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)
    logit_mean: Mapped[float] = mapped_column(Float)
    logit_sd: Mapped[float] = mapped_column(Float)
    fitted: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: catalog | api
    source: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(200))

    #: A question's elicitations newest first (GET /v1/questions/{id}/elicitations).
    __table_args__ = (
        Index("ix_elicitations_question_id_created_at_id", "question_id", "created_at", "id"),
    )


class EvidenceRow(Base):
    __tablename__ = "evidence"
    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    reliability: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))

    #: Evidence newest recorded first (GET /v1/evidence).
    __table_args__ = (Index("ix_evidence_created_at_id", "created_at", "id"),)


class EvidenceEffectRow(Base):
    __tablename__ = "evidence_effects"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    evidence_id: Mapped[str] = mapped_column(ForeignKey("evidence.id"), index=True)
    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), index=True)
    likelihood_ratio: Mapped[float] = mapped_column(Float)
    strength: Mapped[str | None] = mapped_column(String(40), nullable=True)


class EvidenceRetractionRow(Base):
    __tablename__ = "evidence_retractions"
    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    evidence_id: Mapped[str] = mapped_column(ForeignKey("evidence.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class FitJobRow(Base):
    __tablename__ = "fit_jobs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: queued | running | done | failed
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    fit_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class FitRow(Base):
    __tablename__ = "fits"
    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("fit_jobs.id"), nullable=True)
    #: running | published | rejected (not publishable) | failed (raised)
    status: Mapped[str] = mapped_column(String(20), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    diagnostics: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    sampler: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    data_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    artifact_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    artifact_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ForecastHistoryRow(Base):
    """Every forecast served, in order; its id is the SSE event id."""

    __tablename__ = "forecast_history"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"))
    probability: Mapped[float] = mapped_column(Float)
    previous_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    interval_low: Mapped[float] = mapped_column(Float)
    interval_high: Mapped[float] = mapped_column(Float)
    interval_prob: Mapped[float] = mapped_column(Float)
    median: Mapped[float] = mapped_column(Float)
    #: P(the question is contentious); NULL on rows served before it was recorded.
    contentious: Mapped[float | None] = mapped_column(Float, nullable=True)
    tier: Mapped[str] = mapped_column(String(20))
    fit_id: Mapped[str] = mapped_column(String(120))
    khat: Mapped[float | None] = mapped_column(Float, nullable=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The newest forecast on the question in the posterior served (where the model reads
    #: the question); NULL: none (the prior and evidence alone), or served before it was
    #: recorded.
    as_of: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: fit | evidence | elicitation | retraction
    cause_type: Mapped[str] = mapped_column(String(20))
    cause_id: Mapped[str] = mapped_column(String(120))

    __table_args__ = (Index("ix_forecast_history_question_id_id", "question_id", "id"),)


class IdempotencyRow(Base):
    __tablename__ = "idempotency_keys"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    principal: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(Text)
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("principal", "key", name="uq_idempotency_principal_key"),)
