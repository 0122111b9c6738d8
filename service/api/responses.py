"""Small response helpers shared by the routers: ETags and stored write responses."""

from __future__ import annotations

import hashlib
import json

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


def _client_has(request: Request, etag: str) -> bool:
    match = request.headers.get("if-none-match")
    if not match:
        return False
    return match.strip() == "*" or etag in [m.strip() for m in match.split(",")]


def etagged(request: Request, body: object, etag: str) -> Response:
    """200 with the ETag, or 304 when the client already has this version."""
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _client_has(request, etag):
        return Response(status_code=304, headers=headers)
    return JSONResponse(body, headers=headers)


def csv_download(request: Request, text: str, filename: str, etag: str) -> Response:
    """A CSV as a download named ``filename``, with the ETag (304 when the client has it)."""
    headers = {
        "ETag": etag,
        "Cache-Control": "no-cache",
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    if _client_has(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


def content_etag(kind: str, body: object) -> str:
    """An ETag of a JSON body itself: any change of what it says (a retraction, a new item on
    a page, another `next`) changes it."""
    blob = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return f'"{kind}-{hashlib.sha256(blob).hexdigest()[:32]}"'


def etagged_content(request: Request, kind: str, body: object) -> Response:
    """``etagged`` with the ETag of the body (``content_etag``)."""
    return etagged(request, body, content_etag(kind, body))


def written(result: WriteResponse) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return JSONResponse(result.body, status_code=result.status, headers=headers)
