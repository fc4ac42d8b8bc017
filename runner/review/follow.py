"""Follow a ledger that a run may still be appending to, without its lock.

Each `refresh` reads only what was appended since the last one, up to the last
complete line (a line being written is left for next time), and applies it to
the same replay. If the file shrank or was replaced (a torn tail cut by a run
starting), it starts over.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from runner.rundir import checkpoint
from runner.rundir.replay import Replay, replay_lines


class LedgerFollower:
    def __init__(self, path: Path):
        self.path = path
        self.replay = Replay()
        self.version = 0  # bumped whenever the replay changed
        self._offset = 0
        self._lines = 0
        self._inode: int | None = None
        self.replay_offset = 0

    def _start(self) -> Replay:
        """A run's checkpoint when it matches the ledger (then only the tail is read)."""
        self.replay_offset = 0
        header = checkpoint.usable(self.path)
        if header is None:
            return Replay()
        try:
            replay = checkpoint.load(self.path, header)
        except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            return Replay()
        self.replay_offset = int(header["offset"])
        return replay

    def refresh(self) -> set[str] | None:
        """Apply new events; returns the keys they touched, or None after a full re-read."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return set()
        touched: set[str] | None = set()
        if st.st_ino != self._inode or st.st_size < self._offset:
            self.replay, self._offset, self._lines, self._inode = self._start(), 0, 0, st.st_ino
            self._offset = self.replay_offset
            touched = None
        if st.st_size == self._offset:
            return touched
        with self.path.open("rb") as fh:
            fh.seek(self._offset)
            data = fh.read(st.st_size - self._offset)
        end = data.rfind(b"\n") + 1
        if end == 0:
            return touched
        lines = data[:end].splitlines()
        replay_lines(lines, str(self.path), self.replay, self._lines + 1, touched)
        self._offset += end
        self._lines += len(lines)
        self.version += 1
        return touched
