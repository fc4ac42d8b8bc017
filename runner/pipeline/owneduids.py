"""The server tasks this run's ledger owns, compact: a million unique_ids in ~16 MB.

Every lookup of the account's task list asks of each listed task whether it is
ours (never adopt a task the ledger holds; never report one of ours as created
twice). A Python set of a million UUID strings costs ~47 MB besides the strings;
here a UUID is two 64-bit halves in two sorted arrays (16 bytes), exact. Ids
added during the run wait in a small set, merged into the arrays in one linear
pass once it holds MERGE_AT of them; an id that is not a canonical UUID string
stays in the set.
"""

from __future__ import annotations

import uuid
from array import array
from bisect import bisect_left
from collections.abc import Container, Iterable, Iterator

MERGE_AT = 1 << 16
_LOW = (1 << 64) - 1


def _halves(uid: str) -> tuple[int, int] | None:
    """The UUID's two halves, if `uid` is a UUID exactly as str(UUID) writes it."""
    if len(uid) != 36:
        return None
    try:
        value = uuid.UUID(uid)
    except ValueError:
        return None
    if str(value) != uid:
        return None
    return value.int >> 64, value.int & _LOW


class OwnedUids:
    def __init__(self, uids: Iterable[str] = ()):
        self._high, self._low = array("Q"), array("Q")
        self._fresh: set[str] = set()
        self.update(uids)

    def __contains__(self, uid: object) -> bool:
        if not isinstance(uid, str):
            return False
        if uid in self._fresh:
            return True
        halves = _halves(uid)
        if halves is None:
            return False
        high, low = halves
        i = bisect_left(self._high, high)
        while i < len(self._high) and self._high[i] == high:
            if self._low[i] == low:
                return True
            i += 1
        return False

    def __len__(self) -> int:
        return len(self._high) + len(self._fresh)

    def add(self, uid: str) -> None:
        if uid not in self:
            self._fresh.add(uid)
            if len(self._fresh) >= MERGE_AT:
                self._merge()

    def update(self, uids: Iterable[str]) -> None:
        for uid in uids:
            self.add(uid)

    def __or__(self, other: Container[str]) -> Either:
        """Ours or `other`'s (a view: nothing is copied)."""
        return Either(self, other)

    def _merge(self) -> None:
        """Move the fresh UUIDs into the arrays: one pass, no list of every id."""
        fresh, keep = [], set()
        for uid in self._fresh:
            halves = _halves(uid)
            if halves is None:
                keep.add(uid)
            else:
                fresh.append(halves)
        fresh.sort()
        high, low = array("Q"), array("Q")
        for h, lo in _merged(self._high, self._low, fresh):
            high.append(h)
            low.append(lo)
        self._high, self._low, self._fresh = high, low, keep


def _merged(
    high: array[int], low: array[int], fresh: list[tuple[int, int]]
) -> Iterator[tuple[int, int]]:
    i, j = 0, 0
    while i < len(high) or j < len(fresh):
        if j == len(fresh) or (i < len(high) and (high[i], low[i]) <= fresh[j]):
            yield high[i], low[i]
            i += 1
        else:
            yield fresh[j]
            j += 1


class Either:
    """Is a uid in any of these (ours, another run's claim, the duplicates found)?"""

    def __init__(self, *parts: Container[str]):
        self.parts = parts

    def __contains__(self, uid: object) -> bool:
        return any(uid in part for part in self.parts)

    def __or__(self, other: Container[str]) -> Either:
        return Either(*self.parts, other)
