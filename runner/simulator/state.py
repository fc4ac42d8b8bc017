"""The simulated account: tasks, tokens, uploads, the QPS window, and records.

The records (`submissions`, `served`) are the simulator's own view of what it
was asked and what it sent, so tests can check "submitted once" and
"byte-identical" against the server, not against the runner's word.
"""

from __future__ import annotations

import collections
import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner import modeltable
from runner.simulator.accounts import AccountState, extra_accounts
from runner.simulator.config import SimConfig
from runner.simulator.outputs import task_type


@dataclass(slots=True)
class SimTask:
    id: int
    unique_id: str
    body: dict[str, Any]
    created_wall: float
    created_mono: float
    queue_s: float
    gen_s: float
    fails: bool
    url_version: int = 0  # bumped when the CDN has "expired" a URL
    account: str = ""  # app_id of the account that owns it; "" = the primary account
    list_type: int = 0  # 3 image, 4 video (task_type of its body), once a listing asked

    def kind(self) -> int:
        if not self.list_type:
            self.list_type = task_type(self.body)
        return self.list_type

    def progress(self, now_mono: float) -> str:
        age = now_mono - self.created_mono
        if age < self.queue_s:
            return "Queued"
        if age < self.queue_s + self.gen_s:
            return "Generating"
        return "Error" if self.fails else "Success"


@dataclass(slots=True)
class SimUpload:
    file_id: str
    key: str
    name: str
    mime_type: str
    data: bytes | None = None
    put_mono: float | None = None


