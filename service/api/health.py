"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from service.api.deps import LiveDep, SessionDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request, session: SessionDep, live: LiveDep) -> JSONResponse:
    """The database answers (503 if not); says which fit is loaded and the fit worker's state
    (`not_started`, `running`, `restarting`, `stopped`) with its restart count."""
    worker = request.app.state.worker.status()
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:
        return JSONResponse(
            {"status": "unavailable", "detail": str(exc), "worker": worker}, status_code=503
        )
    # Ready whatever the worker's state: reads and writes are served without it (fits wait).
    return JSONResponse({"status": "ready", "fit_id": live.fit_id, "worker": worker})


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
