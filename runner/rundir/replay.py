"""Fold ledger events into each task's current state.

Events (`e`), in the order a task meets them:
  planned       key, name, req, src          a task of the manifest
  intent        key, attempt, [refs], [acct] about to send a submit (fsynced first); refs:
                                             the ref_img_url sent, when it held uploads or
                                             other tasks' outputs
                                             acct: the pool account's label, if any
  not_sent      key, why                     the answer says nothing was created (40001, ...)
  submitted     key, uid, trace              the answer: the server's unique_id
  adopted       key, uid                     an in-doubt submit found on the server
  not_created   key                          an in-doubt submit found absent: may resubmit
  rejected      key, code, msg, trace        400/40000: final
  finished      key, uid, status, urls, err  the API reports Success or Error
  downloaded    key, i, path, sha256, size   image i is on disk
  image_failed  key, i, error                image i could not be fetched, for good
  failed        key, error                   final for another reason
  retry         key, attempt[, prompt, why]  --retry-failed or --reroll-rejected: a new
                                             attempt (the earlier one is kept in `earlier`)
  decision      key, attempt, d[, prompt]    review: keep / reject (d null: undecided), and
                                             the edited prompt a reroll should send
  dropped       key                          no longer in the manifest and never sent
  uploaded      sha256, url                  a local reference image is on the server
  localref      sha256, name, copy           a local reference's file name as the user wrote
                                             it, and its thumbnail copy in the run directory
  run           pid, what                    a run started or ended (status uses it)
  duplicate     key, uid, status, files      the audit found task `key` created twice
  audit         since, until, found          an audit listed the account's tasks so far
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import orjson

from runner.errors import LedgerVersionError
from runner.records import Attempt, ImageFile, Request, TaskSpec, TaskState
from runner.rundir.chainstate import mark_parents, settle_blocked
from runner.taskrecord import TaskRecord

if TYPE_CHECKING:
    from runner.rundir.parking import Shelf

FORMAT_VERSION = 1
log = logging.getLogger("runner.ledger")


@dataclass
class Replay:
    records: dict[str, TaskRecord] = field(default_factory=dict)
    uploads: dict[str, tuple[str, float]] = field(default_factory=dict)  # sha256 -> (URL, when)
    ref_names: dict[str, tuple[str, str]] = field(default_factory=dict)  # sha256 -> (name, copy)
    adopted: int = 0
    resubmitted: int = 0
    bad_lines: int = 0
    events: int = 0
    first_t: float | None = None
    last_t: float | None = None
    last_progress_t: float | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    checkpoint_events: int = 0  # of `events`, how many came from a checkpoint
    # The end-of-run audit: uid -> {key, status, files} of tasks created twice
    duplicates: dict[str, dict[str, Any]] = field(default_factory=dict)
    audited_until: float | None = None
    # Where done tasks' details are parked while a run holds this (rundir.parking)
    shelf: Shelf | None = field(default=None, compare=False, repr=False)

    def duplicates_billed(self) -> int:
        """Tasks the audit found created twice; a failed one is not charged."""
        return sum(1 for d in self.duplicates.values() if d.get("status") not in ("Error", "Fail"))

    def known_uids(self) -> set[str]:
        """Every server task the ledger owns, earlier attempts' too (never adopt those again)."""
        uids = {r.unique_id for r in self.records.values() if r.unique_id}
        uids.update(
            a.unique_id
            for r in self.records.values()
            if not r.parked  # a parked task has no earlier attempt (rundir.parking)
            for a in r.earlier
            if a.unique_id
        )
        return uids


def _planned(r: Replay, ev: dict[str, Any]) -> None:
    if ev["key"] not in r.records:
        spec = TaskSpec(
            ev["key"], ev.get("name", ""), Request.from_json(ev["req"]), ev.get("src", "")
        )
        r.records[spec.key] = TaskRecord(spec)
        mark_parents(r.records, spec)


def _intent(rec: TaskRecord, ev: dict[str, Any], r: Replay) -> None:
    rec.state, rec.intent_at = TaskState.IN_DOUBT, ev["t"]
    rec.attempt = ev.get("attempt", rec.attempt)
    rec.sent_refs = ev.get("refs")
    rec.account = ev.get("acct", "")


def _not_sent(rec: TaskRecord, ev: dict[str, Any], r: Replay) -> None:
    rec.state, rec.intent_at = TaskState.PLANNED, None


def _not_created(rec: TaskRecord, ev: dict[str, Any], r: Replay) -> None:
    rec.state, rec.intent_at = TaskState.PLANNED, None
    r.resubmitted += 1


def _submitted(rec: TaskRecord, ev: dict[str, Any], r: Replay) -> None:
    rec.state, rec.unique_id, rec.submitted_at = TaskState.SUBMITTED, ev["uid"], ev["t"]
    rec.intent_at, rec.trace_id = None, ev.get("trace")
    if ev["e"] == "adopted":
        r.adopted += 1
        rec.account = ev.get("acct", rec.account)  # found in a pool account's task list


def _rejected(rec: TaskRecord, ev: dict[str, Any], r: Replay) -> None:
    rec.state, rec.intent_at = TaskState.FAILED, None
    rec.error = f"rejected by the API: {ev.get('msg', '')} (code {ev.get('code')})"
    rec.trace_id = ev.get("trace")


def _finished(rec: TaskRecord, ev: dict[str, Any], r: Replay) -> None:
    rec.finished_at = ev["t"]
    if ev["status"] == "Success":
        rec.state, rec.urls = TaskState.SUCCEEDED, ev.get("urls", ())
        settle_images(rec)
    else:
        rec.state = TaskState.FAILED
        rec.error = f"generation failed: {ev.get('err') or ev['status']}"


