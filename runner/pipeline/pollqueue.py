"""The poller's queue: tasks by the time they are due, and which due tasks the
next `/task/page` call asks about, and when.

A call lists one account's tasks of one kind, so due tasks wait in one queue
per (account, kind). Calls are paced per account, because each account has its
own QPS limit: one account's calls never hold back another's. While submitting,
an account's polls take at most `poll_share` of its rate and a partial batch
waits up to `poll_linger_s` for more. Afterwards each account sees every task
it has in flight about once per `poll_interval_s`, in as few calls as that
allows, and due tasks are asked about as soon as that pace lets them. Once an
account's tasks fit in one call (a kind), what is left is the wait for the last tasks
and nothing else needs the budget: a task still generating is checked again
after a quarter of its interval (`END_RECHECK`), the account's call goes that
often, in at most half its rate (`END_SHARE`).
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from runner.pipeline.pool import Account
from runner.settings import RunOptions
from runner.taskrecord import TaskRecord

BATCH = 50  # ids per /task/page call: the API's cap
END_RECHECK = 0.25  # once everything is submitted: re-checks at this share of the interval
END_SHARE = 0.5  # and each account's polls then take at most this share of its rate
Group = tuple[Account | None, int]  # the account (None: no pool) and the creation type


@dataclass(slots=True)
class Due:
    record: TaskRecord
    first: bool = True
    misses: int = 0
    unknown: int = 0
    warned: bool = False  # "the API does not list it" is said once per task, at the first miss


class PollQueue:
    def __init__(self, options: RunOptions, group_of: Callable[[TaskRecord], Group]):
        self.options, self.group_of = options, group_of
        self._heap: list[tuple[float, int, Due]] = []
        self._seq = itertools.count()
        self._ready: dict[Group, deque[tuple[float, Due]]] = {}
        self._count: Counter[Group] = Counter()  # tasks in the queue (due or not) per group
        self._last: dict[Account | None, float] = {}  # each account's last poll call

    def __len__(self) -> int:
        return self._count.total()

    def __repr__(self) -> str:
        ready = sum(len(q) for q in self._ready.values())
        return f"<PollQueue {len(self)} in flight, {ready} due, {len(self._count)} groups>"

    def push(self, due: float, entry: Due) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), entry))
        self._count[self.group_of(entry.record)] += 1

    def next_call(
        self,
        now: float,
        submitting: bool,
        rate_of: Callable[[Account | None], float],
        urgent: Callable[[TaskRecord], bool] | None = None,
    ) -> tuple[Group | None, float | None]:
        """(the group to poll now, None), or (None, when to look again; None: when woken).

        `urgent`: a due task for which this is true is not kept for a fuller batch."""
        while self._heap and self._heap[0][0] <= now:
            due, _, entry = heapq.heappop(self._heap)
            self._ready.setdefault(self.group_of(entry.record), deque()).append((due, entry))
        wake_at = self._heap[0][0] if self._heap else None
        linger = self.options.poll_linger_s
        for group, queue in sorted(self._ready.items(), key=lambda g: g[1][0][0]):
            oldest = queue[0][0]
            lingered = (
                not submitting
                or now - oldest >= linger
                or (urgent is not None and any(urgent(e.record) for _, e in queue))
            )
            if len(queue) >= BATCH or lingered:
                later = self._allowed_at(group[0], submitting, rate_of)
                if now >= later:
                    return group, None
            else:
                later = oldest + linger
            wake_at = later if wake_at is None else min(wake_at, later)
        return None, wake_at

    def _allowed_at(
        self, account: Account | None, submitting: bool, rate_of: Callable[[Account | None], float]
    ) -> float:
        last = self._last.get(account, -1e9)
        if submitting:
            return last + 1.0 / (self.options.poll_share * rate_of(account))
        return last + self._gap_s(account, rate_of)

    def _gap_s(self, account: Account | None, rate_of: Callable[[Account | None], float]) -> float:
        """Once submitted: an account's calls spaced so it sees each task once an interval;
        once its tasks fit in one call a kind, once a quarter interval, but no closer than
        its share of the account's rate allows."""
        calls = [-(-n // BATCH) for (a, _), n in self._count.items() if a is account]
        sweeps = max(1, sum(calls))
        if max(calls, default=1) > 1:
            return self.options.poll_interval_s / sweeps
        quick_s = recheck_s(self.options.poll_interval_s, submitting=False)
        return max(quick_s / sweeps, 1.0 / (END_SHARE * rate_of(account)))

    def take(
        self,
        group: Group,
        now: float,
        submitting: bool,
        rate_of: Callable[[Account | None], float],
    ) -> list[Due]:
        """Up to BATCH due tasks of `group`, oldest first; the call is counted as made now.

        Once everything is submitted and the group's tasks fit in one call, the call also
        takes those that fall due before the account's next call may go: asked about a
        little early rather than up to a whole gap late, and from then on checked
        together, one call a sweep.
        """
        queue = self._ready[group]
        batch = [queue.popleft()[1] for _ in range(min(BATCH, len(queue)))]
        if not queue:
            del self._ready[group]
        if not submitting and self._count[group] <= BATCH:  # the group fits in one call
            until = now + self._gap_s(group[0], rate_of)
            others: list[
                tuple[float, int, Due]
            ] = []  # other groups' tasks due as soon: a few looked at, put back
            while (
                self._heap
                and self._heap[0][0] <= until
                and len(batch) < BATCH
                and len(others) < 4 * BATCH
            ):
                item = heapq.heappop(self._heap)
                if self.group_of(item[2].record) == group:
                    batch.append(item[2])
                else:
                    others.append(item)
            for item in others:
                heapq.heappush(self._heap, item)
        self._count[group] -= len(batch)
        if not self._count[group]:
            del self._count[group]
        self._last[group[0]] = now
        return batch


def recheck_s(interval_s: float, submitting: bool) -> float:
    """When a task found still generating is checked again: after its interval while
    submitting (polls then take budget from the submits), after a quarter of it once
    everything is submitted, when the run only waits for its last tasks."""
    return interval_s if submitting else interval_s * END_RECHECK
