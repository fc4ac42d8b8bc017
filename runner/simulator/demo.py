"""The demo account `run --simulate` runs against: the simulator in-process, with a
QPS limit above the run's --qps and short generation times."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from runner.simulator.config import DEMO_APP_ID, DEMO_SECRET_KEY, SimConfig
from runner.simulator.server import RunningSimulator

log = logging.getLogger("runner.cli")
__all__ = ["DEMO_APP_ID", "DEMO_SECRET_KEY", "demo_simulator"]


@asynccontextmanager
async def demo_simulator(qps: float) -> AsyncIterator[str]:
    """Serve the demo account on loopback while the block runs; yields its base URL."""
    config = SimConfig(qps_limit=max(20.0, qps * 1.5), gen_s=(1.0, 3.0))
    async with RunningSimulator(config) as sim:
        log.info("simulator on %s (demo credentials)", sim.base_url)
        yield sim.base_url