def settle_images(rec: TaskRecord) -> None:
    accounted = len(rec.files) + len(rec.image_errors)
    if accounted >= rec.images_expected:
        if rec.image_errors:
            rec.state = TaskState.FAILED
            rec.error = "; ".join(
                f"image {i + 1}: {e}" for i, e in sorted(rec.image_errors.items())
            )
        else:
            rec.state = TaskState.DONE
            if not rec.has_children:  # children may be sent its URLs as references
                rec.urls = ()  # every image is on disk: a finished task keeps no URLs


def _downloaded(rec: TaskRecord, ev: dict[str, Any], r: Replay) -> None:
    rec.add_file(ev["i"], ImageFile(ev["path"], ev["sha256"], ev["size"]))
    rec.drop_image_error(ev["i"])
    settle_images(rec)


def _image_failed(rec: TaskRecord, ev: dict[str, Any], r: Replay) -> None:
    rec.add_image_error(ev["i"], ev["error"])
    settle_images(rec)


def _failed(rec: TaskRecord, ev: dict[str, Any], r: Replay) -> None:
    rec.state, rec.error, rec.intent_at = TaskState.FAILED, ev["error"], None


def _retry(rec: TaskRecord, ev: dict[str, Any], r: Replay) -> None:
    if ev["attempt"] <= rec.attempt:
        return  # already folded (the run applies its plan, then the ledger folds what it writes)
    rec.add_earlier(
        Attempt(
            rec.attempt,
            rec.spec.request.prompt,
            rec.unique_id,
            tuple(rec.files[i] for i in sorted(rec.files)),
            rec.decision,
            rec.error,
            rec.submitted_at,
            rec.finished_at,
        )
    )
    if ev.get("prompt"):  # a reroll with an edited prompt: the key stays the manifest's
        rec.spec = replace(rec.spec, request=replace(rec.spec.request, prompt=ev["prompt"]))
    rec.decision = rec.reroll_prompt = None
    rec.state, rec.attempt = TaskState.PLANNED, ev["attempt"]
    rec.unique_id = rec.error = rec.trace_id = rec.submitted_at = rec.finished_at = None
    rec.clear_outputs()


DECISIONS = ("keep", "reject")


def _decision(rec: TaskRecord, ev: dict[str, Any], r: Replay) -> None:
    d = ev["d"] if ev["d"] in DECISIONS else None
    if ev.get("attempt", rec.attempt) == rec.attempt:
        rec.decision = d
        rec.reroll_prompt = (ev.get("prompt") or None) if d == "reject" else None
        return
    for n, old in enumerate(rec.earlier):  # a page still showing an earlier attempt
        if old.attempt == ev["attempt"]:
            rec.replace_earlier(n, replace(old, decision=d))


TaskHandler = Callable[[TaskRecord, dict[str, Any], Replay], None]
TASK_EVENTS: dict[str, TaskHandler] = {
    "intent": _intent,
    "not_sent": _not_sent,
    "not_created": _not_created,
    "submitted": _submitted,
    "adopted": _submitted,
    "rejected": _rejected,
    "finished": _finished,
    "downloaded": _downloaded,
    "image_failed": _image_failed,
    "failed": _failed,
    "retry": _retry,
    "decision": _decision,
}
PROGRESS_EVENTS = {"submitted", "adopted", "finished", "downloaded", "rejected"}


def apply(r: Replay, ev: dict[str, Any]) -> None:
    kind = ev["e"]
    handler = TASK_EVENTS.get(kind)
    if handler is not None:
        rec = r.records.get(ev["key"])
        if rec is not None:
            handler(rec, ev, r)
            if kind in PROGRESS_EVENTS:
                r.last_progress_t = ev["t"]
    elif kind == "planned":
        _planned(r, ev)
    elif kind == "dropped":
        dropped = r.records.pop(ev["key"], None)
        if dropped is not None:
            dropped.unpark()  # no longer counted among the parked (rundir.parking)
    elif kind == "uploaded":
        r.uploads[ev["sha256"]] = (ev["url"], ev["t"])
    elif kind == "localref":
        r.ref_names[ev["sha256"]] = (ev["name"], ev.get("copy", ""))
    elif kind == "run":
        r.runs.append(ev)
    elif kind == "duplicate":
        r.duplicates[ev["uid"]] = {k: ev[k] for k in ("key", "status", "files")}
    elif kind == "audit":
        r.audited_until = ev["until"]
    elif kind == "header" and ev.get("v", 1) > FORMAT_VERSION:
        raise LedgerVersionError(
            f"ledger format {ev['v']} is newer than this tool understands ({FORMAT_VERSION})"
        )


def note(r: Replay, ev: dict[str, Any]) -> None:
    """Count an applied event and keep its time."""
    r.events += 1
    t = ev.get("t")
    if isinstance(t, float | int):
        r.first_t = t if r.first_t is None else r.first_t
        r.last_t = t


def replay_lines(
    lines: Iterable[bytes],
    name: str,
    start: Replay | None = None,
    first_line: int = 1,
    touched: set[str] | None = None,
) -> Replay:
    """Fold `lines` into `start` (a checkpoint's state, or what a follower of a
    growing ledger has so far) or into an empty Replay; `touched` collects the
    keys of the tasks they changed."""
    r = Replay() if start is None else start
    for lineno, line in enumerate(lines, first_line):
        if not line.strip():
            continue
        try:
            ev = orjson.loads(line)
            apply(r, ev)
            if touched is not None and "key" in ev:
                touched.add(ev["key"])
        except LedgerVersionError as exc:
            raise LedgerVersionError(f"{name}: {exc}; nothing was done") from None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            r.bad_lines += 1
            log.warning("%s line %d: not a valid event (%s), skipped", name, lineno, exc)
            continue
        note(r, ev)
    settle_blocked(r.records)
    return r
