"""The simulated account kept on disk, so a restarted simulator is the same account.

A real account does not forget its tasks when the runner stops; `run --simulate`
keeps the simulator's state in the run directory (`simulator-state.jsonl`, plus
uploaded bodies in `simulator-uploads/`) so a re-run resumes against the same
tasks, timings, uploads and ids, exactly as it would against the real API.

Every change is one JSON line appended with a single `os.write` before the
server answers: once the runner could have seen a unique_id, it is in the
kernel's page cache, so even kill -9 of the process loses nothing. (Not fsynced:
a power cut may lose the tail, as it may lose an account's last second.) A torn
last line from a crash mid-write is skipped on reading.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from runner.simulator.state import SimState, SimTask, SimUpload

STATE_FILE = "simulator-state.jsonl"
UPLOADS_DIR = "simulator-uploads"


class Journal:
    """Appends the account's changes to `<dir>/simulator-state.jsonl`."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / STATE_FILE
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def __call__(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
        os.write(self._fd, line.encode("utf-8"))

    def save_upload(self, file_id: str, data: bytes) -> None:
        """The body first (temp file, rename), then the line that points at it."""
        folder = self.directory / UPLOADS_DIR
        folder.mkdir(exist_ok=True)
        temp = folder / f".{file_id}.part"
        temp.write_bytes(data)
        os.replace(temp, folder / file_id)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def restore(state: SimState, directory: Path) -> int:
    """Replay `<dir>/simulator-state.jsonl` into `state`; returns the tasks restored."""
    path = directory / STATE_FILE
    if not path.exists():
        return 0
    now_wall, now_mono = time.time(), time.monotonic()

    def mono(wall: float) -> float:  # time passed while stopped counts, as on a real server
        return now_mono - (now_wall - wall)

    with path.open("rb") as fh:
        for raw in fh:
            try:
                event = json.loads(raw)
            except ValueError:
                continue  # a line torn by a crash mid-write: nobody saw its answer
            _apply(state, event, directory, mono)
    return len(state.tasks)


def _apply(state: SimState, event: dict[str, Any], directory: Path, mono: Any) -> None:
    kind = event.get("e")
    if kind == "task":
        task = SimTask(
            id=event["id"],
            unique_id=event["uid"],
            body=event["body"],
            created_wall=event["wall"],
            created_mono=mono(event["wall"]),
            queue_s=event["queue_s"],
            gen_s=event["gen_s"],
            fails=event["fails"],
            account=event.get("acct", ""),
        )
        state.account(task.account).bodies[event["fp"]] += 1
        state.tasks[task.unique_id] = task
        state.submissions.append({"unique_id": task.unique_id, "body": task.body})
        state.replay_task(event["fp"])
    elif kind == "url" and event["uid"] in state.tasks:
        state.tasks[event["uid"]].url_version = event["v"]
    elif kind == "token":
        state.tokens[event["token"]] = event["exp"]
        if event.get("acct"):
            state.token_account[event["token"]] = event["acct"]
    elif kind == "upload":
        state.uploads[event["file_id"]] = SimUpload(
            file_id=event["file_id"], key=event["key"], name=event["name"], mime_type=event["mime"]
        )
        state.replay_upload(event["name"])
    elif kind == "put" and event["file_id"] in state.uploads:
        upload = state.uploads[event["file_id"]]
        body = directory / UPLOADS_DIR / upload.file_id
        if body.exists():
            upload.data, upload.put_mono = body.read_bytes(), mono(event["wall"])
            state.upload_puts.append(event["sha"])
