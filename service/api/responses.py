"""Small response helpers shared by the routers: ETags and stored write responses."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from service.domain.writes import WriteResponse
from service.errors import PROBLEM

#: Error responses documented on every route (problem+json).
PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"description": text, "content": {PROBLEM: {}}}
    for code, text in (
        (400, "malformed JSON"),
        (401, "missing or unknown API key"),
        (403, "the key's role may not do this"),
        (404, "unknown resource"),
        (409, "the question is resolved or annulled"),
        (413, "body too large"),
        (422, "invalid input (with `errors`)"),
    )
}

#: ...and on the routers that take JSON writes (``deps.require_json_body``).
WRITE_PROBLEMS: dict[int | str, dict[str, object]] = {
    **PROBLEMS,
    415: {
        "description": "a write's body not sent as `Content-Type: application/json`",
        "content": {PROBLEM: {}},
    },
}


def etagged(request: Request, body: object, etag: str) -> Response:
    """200 with the ETag, or 304 when the client already has this version."""
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    match = request.headers.get("if-none-match")
    if match and (match.strip() == "*" or etag in [m.strip() for m in match.split(",")]):
        return Response(status_code=304, headers=headers)
    return JSONResponse(body, headers=headers)


def written(result: WriteResponse) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return JSONResponse(result.body, status_code=result.status, headers=headers)
