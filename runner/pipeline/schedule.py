"""When to check a task: its model's poll schedule, learned as tasks finish.

A video takes minutes where an image takes seconds, so each kind of model has
its own schedule. Image models use `--first-poll` / `--poll-interval`; a video
model uses its entry in the model table (first poll, interval), unless
`--video-first-poll` / `--video-poll-interval` say otherwise. The first check
of a task then moves toward the median generation time of its model, learned
from finished tasks (one estimator per model; all image models share one).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from runner import modeltable
from runner.settings import RunOptions
from runner.taskrecord import TaskRecord


class GenEstimator:
    """Where to put a task's first check: moves toward the median generation time.

    After each poll call, by the share of its first checks that found the task
    done: all done moves it 5% earlier, none done 5% later, half done not at
    all. Once per call, not per task: a batch of 50 must not move it 1.05**50.
    """

    def __init__(self, initial_s: float, low_s: float = 0.5, high_s: float = 600.0):
        self.value_s, self.low_s, self.high_s = initial_s, low_s, high_s

    def observe(self, done: int, running: int) -> None:
        if done + running == 0:
            return
        share_done = done / (done + running)
        factor = 1.0 + 0.05 * (1.0 - 2.0 * share_done)
        self.value_s = min(self.high_s, max(self.low_s, self.value_s * factor))

    def __repr__(self) -> str:
        return f"GenEstimator(value_s={self.value_s:.2f})"


class PollSchedule:
    def __init__(self, options: RunOptions):
        self.options = options
        self._estimators: dict[str, GenEstimator] = {}

    def _group(self, rec: TaskRecord) -> str:
        request = rec.spec.request
        return request.model_code if request.kind == "video" else "image"

    def _video_spec(self, rec: TaskRecord) -> modeltable.ModelSpec | None:
        spec = modeltable.find(rec.spec.request.model_code)
        return spec if spec is not None and spec.is_video else None

    def _estimator(self, rec: TaskRecord) -> GenEstimator:
        group = self._group(rec)
        found = self._estimators.get(group)
        if found is None:
            opts = self.options
            if rec.spec.request.kind != "video":
                found = GenEstimator(opts.first_poll_s)
            else:
                spec = self._video_spec(rec)
                first = opts.video_first_poll_s or (spec.first_poll_s if spec else 60.0)
                found = GenEstimator(first, min(0.5, first), max(600.0, 4 * first))
            self._estimators[group] = found
        return found

    def first_s(self, rec: TaskRecord) -> float:
        """Seconds from submit to the task's first check."""
        return self._estimator(rec).value_s

    def interval_s(self, rec: TaskRecord) -> float:
        """Seconds between checks of a task that is not done yet."""
        opts = self.options
        if rec.spec.request.kind != "video":
            return opts.poll_interval_s
        spec = self._video_spec(rec)
        return opts.video_poll_interval_s or (spec.poll_interval_s if spec else 15.0)

    def observe(
        self, firsts: Iterable[tuple[TaskRecord, dict[str, Any] | None, Collection[str]]]
    ) -> None:
        """First checks of one poll call: (record, its item or None, the running states)."""
        counts: dict[str, list[int]] = {}
        for rec, item, running_states in firsts:
            if item is None:
                continue
            tally = counts.setdefault(self._group(rec), [0, 0])
            tally[1 if item.get("progress_desc") in running_states else 0] += 1
        for group, (done, running) in counts.items():
            estimator = self._estimators.get(group)
            if estimator is not None:
                estimator.observe(done, running)
