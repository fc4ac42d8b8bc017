"""A pool of accounts: each with its own token, limiter (AIMD, 40001 handling)
and task-list reconciler; a new task goes to the account with the most headroom,
and every later call about a task goes to the account that created it.

Without an accounts file the pool holds one unlabelled account, the one the
credentials resolve to, and a run behaves exactly as before. A task's account
is its ledger label (`intent` events carry `acct`); a task recorded without one
belongs to the first account. An account whose authentication fails for good,
or whose `max_images` budget is spent, leaves the pool with a warning; its
tasks already on the server are never sent again elsewhere (that would pay
twice): they wait for a run in which it works again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from runner.api.client import ApiClient
from runner.api.limiter import AccountLimiter
from runner.pipeline.reconcile import Reconciler
from runner.records import TaskState
from runner.taskrecord import TaskRecord

log = logging.getLogger("runner.pool")


@dataclass(eq=False)
class Account:
    label: str  # "" for the one implicit account of a run without an accounts file
    client: ApiClient
    limiter: AccountLimiter
    reconciler: Reconciler
    max_images: int | None = None
    committed: int = 0  # images of tasks sent through it (submitted or in doubt)
    waiting: int = 0  # submits queued on its limiter now
    alive: bool = True
    why_out: str = ""

    @property
    def name(self) -> str:
        return f"account {self.label!r}" if self.label else "the account"

    def room(self, images: int) -> bool:
        return self.max_images is None or self.committed + images <= self.max_images

    def headroom(self) -> float:
        """Calls a second it could take now, shared by the submits already waiting on it."""
        return self.limiter.rate / (1 + self.waiting)

    def api(self) -> dict[str, Any]:
        return {
            "calls": self.limiter.calls,
            "throttled_40001": self.limiter.throttles,
            "final_rate_qps": round(self.limiter.rate, 3),
            "alive": self.alive,
            **({"left_pool": self.why_out} if self.why_out else {}),
        }


class Pool:
    def __init__(self, accounts: list[Account]):
        if not accounts:
            raise ValueError("a pool needs an account")
        self.accounts = accounts
        self._by_label = {a.label: a for a in accounts}

    def __repr__(self) -> str:
        return "<Pool " + ", ".join(f"{a.label or '-'}:{a.limiter!r}" for a in self.accounts) + ">"

    def __iter__(self) -> Iterator[Account]:
        return iter(self.accounts)

    @property
    def labelled(self) -> bool:
        return any(a.label for a in self.accounts)

    @property
    def alive(self) -> list[Account]:
        return [a for a in self.accounts if a.alive]

    def of(self, rec: TaskRecord) -> Account:
        """The account a task was sent through (the first, for a task without a label)."""
        return self._by_label.get(rec.account, self.accounts[0])

    def knows(self, label: str) -> bool:
        return label in self._by_label

    def pick(self, images: int) -> Account | None:
        """The live account with the most headroom and budget for `images`; None if none."""
        best: Account | None = None
        for account in self.accounts:
            if not account.alive:
                continue
            if not account.room(images):
                self.retire(account, f"its budget of {account.max_images} images is spent")
                continue
            if best is None or account.headroom() > best.headroom():
                best = account
        return best

    def retire(self, account: Account, why: str) -> bool:
        """Take an account out of the pool; True while others are left."""
        if account.alive:
            account.alive, account.why_out = False, why
            left = ", ".join(a.label for a in self.alive) or "none"
            log.warning("%s leaves the pool: %s (accounts left: %s)", account.name, why, left)
        return bool(self.alive)

    def count_committed(self, records: dict[str, TaskRecord]) -> None:
        for rec in records.values():
            if rec.unique_id or rec.state is TaskState.IN_DOUBT:
                self.of(rec).committed += rec.images_expected

    # --- figures over the whole pool ------------------------------------------
    @property
    def rate(self) -> float:
        return sum(a.limiter.rate for a in self.alive) or self.accounts[0].limiter.rate

    @property
    def max_rate(self) -> float:
        return sum(a.limiter.controller.max_rate for a in self.alive) or self.rate

    @property
    def throttles(self) -> int:
        return sum(a.limiter.throttles for a in self.accounts)

    @property
    def calls(self) -> int:
        return sum(a.limiter.calls for a in self.accounts)

    def api(self) -> dict[str, Any]:
        """summary.json's `api`: totals, and per account when there are labels."""
        totals: dict[str, Any] = {
            "calls": self.calls,
            "throttled_40001": self.throttles,
            "final_rate_qps": round(sum(a.limiter.rate for a in self.accounts), 3),
        }
        if self.labelled:
            totals["accounts"] = {a.label: a.api() for a in self.accounts}
        return totals
