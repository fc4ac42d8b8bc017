"""The pool row of the bench: three accounts on one simulator, each with its own
QPS limit (10, 10, 20 by default), N tasks through `run --accounts`; wall time
against the pool's combined ceiling, and the 40001 share of each account."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from runner.bench.runner_cli import child_env, run_argv, run_measured
from runner.simulator import DEMO_APP_ID, DEMO_SECRET_KEY, RunningSimulator, SimConfig
from runner.simulator.accounts import SimAccount


@dataclass
class PoolFigures:
    tasks: int
    limits: tuple[float, ...]
    wall_s: float
    ideal_s: float
    calls: int
    rejected: int
    per_account: dict[str, tuple[int, int, int]]  # label -> (tasks, calls, 40001s)
    rss_mb: float
    cpu_s: float


def write_accounts(folder: Path, limits: tuple[float, ...]) -> tuple[Path, list[SimAccount]]:
    extra = [SimAccount(f"bench-{i}", f"bench-secret-{i}", q) for i, q in enumerate(limits[1:], 1)]
    lines = [
        "accounts:",
        f"  - {{label: a0, app_id: {DEMO_APP_ID}, secret_key: {DEMO_SECRET_KEY}, "
        f"qps: {limits[0]:g}}}",
    ]
    lines += [
        f"  - {{label: a{i}, app_id: {a.app_id}, secret_key: {a.secret_key}, qps: {a.qps_limit:g}}}"
        for i, a in enumerate(extra, 1)
    ]
    path = folder / "accounts.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path, extra


def ideal_s(tasks: int, limits: tuple[float, ...], gen_max: float) -> float:
    """Every unavoidable call at the pool's combined limit, then the last generation:
    N submits, N/50 polls and one token per account (each account polls its own tasks,
    so a split that leaves partial batches needs up to one more poll an account; the
    end-of-run audit's listing is left out, as in the single-account ideal)."""
    calls = tasks + math.ceil(tasks / 50) + len(limits)
    return calls / sum(limits) + gen_max


async def run_pool(
    manifest: Path, folder: Path, tasks: int, limits: tuple[float, ...], gen: tuple[float, float]
) -> PoolFigures:
    accounts, extra = write_accounts(folder, limits)
    config = SimConfig(
        qps_limit=limits[0],
        gen_s=gen,
        queue_s=(0.0, 0.0),
        image_long_side_px=48,
        accounts=tuple(extra),
    )
    out = folder / "out-pool"
    async with RunningSimulator(config) as sim:
        cmd = run_argv(
            manifest, out, "--accounts", str(accounts), "--poll-interval", "1", "--quiet"
        )
        done = await run_measured(cmd, child_env({"CHANJING_OPENAPI_BASE_URL": sim.base_url}))
        if done.code != 0:
            raise SystemExit(f"our runner (pool) exited {done.code}")
        stats = sim.state.stats()
    keys = {"": "a0", **{a.app_id: f"a{i}" for i, a in enumerate(extra, 1)}}
    per_account = {
        keys[key]: (s["submissions"], s["calls"], s["rejected_40001"])
        for key, s in stats["accounts"].items()
    }
    return PoolFigures(
        tasks,
        limits,
        done.wall_s,
        ideal_s(tasks, limits, gen[1]),
        stats["total_calls"],
        stats["rejected_40001"],
        per_account,
        done.peak_rss_mb,
        done.cpu_s,
    )


def row(p: PoolFigures) -> str:
    """A line for the bench table; its /ideal is against the pool's combined ceiling."""
    limits = ",".join(f"{q:g}" for q in p.limits)
    label = f"seedream-batch, pool of {len(p.limits)} (L={limits})"
    share = 100 * p.rejected / max(1, p.calls)
    per = ", ".join(
        f"{label} {t} tasks {100 * r / max(1, c):.2f}%"
        for label, (t, c, r) in p.per_account.items()
    )
    return (
        f"{label:40} {p.wall_s:8.1f} {p.wall_s / p.ideal_s:7.2f} {p.calls / p.tasks:10.3f} "
        f"{share:8.2f} {p.rss_mb:11.0f} {p.cpu_s / p.tasks * 1000:9.1f} {'':>13}"
        f"   (N={p.tasks}; ideal {p.ideal_s:.1f} s at {sum(p.limits):g} qps combined; "
        f"40001 per account: {per})"
    )
