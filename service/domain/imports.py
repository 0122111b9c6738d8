"""Loading a forecasts CSV (../shared/data/README.md's format) into the service's database:
its questions, each forecaster's latest forecast on each as an elicitation, and its outcomes
as resolutions, in one transaction, then one refit.

This is how the served model learns from a record of resolved questions what ``helsinki fit
--history FILE`` learns from it: the same forecasts (each forecaster's latest per question,
a bare probability clipped as the model clips it) and outcomes. A forecaster in the file is
the forecaster of that name in the service (the name of their API key), so their record
weighs their next elicitations.

Decisions (docs/operations.md, "Importing a record of forecasts"):

- Question ids become slugs (lowercase letters, digits, single hyphens), after an optional
  prefix; two ids of the file that would become the same slug both get a short hash of
  their original id. The title holds the original id; the group is the file's, as a slug.
- The file has no resolution times: a resolved question is recorded as resolved at its
  newest forecast in the file (where the model reads it), and opens at its first one.
- Importing is idempotent: a question already imported with the same group and outcome is
  kept, an elicitation already there (its id is a hash of question, forecaster, time and
  probability) is skipped. A question id that exists with another origin, group or status
  is a conflict, and nothing is written.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from models.elicitation import fit_probability
from models.history import ForecastTable
from service.jobs.queue import enqueue_refit
from service.store.repositories import ElicitationRepository, QuestionRepository
from service.store.tables import ElicitationRow, QuestionRow

#: ``created_by`` of the questions and elicitations an import writes: ``import:<file name>``.
IMPORT_AUTHOR_PREFIX = "import:"
#: The longest id the service stores (questions.id is 120 characters).
MAX_ID = 120
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


class ImportConflict(Exception):
    """The file's questions clash with questions already in the database; nothing written."""

    def __init__(self, conflicts: Sequence[str]) -> None:
        self.conflicts = list(conflicts)
        shown = "; ".join(self.conflicts[:5])
        more = f" (and {len(self.conflicts) - 5} more)" if len(self.conflicts) > 5 else ""
        super().__init__(
            f"{len(self.conflicts)} question(s) of the file clash with the database, so "
            f"nothing was written: {shown}{more}"
        )


def slug(text: str) -> str:
    """``text`` as a slug: lowercase letters and digits, runs of anything else one hyphen."""
    return _NOT_SLUG.sub("-", text.lower()).strip("-")


def _short_hash(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def question_slugs(question_ids: Sequence[str], prefix: str = "") -> dict[str, str]:
    """The service id of each of the file's question ids: ``prefix`` + its slug, with a short
    hash of the original id where two ids share a slug, or the slug is empty or too long."""
    head = f"{slug(prefix)}-" if slug(prefix) else ""
    plain = {q: head + slug(q) for q in question_ids}
    seen: dict[str, int] = {}
    for s in plain.values():
        seen[s] = seen.get(s, 0) + 1
    out = {}
    for q, s in plain.items():
        if seen[s] > 1 or not slug(q) or len(s) > MAX_ID:
            tail = "-" + _short_hash(q)
            s = (s[: MAX_ID - len(tail)].rstrip("-") or head.rstrip("-") or "q") + tail
        out[q] = s
    return out


def _criteria(source: str, original: str) -> str:
    """An imported question's resolution criteria, which also say where it came from."""
    return f"Imported from {source}, where it is question {original!r}."


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@dataclass
class ImportReport:
    """What an import wrote, and what it found there already."""

    source: str
    rows: int
    skipped_bad_rows: int
    earlier_forecasts_dropped: int
    questions_added: int = 0
    questions_already_there: int = 0
    resolved_added: int = 0
    elicitations_added: int = 0
    elicitations_already_there: int = 0
    forecasters: int = 0
    refit_job_id: int | None = None
    dry_run: bool = False
    ids: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "rows": self.rows,
            "skipped_bad_rows": self.skipped_bad_rows,
            "earlier_forecasts_dropped": self.earlier_forecasts_dropped,
            "questions_added": self.questions_added,
            "questions_already_there": self.questions_already_there,
            "resolved_added": self.resolved_added,
            "elicitations_added": self.elicitations_added,
            "elicitations_already_there": self.elicitations_already_there,
            "forecasters": self.forecasters,
            "refit_job_id": self.refit_job_id,
            "dry_run": self.dry_run,
        }


