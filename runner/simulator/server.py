"""Start the simulator in-process (tests, `run --simulate`) or serve it (`simulate`)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from runner.simulator.app import make_app
from runner.simulator.config import SimConfig
from runner.simulator.guard import STATE_KEY
from runner.simulator.state import SimState

log = logging.getLogger("runner.simulator")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RunningSimulator:
    """`async with RunningSimulator(cfg) as sim:` serves on a free loopback port.

    With `state_dir`, the simulated account (tasks, uploads, tokens) lives in that
    folder and a new simulator started on it carries on where the last one stopped.
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: Path | None = None,
    ):
        self.config = config or SimConfig()
        self.host, self.port = host, port
        self.app = make_app(self.config, state_dir)
        self._runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True)

    @property
    def state(self) -> SimState:
        return self.app[STATE_KEY]

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        if not is_loopback(self.host):
            log.warning(
                "simulator binding %s: it is reachable from other machines; "
                "it has no real security, bind 127.0.0.1 unless you mean it",
                self.host,
            )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        address: Any = self._runner.addresses[0]
        self.port = int(address[1])

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> RunningSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def serve_forever(
    config: SimConfig, host: str, port: int, state_dir: Path | None = None
) -> None:
    """Serve until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with RunningSimulator(config, host, port, state_dir) as sim:
        print(f"simulator serving {sim.base_url}", flush=True)
        print(f"  app_id={config.app_id} secret_key={config.secret_key} (demo credentials)")
        print(f"  qps_limit={config.qps_limit} gen_s={config.gen_s}", flush=True)
        for account in config.accounts:
            print(f"  account app_id={account.app_id} qps_limit={account.qps_limit}", flush=True)
        await stop.wait()
