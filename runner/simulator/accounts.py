"""Several accounts on one simulator, so a pool of accounts can be tested on one machine.

The primary account is the config's own `app_id` / `secret_key` / `qps_limit`
(key ""); `SimConfig.accounts` adds more, each with its own credentials, its
own one-second QPS window, its own tokens and its own tasks (one account
never sees another's in the task list). `revoke` takes an account's
credentials away mid-run (its tokens stop working and no new one is issued),
as an operator rotating a leaked key would.
"""

from __future__ import annotations

import collections
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SimAccount:
    app_id: str
    secret_key: str
    qps_limit: float | None = 20.0


@dataclass
class AccountState:
    app_id: str
    secret_key: str
    qps_limit: float | None
    window: collections.deque[float] = field(default_factory=collections.deque)
    calls: int = 0
    rejected_40001: int = 0
    revoked: bool = False
    bodies: Counter[str] = field(default_factory=Counter)  # submit fingerprint -> count

    def admit(self, now_mono: float, count_rejected: bool) -> bool:
        """Sliding one-second window over this account's calls."""
        if self.qps_limit is None:
            return True
        while self.window and self.window[0] <= now_mono - 1.0:
            self.window.popleft()
        if len(self.window) >= self.qps_limit:
            self.rejected_40001 += 1
            if count_rejected:
                self.window.append(now_mono)
            return False
        self.window.append(now_mono)
        return True

    def stats(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            "rejected_40001": self.rejected_40001,
            "submissions": self.bodies.total(),
            "duplicates": sum(n - 1 for n in self.bodies.values() if n > 1),
            "revoked": int(self.revoked),
        }


def extra_accounts(accounts: tuple[SimAccount, ...]) -> dict[str, AccountState]:
    return {a.app_id: AccountState(a.app_id, a.secret_key, a.qps_limit) for a in accounts}
