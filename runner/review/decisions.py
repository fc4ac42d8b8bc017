"""Keep / reject as ledger events, appended beside a run that may be going.

A decision is acknowledged to the page only after its line is fsynced, so an
acknowledged decision survives kill -9. The run's lock is not taken: the line
goes in with one O_APPEND write, as the run's own events do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.rundir.ledger import append_durable
from runner.taskrecord import TaskRecord

MAX_PROMPT_CHARS = 4000


@dataclass(frozen=True, slots=True)
class Decision:
    key: str
    attempt: int
    decision: str | None  # "keep", "reject", or None to undo
    prompt: str | None = None  # the edited prompt a reroll sends (with "reject" only)

    def event(self) -> dict[str, Any]:
        ev: dict[str, Any] = {"e": "decision", "key": self.key, "attempt": self.attempt}
        ev["d"] = self.decision
        if self.prompt:
            ev["prompt"] = self.prompt
        return ev


def parse(body: Any, records: dict[str, TaskRecord]) -> Decision:
    """A decision from the page's JSON, checked; a ValueError says what is wrong."""
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    key, attempt, d = body.get("key"), body.get("attempt"), body.get("decision")
    rec = records.get(key) if isinstance(key, str) else None
    if rec is None:
        raise ValueError(f"no task {key!r} in this run")
    if not isinstance(attempt, int) or isinstance(attempt, bool):
        raise ValueError("attempt must be a number")
    if attempt != rec.attempt and attempt not in {a.attempt for a in rec.earlier}:
        raise ValueError(f"task {rec.key} has no attempt {attempt}")
    if d not in ("keep", "reject", None):
        raise ValueError("decision must be keep, reject or null")
    prompt = body.get("prompt")
    if prompt is not None:
        if not isinstance(prompt, str):
            raise ValueError("prompt must be text")
        prompt = prompt.strip() or None
        if prompt and d != "reject":
            raise ValueError("an edited prompt goes with reject (it is what a reroll sends)")
        if prompt and len(prompt) > MAX_PROMPT_CHARS:
            raise ValueError(f"the prompt is longer than {MAX_PROMPT_CHARS} characters")
        if prompt == rec.spec.request.prompt:
            prompt = None
    return Decision(rec.key, attempt, d, prompt)


def record(ledger_path: Path, decision: Decision) -> None:
    """Append the decision and return once it is on disk."""
    append_durable(ledger_path, decision.event())
