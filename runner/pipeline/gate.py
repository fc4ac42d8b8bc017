"""Keeps reconciliation from racing submits of identical requests.

A lost submit is resolved by looking for a task with the same request on the
server. If another task with the very same request is being submitted at that
moment, its fresh task could be mistaken for the lost one. Submits of a request
hold it shared; a reconciliation holds the requests it looks for exclusively.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import anyio


class RequestGate:
    def __init__(self) -> None:
        self._cond = anyio.Condition()
        self._submitting: Counter[bytes] = Counter()
        self._reconciling: Counter[bytes] = Counter()

    def held(self) -> int:
        """Requests being submitted or looked up now (none are kept once done)."""
        return len(self._submitting) + len(self._reconciling)

    @asynccontextmanager
    async def submitting(self, fingerprint: bytes) -> AsyncIterator[None]:
        async with self._cond:
            while self._reconciling[fingerprint]:
                await self._cond.wait()
            self._submitting[fingerprint] += 1
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                async with self._cond:
                    _release(self._submitting, fingerprint)
                    self._cond.notify_all()

    @asynccontextmanager
    async def reconciling(self, fingerprints: Iterable[bytes]) -> AsyncIterator[None]:
        wanted = set(fingerprints)
        async with self._cond:
            for fp in wanted:
                self._reconciling[fp] += 1  # new submits of these now wait
            while any(self._submitting[fp] for fp in wanted):
                await self._cond.wait()
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                async with self._cond:
                    for fp in wanted:
                        _release(self._reconciling, fp)
                    self._cond.notify_all()


def _release(holders: Counter[bytes], fingerprint: bytes) -> None:
    """One holder fewer; none left: the request is forgotten (a million-task run
    sends a million requests, and must not keep one entry for each)."""
    holders[fingerprint] -= 1
    if holders[fingerprint] <= 0:
        del holders[fingerprint]
