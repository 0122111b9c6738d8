"""First start: the priors catalog's questions and elicitations into the database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from models.catalog import load_catalog
from models.elicitation import fit_probability, fit_quantiles
from service.store.repositories import ElicitationRepository, QuestionRepository
from service.store.tables import ElicitationRow, QuestionRow

CATALOG_AUTHOR = "catalog"


def load_catalog_into_empty_database(session: Session, priors_dir: Path) -> int:
    """Insert the catalog if the database has no question yet; returns questions added."""
    questions = QuestionRepository(session)
    if questions.count_all() > 0:
        return 0
    catalog = load_catalog(priors_dir)
    for q in catalog.questions:
        questions.add(
            QuestionRow(
                id=q.id,
                title=q.title,
                group=q.group,
                resolution_criteria=q.resolution_criteria,
                opens_at=q.opens_at_utc(),
                resolves_at=q.resolves_at_utc(),
                status="open",
                created_by=CATALOG_AUTHOR,
            )
        )
    elicitations = ElicitationRepository(session)
    for e in catalog.elicitations:
        quantiles = None if e.quantiles is None else {f"{k:g}": v for k, v in e.quantiles}
        fit = (
            fit_quantiles(dict(e.quantiles))
            if e.quantiles is not None
            else fit_probability(float(e.probability or 0.0), e.confidence)
        )
        elicitations.add(
            ElicitationRow(
                id=e.id,
                question_id=e.question_id,
                forecaster_id=e.forecaster_id,
                created_at=e.created_at,
                probability=e.probability,
                confidence=e.confidence,
                quantiles=quantiles,
                logit_mean=float(fit.logit_mean),
                logit_sd=float(fit.logit_sd),
                fitted=fit.to_dict(),
                source=f"catalog:{e.source}",
                created_by=CATALOG_AUTHOR,
            )
        )
    session.commit()
    return len(catalog.questions)
