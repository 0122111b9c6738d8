"""Dependencies as Annotated aliases: the session, settings, live state, and who is calling."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from service.domain.keys import ANONYMOUS, Principal, Role, principal_of_key
from service.errors import Forbidden, InvalidInput, NotAuthenticated, UnsupportedMediaType
from service.live import LiveForecasts
from service.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.session_factory() as session:
        yield session


def get_live(request: Request) -> LiveForecasts:
    return request.app.state.live  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
LiveDep = Annotated[LiveForecasts, Depends(get_live)]


def get_principal(
    session: SessionDep,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    if not authorization:
        return ANONYMOUS
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated(
            "send the key as `Authorization: Bearer <key>`; create one with "
            "`helsinki keys create --role forecaster --name NAME`"
        )
    principal = principal_of_key(session, settings, token.strip())
    if principal is None:
        raise NotAuthenticated("this API key is unknown or revoked")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _require(role: Role):  # type: ignore[no-untyped-def]
    def check(principal: PrincipalDep) -> Principal:
        if principal.role is None:
            raise NotAuthenticated(
                f"this needs an API key with role {role} or higher: "
                "send `Authorization: Bearer <key>`"
            )
        if not principal.may(role):
            raise Forbidden(f"this needs role {role} or higher; your key has role {principal.role}")
        return principal

    return check


def get_reader(principal: PrincipalDep, settings: SettingsDep) -> Principal:
    if settings.public_reads:
        return principal
    return _require("reader")(principal)  # type: ignore[no-any-return]


ReaderDep = Annotated[Principal, Depends(get_reader)]
ForecasterDep = Annotated[Principal, Depends(_require("forecaster"))]
AdminDep = Annotated[Principal, Depends(_require("admin"))]


def get_idempotency_key(
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> str | None:
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 200:
        raise InvalidInput.at(
            ["header", "Idempotency-Key"], "must be 1 to 200 characters (a UUID is good)"
        )
    return idempotency_key


IdempotencyKeyDep = Annotated[str | None, Depends(get_idempotency_key)]


def require_json_body(request: Request) -> None:
    """A write's body declared as anything but JSON is a 415 that says which header to send
    (FastAPI would leave the body unparsed and answer a puzzling 422). No Content-Type at
    all is read as JSON, as FastAPI does."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    content_type = request.headers.get("content-type")
    if content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return
    raise UnsupportedMediaType(
        f"the body was sent as {media or 'nothing'!r}; this endpoint takes a JSON object: "
        "send it with the header `Content-Type: application/json` "
        "(curl: `--json '{...}'`, or `-H 'Content-Type: application/json' -d '{...}'`)"
    )


#: On the routers that take writes: refuse a body that is not declared as JSON.
JsonBodyDep = Depends(require_json_body)
