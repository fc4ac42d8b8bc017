"""Before a run goes on: bring the ledger in line with the manifest, and check
what earlier runs left on disk."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from runner.pipeline.download import verify_files
from runner.pipeline.wiring import OpenRun
from runner.records import TaskSpec, TaskState
from runner.rundir import checkpoint, manifestmark
from runner.rundir.chainstate import mark_parents, settle_blocked
from runner.rundir.files import clean_partials
from runner.rundir.ledger import Ledger
from runner.rundir.manifestmark import RunTasks
from runner.rundir.refcopies import record_local_refs
from runner.rundir.replay import Replay, apply
from runner.taskrecord import TaskRecord

log = logging.getLogger("runner.run")


def prepare_run(run: OpenRun, tasks: RunTasks, manifest_dir: Path) -> int:
    """Bring the ledger in line with the manifest and the disk; returns how many tasks are new."""
    record_local_refs(run.run_dir, run.ledger, run.replay, run.files, manifest_dir)
    opts, loaded = run.options, tasks.loaded
    if loaded.expanded:
        manifestmark.forget(run.run_dir)
        new = plan(run.ledger, run.replay, loaded.specs, opts.retry_failed, opts.reroll_rejected)
        if tasks.inputs is not None:  # the ledger holds this manifest's tasks now
            records = run.replay.records
            others: Collection[str] = ()  # mostly: the ledger holds the manifest alone
            if len(records) > len(loaded.specs):
                others = records.keys() - {spec.key for spec in loaded.specs}
            manifestmark.write(run.run_dir, tasks, others)
    else:
        log.info(
            "manifest unchanged since the last run: its %d tasks are the ledger's, "
            "not expanded again",
            loaded.in_ledger,
        )
        new = plan(
            run.ledger, run.replay, None, opts.retry_failed, opts.reroll_rejected, loaded.others
        )
    # New tasks planned: a snapshot now, or the next resume replays every one of them.
    # Otherwise the run's own checkpointing takes it (a 1,000,000-task snapshot holds
    # the loop three seconds: not before the first submit of a resume).
    if new and checkpoint.due(run.ledger, run.options.checkpoint_events):
        run.ledger.checkpoint()  # before check_images, which corrects records in memory only
    clean_partials(run.run_dir / "images")
    clean_partials(run.run_dir / "videos")
    redo = check_images(run.run_dir, run.replay)
    if redo:
        log.warning("%d recorded image(s) missing or unusable; fetching them again", redo)
    blocked = settle_blocked(run.replay.records)  # a retried or re-fetched parent unblocks
    if blocked:
        log.warning("%d task(s) blocked: a task whose outputs they need failed for good", blocked)
    return new


def plan(
    ledger: Ledger,
    replay: Replay,
    specs: list[TaskSpec] | None,
    retry_failed: bool,
    reroll_rejected: bool = False,
    others: Collection[str] = (),
) -> int:
    """Record new tasks, drop never-sent tasks the manifest no longer has, mark
    --retry-failed and --reroll-rejected tasks as new attempts; returns how many
    tasks are new.

    `specs` None: the ledger holds the manifest's tasks already (rundir.manifestmark),
    none is new or dropped, and its tasks are all it holds but `others`."""
    records = replay.records
    new = 0
    wanted: set[str] | None = None  # None: every task the ledger holds is the manifest's
    dropped: list[dict[str, Any]] = []
    if specs is not None:
        new = _record_new(ledger, records, specs)
        if len(records) > len(specs):  # (keys are unique) tasks of an earlier manifest too
            wanted = {spec.key for spec in specs}
            dropped = [
                {"e": "dropped", "key": key}
                for key, rec in records.items()
                if key not in wanted and rec.state is TaskState.PLANNED
            ]
            for event in dropped:
                del records[event["key"]]
    elif others and (retry_failed or reroll_rejected):
        wanted = set(records).difference(others)
    events: list[dict[str, Any]] = dropped
    for rec in records.values() if retry_failed or reroll_rejected else ():
        if wanted is None or rec.key in wanted:
            retry = new_attempt(rec, retry_failed, reroll_rejected)
            if retry is not None:
                events.append(retry)
                apply(replay, retry)  # keeps the earlier attempt and its files; folds once
    ledger.write_many(events, durable=True)
    return new


def _record_new(ledger: Ledger, records: dict[str, TaskRecord], specs: list[TaskSpec]) -> int:
    new = 0

    def planned() -> Iterator[dict[str, Any]]:
        """Made as they are written: a million events are never held at once."""
        nonlocal new
        for spec in specs:
            if spec.key not in records:
                records[spec.key] = TaskRecord(spec)
                mark_parents(records, spec)
                new += 1
                yield {
                    "e": "planned",
                    "key": spec.key,
                    "name": spec.name,
                    "req": spec.request.to_json(),
                    "src": spec.source,
                }

    ledger.write_many(planned())  # made durable with the events after it
    return new


def new_attempt(
    rec: TaskRecord, retry_failed: bool, reroll_rejected: bool
) -> dict[str, Any] | None:
    """The retry event that starts a task over, if a flag asks for it (plan shows it too).

    A rejected task is rerolled once it is final, with the edited prompt from
    review when one was given; the new attempt starts undecided."""
    if reroll_rejected and rec.decision == "reject" and rec.state.final:
        event: dict[str, Any] = {"e": "retry", "key": rec.key, "attempt": rec.attempt + 1}
        event["why"] = "rejected"
        if rec.reroll_prompt:
            event["prompt"] = rec.reroll_prompt
        return event
    if retry_failed and rec.state is TaskState.FAILED and not rec.image_errors:
        return {"e": "retry", "key": rec.key, "attempt": rec.attempt + 1}
    return None


def check_images(run_dir: Path, replay: Replay) -> int:
    """Recorded images missing or changed on disk, and images that failed before,
    are fetched again: paid work is never given up on while the task exists."""
    redo = 0
    for rec in replay.records.values():
        if rec.state is TaskState.PLANNED:  # never sent, or sent anew: no files, no id
            continue
        # generated: a done task (which keeps no URLs), or one with URLs or files
        generated = rec.state is TaskState.DONE or bool(rec.urls or rec.files)
        if rec.files:
            for index in verify_files(run_dir, rec):
                rec.drop_file(index)
                redo += 1
        if rec.unique_id and generated and rec.image_errors:
            redo += len(rec.image_errors)
            for index in list(rec.image_errors):
                rec.drop_image_error(index)
            rec.error = None
        if (
            rec.state in (TaskState.DONE, TaskState.FAILED)
            and rec.unique_id
            and generated
            and len(rec.files) < rec.images_expected
            and not rec.image_errors
        ):
            rec.state = TaskState.SUCCEEDED
    return redo


def needs_work(records: dict[str, TaskRecord]) -> bool:
    return any(not rec.state.final for rec in records.values())
