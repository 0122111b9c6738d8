"""Domain errors -> HTTP status; one handler writes RFC 9457 problem+json for all of them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.exceptions import DataError
from service.schemas.jsonable import json_safe

PROBLEM = "application/problem+json"
TYPE_BASE = "https://helsinki.example/problems/"


class DomainError(Exception):
    """Base of every error the service raises on purpose: a status, a type, a title."""

    status = 400
    type = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors


class InvalidInput(DomainError):
    status = 422
    type = "invalid-input"
    title = "The request is not valid"

    @classmethod
    def at(cls, loc: Sequence[str | int], msg: str) -> InvalidInput:
        """One invalid field (``loc`` as in a validation error, e.g. ``["query", "at"]``),
        with the same ``errors`` entry and detail a validation error would have."""
        return cls(f"{_where(list(loc))}: {msg}", errors=[field_error(loc, msg)])


class UnsupportedMediaType(DomainError):
    status = 415
    type = "unsupported-media-type"
    title = "The body must be JSON"


class NotFound(DomainError):
    status = 404
    type = "not-found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    type = "conflict"
    title = "Conflict with the current state"


class NotAuthenticated(DomainError):
    status = 401
    type = "not-authenticated"
    title = "An API key is needed"


class Forbidden(DomainError):
    status = 403
    type = "forbidden"
    title = "This API key's role may not do this"


class NoPublishedFit(DomainError):
    status = 503
    type = "no-published-fit"
    title = "No forecast yet"


class IdempotencyMismatch(DomainError):
    status = 422
    type = "idempotency-key-reused"
    title = "Idempotency-Key reused with a different request"


def problem(
    status: int,
    type_: str,
    title: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    content: dict[str, Any] = {
        "type": TYPE_BASE + type_,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        content["errors"] = errors
    return JSONResponse(content, status_code=status, media_type=PROBLEM, headers=headers)


def field_error(loc: Sequence[str | int], msg: str) -> dict[str, Any]:
    """One entry of a problem's ``errors``, shaped as a validation error's."""
    return {"loc": list(loc), "msg": msg, "type": "value_error"}


def _where(loc: list[Any]) -> str:
    return ".".join(str(p) for p in loc if p != "body") or "body"


async def handle_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    errors = exc.errors
    if errors is None and exc.status == 422:
        # docs/api.md promises `errors` on every 422.
        errors = [field_error([], str(exc))]
    return problem(exc.status, exc.type, exc.title, str(exc), errors, headers)


async def handle_model_data_error(request: Request, exc: Exception) -> JSONResponse:
    # The modelling core checks the maths (probabilities, quantiles, likelihood ratios).
    errors = [{"loc": ["body"], "msg": str(exc), "type": "value_error"}]
    return problem(422, InvalidInput.type, InvalidInput.title, str(exc), errors)


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": json_safe(list(e.get("loc", ()))),
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        return problem(
            400,
            "malformed-json",
            "The body is not valid JSON",
            "send a JSON object with Content-Type: application/json; "
            + "; ".join(f"{e['msg']} at {e['loc']}" for e in errors),
            errors,
        )
    detail = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in errors)
    return problem(422, InvalidInput.type, InvalidInput.title, detail, errors)


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(
        exc.status_code,
        f"http-{exc.status_code}",
        str(exc.detail),
        str(exc.detail),
        headers=dict(exc.headers or {}),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, handle_domain_error)
    app.add_exception_handler(DataError, handle_model_data_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
