"""Cursor pages of the list endpoints: a cursor is the id of the last item of the previous
page, and a page is read one row long to know whether another follows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from service.errors import InvalidInput


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


def invalid_cursor(cursor: str, of: str = "") -> InvalidInput:
    """The 422 of a cursor that no `next` gave (``of``: which list's pages, when a cursor of
    another list would also be a row id)."""
    return InvalidInput.at(
        ["query", "cursor"],
        f"invalid cursor {cursor[:200]!r}: pass the `next` of the previous page{of} as it "
        "was returned, or leave cursor out for the first page",
    )


def page_and_next[Row: _HasId](rows: Sequence[Row], limit: int) -> tuple[Sequence[Row], str | None]:
    """``rows`` read ``limit + 1`` long: the page, and the cursor of the next (None: last)."""
    page = rows[:limit]
    return page, page[-1].id if len(rows) > limit and page else None
