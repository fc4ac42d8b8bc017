"""Every error the runner raises on purpose, and every exit code, in one place.

    SeedreamError
    ├── UsageError              bad command line                        exit 2
    │   └── AccountsError       every problem in an --accounts file     exit 2
    ├── ManifestError           every problem in a manifest at once     exit 2
    │   (built from the per-field problems below, each with its place)
    ├── RunDirError             not a run directory, or its ledger is unreadable  exit 2
    │   └── LedgerVersionError  the ledger was written by a newer version      exit 2
    ├── LockedError             another run holds the directory         exit 75
    │   └── ConcurrentRunError  a live run of the same manifest on the account  exit 75
    ├── DiskWriteError          the run directory cannot be written (disk full,
    │                           quota, read-only, I/O error): a clean stop       exit 4
    ├── ApiError                a business code or transport failure, with trace_id
    │   ├── PermanentApiError   400, 40000: this request will never work
    │   ├── RateLimited         40001: not executed; slow the account down
    │   ├── AuthError           10400 or bad credentials                exit 3
    │   └── TransientApiError   50000, 5xx, HTML, resets, timeouts, malformed bodies
    │       (`maybe_sent` tells a submit whether a task may have been created)
    ├── DownloadError           an output image could not be fetched or was not an image
    ├── UploadFailed            a local reference image could not be uploaded (task fails)
    └── manifest problems, caught by the loader and turned into ManifestIssues:
        ├── YamlProblem         not valid YAML, at a line and column
        ├── FieldProblem        a field's value is not accepted
        ├── LocalRefProblem     a local reference image is missing or not an image
        └── MissingVar          a {placeholder} has no value

    StillInDoubt                a lost submit not settled before the run stopped:
                                the task stays in doubt for the next run (a signal
                                between pipeline stages, never shown to a user)
    ModelTableError             the bundled models.json is malformed: a bug in the
                                package, so it is not mapped to an exit code
    (submit._Stopped and transfer._Dropped are private control flow, raised and
    caught inside their one module.)

    OSError from the run directory (cli maps it, no traceback):
        permission denied, not found, not a directory        exit 2
        disk full (ENOSPC, EDQUOT)                           exit 4 (the ledger is valid)
    (`run` itself turns DISK_ERRNOS into DiskWriteError and stops cleanly.)

Exit codes: 0 all done, 1 some tasks failed for good, 2 usage/manifest/run
directory (nothing submitted), 3 authentication, 4 stopped early with work
left (deadline, signal, disk full: run again to resume), 75 locked.
Expected API failures become ledger events; only bugs and AuthError end a run.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

EXIT_OK = 0  # every task succeeded and every image is on disk
EXIT_FAILED = 1  # finished, but some tasks failed for good
EXIT_USAGE = 2  # usage, manifest or run-directory error; nothing was submitted
EXIT_AUTH = 3  # authentication failed
EXIT_STOPPED = 4  # stopped early with work left; run again to resume
EXIT_LOCKED = 75  # another run holds the lock (EX_TEMPFAIL); nothing was done


class SeedreamError(Exception):
    """Base of the runner's own errors."""


class UsageError(SeedreamError):
    pass


@dataclass(frozen=True, slots=True)
class ManifestIssue:
    file: str
    line: int  # 1-based; 0 when the problem is not tied to a line
    column: int
    field: str  # a path such as tasks[3].aspect_ratio
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        text = (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )
        return f"{text} (hint: {self.hint})" if self.hint else text


class ManifestError(SeedreamError):
    def __init__(self, issues: list[ManifestIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class RunDirError(SeedreamError):
    """A run directory that cannot be read as one (status, report, run)."""


class LedgerVersionError(RunDirError):
    pass


class AccountsError(UsageError):
    """Every problem in an --accounts file, each with its place (like a manifest's)."""

    def __init__(self, issues: list[ManifestIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class LockedError(SeedreamError):
    def __init__(self, path: str, pid: int | None):
        self.path, self.pid = path, pid
        holder = f"process {pid}" if pid else "another process"
        super().__init__(f"{path} is locked by {holder}; nothing was done")


class ConcurrentRunError(LockedError):
    """The same manifest content is being run on the same account from another
    run directory on this machine: two runs would pay for every task twice."""

    def __init__(self, path: str, pid: int | None):
        self.path, self.pid = path, pid
        SeedreamError.__init__(
            self,
            f"the same manifest is already running on this account into {path} "
            f"(process {pid}); nothing was done (pass --allow-concurrent if both runs are meant)",
        )


DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


class DiskWriteError(SeedreamError):
    """A write to the run directory failed for a reason no retry fixes soon:
    the disk is full (ENOSPC), a quota is exhausted (EDQUOT), the file system is
    read-only (EROFS) or failing (EIO). The run stops cleanly: exit 4."""

    def __init__(self, path: str, cause: OSError):
        self.path, self.cause = path, cause
        name = errno.errorcode.get(cause.errno or 0, "")
        why = cause.strerror or str(cause)
        super().__init__(f"cannot write {path}: {why}" + (f" ({name})" if name else ""))


class ApiError(SeedreamError):
    def __init__(
        self, message: str, *, code: int | None = None, trace_id: str = "", endpoint: str = ""
    ):
        self.code, self.trace_id, self.endpoint, self.message = code, trace_id, endpoint, message
        parts = [f"{endpoint}: " if endpoint else "", message]
        if code is not None:
            parts.append(f" (code {code})")
        if trace_id:
            parts.append(f" [trace_id {trace_id}]")
        super().__init__("".join(parts))


class PermanentApiError(ApiError):
    pass


class RateLimited(ApiError):
    sent_at: float | None = None  # when the refused call left (limiter clock)


class AuthError(ApiError):
    pass


class TransientApiError(ApiError):
    def __init__(self, message: str, *, maybe_sent: bool = True, **kw: object):
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.maybe_sent = maybe_sent


class DownloadError(SeedreamError):
    def __init__(self, url: str, reason: str, *, refreshable: bool):
        self.url, self.reason, self.refreshable = url, reason, refreshable
        super().__init__(f"download failed: {reason}")


class UploadFailed(SeedreamError):
    pass


class YamlProblem(SeedreamError):
    def __init__(self, line: int, column: int, message: str, hint: str = ""):
        self.line, self.column, self.message, self.hint = line, column, message, hint
        super().__init__(message)


class FieldProblem(SeedreamError):
    def __init__(self, message: str, hint: str = "", index: int | None = None):
        self.message, self.hint, self.index = message, hint, index
        super().__init__(message)


class LocalRefProblem(SeedreamError):
    pass


class MissingVar(SeedreamError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(name)


class StillInDoubt(Exception):  # not a SeedreamError: nothing may catch it as a failure
    """The run stopped before a lost submit could be settled; it stays in doubt."""


class ModelTableError(Exception):
    """The bundled models.json is malformed: a bug in the package, not in a manifest."""