@dataclass
class SimState:
    config: SimConfig
    tasks: dict[str, SimTask] = field(default_factory=dict)
    submissions: list[dict[str, Any]] = field(default_factory=list)
    # routes_tasks: the last whole listing, by account, type and the tasks made so far
    list_cache: dict[tuple[Any, ...], list[SimTask]] = field(default_factory=dict)
    served: dict[str, str] = field(default_factory=dict)  # CDN path -> sha256 of full body
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (unix time)
    uploads: dict[str, SimUpload] = field(default_factory=dict)
    upload_puts: list[str] = field(default_factory=list)  # sha256 of each uploaded body
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    rejected_40001: int = 0
    mangled: collections.Counter[str] = field(default_factory=collections.Counter)
    cdn_fetches: collections.Counter[tuple[str, int]] = field(default_factory=collections.Counter)
    cdn_bytes: collections.Counter[str] = field(
        default_factory=collections.Counter
    )  # sent, by path
    _draws: collections.Counter[tuple[object, ...]] = field(default_factory=collections.Counter)
    window: collections.deque[float] = field(default_factory=collections.deque)
    file_window: collections.deque[float] = field(default_factory=collections.deque)
    # Observers of what the server does ("submit", "served", "call"), for tests and the bench.
    listeners: list[Callable[[str, Any], None]] = field(default_factory=list)
    # Where changes to the account go to outlive the process (see journal.py); None: memory only.
    journal: Callable[[dict[str, Any]], None] | None = None
    save_upload: Callable[[str, bytes], None] | None = None
    # The pool: every account but the primary, and which account each token belongs to.
    accounts: dict[str, AccountState] = field(default_factory=dict)
    token_account: dict[str, str] = field(default_factory=dict)
    foreign_queries: int = 0  # task ids asked about through an account that does not own them
    # How many ids each id-filtered /task/page call asked about (polls, not listings).
    id_queries: list[int] = field(default_factory=list)
    primary: AccountState = field(init=False)

    def __post_init__(self) -> None:
        cfg = self.config
        self.primary = AccountState("", cfg.secret_key, cfg.qps_limit)
        self.accounts = extra_accounts(cfg.accounts)

    def _keep(self, event: dict[str, Any]) -> None:
        if self.journal is not None:
            self.journal(event)

    def notify(self, what: str, detail: Any) -> None:
        for listener in self.listeners:
            listener(what, detail)

    def draw(self, *identity: object) -> float:
        """A number in [0, 1) that depends only on the seed and what is asked.

        The n-th draw for the same identity (a fault and a request, say) is the
        n-th number of its own sequence, so a seed reproduces the same faults
        and timings for the same requests however concurrent tasks interleave.
        """
        self._draws[identity] += 1
        text = f"{self.config.seed}|{identity!r}|{self._draws[identity]}"
        digest = hashlib.sha256(text.encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def chance(self, rate: float, *identity: object) -> bool:
        return rate > 0 and self.draw(*identity) < rate

    def uniform(self, low: float, high: float, *identity: object) -> float:
        return low + (high - low) * self.draw(*identity)

    def new_id(self, *identity: object) -> str:
        bits = int(self.draw("id", *identity) * 2**64) << 64 | int(
            self.draw("id2", *identity) * 2**64
        )
        return str(uuid.UUID(int=bits, version=4))

    # --- rate limits -------------------------------------------------------
    def account(self, key: str) -> AccountState:
        return self.accounts.get(key) or self.primary

    def account_of_token(self, token: str | None) -> str:
        return self.token_account.get(token or "", "")

    def login(self, app_id: object, secret_key: object) -> str | None:
        """The account these credentials open, or None (wrong, or revoked)."""
        if app_id == self.config.app_id and secret_key == self.config.secret_key:
            return None if self.primary.revoked else ""
        extra = self.accounts.get(app_id) if isinstance(app_id, str) else None
        if extra is None or extra.secret_key != secret_key or extra.revoked:
            return None
        return extra.app_id

    def revoke(self, key: str) -> None:
        """Take an account's credentials away: its tokens die, no new one is issued."""
        self.account(key).revoked = True
        for token, owner in list(self.token_account.items()):
            if owner == key:
                self.tokens.pop(token, None)
        if key == "":
            owned = set(self.token_account)
            for token in [t for t in self.tokens if t not in owned]:
                del self.tokens[token]
        self.notify("revoke", key)

    def admit_account(self, now_mono: float, key: str) -> bool:
        """The QPS window of the account `key` (the primary's is `admit`)."""
        if key == "":
            return self.admit(now_mono)
        admitted = self.accounts[key].admit(now_mono, self.config.count_rejected)
        self.rejected_40001 += not admitted  # the server's total, over every account
        return admitted

    def admit(self, now_mono: float) -> bool:
        """Sliding one-second window over the whole account."""
        limit = self.config.qps_limit
        if limit is None:
            return True
        while self.window and self.window[0] <= now_mono - 1.0:
            self.window.popleft()
        if len(self.window) >= limit:
            self.rejected_40001 += 1
            self.primary.rejected_40001 += 1
            if self.config.count_rejected:
                self.window.append(now_mono)
            return False
        self.window.append(now_mono)
        return True

    def admit_file(self, now_mono: float) -> bool:
        while self.file_window and self.file_window[0] <= now_mono - 60.0:
            self.file_window.popleft()
        if len(self.file_window) >= self.config.file_limit_per_min:
            self.rejected_40001 += 1
            return False
        self.file_window.append(now_mono)
        return True

    # --- tokens ------------------------------------------------------------
    def issue_token(self, account: str = "") -> tuple[str, int]:
        token = secrets.token_hex(16)
        expiry = time.time() + self.config.token_lifetime_s
        self.tokens[token] = expiry
        if account:
            self.token_account[token] = account
        self._keep({"e": "token", "token": token, "exp": expiry, "acct": account})
        return token, int(expiry)

    def token_valid(self, token: str | None) -> bool:
        return token is not None and self.tokens.get(token, 0.0) > time.time()

    # --- tasks -------------------------------------------------------------
    def create_task(self, body: dict[str, Any], account: str = "") -> SimTask:
        cfg, fp = self.config, _fingerprint(body)
        task = SimTask(
            id=len(self.tasks) + 1,
            unique_id=self.new_id("task", fp),
            body=body,
            created_wall=time.time(),
            created_mono=time.monotonic(),
            queue_s=self.uniform(*cfg.queue_s, "queue", fp),
            gen_s=self.uniform(*self.gen_range(body), "gen", fp),
            fails=self.chance(cfg.fail_rate, "fail", fp),
            account=account,
        )
        self.account(account).bodies[fp] += 1
        self._keep(
            {
                "e": "task",
                "id": task.id,
                "uid": task.unique_id,
                "fp": fp,
                "body": body,
                "wall": task.created_wall,
                "queue_s": task.queue_s,
                "gen_s": task.gen_s,
                "fails": task.fails,
                "acct": account,
            }
        )
        self.tasks[task.unique_id] = task
        self.submissions.append({"unique_id": task.unique_id, "body": body})
        self.notify("submit", task)
        return task

    def gen_range(self, body: dict[str, Any]) -> tuple[float, float]:
        """How long this task's model takes (see SimConfig.model_time_scale)."""
        cfg = self.config
        spec = modeltable.find(str(body.get("model_code")))
        if cfg.model_time_scale is not None and spec is not None:
            return spec.gen_s[0] * cfg.model_time_scale, spec.gen_s[1] * cfg.model_time_scale
        return cfg.video_gen_s if spec is not None and spec.is_video else cfg.gen_s

    def replay_task(self, fp: str) -> None:
        """Advance the draws `create_task` made, so a restored account never reuses an id."""
        for identity in (("id", "task", fp), ("id2", "task", fp), ("queue", fp), ("gen", fp)):
            self._draws[identity] += 1
        if self.config.fail_rate > 0:
            self._draws[("fail", fp)] += 1

    def expire_url(self, task: SimTask) -> None:
        task.url_version += 1
        self._keep({"e": "url", "uid": task.unique_id, "v": task.url_version})

    # --- uploads -----------------------------------------------------------
    def add_upload(self, name: str, mime_type: str) -> SimUpload:
        file_id = self.new_id("file", name).replace("-", "")
        key = f"{file_id}/{name.rsplit('/', 1)[-1]}"
        upload = SimUpload(file_id=file_id, key=key, name=name, mime_type=mime_type)
        self._keep({"e": "upload", "file_id": file_id, "key": key, "name": name, "mime": mime_type})
        self.uploads[file_id] = upload
        return upload

    def replay_upload(self, name: str) -> None:
        self._draws[("id", "file", name)] += 1
        self._draws[("id2", "file", name)] += 1

    def put_upload(self, upload: SimUpload, data: bytes) -> None:
        sha = hashlib.sha256(data).hexdigest()
        if self.journal is not None and self.save_upload is not None:
            self.save_upload(upload.file_id, data)
            self._keep({"e": "put", "file_id": upload.file_id, "sha": sha, "wall": time.time()})
        upload.data, upload.put_mono = data, time.monotonic()
        self.upload_puts.append(sha)

    def stats(self) -> dict[str, Any]:
        return {
            "submissions": len(self.submissions),
            "tasks": len(self.tasks),
            "calls": dict(self.calls),
            "total_calls": sum(self.calls.values()),
            "rejected_40001": self.rejected_40001,
            "uploads": len(self.upload_puts),
            "served": len(self.served),
            "foreign_queries": self.foreign_queries,
            "accounts": {
                key: acct.stats() for key, acct in [("", self.primary), *self.accounts.items()]
            },
        }


def _fingerprint(body: Any) -> str:
    return hashlib.sha256(repr(body).encode()).hexdigest()[:16]
