"""Pure state of the index browser: page arithmetic and sort order (no widgets, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from s3explore._errors import ConfigurationError


def check_page_size(page_size: Any) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ConfigurationError(f"page_size must be a whole number >= 1, got {page_size!r}")
    return page_size


@dataclass(frozen=True)
class Pager:
    """Which rows one page shows. ``page`` counts from 1, as the browser displays it."""

    total: int
    page_size: int = 25
    page: int = 1

    def __post_init__(self) -> None:
        check_page_size(self.page_size)
        if isinstance(self.total, bool) or not isinstance(self.total, int) or self.total < 0:
            raise ConfigurationError(f"total must be a whole number >= 0, got {self.total!r}")
        if isinstance(self.page, bool) or not isinstance(self.page, int):
            raise ConfigurationError(f"page must be a whole number, got {self.page!r}")

    @property
    def page_count(self) -> int:
        """Pages needed for ``total`` rows; an empty result still has one (empty) page."""
        return max(1, -(-self.total // self.page_size))

    @property
    def skip(self) -> int:
        return (self.page - 1) * self.page_size

    @property
    def limit(self) -> int:
        return self.page_size

    @property
    def first_row(self) -> int:
        """1-based number of the first row shown; 0 when the page is empty."""
        return self.skip + 1 if self.skip < self.total else 0

    @property
    def last_row(self) -> int:
        return min(self.skip + self.page_size, self.total)

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.page_count

    def clamp(self) -> Pager:
        """The same pager with ``page`` moved into ``1..page_count``."""
        return replace(self, page=min(max(self.page, 1), self.page_count))

    def go(self, page: int) -> Pager:
        return replace(self, page=page).clamp()

    def next(self) -> Pager:
        return self.go(self.page + 1)

    def prev(self) -> Pager:
        return self.go(self.page - 1)

    def with_total(self, total: int) -> Pager:
        return replace(self, total=total).clamp()

    def with_page_size(self, page_size: int) -> Pager:
        """A new page size, on the page that holds the current first row."""
        check_page_size(page_size)
        return replace(self, page_size=page_size, page=self.skip // page_size + 1).clamp()

    def describe(self) -> str:
        if not self.total:
            return "no rows"
        return (f"rows {self.first_row}\u2013{self.last_row} of {self.total} \u00b7 "
                f"page {self.page} of {self.page_count}")


@dataclass(frozen=True)
class SortState:
    """Sort order as ``(field, direction)`` pairs; a header click toggles one field."""

    pairs: tuple[tuple[str, int], ...] = ()

    @classmethod
    def from_sort(cls, sort: Mapping[str, int] | None) -> SortState:
        if not sort:
            return cls()
        if not isinstance(sort, Mapping):
            raise ConfigurationError(f"sort must be a dict like {{'nsites': -1}}, got {sort!r}")
        pairs = []
        for field, direction in sort.items():
            value = getattr(direction, "value", direction)  # maggma's Sort enum
            if value not in (1, -1) or isinstance(value, bool):
                raise ConfigurationError(
                    f"sort direction for {field!r} must be 1 or -1, got {direction!r}")
            pairs.append((str(field), int(value)))
        return cls(tuple(pairs))

    def direction(self, field: str) -> int | None:
        """1 or -1 when ``field`` leads the order, else None."""
        if self.pairs and self.pairs[0][0] == field:
            return self.pairs[0][1]
        return None

    def toggle(self, field: str) -> SortState:
        """Ascending, then descending, then unsorted."""
        current = self.direction(field)
        if current is None:
            return SortState(((field, 1),))
        if current == 1:
            return SortState(((field, -1),))
        return SortState()

    def as_sort(self, key: str | None = None) -> dict[str, int] | None:
        """The Mongo sort dict; ``key`` is added last so equal values page stably."""
        if not self.pairs:
            return None
        sort = dict(self.pairs)
        if key is not None:
            sort.setdefault(key, 1)
        return sort

