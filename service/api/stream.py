"""/v1/stream: Server-Sent Events of forecast changes, resumable with Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from service.api.deps import ReaderDep
from service.schemas.times import utc_text
from service.store.repositories import ForecastHistoryRepository
from service.store.tables import ForecastHistoryRow

router = APIRouter(tags=["forecasts"])


def _event(row: ForecastHistoryRow) -> str:
    data = {
        "question_id": row.question_id,
        "old_probability": row.previous_probability,
        "new_probability": row.probability,
        "interval": [row.interval_low, row.interval_high],
        "interval_prob": row.interval_prob,
        "contentious": row.contentious,
        "tier": row.tier,
        "fit_id": row.fit_id,
        "computed_at": utc_text(row.computed_at),
        "as_of": None if row.as_of is None else utc_text(row.as_of),
        "cause": {"type": row.cause_type, "id": row.cause_id},
    }
    return f"id: {row.id}\nevent: forecast\ndata: {json.dumps(data)}\n\n"


@router.get("/v1/stream", response_class=StreamingResponse)
async def stream(
    request: Request,
    _: ReaderDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    since: Annotated[int | None, Query(description="event id to resume after")] = None,
) -> StreamingResponse:
    """Forecast changes as they are persisted; reconnect with Last-Event-ID to resume."""
    session_factory = request.app.state.session_factory
    poll = request.app.state.settings.poll_seconds

    def read_after(after: int) -> list[str]:
        with session_factory() as session:
            return [_event(r) for r in ForecastHistoryRepository(session).list_after_id(after, 500)]

    def newest() -> int:
        with session_factory() as session:
            return ForecastHistoryRepository(session).get_max_id()

    start: int | None = since
    if last_event_id is not None and last_event_id.strip().isdigit():
        start = int(last_event_id.strip())
    after = start if start is not None else await run_in_threadpool(newest)

    async def events() -> AsyncIterator[str]:
        nonlocal after
        yield f"retry: {int(poll * 1000)}\n: connected, after event {after}\n\n"
        idle = 0.0
        while not await request.is_disconnected():
            batch = await run_in_threadpool(read_after, after)
            for text in batch:
                after = int(text.split("\n", 1)[0].removeprefix("id: "))
                yield text
            if batch:
                idle = 0.0
                continue
            await asyncio.sleep(min(poll, 0.5))
            idle += min(poll, 0.5)
            if idle >= 15:
                idle = 0.0
                yield ": keep-alive\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
