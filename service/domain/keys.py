"""API keys: random 32-byte tokens, stored as HMAC-SHA256 with the service secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.orm import Session

from service.settings import Settings
from service.store.repositories import ApiKeyRepository
from service.store.tables import ApiKeyRow

Role = Literal["reader", "forecaster", "admin"]
ROLES: tuple[Role, ...] = ("reader", "forecaster", "admin")
KEY_PREFIX = "hk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key's id, name and role (anonymous has id 0)."""

    key_id: int
    name: str
    role: Role | None

    def may(self, role: Role) -> bool:
        return self.role is not None and ROLES.index(self.role) >= ROLES.index(role)

    @property
    def label(self) -> str:
        """What a write records as its author."""
        return self.name


ANONYMOUS = Principal(0, "anonymous", None)


def hash_key(settings: Settings, key: str) -> str:
    return hmac.new(settings.secret_key.encode(), key.encode(), hashlib.sha256).hexdigest()


def create_api_key(session: Session, settings: Settings, role: Role, name: str) -> str:
    """Store a new key and return it; it is shown once and cannot be recovered."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    ApiKeyRepository(session).add(ApiKeyRow(name=name, role=role, key_hash=hash_key(settings, key)))
    session.commit()
    return key


def principal_of_key(session: Session, settings: Settings, key: str) -> Principal | None:
    row = ApiKeyRepository(session).get_active_by_hash(hash_key(settings, key))
    if row is None:
        return None
    return Principal(row.id, row.name, row.role)  # type: ignore[arg-type]


@dataclass(frozen=True)
class KeyInfo:
    """What an operator may see of a key: never the key itself (only its hash is stored)."""

    id: int
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None


def list_api_keys(session: Session) -> list[KeyInfo]:
    """Every key ever created, oldest first, revoked ones included."""
    return [
        KeyInfo(r.id, r.name, r.role, r.created_at, r.revoked_at)
        for r in ApiKeyRepository(session).list_all()
    ]


def revoke_api_key(session: Session, key_id: int) -> KeyInfo:
    """Revoke a key at once: its next request is anonymous. Revoking twice keeps the first time.

    Raises ``LookupError`` if no key has this id.
    """
    row = ApiKeyRepository(session).get_by_id(key_id)
    if row is None:
        raise LookupError(f"no API key with id {key_id}; `helsinki keys list` shows them")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.commit()
    return KeyInfo(row.id, row.name, row.role, row.created_at, row.revoked_at)
