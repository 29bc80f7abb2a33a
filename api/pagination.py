"""One page shape for every list: ``{"count", "limit", "offset", "next", "items"}``.

``limit`` is at most MAX_LIMIT; ``next`` is the URL of the following page, or null on the last one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from django.utils.http import urlencode
from ninja import Field, Schema

MAX_LIMIT = 100
DEFAULT_LIMIT = 50
MAX_OFFSET = 1_000_000_000

T = TypeVar("T")


class PageParams(Schema):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"items per page, at most {MAX_LIMIT}")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="how many items to skip")


class Page(Schema, Generic[T]):
    count: int
    limit: int
    offset: int
    next: str | None
    items: list[T]


def paginate(request, items, params: PageParams, convert: Callable = lambda item: item) -> dict:
    """One page of ``items`` (a queryset, or a list), each passed through ``convert``."""
    count = items.count() if hasattr(items, "count") and not isinstance(items, Sequence) else len(items)
    chosen = items[params.offset : params.offset + params.limit] if params.offset < count else []
    following = params.offset + params.limit
    next_url = None
    if following < count:
        query = request.GET.copy()
        query["offset"], query["limit"] = str(following), str(params.limit)
        next_url = request.build_absolute_uri(f"{request.path}?{urlencode(sorted(query.items()))}")
    return {
        "count": count,
        "limit": params.limit,
        "offset": params.offset,
        "next": next_url,
        "items": [convert(item) for item in chosen],
    }
