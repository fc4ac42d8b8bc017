"""Where parked task details are read from (rundir.parking holds them).

A parked record (taskrecord) keeps an int: `(offset << SHELF_BITS) | shelf id`.
The shelf is found by its id while it lives (a weak reference: a record that
outlives its replay cannot read its detail any more, and says so).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from runner.taskdetail import NO_DETAIL, TaskDetail


class Shelf(Protocol):
    """Where parked details are (rundir.parking.Shelf)."""

    def read(self, ref: int) -> TaskDetail:
        """The parked detail (shared with other readers: never change it)."""

    def unpark(self, rec: Any, ref: int) -> TaskDetail:
        """The parked detail as a new object of `rec`'s own (a TaskRecord), to be changed."""


SHELF_BITS = 16  # a parked detail is (offset << SHELF_BITS) | the id of its shelf
_shelves: dict[int, Callable[[], Shelf | None]] = {}  # id -> weak reference to the shelf


# The parked detail read last (its ref, the detail): a shelf empties it whenever a
# ref may come to mean another line (`forget_last_read`).
class _LastRead:
    __slots__ = ("detail", "ref")
    ref: int
    detail: TaskDetail

    def __init__(self) -> None:
        self.ref, self.detail = -1, NO_DETAIL


_last_read = _LastRead()


def forget_last_read() -> None:
    _last_read.ref, _last_read.detail = -1, NO_DETAIL


def register_shelf(shelf: Shelf) -> int | None:
    """An id for `shelf` while it lives; None when every id is taken (do not park)."""
    for shelf_id in range(1 << SHELF_BITS):
        if shelf_id not in _shelves:
            _shelves[shelf_id] = weakref.ref(shelf, functools.partial(_forget, shelf_id))
            return shelf_id
    return None


def _forget(shelf_id: int, _: object) -> None:
    _shelves.pop(shelf_id, None)


def shelf_of(ref: int) -> Shelf:
    found = _shelves.get(ref & ((1 << SHELF_BITS) - 1))
    shelf = found() if found is not None else None
    if shelf is None:
        raise RuntimeError("a parked task detail outlived the replay that parked it")
    return shelf


def read_parked(ref: int) -> TaskDetail:
    """A parked detail, read back (a report reads one record's fields in a row)."""
    last = _last_read
    if ref != last.ref:
        last.ref, last.detail = ref, shelf_of(ref).read(ref)
    return last.detail
