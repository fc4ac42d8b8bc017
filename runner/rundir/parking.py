"""Done tasks' details parked in the ledger's checkpoint file: a run's memory
does not grow as its tasks finish.

A done task keeps, for the reports, its times, trace id and files: about 1 KB
each, 1 GB at a million. Each checkpoint writes them to its file anyway, so the
checkpoint that holds them parks them (`taskrecord`: the record then keeps
only where its line starts) and the run's `Shelf` keeps that file open, even
after the next checkpoint has replaced it. A parked detail is read back from
there when read (sequential reads, as a report's, come from one block) and
unparked when changed. Only done tasks without earlier attempts are parked:
what `status` counts of them (their `Tally`) is kept here as they are parked
and unparked, so a checkpoint never reads them back, and failures (listed by
status with their place among the records) stay in memory, as do the rare
retried tasks (the audit reads every earlier attempt's id).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from typing import IO, Any

from runner.records import RequestForm, TaskState
from runner.rundir.checkpointrows import decode_detail, decode_record
from runner.rundir.tally import Tally
from runner.shelves import SHELF_BITS, forget_last_read, register_shelf
from runner.taskdetail import TaskDetail
from runner.taskrecord import TaskRecord


class ParkedRecord(TaskRecord):
    """A record whose detail is parked: it is its checkpoint line, own fields and
    all, so it is unparked (back to a TaskRecord) before any of them changes.
    Only parked records pay for this check (`Shelf.park` switches the class)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "detail":
            self._detail()  # unparks: `self` is a TaskRecord again
        object.__setattr__(self, name, value)


BLOCK = 1 << 18  # bytes read at once: a report reads parked lines in their order


def parkable(rec: TaskRecord) -> bool:
    return rec.state is TaskState.DONE and not rec.earlier


class Shelf:
    """The checkpoint file that holds a Replay's parked details, and their tally."""

    def __init__(self) -> None:
        self.id = register_shelf(self)
        self._fh: IO[bytes] | None = None  # the checkpoint file holding parked lines
        self.templates: list[RequestForm] = []  # of the file's header: its lines index them
        self.files: list[str] = []
        self.tally = Tally(None)  # what the parked records count for status
        self._block_at, self._block = -1, b""

    @property
    def usable(self) -> bool:
        return self.id is not None

    def ref(self, offset: int) -> int:
        assert self.id is not None
        return (offset << SHELF_BITS) | self.id

    def line(self, ref: int) -> bytes:
        """The checkpoint line of a parked record, without its newline."""
        offset = ref >> SHELF_BITS
        start = offset - self._block_at
        if self._block_at >= 0 and 0 <= start < len(self._block):
            end = self._block.find(b"\n", start)
            if end >= 0:
                return self._block[start:end]
        if self._fh is None:
            raise RuntimeError("a parked task detail was read after its run's ledger closed")
        block = b""
        while b"\n" not in block:
            more = os.pread(self._fh.fileno(), BLOCK, offset + len(block))
            if not more:
                raise ValueError("a parked line runs past the checkpoint's end")
            block += more
        self._block_at, self._block = offset, block
        return block[: block.index(b"\n")]

    def read(self, ref: int) -> TaskDetail:
        return decode_detail(self.line(ref))  # the record keeps the last one read

    def unpark(self, rec: TaskRecord, ref: int) -> TaskDetail:
        # The record as parked (its line), which `rec` may no longer be, in part:
        # a change of one of its own fields unparks it before it is made.
        was = decode_record(self.line(ref), self.templates, self.files)
        self.tally.add(was, 0, -1)
        return was.live_detail() or TaskDetail()

    def tally_since(self, since: float | None, records: Iterable[TaskRecord]) -> Tally:
        """A copy of the parked records' tally, its rates counted from `since`."""
        tally = self.tally
        if tally.since != since:
            if tally.tasks == 0 or (
                since is not None and tally.since is not None and since > tally.max_t
            ):  # a new run: nothing parked was submitted or finished since it started
                tally.since, tally.submitted_since, tally.finished_since = since, 0, 0
            else:
                tally = self.tally = Tally(since)
                for rec in records:
                    if rec.parked:
                        tally.add(rec, 0)
        return copy.deepcopy(tally)

    def park(self, rec: TaskRecord, offset: int) -> None:
        """`rec`'s line starts at `offset` in the file held (or about to be)."""
        if not rec.parked:
            self.tally.add(rec, 0)
        object.__setattr__(rec, "detail", self.ref(offset))
        object.__setattr__(rec, "__class__", ParkedRecord)

    def close(self) -> None:
        """Let go of the file: a parked detail cannot be read after this."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def clear(self) -> None:
        """Nothing parked (a load that failed half-way: the caller replays instead)."""
        self.hold(None, [], [])
        self.tally = Tally(None)

    def hold(self, fh: IO[bytes] | None, templates: list[RequestForm], files: list[str]) -> None:
        """Hold `fh`, the checkpoint just written or loaded, instead of the one before:
        its parked records are then re-pointed into it (`park`)."""
        if self._fh is not None:
            self._fh.close()
        self._fh, self.templates, self.files = fh, templates, files
        self._block_at, self._block = -1, b""
        forget_last_read()
