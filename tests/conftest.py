"""Shared fixtures: a simulator on a free loopback port, and a way to run manifests."""

from __future__ import annotations

import contextlib
import hashlib
import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from runner.api.credentials import Credentials
from runner.api.retry import NO_WAIT
from runner.bench.runner_cli import child_env, simulator_env
from runner.commands.run import run
from runner.rundir import registry
from runner.rundir.ledger import read
from runner.settings import RunOptions, RunRequest
from runner.simulator import DEMO_APP_ID, DEMO_SECRET_KEY, RunningSimulator, SimConfig
from runner.simulator.outputs import output_body

FAST_SIM = SimConfig(qps_limit=200.0, queue_s=(0.0, 0.05), gen_s=(0.1, 0.3), upload_ready_s=0.05)
FAST_RUN = RunOptions(
    qps=50.0,
    first_poll_s=0.2,
    poll_interval_s=0.1,
    poll_linger_s=0.2,
    settle_s=0.05,
    stop_grace_s=1.0,
    retry=NO_WAIT,  # retry paths are taken, without their waits
)
DEMO_CREDS = Credentials(app_id=DEMO_APP_ID, secret_key=DEMO_SECRET_KEY, source="test")


@pytest.fixture(autouse=True)
def _own_registry(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test its own registry of live runs (children inherit it), not ~/.cache's."""
    monkeypatch.setenv(registry.ENV, str(tmp_path_factory.mktemp("registry")))


@dataclass
class Harness:
    tmp: Path
    sim: RunningSimulator

    def manifest(self, text: str, name: str = "job.yaml") -> Path:
        path = self.tmp / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    async def run(self, manifest: Path, **options: Any) -> int:
        request = RunRequest(
            manifest, self.out, replace(FAST_RUN, **options), progress_interval_s=3600
        )
        return await run(request, self.sim.base_url, lambda: DEMO_CREDS)

    def ledger(self) -> Any:
        return read(self.out / "ledger.jsonl")

    def check_images_intact(self) -> int:
        """Every recorded image is on disk and byte-identical to what the server renders."""
        checked = 0
        for rec in self.ledger().records.values():
            for index, image in rec.files.items():
                data = (self.out / image.path).read_bytes()
                assert hashlib.sha256(data).hexdigest() == image.sha256
                task = self.sim.state.tasks[rec.unique_id]
                body = output_body(self.sim.config, rec.unique_id, task.body, index)
                expected = body.read(0, body.size)
                assert data == expected, f"{image.path} differs from what the server served"
                checked += 1
        return checked


@pytest.fixture
async def sim_factory() -> AsyncIterator[Callable[..., Any]]:
    started: list[RunningSimulator] = []

    async def start(config: SimConfig = FAST_SIM) -> RunningSimulator:
        sim = RunningSimulator(config)
        await sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        await sim.stop()


@pytest.fixture
async def harness(tmp_path: Path, sim_factory: Callable[..., Any]) -> Harness:
    return Harness(tmp_path, await sim_factory())


async def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Any:
    """Run `python -m runner ARGS` as a user would; the simulator keeps serving meanwhile."""
    import sys

    import anyio

    return await anyio.run_process(
        [sys.executable, "-m", "runner", *args], env=child_env(env or {}), cwd=cwd, check=False
    )


def sim_env(sim: RunningSimulator, **extra: str) -> dict[str, str]:
    return {**simulator_env(sim.base_url), **extra}


async def kill_9_when(proc: Any, hit: Any, timeout_s: float = 60.0) -> bool:
    """kill -9 `proc` as soon as `hit` is set, unless it ends first; True if killed."""
    import signal

    import anyio

    killed = False
    with anyio.fail_after(timeout_s):
        async with anyio.create_task_group() as tg:

            async def ended() -> None:
                await proc.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(ended)
            await hit.wait()
            proc.send_signal(signal.SIGKILL)
            killed = True
            tg.cancel_scope.cancel()
        await proc.wait()
    await proc.aclose()
    return killed


@contextlib.asynccontextmanager
async def loopback_app(app: web.Application) -> AsyncIterator[str]:
    """Serve a small aiohttp app on a free loopback port while the block runs: its URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
