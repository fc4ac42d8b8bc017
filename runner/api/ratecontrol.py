"""The account-wide rate decision, as a pure object driven by a clock value.

AIMD with memory: a 40001 cuts the rate and pauses everyone; each quiet
interval adds back. The calls the server accepted from us in the second before
a 40001 are a measurement of its limit (our share of it, if other clients use
the account), so the cut goes straight to just under that, and never less than
the multiplicative step, unless that window held our whole configured rate:
then the limit is the rate we run at, and timing tripped it, so the rate goes
just under it and no further. The pause lasts until the oldest of those calls has
left a one-second window, so the next call is not refused for the same burst.
Below the rate that last tripped the limit the climb is fast; near it, it is
slow, so a run configured above the server's real limit settles just under
that limit instead of see-sawing. The rate never exceeds the configured `--qps`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AimdPolicy:
    decrease: float = 0.85  # rate multiplier on a 40001
    min_pause_s: float = 0.05  # everyone waits at least this long after a 40001
    window_s: float = 1.0  # the server's window, as far as we can tell (QPS: a second)
    fast_step: float = 0.05  # of max rate, per fast interval, while well below the trip rate
    fast_interval_s: float = 0.5
    probe_step: float = 0.01  # of the max rate, per probe interval, near the trip rate
    probe_interval_s: float = 5.0
    near: float = 0.97  # "near the trip rate" starts here
    forget_s: float = 20.0  # no 40001 for this long: the trip rate is stale, climb fast again
    min_rate: float = 0.1


class RateController:
    def __init__(self, max_rate: float, now: float, policy: AimdPolicy | None = None):
        if max_rate <= 0:
            raise ValueError("max_rate must be positive")
        self.policy = policy or AimdPolicy()
        self.max_rate = max_rate
        self.rate = max_rate
        self.trip_rate: float | None = None  # the rate at which the server last said 40001
        self.pause_until = 0.0
        self.throttles = 0
        self._last_cut = -1e18
        self._last_change = now
        self._accepted: deque[float] = deque()  # when the server took our calls, last second
        self._last_throttle = now

    def on_accepted(self, now: float) -> None:
        """The server answered a call with anything but 40001."""
        self._accepted.append(now)
        while self._accepted and self._accepted[0] <= now - self.policy.window_s:
            self._accepted.popleft()

    def __repr__(self) -> str:
        trip = f"{self.trip_rate:.2f}" if self.trip_rate else "none"
        return (
            f"<RateController rate={self.rate:.2f}/s max={self.max_rate:.2f}/s "
            f"trip={trip} throttles={self.throttles}>"
        )

    def on_throttled(self, now: float, sent_at: float | None = None) -> None:
        """The server answered 40001 to a call sent at `sent_at` (default: now)."""
        self.throttles += 1
        if sent_at is not None and sent_at < self._last_cut:
            return  # sent before the last cut: that cut already answered it
        p = self.policy
        while self._accepted and self._accepted[0] <= now - p.window_s:
            self._accepted.popleft()
        held = len(self._accepted)  # what the server's window holds of ours
        # The measurement, not the rate in force: a second 40001 from the same burst
        # (sent after the first cut, while the window still held the calls before it)
        # would otherwise take the already-cut rate for the server's limit, and the
        # rate would then crawl back at the probe pace for `forget_s`.
        measured = min(self.max_rate, float(held) / p.window_s)
        self.trip_rate = measured if held else self.rate
        self._last_throttle = now
        if held >= self.max_rate * p.window_s - 1:
            # The window held our whole configured rate: the server's limit is that rate,
            # met by timing (a call that arrived early, a late answer), not a lower one.
            # Just under the measurement, then; a multiplicative cut on top would cost
            # ~15% of the rate for seconds and the probe back up, on every such 40001.
            self.rate = max(p.min_rate, min(self.rate, p.near * self.trip_rate))
        else:
            self.rate = max(p.min_rate, min(self.rate * p.decrease, p.near * self.trip_rate))
        oldest_leaves = self._accepted[0] + p.window_s if held else now
        self.pause_until = max(now + p.min_pause_s, oldest_leaves)
        self._last_cut = now
        self._last_change = now

    def current(self, now: float) -> float:
        """The rate in force at `now`, after any additive increases that are due."""
        p = self.policy
        if self.trip_rate is not None and now - self._last_throttle >= p.forget_s:
            self.trip_rate = None
        while self.rate < self.max_rate:
            near = self.trip_rate is not None and self.rate >= p.near * self.trip_rate
            interval = p.probe_interval_s if near else p.fast_interval_s
            if now - self._last_change < interval:
                break
            self._last_change += interval
            if near:
                self.rate = min(self.max_rate, self.rate + p.probe_step * self.max_rate)
            else:
                ceiling = p.near * self.trip_rate if self.trip_rate else self.max_rate
                self.rate = min(self.max_rate, ceiling, self.rate + p.fast_step * self.max_rate)
        if self.rate >= self.max_rate:
            self._last_change = now
        return self.rate
