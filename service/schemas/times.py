"""Times: inputs read as UTC, the clock skew tolerated, and times written as the JSON API
writes them (ISO 8601 with ``Z``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, TypeAdapter

#: A time this far past the server's clock still counts as "now" (clients' clocks drift).
CLOCK_SKEW = timedelta(minutes=5)

_DATETIME = TypeAdapter(datetime)


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (a time without a zone is taken to be UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: A time as input: read as UTC (no zone means UTC), so that it is stored, compared and
#: echoed back in UTC (``Z``) whatever offset it was written with.
UtcDatetime = Annotated[datetime, AfterValidator(utc)]


def is_in_the_future(value: datetime) -> bool:
    """Later than now, beyond the tolerated clock skew."""
    return utc(value) > datetime.now(UTC) + CLOCK_SKEW


def utc_text(value: datetime) -> str:
    """``value`` in UTC as the JSON API writes it, e.g. ``2026-11-25T14:00:00.123456Z``."""
    text: str = _DATETIME.dump_python(utc(value), mode="json")
    return text
