from __future__ import annotations

import pytest

from runner.api.retry import NO_WAIT, Decision, RetryPolicy, backoff_s, classify, should_retry
from runner.errors import AuthError, PermanentApiError, RateLimited, TransientApiError


def test_classification() -> None:
    assert classify(PermanentApiError("bad", code=40000)) is Decision.GIVE_UP
    assert classify(PermanentApiError("bad", code=400)) is Decision.GIVE_UP
    assert classify(RateLimited("slow", code=40001)) is Decision.THROTTLE
    assert classify(AuthError("no", code=10400)) is Decision.STOP
    assert classify(TransientApiError("oops", code=50000)) is Decision.RETRY


def test_transient_retries_are_bounded_and_permanent_never_retried() -> None:
    policy = RetryPolicy(max_attempts=3)
    err = TransientApiError("reset")
    assert should_retry(err, 1, policy) and should_retry(err, 2, policy)
    assert not should_retry(err, 3, policy)
    assert not should_retry(PermanentApiError("bad", code=40000), 1, policy)


def test_backoff_is_capped_exponential_with_jitter() -> None:
    p = RetryPolicy(base_s=1.0, cap_s=8.0, jitter=0.5)
    assert [backoff_s(a, p, rand=1.0) for a in range(1, 7)] == [1, 2, 4, 8, 8, 8]
    assert backoff_s(3, p, rand=0.0) == 2.0  # at most half taken off by jitter
    assert backoff_s(3, p) == pytest.approx(3.0, abs=1.0)


def test_no_wait_policy_keeps_the_decisions_and_drops_the_waits() -> None:
    assert [backoff_s(a, NO_WAIT) for a in (1, 5, 50)] == [0.0, 0.0, 0.0]
    assert backoff_s(5) > 0.0  # the default policy waits
    assert should_retry(TransientApiError("reset"), 7, NO_WAIT)
    assert not should_retry(TransientApiError("reset"), 8, NO_WAIT)


def test_errors_carry_their_trace_id() -> None:
    err = TransientApiError("internal error", code=50000, trace_id="abc123", endpoint="task/page")
    assert "abc123" in str(err) and "50000" in str(err) and "task/page" in str(err)


def test_a_gateway_429_is_a_rate_limit_not_a_lost_answer() -> None:
    from runner.api.client import _parse

    with pytest.raises(RateLimited):
        _parse("/open/v1/ai_creation/task/submit", 429, "text/html", b"<html>slow down</html>")
    with pytest.raises(TransientApiError) as info:
        _parse("/open/v1/ai_creation/task/submit", 502, "text/html", b"<html>bad gateway</html>")
    assert info.value.maybe_sent
