"""One transaction per write, with its Idempotency-Key, under the live-state lock."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from sqlalchemy.orm import Session

from models.forecast_model import Posterior
from service.domain.keys import Principal
from service.errors import IdempotencyMismatch, field_error
from service.live import LiveForecasts
from service.store.repositories import IdempotencyRepository
from service.store.tables import IdempotencyRow


@dataclass
class WriteResult:
    payload: BaseModel
    #: The live posterior after this write (None: unchanged).
    posterior: Posterior | None = None
    #: Replace the base fit's retracted-evidence set (None: unchanged).
    stale_evidence: set[str] | None = None


@dataclass
class WriteResponse:
    status: int
    body: Any
    replayed: bool = False


def request_fingerprint(method: str, path: str, body: BaseModel | None) -> str:
    blob = json.dumps(
        {
            "method": method,
            "path": path,
            "body": None if body is None else body.model_dump(mode="json"),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def perform_write(
    session: Session,
    live: LiveForecasts,
    principal: Principal,
    idempotency_key: str | None,
    method: str,
    path: str,
    body: BaseModel | None,
    status: int,
    work: Callable[[], WriteResult],
) -> WriteResponse:
    """Run ``work`` and commit it, storing the response under the Idempotency-Key if any.

    A retried post with the same key and body gets the stored response; with another body,
    a 422. Nothing is committed if ``work`` raises.
    """
    fingerprint = request_fingerprint(method, path, body)
    repo = IdempotencyRepository(session)
    with live.lock:
        if idempotency_key:
            seen = repo.get_by_principal_and_key(str(principal.key_id), idempotency_key)
            if seen is not None:
                if seen.request_sha256 != fingerprint:
                    msg = (
                        f"Idempotency-Key {idempotency_key!r} was used for a different request "
                        f"({seen.method} {seen.path}); use a new key for a new request"
                    )
                    raise IdempotencyMismatch(
                        msg, errors=[field_error(["header", "Idempotency-Key"], msg)]
                    )
                return WriteResponse(seen.status_code, json.loads(seen.response), replayed=True)
        try:
            result = work()
            payload = jsonable_encoder(result.payload)
            if idempotency_key:
                repo.add(
                    IdempotencyRow(
                        principal=str(principal.key_id),
                        key=idempotency_key,
                        method=method,
                        path=path,
                        request_sha256=fingerprint,
                        status_code=status,
                        response=json.dumps(payload),
                    )
                )
            session.commit()
        except BaseException:
            session.rollback()
            raise
        if result.posterior is not None:
            live.current = result.posterior
        if result.stale_evidence is not None:
            live.stale_evidence = result.stale_evidence
    return WriteResponse(status, payload)
