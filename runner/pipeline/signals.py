"""SIGINT and SIGTERM during a run: stop submitting, record what is known; a
second SIGINT exits at once (the ledger is valid at every line)."""

from __future__ import annotations

import logging
import os
import signal

import anyio

from runner.errors import EXIT_STOPPED
from runner.pipeline.context import RunContext

log = logging.getLogger("runner.run")


async def on_signals(ctx: RunContext) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            if ctx.stopping.is_set() and signum == signal.SIGINT:
                log.warning("second SIGINT: exiting now; the ledger is valid, run again to resume")
                logging.shutdown()
                os._exit(EXIT_STOPPED)
            log.warning(
                "%s: submitting nothing more, recording what is known "
                "(press Ctrl-C again to quit at once)",
                name,
            )
            ctx.request_stop(name)
