"""The demo account `run --simulate` runs against: the simulator in-process, fast
enough to try a large manifest (5,000 tasks in about a minute at --simulate's
default --qps of 100), with its state kept in the run directory so a re-run
resumes against the same account, as it would against the real API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from runner.simulator.accounts import SimAccount
from runner.simulator.config import DEMO_APP_ID, DEMO_SECRET_KEY, SimConfig
from runner.simulator.server import RunningSimulator

log = logging.getLogger("runner.cli")
__all__ = ["DEMO_APP_ID", "DEMO_SECRET_KEY", "demo_simulator"]


def demo_config(qps: float, accounts: tuple[SimAccount, ...] = ()) -> SimConfig:
    """A QPS limit above the run's --qps (it still answers 40001 to a faster one),
    and generation times of a second or three. `accounts`: a pool's accounts, held
    beside the demo account so `run --simulate --accounts FILE` tries the pool."""
    return SimConfig(qps_limit=max(20.0, qps * 1.5), gen_s=(1.0, 3.0), accounts=accounts)


@asynccontextmanager
async def demo_simulator(
    qps: float, state_dir: Path | None = None, accounts: tuple[SimAccount, ...] = ()
) -> AsyncIterator[str]:
    """Serve the demo account on loopback while the block runs; yields its base URL."""
    async with RunningSimulator(demo_config(qps, accounts), state_dir=state_dir) as sim:
        known = len(sim.state.tasks)
        resumed = f", {known} tasks from its earlier runs" if known else ""
        log.info("simulator on %s (demo credentials%s)", sim.base_url, resumed)
        yield sim.base_url
