"""The audit's reading of the accounts' task lists: what was created since the
last audit, matched page by page against our requests (see audit.py).

A reading can start early, once every submit of the run has its answer, while
the last tasks are still generating and the accounts' calls are idle. The
end-of-run audit then reads each list again only down to where the early
reading began: the newest task on its first page, less `LATE_MARGIN_S`. The
list is newest first, so a task created after the early reading's first page
comes before that task: every task created since the last audit is read once
or twice, never missed, just as by one reading at the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import anyio

from runner.api.client import ApiClient
from runner.errors import ApiError
from runner.pipeline import reconcile, tasklist
from runner.pipeline.context import RunContext
from runner.taskrecord import TaskRecord

NOT_CHARGED = frozenset({"Error", "Fail"})
# `create_time` is the server's clock in whole seconds; the servers behind one API may
# not agree to the second. A second reading goes this much further back.
LATE_MARGIN_S = 5.0


class PromptFilter:
    """Could this prompt be one of ours? A bit array of our prompts' hashes (two bits
    each): a few megabytes at a million tasks, where an index of the tasks by prompt
    took about 45 MB. "No" is certain; "yes" is checked against the records."""

    def __init__(self, prompts: Iterable[str], count: int):
        self.mask = max(1 << 16, 1 << (count * 64).bit_length()) - 1  # bits, a power of 2
        self.bits = bytearray((self.mask + 1) // 8)
        for prompt in prompts:
            for bit in self._bits(prompt):
                self.bits[bit >> 3] |= 1 << (bit & 7)

    def _bits(self, prompt: str) -> tuple[int, int]:
        h = hash(prompt)
        return h & self.mask, (h >> 32) & self.mask

    def __contains__(self, prompt: str) -> bool:
        return all(self.bits[bit >> 3] & (1 << (bit & 7)) for bit in self._bits(prompt))


class Matcher:
    """Matches the listing against our requests: of the account's tasks only those that
    may repeat one of ours are kept (uid, item), matched against the records once the
    listing is read, so the audit's memory does not grow with the account, nor with
    the run (no index of a million tasks)."""

    def __init__(self, ctx: RunContext, since: float):
        self.ctx, self.since, self.listed = ctx, since, 0
        # The run's own tasks are looked up in ctx.taken itself (live, never copied).
        self.known = ctx.reconciler.others_taken() | set(ctx.ledger.state.duplicates)
        records = ctx.records.values()
        self.ours = PromptFilter((rec.spec.request.prompt for rec in records), len(records))
        self.candidates: list[tuple[str, str, dict[str, Any]]] = []  # uid, prompt, slim item

    def feed(self, items: list[dict[str, Any]]) -> None:
        """Keep unknown listed tasks that may repeat the request of one of ours."""
        self.listed += len(items)
        taken = self.ctx.taken
        for item in items:
            uid, created = item.get("unique_id"), item.get("create_time")
            if (
                not isinstance(uid, str)
                or uid in taken
                or uid in self.known
                or not isinstance(created, int | float)
                or created < self.since
                or item.get("progress_desc") in NOT_CHARGED
            ):
                continue
            prompt = tasklist.listed_prompt(item) or ""
            if prompt in self.ours:
                self.candidates.append((uid, prompt, tasklist.slim(item)))
                self.known.add(uid)  # read twice (an early reading, then the end's): kept once

    def matches(self) -> list[tuple[TaskRecord, str, str]]:
        """Each kept task with the first of our records (that has its task) whose request
        it repeats, in the records' order: (record, uid, status)."""
        wanted = {prompt for _, prompt, _ in self.candidates}
        owners: dict[str, list[TaskRecord]] = {}
        for rec in self.ctx.records.values():
            if rec.unique_id and rec.spec.request.prompt in wanted:
                owners.setdefault(rec.spec.request.prompt, []).append(rec)
        found = []
        for uid, prompt, item in self.candidates:
            if uid in self.ctx.taken:  # adopted since it was listed: ours
                continue
            for rec in owners.get(prompt, ()):
                if reconcile.same_request(item, rec.spec.request, self.ctx.reconciler.refs_of(rec)):
                    found.append((rec, uid, str(item.get("progress_desc") or "")))
                    break
        return found

    def unclaimed(self) -> list[tuple[TaskRecord, str, str]]:
        """The matches, less those another live run has recorded since the listing began."""
        others = self.ctx.reconciler.others_taken()
        return [found for found in self.matches() if found[1] not in others]


class Listing:
    """Every live account's task list, each kind, back to `since`, fed to one Matcher.

    `read()` may be called twice: the second reading of an account's list of one
    kind stops at what the first one read completely."""

    def __init__(self, ctx: RunContext, since: float):
        self.ctx, self.since = ctx, since
        self.matcher = Matcher(ctx, since)
        self.max_pages = max(ctx.options.max_scan_pages, len(ctx.records) // 25 + 20)
        self.kinds = tasklist.kinds_of(ctx.records.values()) or (3,)
        self._read_down_to: dict[tuple[ApiClient, int], float] = {}

    def __repr__(self) -> str:
        read = len(self._read_down_to)
        return f"<Listing since={self.since:.0f} listed={self.matcher.listed} lists read={read}>"

    async def read(self) -> None:
        """Each account's lists at once; raises the first failure, after all have tried."""
        failed: list[ApiError] = []

        async def one(client: ApiClient) -> None:
            try:
                for kind in self.kinds:  # images, videos apart; each page matched, then dropped
                    await self._read_list(client, kind)
            except ApiError as exc:  # the others read on; raised as itself, not in a group
                failed.append(exc)

        async with anyio.create_task_group() as tg:  # a pool: each account lists its own
            for client in clients(self.ctx):
                tg.start_soon(one, client)
        if failed:
            raise failed[0]

    async def _read_list(self, client: ApiClient, kind: int) -> None:
        since = self._read_down_to.get((client, kind), self.since)
        newest: float | None = None
        first = True
        async for batch in tasklist.pages(client, since, self.max_pages, kind):
            if first:
                times = [t for i in batch if isinstance(t := i.get("create_time"), int | float)]
                newest, first = max(times, default=None), False
            self.matcher.feed(batch)
        # Read completely: a later reading goes only back to this one's start.
        if newest is not None:
            self._read_down_to[(client, kind)] = max(since, newest - LATE_MARGIN_S)


def clients(ctx: RunContext) -> list[ApiClient]:
    return [a.client for a in ctx.pool.alive] if ctx.pool is not None else [ctx.client]
