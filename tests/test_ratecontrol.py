"""The account-wide rate decision, driven by a stepped clock (no sleeping)."""

from __future__ import annotations

from collections import deque

import pytest

from runner.api.ratecontrol import AimdPolicy, RateController

P = AimdPolicy()


def test_starts_at_the_configured_rate_and_never_exceeds_it() -> None:
    c = RateController(20.0, now=0.0)
    assert c.current(0.0) == 20.0
    assert c.current(10_000.0) == 20.0


def test_40001_cuts_pauses_and_echoes_count_once() -> None:
    c = RateController(20.0, now=0.0)
    c.on_throttled(1.0, sent_at=0.99)
    assert c.rate == pytest.approx(20.0 * P.decrease)
    assert c.pause_until == pytest.approx(1.0 + P.min_pause_s)
    c.on_throttled(1.05, sent_at=0.995)  # it left before the cut: no second cut
    assert c.rate == pytest.approx(20.0 * P.decrease)
    c.on_throttled(2.0, sent_at=1.9)  # sent after the cut: the rate is still too high
    assert c.rate == pytest.approx(20.0 * P.decrease**2)
    assert c.throttles == 3


def test_a_40001_cuts_straight_to_what_the_server_accepted() -> None:
    c = RateController(40.0, now=0.0)
    for i in range(40):  # for two seconds the server took 20 calls a second
        c.on_accepted(0.025 + i * 0.05)
    c.on_throttled(2.0)
    assert c.trip_rate == 20.0
    assert c.rate == pytest.approx(P.near * 20.0)


def test_a_second_40001_of_one_burst_keeps_the_measured_limit() -> None:
    """A jitter burst answers two calls with 40001, the second sent after the first
    cut: the server's window still held ten of ours, so the limit is still 10, and
    the rate is back just under it in seconds, not after `forget_s` of probing."""
    c = RateController(10.0, now=0.0)
    for i in range(10):  # the server took 10 calls in the last second
        c.on_accepted(0.05 + i * 0.1)
    c.on_throttled(1.0, sent_at=0.98)
    assert c.trip_rate == 10.0
    c.on_throttled(1.04, sent_at=1.02)  # sent after the cut, refused all the same
    assert c.trip_rate == 10.0  # not the already-cut rate
    assert c.rate == pytest.approx(P.near * 10.0)  # and still just under it


def test_a_40001_at_the_configured_rate_cuts_just_under_it_not_further() -> None:
    """The server's window held all ten calls a second we are allowed: its limit is our
    rate, met by timing. Just under it, climbing back, and no multiplicative cut; one
    account at 10 qps loses ~3 calls to such a 40001 while it climbs back, not ~4.5."""
    c = RateController(10.0, now=0.0)
    for i in range(10):
        c.on_accepted(0.05 + i * 0.1)
    c.on_throttled(1.0, sent_at=0.98)
    assert c.rate == pytest.approx(P.near * 10.0)
    assert c.pause_until == pytest.approx(1.05)  # when the oldest of them leaves the window
    assert c.current(1.0 + P.probe_interval_s) == pytest.approx(P.near * 10.0 + 0.1)
    # A window that held fewer of ours (another client, or a lower limit): as before,
    # just under what it held and at least the multiplicative step below the rate.
    c = RateController(10.0, now=0.0)
    for i in range(8):
        c.on_accepted(0.25 + i * 0.1)
    c.on_throttled(1.0, sent_at=0.98)
    assert c.rate == pytest.approx(min(P.near * 8.0, 10.0 * P.decrease))


def test_climbs_fast_below_the_trip_rate_then_probes_slowly() -> None:
    c = RateController(40.0, now=0.0)
    c.on_throttled(0.0)  # tripped at 40 (nothing measured: the multiplicative cut)
    c.on_throttled(2.0)  # and again at 34: the real limit is lower
    assert c.trip_rate == pytest.approx(34.0)
    t = 2.0
    while c.current(t) < P.near * 34.0 - 1e-9:
        t += P.fast_interval_s
    fast_s = t - 2.0
    assert fast_s <= 3.0  # back near the trip rate within a few seconds
    assert c.current(t) == pytest.approx(P.near * 34.0)
    # now +1% of the configured rate per probe interval
    assert c.current(t + P.probe_interval_s) == pytest.approx(P.near * 34.0 + 0.4)


class SlidingWindowServer:
    """Accepts at most `limit` calls in any one second; rejected calls do not count."""

    def __init__(self, limit: int):
        self.limit, self.window = limit, deque()

    def admit(self, t: float) -> bool:
        while self.window and self.window[0] <= t - 1.0:
            self.window.popleft()
        if len(self.window) >= self.limit:
            return False
        self.window.append(t)
        return True


def drive(c: RateController, server: SlidingWindowServer, seconds: float) -> tuple[int, int, list]:
    """Calls paced at the controller's rate for `seconds`; (calls, rejected, accepted times)."""
    t, calls, rejected, accepted = 0.0, 0, 0, []
    while t < seconds:
        t = max(t + 1.0 / c.current(t), c.pause_until)
        calls += 1
        if server.admit(t):
            c.on_accepted(t)
            accepted.append(t)
        else:
            rejected += 1
            c.on_throttled(t, sent_at=t)
    return calls, rejected, accepted


def test_settles_under_a_server_limit_below_the_configured_rate() -> None:
    """--qps 40 against a server that accepts 20 calls a second, for ten minutes."""
    c = RateController(40.0, now=0.0)
    calls, rejected, accepted = drive(c, SlidingWindowServer(20), 600.0)
    assert rejected / calls < 0.01, (rejected, calls)
    late = [t for t in accepted if t >= 60.0]
    assert len(late) / 540.0 > 0.96 * 20  # close to the ceiling, not far under it
    assert c.current(600.0) <= 20.0 * 1.02


def test_a_40001_pauses_until_the_burst_leaves_the_window() -> None:
    c = RateController(40.0, now=0.0)
    for i in range(20):  # 20 calls in half a second, then refused
        c.on_accepted(i * 0.025)
    c.on_throttled(0.5, sent_at=0.5)
    assert c.rate == pytest.approx(P.near * 20.0)
    assert c.pause_until == pytest.approx(1.0)  # the first of them leaves the window then


def test_recovers_when_the_account_had_a_busy_moment() -> None:
    """Another client used most of the budget for a moment; we come back to the ceiling."""
    c = RateController(20.0, now=0.0)
    c.on_accepted(0.0)
    c.on_accepted(0.05)
    c.on_throttled(0.1)  # only 2 of ours in the window: our share, for now
    assert c.rate == pytest.approx(P.near * 2.0)
    _, _, accepted = drive(c, SlidingWindowServer(20), 60.0)
    assert len([t for t in accepted if t >= 50.0]) / 10.0 > 0.95 * 20


def test_invalid_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateController(0.0, now=0.0)


def test_first_check_estimate_moves_at_most_5_percent_per_poll_call() -> None:
    from runner.pipeline.schedule import GenEstimator

    est = GenEstimator(2.0)
    est.observe(done=0, running=50)  # a whole batch checked too early
    assert est.value_s == pytest.approx(2.1)
    est.observe(done=25, running=25)
    assert est.value_s == pytest.approx(2.1)
    est.observe(done=50, running=0)
    assert est.value_s == pytest.approx(2.1 * 0.95)
    for _ in range(1000):
        est.observe(done=0, running=1)
    assert est.value_s == 600.0  # bounded
