"""The audit's listing read twice: early (while the last tasks generate), then at the
end only down to where the early reading began. A task created in between, or one
deep in the list, is found all the same; a reading cut short is completed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import anyio
import orjson
import pytest

from runner.errors import AuthError, TransientApiError
from runner.pipeline import tasklist
from runner.pipeline.audit import EarlyListing
from runner.pipeline.auditlisting import Listing
from runner.records import Request, TaskSpec, TaskState
from runner.settings import RunOptions
from runner.taskrecord import TaskRecord

from .conftest import Harness


class TaskList:
    """An account's task list, newest first, 50 a page; a page may be made to fail."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.asked: list[int] = []  # the page numbers asked, in order
        self.fail_at: int | None = None
        self.revoked = False

    def create(self, uid: str, request: Request, t: float) -> None:
        info = {
            "ref_prompt": request.prompt,
            "ref_img_url": [],
            "aspect_ratio": request.aspect_ratio,
            "clarity": request.clarity,
            "number_of_images": request.number_of_images,
        }
        item = {
            "unique_id": uid,
            "create_time": int(t),
            "progress_desc": "Success",
            "model_code": request.model_code,
            "photo_info": info,
        }
        self.items.insert(0, item)

    async def page(
        self, ids: list[str], page: int = 1, size: int = 50, kind_type: int = 3
    ) -> tuple[list[dict[str, Any]], int, str]:
        assert not ids and kind_type == 3
        self.asked.append(page)
        if self.revoked:
            raise AuthError("AccessToken verification failed (code 10400)")
        if page == self.fail_at:
            raise TransientApiError("connection reset", endpoint="task/page")
        total = max(1, -(-len(self.items) // size))
        return self.items[(page - 1) * size : page * size], total, "trace"


def _run_of(n: int, tasks: TaskList, t0: float) -> Any:
    records = {}
    for i in range(n):
        request = Request(f"p{i}")
        records[f"k{i}"] = TaskRecord(
            TaskSpec(f"k{i}", "", request), state=TaskState.SUBMITTED, unique_id=f"u{i}"
        )
        tasks.create(f"u{i}", request, t0 + i)
    return SimpleNamespace(
        submits_done=anyio.Event(),
        stopping=anyio.Event(),
        options=RunOptions(),
        records=records,
        taken={f"u{i}" for i in range(n)},
        reconciler=SimpleNamespace(others_taken=set, refs_of=lambda rec: None),
        ledger=SimpleNamespace(
            state=SimpleNamespace(duplicates={}, audited_until=None, first_t=t0 + 60)
        ),
        pool=None,
        client=tasks,
    )


def _found(listing: Listing) -> list[tuple[str, str]]:
    return sorted((rec.key, uid) for rec, uid, _ in listing.matcher.unclaimed())


async def test_the_end_reads_only_whats_new_and_finds_a_duplicate_made_in_between() -> None:
    tasks = TaskList()
    ctx = _run_of(200, tasks, t0=10_000)  # created at 10,000 .. 10,199
    tasks.items.insert(150, tasks.items[0] | {"unique_id": "dup-deep"})  # p199 twice, deep
    listing = Listing(ctx, since=9_000)
    await listing.read()  # early: the whole list since the last audit
    assert tasks.asked == [1, 2, 3, 4, 5]
    assert _found(listing) == [("k199", "dup-deep")]

    # While the last tasks generate: a late copy of p5 arrives, and 60 foreign tasks.
    tasks.create("dup-late", ctx.records["k5"].spec.request, 10_300)
    for i in range(60):
        tasks.create(f"foreign-{i}", Request(f"someone else {i}"), 10_300)
    tasks.asked.clear()
    await listing.read()  # at the end: down to the early reading's newest task, less 5 s

    assert tasks.asked == [1, 2]  # 61 new tasks and the newest of ours, not all 7 pages
    assert _found(listing) == [("k199", "dup-deep"), ("k5", "dup-late")]


async def test_a_reading_cut_short_is_completed_at_the_end() -> None:
    tasks = TaskList()
    ctx = _run_of(200, tasks, t0=10_000)
    tasks.items.insert(190, tasks.items[0] | {"unique_id": "dup-deep"})  # on the last page
    listing = Listing(ctx, since=9_000)
    tasks.fail_at = 3
    with pytest.raises(TransientApiError):
        await listing.read()
    assert _found(listing) == []
    tasks.fail_at, tasks.asked = None, []
    await listing.read()
    assert tasks.asked == [1, 2, 3, 4, 5]  # back to the last audit, as if never read
    assert _found(listing) == [("k199", "dup-deep")]


async def test_an_account_revoked_before_the_early_listing_does_not_stop_the_run() -> None:
    """The early listing reads while tasks still generate: a 10400 there leaves it
    partial (the end's reading meets the account again, as it always did), it does
    not end the run."""
    tasks = TaskList()
    ctx = _run_of(10, tasks, t0=10_000)
    tasks.revoked = True
    early = EarlyListing(ctx)
    ctx.submits_done.set()
    await early.run()
    listing = await early.take()
    assert listing is not None and tasks.asked == [1]
    tasks.revoked, tasks.asked = False, []
    await listing.read()  # nothing read completely before: back to the start
    assert tasks.asked == [1]
    assert listing.matcher.listed == 10


async def test_a_run_finds_a_duplicate_created_after_its_early_listing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the simulator: the task lists are read once every submit is answered, and a
    copy of one of our tasks created after that reading (a submit delivered late) is
    found by the end-of-run audit, recorded and its image kept."""
    sim = harness.sim
    manifest = harness.manifest("tasks:\n" + "".join(f"  - p{i}\n" for i in range(6)))
    readings: list[float] = []
    original = tasklist.pages

    def pages(client: Any, since_t: float, max_pages: int, kind: int = 3) -> Any:
        readings.append(since_t)
        if len(readings) == 2:  # the end's reading: a late copy of p3 arrived just before
            body = next(s["body"] for s in sim.state.submissions if s["body"]["ref_prompt"] == "p3")
            sim.state.create_task(body)
        return original(client, since_t, max_pages, kind)

    monkeypatch.setattr(tasklist, "pages", pages)
    assert await harness.run(manifest) == 0

    assert len(readings) == 2  # early, then at the end
    assert readings[1] > readings[0]  # the end reads only back to the early reading
    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    assert summary["duplicates_billed"] == 1
    [dup] = summary["duplicates"]
    assert sim.state.tasks[dup["unique_id"]].body["ref_prompt"] == "p3"
    assert dup["status"] == "Success" and len(dup["files"]) == 1
