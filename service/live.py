"""The live state of the API process: the published posterior plus the instant updates since.

Forecasts served come from here and are persisted as forecast-history rows (whose ids are the
SSE event ids). One lock serialises every write that changes the live posterior, so that the
posterior in memory always matches what was committed. One API process per database is
assumed (see docs/operations.md).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from models._internal.memory import freeze_long_lived, freezes, release_free_memory
from models.artifacts import load
from models.forecast_model import Posterior, QuestionForecast
from service.domain.inputs import evidence_of, forecast_of
from service.errors import DomainError
from service.settings import Settings
from service.store.repositories import (
    ElicitationRepository,
    EvidenceRepository,
    FitRepository,
    ForecastHistoryRepository,
)
from service.store.tables import FitRow, ForecastHistoryRow

log = logging.getLogger(__name__)


class ArtifactCorrupt(DomainError):
    status = 500
    type = "artifact-corrupt"
    title = "A posterior artifact does not match its recorded sha256"


def state_key(posterior: Posterior) -> str:
    """Names what a live posterior holds: its fit and the updates on it, by content (after
    a retraction the chain is rebuilt, and may come back to as many updates as before with
    other ones in it)."""
    updates = hashlib.sha256("\n".join(posterior.updates).encode()).hexdigest()[:16]
    return f"{posterior.fit_id}+{len(posterior.updates)}+{updates}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_artifact_path(settings: Settings, recorded: str) -> Path:
    """A fit's recorded artifact path (relative ones are under the data directory)."""
    path = Path(recorded)
    return path if path.is_absolute() else settings.data_dir / path


def check_artifact(path: Path, sha256: str | None) -> None:
    """Refuse a posterior file whose sha256 differs from the one recorded at fit time."""
    if sha256 and sha256_of(path) != sha256:
        raise ArtifactCorrupt(f"{path}: sha256 differs from the one recorded for its fit")


@dataclass
class Change:
    """A forecast change to persist: the new forecast and its cause."""

    forecast: QuestionForecast
    cause_type: str
    cause_id: str


class LiveForecasts:
    """The current posterior of this process, guarded by one lock."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session]) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.lock = threading.RLock()
        self.base: Posterior | None = None
        self.current: Posterior | None = None
        #: Evidence in the base fit that was retracted since: only a refit removes it.
        self.stale_evidence: set[str] = set()
        #: Published fits whose artifact could not be loaded (logged once, not retried).
        self.unloadable: set[str] = set()
        #: ``freezes()`` when the base was loaded: if it moved, the base may be frozen.
        self.freezes_at_load = freezes()

    @property
    def fit_id(self) -> str | None:
        return None if self.base is None else self.base.fit_id

    def knows(self, question_id: str) -> bool:
        return self.current is not None and question_id in self.current.question_ids

    # -- picking up fits ---------------------------------------------------------------
    def refresh(self) -> bool:
        """Load the latest published fit if it is newer than ours; True if it changed."""
        with self.session_factory() as session:
            latest = FitRepository(session).get_latest_published()
            if latest is None or latest.id == self.fit_id or latest.id in self.unloadable:
                return False
        with self.lock, self.session_factory() as session:
            latest = FitRepository(session).get_latest_published()
            if latest is None or latest.id == self.fit_id or latest.id in self.unloadable:
                return False
            try:
                base = self._load_artifact(latest)
            except Exception:
                self.unloadable.add(latest.id)
                log.exception("cannot load fit %s; keeping %s", latest.id, self.fit_id)
                return False
            current = self.replay(session, base)
            now = datetime.now(UTC)
            if not ForecastHistoryRepository(session).exists_for_fit_cause(base.fit_id):
                forecasts = current.predict(current.question_ids)
                self.write_history(
                    session,
                    current,
                    [Change(f, "fit", base.fit_id) for f in forecasts],
                    now,
                )
            session.commit()
            self.base, self.current = base, current
            log.info("loaded published fit %s", base.fit_id)
        # The posteriors replaced are trees of objects pointing at each other: collected
        # and handed back now, not at the garbage collector's next full pass. If anything
        # froze since they were loaded (a compilation, or the last swap), they may be
        # frozen: thawed, collected, and the survivors frozen again (a full pass over every
        # object); otherwise a collection of what is not frozen does (milliseconds).
        may_be_frozen = freezes() != self.freezes_at_load
        self.freezes_at_load = freezes()  # before the freeze below, which then counts
        if may_be_frozen:
            freeze_long_lived()
            release_free_memory(collect=False)
        else:
            release_free_memory()
        return True

    def _load_artifact(self, row: FitRow) -> Posterior:
        assert row.artifact_path is not None
        path = resolve_artifact_path(self.settings, row.artifact_path)
        check_artifact(path, row.artifact_sha256)
        return load(path)

    def replay(self, session: Session, base: Posterior) -> Posterior:
        """Apply to ``base`` every elicitation and evidence item in force that it lacks."""
        in_fit_forecasts = {f.id for f in base.data.forecasts}
        in_fit_evidence = {e.id for e in base.data.evidence}
        known = set(base.question_ids)
        current = base
        eps = base.config.probability_eps
        pending: list[tuple[datetime, str, object]] = []
        for el in ElicitationRepository(session).list_on_questions_not_annulled_in_creation_order():
            if el.id not in in_fit_forecasts and el.question_id in known:
                pending.append((el.created_at, el.id, forecast_of(el, eps)))
        retained = set()
        for ev, effects in EvidenceRepository(
            session
        ).list_not_retracted_with_effects_in_creation_order():
            retained.add(ev.id)
            kept = [e for e in effects if e.question_id in known]
            if ev.id not in in_fit_evidence and kept:
                pending.append((ev.created_at, ev.id, evidence_of(ev, kept)))
        self.stale_evidence = in_fit_evidence - retained
        for _, _, item in sorted(pending, key=lambda x: (x[0], x[1])):
            if hasattr(item, "effects"):
                current = current.with_evidence(item)  # type: ignore[arg-type]
            else:
                current = current.with_forecast(item)  # type: ignore[arg-type]
        return current

    # -- history ------------------------------------------------------------------------
    def write_history(
        self,
        session: Session,
        posterior: Posterior,
        changes: list[Change],
        now: datetime,
    ) -> list[ForecastHistoryRow]:
        repo = ForecastHistoryRepository(session)
        previous = repo.get_latest_of_questions([c.forecast.question_id for c in changes])
        rows = []
        for c in changes:
            f = c.forecast
            before = previous.get(f.question_id)
            rows.append(
                ForecastHistoryRow(
                    question_id=f.question_id,
                    probability=f.probability,
                    previous_probability=None if before is None else before.probability,
                    interval_low=f.interval[0],
                    interval_high=f.interval[1],
                    interval_prob=f.interval_prob,
                    median=f.median,
                    contentious=f.contentious,
                    tier=posterior.tier,
                    fit_id=posterior.fit_id,
                    khat=posterior.khat,
                    computed_at=now,
                    as_of=f.as_of,
                    cause_type=c.cause_type,
                    cause_id=c.cause_id,
                )
            )
        repo.add_all(rows)
        return rows
