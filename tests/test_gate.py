"""The request gate forgets each request once its submits and lookups are done:
a million-task run sends a million requests and must not keep one entry each."""

from __future__ import annotations

import anyio

from runner.pipeline.gate import RequestGate


async def test_the_gate_holds_nothing_once_submits_and_lookups_are_done() -> None:
    gate = RequestGate()
    async with anyio.create_task_group() as tg:
        for n in range(100):

            async def submit(fp: bytes = b"%d" % n) -> None:
                async with gate.submitting(fp):
                    await anyio.lowlevel.checkpoint()

            tg.start_soon(submit)
        async with gate.reconciling([b"1", b"2", b"x"]):
            assert gate.held() >= 3
    assert gate.held() == 0
