"""The account-wide rate decision, driven by a stepped clock (no sleeping)."""

from __future__ import annotations

import pytest

from runner.ratecontrol import AimdPolicy, RateController

P = AimdPolicy()


def test_starts_at_the_configured_rate_and_never_exceeds_it() -> None:
    c = RateController(20.0, now=0.0)
    assert c.current(0.0) == 20.0
    assert c.current(10_000.0) == 20.0


def test_40001_cuts_pauses_and_echoes_count_once() -> None:
    c = RateController(20.0, now=0.0)
    c.on_throttled(1.0)
    assert c.rate == pytest.approx(20.0 * P.decrease)
    assert c.pause_until == pytest.approx(1.0 + P.pause_s)
    c.on_throttled(1.0 + P.echo_s / 2)  # a request that left before the cut
    assert c.rate == pytest.approx(20.0 * P.decrease)
    assert c.throttles == 2


def test_climbs_fast_below_the_trip_rate_then_probes_slowly() -> None:
    c = RateController(40.0, now=0.0)
    c.on_throttled(0.0)  # tripped at 40
    c.on_throttled(2.0)  # and again at 34: the real limit is lower
    assert c.trip_rate == pytest.approx(34.0)
    t = 2.0
    while c.current(t) < P.near * 34.0 - 1e-9:
        t += P.fast_interval_s
    fast_s = t - 2.0
    assert fast_s <= 3.0  # back near the trip rate within a few seconds
    assert c.current(t) == pytest.approx(P.near * 34.0)
    # now +1% of the trip rate per probe interval
    assert c.current(t + P.probe_interval_s) == pytest.approx(P.near * 34.0 + 0.34)


def test_settles_under_a_server_limit_below_the_configured_rate() -> None:
    """--qps 40 against a server that accepts 20 calls a second, for ten minutes.

    Each 10 ms step sends rate x 10 ms calls; the server rejects what is over its limit.
    """
    c = RateController(40.0, now=0.0)
    limit, dt = 20.0, 0.01
    calls = rejected = owed = 0.0
    accepted_late = 0.0
    for step in range(60_000):
        t = step * dt
        if t < c.pause_until:
            continue
        rate = c.current(t)
        calls += rate * dt
        owed += max(0.0, rate - limit) * dt
        if t >= 300.0:
            accepted_late += min(rate, limit) * dt
        while owed >= 1.0:
            owed -= 1.0
            rejected += 1
            c.on_throttled(t)
    assert rejected / calls < 0.02, (rejected, calls)
    assert accepted_late / 300.0 > 0.93 * limit  # close to the ceiling, not far under it
    assert c.current(600.0) <= limit * 1.02


def test_invalid_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateController(0.0, now=0.0)