def import_forecasts(
    session: Session,
    table: ForecastTable,
    *,
    eps: float,
    prefix: str = "",
    dry_run: bool = False,
) -> ImportReport:
    """Write ``table`` (as read by ``models.history.read_forecasts_csv``) into the database
    in the caller's transaction, and queue one refit if anything was added. Raises
    ``ImportConflict`` (before writing anything) where a question id is taken."""
    source = Path(table.source).name or "forecasts.csv"
    author = IMPORT_AUTHOR_PREFIX + source
    latest = table.latest_per_forecaster()
    report = ImportReport(
        source=source,
        rows=table.n_forecasts,
        skipped_bad_rows=table.skipped,
        earlier_forecasts_dropped=table.n_forecasts - latest.n_forecasts,
        dry_run=dry_run,
        forecasters=len(set(latest.forecaster.tolist())),
    )
    ids = question_slugs(latest.question_ids, prefix)
    report.ids = ids
    # Every forecast of the file counts for when a question opened, not only the kept ones.
    times: dict[int, list[float]] = {}
    for qi, t in zip(table.question.tolist(), table.created_at.tolist(), strict=True):
        times.setdefault(qi, []).append(t)

    questions = QuestionRepository(session)
    # The same file imported before under another prefix: its questions' criteria name the
    # file and the original id, so they are found whatever ids they were given.
    imported_as = questions.get_ids_by_criteria_of_questions_created_by(author)
    existing = questions.get_by_ids(list(ids.values()))
    conflicts: list[str] = []
    new_questions: list[QuestionRow] = []
    for qi, original in enumerate(latest.question_ids):
        if qi not in times:
            continue  # every row of the question was a bad row
        qid, group = ids[original], slug(str(latest.group[qi])) or "default"
        outcome = latest.outcome[qi]
        status = "open" if math.isnan(outcome) else "resolved"
        criteria = _criteria(source, original)
        earlier = imported_as.get(criteria)
        if earlier is not None and earlier != qid:
            conflicts.append(
                f"{original!r} was imported from {source} before as {earlier!r}: import the "
                "file again with the prefix it had then"
            )
            continue
        row = existing.get(qid)
        if row is not None:
            same = (
                row.created_by == author
                and row.group == group
                and row.status == status
                and (status == "open" or row.outcome == int(outcome))
            )
            if same:
                report.questions_already_there += 1
            else:
                conflicts.append(
                    f"{qid!r} (from {original!r}) is already a question "
                    f"(created by {row.created_by}, group {row.group}, {row.status}): import "
                    "under another --prefix"
                )
            continue
        first, newest = _utc(min(times[qi])), _utc(max(times[qi]))
        resolved = status == "resolved"
        new_questions.append(
            QuestionRow(
                id=qid,
                title=f"{original} (imported from {source})"[:500],
                group=group,
                resolution_criteria=criteria,
                opens_at=first,
                resolves_at=None,
                status=status,
                outcome=int(outcome) if resolved else None,
                resolved_at=newest if resolved else None,
                resolved_by=author if resolved else None,
                created_by=author,
            )
        )
        report.resolved_added += int(resolved)
    if conflicts:
        raise ImportConflict(conflicts)

    elicitations: list[ElicitationRow] = []
    for qi, fi, p, t in zip(
        latest.question.tolist(),
        latest.forecaster.tolist(),
        latest.probability.tolist(),
        latest.created_at.tolist(),
        strict=True,
    ):
        qid, who, when = ids[latest.question_ids[qi]], latest.forecaster_ids[fi], _utc(t)
        fit = fit_probability(min(max(p, eps), 1.0 - eps), None)
        key = f"{qid}|{who}|{when.isoformat()}|{p!r}"
        elicitations.append(
            ElicitationRow(
                id=f"imp-{_short_hash(key, 24)}",
                question_id=qid,
                forecaster_id=who,
                created_at=when,
                probability=p,
                logit_mean=float(fit.logit_mean),
                logit_sd=float(fit.logit_sd),
                fitted=fit.to_dict(),
                source="import",
                created_by=author,
            )
        )
    there = ElicitationRepository(session).list_existing_ids([e.id for e in elicitations])
    fresh = [e for e in elicitations if e.id not in there]
    report.questions_added = len(new_questions)
    report.elicitations_added = len(fresh)
    report.elicitations_already_there = len(elicitations) - len(fresh)
    if dry_run or not (new_questions or fresh):
        return report
    session.add_all(new_questions)
    session.flush()
    session.add_all(fresh)
    session.flush()
    report.refit_job_id = enqueue_refit(session, f"import:{source}", author)
    return report
