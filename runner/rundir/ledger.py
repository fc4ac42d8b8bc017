"""The append-only JSON-lines ledger: the run's only source of truth.

Each event is one `os.write` of one line to an O_APPEND descriptor. Events that
a crash must not lose (a submit intent, its answer, a finished download) are
fsynced before the code that depends on them goes on. A crash mid-write can
leave a torn last line; opening the ledger cuts it off (it was never
acknowledged, so nothing depended on it) and replay skips other garbage.

A write that fails because the disk is full, read-only or failing raises
DiskWriteError; what it wrote of its line is cut off again, and the ledger
refuses every later write (nothing may be glued to a torn line, and nothing
may be sent whose intent is not on disk).

Another process may append while a run holds the run's lock (the review page
records decisions): `append_durable` writes one whole line with one O_APPEND
write and fsyncs it. It and the torn-tail cut hold an flock on the ledger file
itself (not the run's lock) for a moment, so a cut never eats a line appended
after it looked.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from runner.errors import DISK_ERRNOS, DiskWriteError
from runner.gcpause import paused
from runner.rundir import checkpoint
from runner.rundir.files import fsync_path
from runner.rundir.parking import Shelf
from runner.rundir.replay import FORMAT_VERSION, Replay, apply, note, replay_lines

log = logging.getLogger("runner.ledger")

Event = dict[str, Any]
FOREIGN_EVENTS = ("decision",)  # what other processes append beside a run
FOREIGN_MARK = b'"e":"decision"'


def _cut_torn_tail(path: Path) -> None:
    """A last line without its newline was never acknowledged: drop it."""
    with path.open("rb+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # released when fh closes
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        start = max(0, size - 1024 * 1024)
        fh.seek(start)
        tail = fh.read()
        cut = start + tail.rfind(b"\n") + 1 if b"\n" in tail else 0
        log.warning("%s: dropping a torn last line (%d bytes) left by a crash", path, size - cut)
        fh.truncate(cut)
        fh.flush()
        os.fsync(fh.fileno())


def read(path: Path, shelf: Shelf | None = None) -> Replay:
    """Replay without opening for writing (status, report, plan): from the
    checkpoint and the ledger's tail after it when there is a usable one. With
    a shelf, the checkpoint's done tasks' details stay parked in its file."""
    if not path.exists():
        return Replay(shelf=shelf)
    with paused():
        replay = _read(path, shelf)
    replay.shelf = shelf
    return replay


def _read(path: Path, shelf: Shelf | None) -> Replay:
    header = checkpoint.usable(path)
    start: Replay | None = None
    if header is not None:
        try:
            start = checkpoint.load(path, header, shelf)
        except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            log.warning("%s: checkpoint unreadable (%s); replaying the whole ledger", path, exc)
    with path.open("rb") as fh:
        if start is None:
            return replay_lines(fh, str(path))
        fh.seek(header["offset"] if header else 0)
        return replay_lines(fh, f"{path} (after its checkpoint)", start)


def append_durable(path: Path, event: Event) -> None:
    """Append one event from outside the run and return once it is on disk.

    A torn last line (a crash, no run since) gets a newline first, so this
    line stays whole: replay skips the torn one and keeps this.
    """
    line = orjson.dumps({**event, "t": event.get("t", round(time.time(), 3))}) + b"\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)  # drops the flock


class Ledger:
    """Appends events, and folds each one into `state` as a replay would.

    `state` is the Replay that `open` returned, whose records the run then
    advances itself; folding the events the run writes into it as well keeps
    it equal to what a replay of the file would give (the handlers set what the
    stage already set), so it can be checkpointed at any moment.
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd = -1
        self.state = Replay()
        self.checkpointed_events = 0  # state.events at the last checkpoint
        self.broken: DiskWriteError | None = None
        self._looked_to = 0  # others' appends before this offset are folded into state

    def open(self) -> Replay:
        """Replay what is there, then get ready to append."""
        new = not self.path.exists()
        if not new:
            _cut_torn_tail(self.path)
        # done tasks' details are parked in the checkpoint (rundir.parking)
        self.state = replay = read(self.path, Shelf())
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if new:
            self.write({"e": "header", "v": FORMAT_VERSION}, durable=True)
            fsync_path(self.path.parent)
        self.checkpointed_events = replay.checkpoint_events
        self._looked_to = os.fstat(self._fd).st_size
        return replay

    def checkpoint(self) -> None:
        """Snapshot the state at the ledger's current end (whole lines only).

        Others may have appended (review decisions): those lines are folded in
        first, under the flock that holds their appends off meanwhile, so the
        snapshot covers every byte before its offset."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            offset = self._take_in_others()
            checkpoint.write(self.path.parent, self.state, offset)
        except OSError as exc:
            if exc.errno not in DISK_ERRNOS:
                raise
            raise DiskWriteError(str(self.path.parent / checkpoint.CHECKPOINT_NAME), exc) from exc
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self.checkpointed_events = self.state.events

    def take_in_others(self) -> None:
        """Fold the events other processes appended since the last look (the run's
        summary then shows decisions made while it went)."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            self._take_in_others()
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _take_in_others(self) -> int:
        end = os.fstat(self._fd).st_size
        if end > self._looked_to:
            with self.path.open("rb") as fh:
                fh.seek(self._looked_to)
                left = end - self._looked_to
                for line in fh:  # streamed: between checkpoints this may be many MB
                    left -= len(line)
                    if left < 0:
                        break
                    if FOREIGN_MARK in line:  # cheap test before parsing
                        try:
                            event = orjson.loads(line)
                        except orjson.JSONDecodeError:
                            continue
                        if event.get("e") in FOREIGN_EVENTS:
                            self._fold(event)
        self._looked_to = end
        return end

    def write(self, event: Event, *, durable: bool = False) -> None:
        self.write_many((event,), durable=durable)

    def write_many(self, events: Iterable[Event], *, durable: bool = False) -> None:
        if self.broken is not None:
            raise self.broken
        try:
            self._write_events(events, durable)
        except OSError as exc:
            if exc.errno not in DISK_ERRNOS:
                raise
            self.broken = DiskWriteError(str(self.path), exc)
            # Drop what was written of the torn line (truncating frees space);
            # if even that fails, the next open cuts the torn tail instead. Cut
            # back to the last whole line under the ledger flock, not to a size
            # counted before: another process may have appended since.
            with contextlib.suppress(OSError):
                _cut_torn_tail(self.path)
            raise self.broken from exc

    def _write_events(self, events: Iterable[Event], durable: bool) -> None:
        now = round(time.time(), 3)
        chunk = bytearray()
        for event in events:
            stamped = {**event, "t": event.get("t", now)}
            chunk += orjson.dumps(stamped)
            chunk += b"\n"
            self._fold(stamped)
            if len(chunk) >= 1 << 20:  # whole lines only, so a crash tears at most the last
                self._write_all(chunk)
                chunk.clear()
        if chunk:
            self._write_all(chunk)
        if durable:
            os.fsync(self._fd)

    def _fold(self, event: Event) -> None:
        try:
            apply(self.state, event)
        except (KeyError, TypeError, ValueError, AttributeError):
            self.state.bad_lines += 1  # a replay would skip this line too
            return
        note(self.state, event)

    def _write_all(self, chunk: bytearray) -> None:
        view = memoryview(chunk)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        if self.state.shelf is not None:
            self.state.shelf.close()
        if self._fd >= 0:
            try:
                if self.broken is None:
                    os.fsync(self._fd)
            except OSError:
                pass  # a failing disk: what was acknowledged was fsynced already
            finally:
                os.close(self._fd)
                self._fd = -1
