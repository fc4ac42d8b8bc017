"""The account-wide rate decision, as a pure object driven by a clock value.

AIMD with memory: a 40001 cuts the rate multiplicatively and pauses everyone
briefly; each quiet interval adds back. Below the rate that last tripped the
limit the climb is fast; near it, it is slow, so a run configured above the
server's real limit settles just under that limit instead of see-sawing.
The rate never exceeds the configured `--qps`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AimdPolicy:
    decrease: float = 0.85  # rate multiplier on a 40001
    pause_s: float = 0.25  # everyone waits this long after a 40001
    echo_s: float = 1.0  # further 40001s this soon after a cut are the same burst
    fast_step: float = 0.05  # of max rate, per fast interval, while well below the trip rate
    fast_interval_s: float = 0.5
    probe_step: float = 0.01  # of the trip rate, per probe interval, near it
    probe_interval_s: float = 5.0
    near: float = 0.97  # "near the trip rate" starts here
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
        self._echo_until = 0.0
        self._last_change = now

    def __repr__(self) -> str:
        trip = f"{self.trip_rate:.2f}" if self.trip_rate else "none"
        return (
            f"<RateController rate={self.rate:.2f}/s max={self.max_rate:.2f}/s "
            f"trip={trip} throttles={self.throttles}>"
        )

    def on_throttled(self, now: float) -> None:
        """The server answered 40001."""
        self.throttles += 1
        if now < self._echo_until:
            return  # a request sent before the cut; the cut already happened
        p = self.policy
        self.trip_rate = self.rate
        self.rate = max(p.min_rate, self.rate * p.decrease)
        self.pause_until = now + p.pause_s
        self._echo_until = now + p.echo_s
        self._last_change = now

    def current(self, now: float) -> float:
        """The rate in force at `now`, after any additive increases that are due."""
        p = self.policy
        while self.rate < self.max_rate:
            near = self.trip_rate is not None and self.rate >= p.near * self.trip_rate
            interval = p.probe_interval_s if near else p.fast_interval_s
            if now - self._last_change < interval:
                break
            self._last_change += interval
            if near:
                assert self.trip_rate is not None
                step = p.probe_step * self.trip_rate
                self.rate = min(self.max_rate, self.rate + step)
            else:
                ceiling = p.near * self.trip_rate if self.trip_rate else self.max_rate
                self.rate = min(self.max_rate, ceiling, self.rate + p.fast_step * self.max_rate)
        if self.rate >= self.max_rate:
            self._last_change = now
        return self.rate
