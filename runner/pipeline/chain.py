"""Chained tasks at run time: children wait for their parents, with no stage barrier.

A task that takes other tasks' outputs is held back until every one of its
parents is done (generated and every file on disk: a file on disk is what the
upload fallback needs). It is then handed to the submit feed at once, while
independent tasks keep the budget busy. A parent that fails for good blocks
its descendants: they are never sent (replay derives the same state from the
ledger, so `status` and the reports agree, and --retry-failed unblocks them).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable

import anyio

from runner.records import TaskState
from runner.taskrecord import TaskRecord

log = logging.getLogger("runner.chain")


class Chain:
    def __init__(self, records: dict[str, TaskRecord]):
        self.records = records
        self._children: dict[str, list[TaskRecord]] = {}  # parent key -> children waiting on it
        self._waiting: dict[str, int] = {}  # child key -> parents not done yet
        self._ready: deque[TaskRecord] = deque()
        self._wake = anyio.Event()
        self.released = self.blocked = 0
        self.idle = False  # the feed has sent all it can and waits for parents
        self.on_idle: Callable[[], None] = lambda: None

    def __repr__(self) -> str:
        return (
            f"<Chain waiting={len(self._waiting)} ready={len(self._ready)} "
            f"released={self.released} blocked={self.blocked}>"
        )

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def split(self, planned: Iterable[TaskRecord]) -> list[TaskRecord]:
        """The planned tasks that can go now; the others wait for their parents."""
        ready = []
        for rec in planned:
            missing = [
                key
                for key in rec.spec.request.parents
                if key in self.records and self.records[key].state is not TaskState.DONE
            ]
            if not missing:
                ready.append(rec)
                continue
            self._waiting[rec.key] = len(missing)
            for key in missing:
                self._children.setdefault(key, []).append(rec)
        return ready

    def finished(self, rec: TaskRecord) -> None:
        """`rec` reached a final state: release or block the tasks waiting on it."""
        children = self._children.pop(rec.key, [])
        if rec.state is TaskState.DONE:
            for child in children:
                if child.key not in self._waiting:
                    continue
                self._waiting[child.key] -= 1
                if self._waiting[child.key] == 0:
                    del self._waiting[child.key]
                    self._ready.append(child)
                    self.released += 1
        else:
            reason = rec.error if rec.state is TaskState.BLOCKED else None
            reason = (
                reason or f"blocked: {rec.spec.name or rec.key} ({rec.key}) failed: {rec.error}"
            )
            for child in children:
                if self._waiting.pop(child.key, None) is None:
                    continue
                child.state, child.error = TaskState.BLOCKED, reason
                self.blocked += 1
                log.warning("task %s %s", child.key, reason)
                self.finished(child)
        self._wake.set()

    async def stream(self, initial: Iterable[TaskRecord]) -> AsyncIterator[TaskRecord]:
        """The ready tasks, then each child as its parents finish; ends when none waits."""
        for rec in initial:
            while self._ready:  # a released child goes before the independent tasks left
                yield self._ready.popleft()
            yield rec
        while True:
            while self._ready:
                yield self._ready.popleft()
            if not self._waiting:
                return
            self.idle = True
            self.on_idle()
            await self._wake.wait()
            self.idle = False
            self._wake = anyio.Event()


async def plain(records: Iterable[TaskRecord]) -> AsyncIterator[TaskRecord]:
    for rec in records:
        yield rec
