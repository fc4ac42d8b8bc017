"""Is the API answering? What the in-doubt logic and the dead-API watch ask.

The client reports every exchange: an answer with a business code (even an
error code) means the API is reachable; a refused connection, a timeout, a
reset or a gateway's HTML page means it is not. From that:

- `recovered_at`: when the API last started answering again after failing
  (or answered for the first time), and `last_outage_s`, how long it had been
  failing. A submit sent during an outage may sit in a gateway or a TCP
  retransmission queue and reach the server after the link is back (TCP's
  doubling retransmission timer fires again up to about the outage's length
  later), so the settle window of a lost submit counts from the recovery, and
  is at least as long as the outage was (up to a cap).
- `due(now, give_up_s)`: the WARNING to log while unreachable (the first
  after FIRST_WARNING_S, then one a minute) and whether to give up.

Times are monotonic seconds from `clock`, which tests replace with a stepped one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("runner.api")
FIRST_WARNING_S = 10.0  # a blip shorter than this is not worth a warning
WARNING_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class Verdict:
    warning: str | None = None  # log this at WARNING now
    give_up: bool = False  # no successful call for the give-up time: stop the run


class ApiHealth:
    def __init__(self, address: str, clock: Callable[[], float] = time.monotonic):
        self.address, self.clock = address, clock
        self.started = clock()
        self.last_ok: float | None = None
        self.down_since: float | None = None  # first failure of the current streak
        self.recovered_at: float | None = None
        self.last_outage_s = 0.0
        self.last_error = ""
        self.failures = 0
        self._warned_at: float | None = None

    def __repr__(self) -> str:
        state = "down" if self.down_since is not None else "up"
        return (
            f"<ApiHealth {self.address} {state} failures={self.failures} "
            f"last_ok={self.last_ok} recovered_at={self.recovered_at}>"
        )

    @property
    def answering(self) -> bool:
        return self.last_ok is not None and self.down_since is None

    def ok(self) -> None:
        now = self.clock()
        if self.down_since is not None and self.last_ok is not None:
            log.warning(
                "the API at %s answers again after %.0f s unreachable",
                self.address,
                now - self.down_since,
            )
        if self.down_since is not None or self.last_ok is None:
            self.recovered_at = now
            self.last_outage_s = 0.0 if self.down_since is None else now - self.down_since
        self.down_since, self.last_ok, self._warned_at = None, now, None

    def failed(self, error: str) -> None:
        self.failures += 1
        self.last_error = error
        if self.down_since is None:
            self.down_since = self.clock()

    def silent_for(self, now: float) -> float:
        """Seconds since the last successful call (or since the start, if none)."""
        return now - (self.last_ok if self.last_ok is not None else self.started)

    def due(self, now: float, give_up_s: float | None) -> Verdict:
        if self.down_since is None:
            return Verdict()
        silent = self.silent_for(now)
        if give_up_s is not None and silent >= give_up_s:
            return Verdict(
                f"no successful API call for {silent:.0f} s (--give-up-after {give_up_s:.0f} s) "
                f"at {self.address}; last error: {self.last_error}",
                give_up=True,
            )
        down = now - self.down_since
        if down < FIRST_WARNING_S:
            return Verdict()
        if self._warned_at is not None and now - self._warned_at < WARNING_EVERY_S:
            return Verdict()
        self._warned_at = now
        left = "" if give_up_s is None else f"; giving up in {max(0.0, give_up_s - silent):.0f} s"
        return Verdict(
            f"the API at {self.address} has been unreachable for {down:.0f} s "
            f"(last error: {self.last_error}); still trying{left}"
        )
