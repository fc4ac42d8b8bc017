"""Runs on this machine, so that one manifest is not paid for twice at once.

The run lock guards one run directory; it cannot see the same manifest run
into two directories (`--out e1`, `--out e2`) on one account, which pays for
every task twice, and whose lost-submit lookups could adopt each other's
tasks. So every run registers in a small machine-wide registry:

    $SEEDREAM_BATCH_REGISTRY, else $XDG_RUNTIME_DIR/seedream-batch,
    else ~/.cache/seedream-batch/runs

one JSON file per run directory: pid, run directory, manifest digest (its
task keys, which come from content), account (a digest of the base URL and
the app id or token), start and end. A live run holds an fcntl lock on its
file (written under a temporary name, locked, then renamed into place, so a
file in place is never unlocked while its run lives); a file whose lock can
be taken belongs to a run that ended or died. Registration is serialized by
a lock on the directory's `.lock`.

A second live run of the same manifest on the same account is refused unless
`--allow-concurrent`. A task another run has created but not yet recorded
(between the send of its submit and the answer in its ledger) is in no
ledger, so each run also publishes the requests of its submits in flight
(`<entry>.inflight`, written before the send, cleared after the answer is
recorded); a lookup waits until no other live run has its requests in flight
before it takes any task for them. Adoptions (in doubt, resume) take the directory's lock
and append what they adopt to the account's claims file, so two runs never
adopt the same task. Lookups (in doubt, resume, audit) skip every task that
another run on the same account recorded in its ledger (live, or ended in
the last two days).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import orjson

from runner.errors import ConcurrentRunError
from runner.rundir import ledger
from runner.rundir.inflight import InFlight, read_in_flight

ENV = "SEEDREAM_BATCH_REGISTRY"
KEEP_ENDED_S = 2 * 86_400.0  # entries of ended runs are pruned after this


def registry_dir() -> Path:
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "seedream-batch"
    return Path.home() / ".cache" / "seedream-batch" / "runs"


def manifest_digest(keys: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:24]


def account_digest(base_url: str, identity: str) -> str:
    return hashlib.sha256(f"{base_url.rstrip('/')}|{identity}".encode()).hexdigest()[:24]


INFLIGHT_MAX_S = 600.0  # a submit published longer ago than this belongs to a hung run


@dataclass(slots=True)
class Claim:
    taken: set[str]  # owned or claimed by other runs: never adopt these
    new: set[str] = field(default_factory=set)  # adopted now: claimed when the lock goes
    busy: set[bytes] = field(default_factory=set)  # requests other live runs have in flight


@contextlib.asynccontextmanager
async def no_claims() -> AsyncIterator[Claim]:
    """Outside the registry (--simulate): nobody else to agree with."""
    yield Claim(set())


@dataclass(frozen=True, slots=True)
class Entry:
    path: Path
    pid: int
    run_dir: str
    manifest: str
    account: str
    started: float
    ended: float | None
    live: bool


@contextlib.contextmanager
def _locked(fd: int, how: int) -> Iterator[bool]:
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except BlockingIOError:
        yield False
        return
    try:
        yield True
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _read(path: Path) -> Entry | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        with _locked(fd, fcntl.LOCK_SH) as free:
            raw = os.read(fd, 1 << 16)
        data: dict[str, Any] = orjson.loads(raw)
        ended = data.get("ended")
        if free and ended is None:  # its run died without saying so
            ended = os.fstat(fd).st_mtime
        return Entry(
            path,
            int(data["pid"]),
            str(data["run_dir"]),
            str(data["manifest"]),
            str(data["account"]),
            float(data["started"]),
            ended,
            not free,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, OSError):
        return None
    finally:
        os.close(fd)


class Registration:
    """This run's entry; `others_taken(since)` for the lookups."""

    def __init__(self, run_dir: Path, manifest: str, account: str):
        self.run_dir = str(run_dir.resolve())
        self.manifest, self.account = manifest, account
        self.dir = registry_dir()
        name = hashlib.sha256(self.run_dir.encode()).hexdigest()[:24]
        self.path = self.dir / f"{name}.json"
        self.started = time.time()
        self._fd = -1
        self._cache: dict[str, tuple[tuple[int, int], set[str]]] = {}
        self.in_flight = InFlight(self.path.with_suffix(".inflight"))

    def enter(self, allow_concurrent: bool) -> None:
        """Register; ConcurrentRunError if the same manifest runs live on this account."""
        self.dir.mkdir(parents=True, exist_ok=True)
        guard = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(guard, fcntl.LOCK_EX)
            for other in self.entries():
                if other.ended is not None and time.time() - other.ended > KEEP_ENDED_S:
                    other.path.unlink(missing_ok=True)
                elif (
                    other.live
                    and other.account == self.account
                    and other.manifest == self.manifest
                    and not allow_concurrent
                ):
                    raise ConcurrentRunError(other.run_dir, other.pid)
            self._fd = self._write(None)
        finally:
            os.close(guard)

    def _write(self, ended: float | None) -> int:
        body = {
            "pid": os.getpid(),
            "run_dir": self.run_dir,
            "manifest": self.manifest,
            "account": self.account,
            "started": self.started,
            "ended": ended,
        }
        temp = self.path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        if ended is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, orjson.dumps(body))
        os.replace(temp, self.path)
        return fd

    def entries(self) -> list[Entry]:
        found = [_read(p) for p in sorted(self.dir.glob("*.json")) if p != self.path]
        return [e for e in found if e is not None and e.run_dir != self.run_dir]

    def others_taken(self) -> set[str]:
        """Tasks recorded by the other runs on this account that are live or ended lately
        (never ours: a unique_id belongs to one run directory), and every task a run on
        this account claimed by adopting it."""
        taken: set[str] = set()
        for other in self.entries():
            if other.account == self.account:
                taken |= self._uids(Path(other.run_dir) / "ledger.jsonl")
        with contextlib.suppress(OSError):
            for line in self._claims_path.read_text(encoding="ascii").splitlines():
                uid, _, owner = line.partition(" ")
                if owner != self.path.stem:  # what an earlier process of ours claimed is ours
                    taken.add(uid)
        return taken

    def others_busy(self) -> set[bytes]:
        """Requests that other live runs on this account have sent and not yet recorded
        the answer of: a task for them may exist on the server and in no ledger yet."""
        busy: set[bytes] = set()
        now = time.time()
        for other in self.entries():
            if not other.live or other.account != self.account:
                continue
            sent = read_in_flight(other.path.with_suffix(".inflight"))
            for fp, t in sent.items():
                if isinstance(t, int | float) and now - t < INFLIGHT_MAX_S:
                    with contextlib.suppress(ValueError):
                        busy.add(bytes.fromhex(fp))
        return busy

    @property
    def _claims_path(self) -> Path:
        return self.dir / f"claims-{self.account}.txt"

    @contextlib.asynccontextmanager
    async def claiming(self) -> AsyncIterator[Claim]:
        """Adoption, one run at a time on this machine: two runs whose lost submits
        have the same request must not both adopt the task one of them created. The
        tasks adopted inside are appended to the account's claims (with the run
        directory's name, so a later process of the same run may still adopt them)
        before the lock goes."""
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            await anyio.to_thread.run_sync(fcntl.flock, fd, fcntl.LOCK_EX)
            busy = self.others_busy()  # first: an answer is in the ledger before it leaves here
            claim = Claim(self.others_taken(), busy=busy)
            yield claim
            if claim.new:
                with self._claims_path.open("a", encoding="ascii") as fh:
                    fh.write("".join(f"{uid} {self.path.stem}\n" for uid in sorted(claim.new)))
        finally:
            os.close(fd)

    def _uids(self, path: Path) -> set[str]:
        try:
            st = path.stat()
        except OSError:
            return set()
        stamp = (st.st_size, st.st_mtime_ns)
        cached = self._cache.get(str(path))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            replay = ledger.read(path)
        except Exception:
            return set()
        uids = replay.known_uids() | set(replay.duplicates)
        self._cache[str(path)] = (stamp, uids)
        return uids

    def close(self) -> None:
        """Mark the run ended (its tasks stay visible to lookups for a while) and unlock."""
        if self._fd < 0:
            return
        with contextlib.suppress(OSError):
            os.close(self._write(time.time()))
        self.in_flight.close()
        os.close(self._fd)
        self._fd = -1
