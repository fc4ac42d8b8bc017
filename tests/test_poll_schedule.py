"""The poll schedule on a stepped clock: when each task is first checked, how
often after that, and how due tasks are batched into 50-id calls.

The clock only moves when every task is waiting, by exactly the time the
poller asked to wait, so the asserted times are the schedule itself.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked
from anyio.streams.memory import MemoryObjectSendStream

from runner.pipeline.context import Stats
from runner.pipeline.poll import Poller
from runner.pipeline.pollqueue import BATCH
from runner.records import Request, TaskSpec, TaskState
from runner.settings import RunOptions
from runner.taskrecord import TaskRecord

OPTIONS = RunOptions(first_poll_s=5.0, poll_interval_s=2.0, poll_linger_s=10.0, poll_share=0.5)


class SteppedClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def wait(self, event: anyio.Event, timeout_s: float | None) -> None:
        await wait_all_tasks_blocked()  # let everything else run at this instant first
        if event.is_set():
            return
        if timeout_s is None:
            await event.wait()
        else:
            self.t += timeout_s


class Pages:
    """The `/task/page` seam: records each call; a task is done at its Nth check."""

    def __init__(self, clock: SteppedClock, done_at_check: int) -> None:
        self.clock, self.done_at_check = clock, done_at_check
        self.calls: list[tuple[float, list[str]]] = []
        self.types: list[int] = []  # the `type` of each call: 3 images, 4 videos
        self.checks: Counter[str] = Counter()
        self.on_call: Callable[[], None] = lambda: None

    async def page(
        self, ids: list[str], page: int = 1, size: int = 50, kind_type: int = 3
    ) -> tuple[list[dict[str, Any]], int, str]:
        assert len(ids) <= BATCH
        self.calls.append((round(self.clock.now(), 6), list(ids)))
        self.types.append(kind_type)
        self.checks.update(ids)
        self.on_call()
        items = [
            {"unique_id": uid, "progress_desc": "Generating"}
            if self.checks[uid] < self.done_at_check
            else {"unique_id": uid, "progress_desc": "Success", "output_url": [f"u/{uid}"]}
            for uid in ids
        ]
        return items, 1, "trace"


def _records(n: int, model: str = "doubao-seedream-4.0", first: int = 0) -> list[TaskRecord]:
    return [
        TaskRecord(
            TaskSpec(f"k{i}", "", Request(f"p{i}", model_code=model)),
            state=TaskState.SUBMITTED,
            unique_id=f"u{i}",
        )
        for i in range(first, first + n)
    ]


async def _run(
    pages: Pages,
    clock: SteppedClock,
    *,
    new: list[TaskRecord] = (),  # type: ignore[assignment]
    resumed: list[TaskRecord] = (),  # type: ignore[assignment]
    keep_submitting: bool = False,
    pool: object = None,
) -> list[TaskRecord]:
    ctx = SimpleNamespace(
        options=OPTIONS,
        client=pages,
        limiter=SimpleNamespace(rate=10.0),
        pool=pool,
        stats=Stats(),
        ledger=SimpleNamespace(write=lambda event, durable=False: None),
        chain=None,
        final=lambda rec: None,
        submits_done=anyio.Event(),
    )
    send, receive = anyio.create_memory_object_stream[TaskRecord](math.inf)
    out_send, out_receive = anyio.create_memory_object_stream[TaskRecord](math.inf)
    for rec in new:
        send.send_nowait(rec)
    feeder: MemoryObjectSendStream[TaskRecord] = send
    if keep_submitting:  # submissions still going until the first poll call
        pages.on_call = feeder.close
    else:
        send.close()
    poller = Poller(ctx, receive, out_send, list(resumed), clock=clock)  # type: ignore[arg-type]
    with anyio.fail_after(10):  # real seconds: only a broken schedule gets near
        await poller.run()
    async with out_receive:
        return [rec async for rec in out_receive]


async def test_first_check_comes_after_first_poll_then_every_quarter_interval_at_the_end() -> None:
    """Nothing is left to submit, so the run only waits for these tasks: a task still
    generating is checked again after a quarter of --poll-interval (2 s), not all of it."""
    clock = SteppedClock()
    pages = Pages(clock, done_at_check=3)
    done = await _run(pages, clock, new=_records(3))
    assert [t for t, _ in pages.calls] == [5.0, 5.5, 6.0]
    assert all(sorted(ids) == ["u0", "u1", "u2"] for _, ids in pages.calls)
    assert [r.state for r in done] == [TaskState.SUCCEEDED] * 3


async def test_tasks_already_on_the_server_are_checked_at_once_on_resume() -> None:
    clock = SteppedClock()
    pages = Pages(clock, done_at_check=2)
    await _run(pages, clock, resumed=_records(2), new=_records(3)[2:])
    assert pages.calls[0] == (0.0, ["u0", "u1"])
    assert pages.calls[1] == (0.5, ["u0", "u1"])  # due again; the new task not yet
    assert pages.calls[2] == (5.0, ["u2"])  # a new task: first_poll after it arrived


async def test_due_tasks_are_batched_50_ids_a_call_spread_over_the_interval() -> None:
    clock = SteppedClock()
    pages = Pages(clock, done_at_check=2)
    done = await _run(pages, clock, new=_records(120))
    sizes = [len(ids) for _, ids in pages.calls]
    times = [t for t, _ in pages.calls]
    # 120 due at once: their first checks in three calls, a sweep spread over one poll
    # interval (2 s / 3 calls) while the account's tasks need more than one call.
    assert times[:3] == pytest.approx([5.0, 5.0 + 2 / 3, 5.0 + 4 / 3])
    assert len({uid for _, ids in pages.calls[:3] for uid in ids}) == 120
    # Nothing is left to submit, so a task not done is due again a quarter interval
    # (0.5 s) after its check: the third call fills up with 30 second checks. Once the
    # 40 left fit in one call, the account goes a quarter interval after its last call.
    assert sizes == [50, 50, 50, 50, 40]
    assert times[3:] == pytest.approx([5.0 + 7 / 3, 5.0 + 17 / 6])
    assert set(pages.checks.values()) == {2} and len(done) == 120


async def test_while_submitting_a_partial_batch_waits_for_the_linger_time() -> None:
    clock = SteppedClock()
    pages = Pages(clock, done_at_check=1)
    await _run(pages, clock, new=_records(10), keep_submitting=True)
    # Due at 5 s, but a batch of 10 of 50 waits up to poll_linger_s for more.
    assert pages.calls == [(15.0, [f"u{i}" for i in range(10)])]


async def test_videos_are_polled_on_their_models_schedule_and_listed_apart() -> None:
    clock = SteppedClock()
    pages = Pages(clock, done_at_check=3)
    videos = _records(2, "Doubao-Seedance-1.0-pro", first=10)  # table: first 60 s, every 15 s
    done = await _run(pages, clock, new=[*_records(2), *videos])
    image_calls = [t for (t, _), k in zip(pages.calls, pages.types, strict=True) if k == 3]
    video_calls = [t for (t, _), k in zip(pages.calls, pages.types, strict=True) if k == 4]
    assert image_calls == [5.0, 5.5, 6.0]  # nothing to submit: a quarter of each interval
    assert video_calls == [60.0, 63.75, 67.5]
    for (_, ids), kind in zip(pages.calls, pages.types, strict=True):  # never mixed in a call
        assert {uid in ("u10", "u11") for uid in ids} == {kind == 4}
    assert len(done) == 4


class _Account:
    def __init__(self, client: Pages) -> None:
        self.client, self.alive = client, True
        self.limiter = SimpleNamespace(rate=10.0)


async def test_once_submitted_each_accounts_tasks_get_their_own_calls_each_interval() -> None:
    """A call lists one account's tasks, and each account has its own QPS limit: two
    accounts' due tasks are asked about at once, each account at its own pace, not
    one account after the other."""
    clock = SteppedClock()
    pages = Pages(clock, done_at_check=2)
    accounts = {"a": _Account(pages), "b": _Account(pages)}
    pool = SimpleNamespace(of=lambda rec: accounts[rec.account], rate=10.0)
    records = _records(20)
    for i, rec in enumerate(records):
        rec.account = "a" if i < 10 else "b"
    done = await _run(pages, clock, new=records, pool=pool)
    a_ids, b_ids = [f"u{i}" for i in range(10)], [f"u{i}" for i in range(10, 20)]
    assert pages.calls == [(5.0, a_ids), (5.0, b_ids), (5.5, a_ids), (5.5, b_ids)]
    assert len(done) == 20
