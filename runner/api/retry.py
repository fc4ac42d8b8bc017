"""Retry decisions as pure functions: what to do with an error, and how long to wait.

The policy is a value passed in (`RunOptions.retry`, `ApiClient(retry=...)`);
`NO_WAIT` makes every wait zero, so tests of retry paths do not sleep.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from runner.errors import (
    AuthError,
    PermanentApiError,
    RateLimited,
    SeedreamError,
    TransientApiError,
)


class Decision(enum.StrEnum):
    RETRY = "retry"  # wait backoff_s, then try again
    THROTTLE = "throttle"  # slow the account down, then try again (not counted)
    GIVE_UP = "give_up"  # permanent for this item
    STOP = "stop"  # global: the run cannot go on (authentication)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_s: float = 0.5
    cap_s: float = 30.0
    max_attempts: int = 8
    jitter: float = 0.5  # the wait is drawn from [1 - jitter, 1] x the exponential step


DEFAULT_POLICY = RetryPolicy()
NO_WAIT = RetryPolicy(base_s=0.0, cap_s=0.0)  # the same decisions, no waiting (tests)


def classify(error: SeedreamError) -> Decision:
    if isinstance(error, RateLimited):
        return Decision.THROTTLE
    if isinstance(error, AuthError):
        return Decision.STOP
    if isinstance(error, PermanentApiError):
        return Decision.GIVE_UP
    if isinstance(error, TransientApiError):
        return Decision.RETRY
    return Decision.GIVE_UP


def backoff_s(
    attempt: int, policy: RetryPolicy = DEFAULT_POLICY, rand: float | None = None
) -> float:
    """Wait before retry number `attempt` (1-based): capped exponential with jitter."""
    step = min(policy.cap_s, policy.base_s * 2.0 ** max(0, attempt - 1))
    draw: float = random.random() if rand is None else rand
    return step * (1 - policy.jitter + policy.jitter * draw)


def should_retry(error: SeedreamError, attempt: int, policy: RetryPolicy = DEFAULT_POLICY) -> bool:
    return classify(error) is Decision.RETRY and attempt < policy.max_attempts
