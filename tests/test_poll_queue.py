"""The poller's queue on plain clock values: which group of due tasks the next
call asks about, and when each account may be asked again."""

from __future__ import annotations

from typing import Any

from runner.pipeline.pollqueue import Due, PollQueue, recheck_s
from runner.records import Request, TaskSpec, TaskState
from runner.settings import RunOptions
from runner.taskrecord import TaskRecord

OPTIONS = RunOptions(poll_interval_s=2.0, poll_linger_s=10.0, poll_share=0.5)


class _Account:  # what the queue reads of a pool account: its identity (and rate, here)
    def __init__(self, name: str) -> None:
        self.name, self.rate = name, 10.0


A: Any = _Account("a")
B: Any = _Account("b")


def _rate(account: Any) -> float:
    return float(account.rate)


def _queue(due_at: float, **per_account: int) -> tuple[PollQueue, dict[str, Any]]:
    accounts = {"a": A, "b": B}
    queue = PollQueue(OPTIONS, lambda rec: (accounts[rec.account], 3))
    n = 0
    for label, count in per_account.items():
        for _ in range(count):
            rec = TaskRecord(
                TaskSpec(f"k{n}", "", Request(f"p{n}")),
                state=TaskState.SUBMITTED,
                unique_id=f"u{n}",
            )
            rec.account = label
            queue.push(due_at, Due(rec))
            n += 1
    return queue, accounts


def test_while_submitting_one_accounts_polls_never_hold_back_anothers() -> None:
    queue, _ = _queue(5.0, a=100, b=50)
    assert queue.next_call(4.0, True, _rate) == (None, 5.0)  # nothing due yet
    group, _ = queue.next_call(5.0, True, _rate)
    assert group == (A, 3) and len(queue.take((A, 3), 5.0, True, _rate)) == 50
    # b's batch goes at once: a's call spent a's share of a's rate, not b's.
    group, _ = queue.next_call(5.0, True, _rate)
    assert group == (B, 3) and len(queue.take((B, 3), 5.0, True, _rate)) == 50
    # a's second batch waits for a's own spacing: 1 / (poll_share 0.5 x 10 qps) = 0.2 s.
    assert queue.next_call(5.0, True, _rate) == (None, 5.2)
    assert queue.next_call(5.2, True, _rate)[0] == (A, 3)


def test_while_submitting_a_partial_batch_lingers_but_a_full_one_does_not() -> None:
    queue, _ = _queue(5.0, a=10)
    assert queue.next_call(5.0, True, _rate) == (None, 15.0)  # 10 of 50: waits for more
    assert queue.next_call(15.0, True, _rate)[0] == (A, 3)
    assert queue.next_call(5.0, False, _rate)[0] == (A, 3)  # submitting over: no lingering


def test_once_submitted_each_account_sweeps_its_own_tasks_at_its_own_pace() -> None:
    queue, _ = _queue(5.0, a=120, b=10)
    calls = []
    now = 5.0
    while len(calls) < 9:
        group, wake = queue.next_call(now, False, _rate)
        if group is None:
            assert wake is not None
            now = wake
            continue
        batch = queue.take(group, now, False, _rate)
        for entry in batch:  # not done yet: due again, as the poller does once all is submitted
            queue.push(now + recheck_s(2.0, submitting=False), entry)
        calls.append((round(now, 3), group[0].name, len(batch)))
    # Nothing left to submit: a task not done is due again a quarter interval (0.5 s)
    # after its check. a needs three calls a sweep (120 tasks), so it still sees each task
    # once an interval (2 s / 3 calls); b's 10 fit in one call: every 0.5 s.
    assert sorted(calls) == [
        (5.0, "a", 50),
        (5.0, "b", 10),
        (5.5, "b", 10),
        (5.667, "a", 50),
        (6.0, "b", 10),
        (6.333, "a", 50),
        (6.5, "b", 10),
        (7.0, "a", 50),
        (7.0, "b", 10),
    ]


def test_a_task_still_generating_is_checked_again_sooner_once_all_is_submitted() -> None:
    assert recheck_s(2.0, submitting=True) == 2.0  # polls share the budget with submits
    assert recheck_s(2.0, submitting=False) == 0.5  # the run only waits for its last tasks


def test_once_submitted_a_call_takes_the_tasks_due_before_the_accounts_next_call() -> None:
    """Tasks due just after a call would wait a whole gap for the next one (here 2 s):
    when the account's tasks fit in one call, they go in this one, a little early."""
    queue, _ = _queue(5.0, a=5)
    late, _ = _queue(5.3, a=5)
    for due, _, entry in late._heap:
        queue.push(due, entry)
    group, _ = queue.next_call(5.0, False, _rate)
    assert group == (A, 3)
    assert len(queue.take(group, 5.0, True, _rate)) == 5  # while submitting: what is due
    queue, _ = _queue(5.0, a=5)
    for due, _, entry in late._heap:
        queue.push(due, entry)
    queue.next_call(5.0, False, _rate)
    assert len(queue.take((A, 3), 5.0, False, _rate)) == 10
    assert len(queue) == 0
