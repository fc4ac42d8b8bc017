"""`python -m runner.bench` (`make bench`): how close to the QPS ceiling we run.

Starts the simulator with a QPS limit L and generation times drawn from a
range, runs N tasks with our runner (a subprocess, as users run it), then the
same work the two baseline ways on fresh simulators, and prints one table.
Then the 100,000-task figures (plan time, replay time, a full run's peak RSS);
`--no-scale` skips them. A pool of three accounts (L=10,10,20) joins the
table (`--no-pool`), and the million-task figures follow (`--no-million`).
Then the review page's and the gallery's first-paint and filter times on a
100,000-task run directory; `--no-pages` skips them, `--pages-only` prints
only them.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import anyio

from runner.bench import baselines, finished, million, pages, pool, scale, video
from runner.bench.runner_cli import child_env, run_argv, run_measured, simulator_env
from runner.simulator import RunningSimulator, SimConfig


@dataclass
class Figures:
    label: str
    tasks: int
    wall_s: float
    calls: int
    rejected: int
    rss_mb: float | None = None
    cpu_s: float | None = None
    note: str = ""


def write_manifest(folder: Path, n: int) -> Path:
    path = folder / "bench.yaml"
    lines = ["name: bench", "tasks:"]
    ratios = ["1:1", "9:16", "16:9", "3:4", "4:3"]
    lines += [
        f'  - {{prompt: "bench task {i}", aspect_ratio: "{ratios[i % 5]}"}}' for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sim_config(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        qps_limit=args.limit,
        gen_s=(args.gen_min, args.gen_max),
        queue_s=(0.0, 0.0),
        image_long_side_px=48,
        count_rejected=args.count_rejected,
        seed=args.seed,
    )


async def run_ours(args: argparse.Namespace, qps: float, folder: Path) -> Figures:
    manifest = write_manifest(folder, args.tasks)
    out = folder / f"out-{qps:g}"
    async with RunningSimulator(sim_config(args)) as sim:
        cmd = run_argv(manifest, out, "--poll-interval", "1", "--quiet", *args.runner_args, qps=qps)
        done = await run_measured(cmd, child_env(simulator_env(sim.base_url)))
        if done.code != 0:
            raise SystemExit(f"our runner exited {done.code}")
        stats = sim.state.stats()
    return Figures(
        f"seedream-batch --qps {qps:g}",
        args.tasks,
        done.wall_s,
        stats["total_calls"],
        stats["rejected_40001"],
        rss_mb=done.peak_rss_mb,
        cpu_s=done.cpu_s,
    )


async def run_baseline(args: argparse.Namespace, which: str, sample: int) -> Figures:
    bodies = [
        {
            "ref_prompt": f"bench task {i}",
            "creation_type": 3,
            "model_code": "doubao-seedream-4.0",
            "aspect_ratio": "1:1",
            "clarity": 2048,
            "number_of_images": 1,
        }
        for i in range(sample)
    ]
    async with RunningSimulator(sim_config(args)) as sim:
        if which == "vendor":
            wall, _ = await baselines.vendor_sequential(sim.base_url, bodies, args.limit)
            label = "(a) vendor's way, one at a time"
        else:
            wall, _ = await baselines.naive_parallel(sim.base_url, bodies, args.limit)
            label = "(b) parallel, polls each task alone"
        stats = sim.state.stats()
    scale_up = args.tasks / sample
    note = f"measured on {sample} tasks, scaled x{scale_up:.3g}" if sample < args.tasks else ""
    return Figures(
        label,
        args.tasks,
        wall * scale_up,
        round(stats["total_calls"] * scale_up),
        round(stats["rejected_40001"] * scale_up),
        note=note,
    )


def ideal_s(args: argparse.Namespace) -> float:
    """What the limit allows: every unavoidable call at L a second, then the last generation."""
    calls: int = args.tasks + math.ceil(args.tasks / 50) + 1
    return calls / float(args.limit) + float(args.gen_max)


def table(
    args: argparse.Namespace, rows: list[Figures], ours: Figures, extra: list[str] | None = None
) -> str:
    ideal = ideal_s(args)
    head = (
        f"N={args.tasks} tasks, server limit L={args.limit:g} qps, generation "
        f"{args.gen_min:g}-{args.gen_max:g} s; ideal {ideal:.1f} s "
        f"({args.tasks + math.ceil(args.tasks / 50) + 1} calls at L + {args.gen_max:g} s tail)"
    )
    lines = [
        head,
        "",
        f"{'runner':40} {'wall s':>8} {'/ideal':>7} {'calls/task':>10} {'40001 %':>8} "
        f"{'peak RSS MB':>11} {'CPU s/1k':>9} {'ours x faster':>13}",
    ]
    for r in rows:
        speed = (
            "" if r is ours or r.label.startswith("seedream") else f"{r.wall_s / ours.wall_s:.1f}"
        )
        rss = f"{r.rss_mb:.0f}" if r.rss_mb else "-"
        cpu = f"{r.cpu_s / r.tasks * 1000:.1f}" if r.cpu_s is not None else "-"
        share = 100 * r.rejected / max(1, r.calls)
        lines.append(
            f"{r.label:40} {r.wall_s:8.1f} {r.wall_s / ideal:7.2f} "
            f"{r.calls / r.tasks:10.3f} {share:8.2f} {rss:>11} {cpu:>9} {speed:>13}"
            + (f"   ({r.note})" if r.note else "")
        )
    return "\n".join(lines + (extra or []))


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="seedream-bench-", ignore_cleanup_errors=True) as tmp:
        folder = Path(tmp)
        if args.pages_only:
            print(await pages.pages_report(args.page_tasks, folder), flush=True)
            return
        if args.video_only:
            print(await video.report(folder, args.video_mb), flush=True)
            return
        ours = await run_ours(args, args.qps or args.limit, folder)
        rows = [ours]
        if not args.no_over:
            rows.append(await run_ours(args, 2 * args.limit, folder))
        if not args.no_baselines:
            rows.append(await run_baseline(args, "vendor", min(args.tasks, args.vendor_sample)))
            rows.append(await run_baseline(args, "naive", min(args.tasks, args.naive_sample)))
        extra = []
        if args.pool:
            limits = tuple(float(q) for q in args.pool_limits.split(","))
            manifest = write_manifest(folder, args.pool_tasks)
            figures = await pool.run_pool(
                manifest, folder, args.pool_tasks, limits, (args.gen_min, args.gen_max)
            )
            extra.append(pool.row(figures))
        print(table(args, rows, ours, extra), flush=True)
        if args.million:
            print()
            print(await million.report(args.million_tasks, folder, args.million_run_s), flush=True)
        if args.finished_tasks:
            print()
            print(finished.report(args.finished_tasks, folder), flush=True)
        if args.scale:
            print()
            print(await scale.report(args.scale_tasks, folder), flush=True)
        if args.pages:
            print()
            print(await pages.pages_report(args.page_tasks, folder), flush=True)
        if args.video_mb:
            print()
            print(await video.report(folder, args.video_mb), flush=True)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m runner.bench", description=__doc__)
    p.add_argument("-n", "--tasks", type=int, default=1000)
    p.add_argument("-L", "--limit", type=float, default=20.0, help="the server's QPS limit")
    p.add_argument("--gen", default="2-6", help="generation time range, seconds")
    p.add_argument(
        "--qps",
        type=float,
        help="the runner's --qps (default: L); a second run at 2 x L follows unless --no-over",
    )
    p.add_argument("--no-over", action="store_true", help="skip the run at --qps 2 x L")
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument(
        "--vendor-sample",
        type=int,
        default=20,
        help="tasks the one-at-a-time baseline really runs (it is scaled up)",
    )
    p.add_argument("--naive-sample", type=int, default=300)
    p.add_argument(
        "--count-rejected",
        action="store_true",
        help="the server's window also counts the calls it rejected (stricter)",
    )
    p.add_argument(
        "--no-scale",
        dest="scale",
        action="store_false",
        help="skip the 100,000-task figures (plan, replay, a full run's memory)",
    )
    p.add_argument("--scale-tasks", type=int, default=100_000)
    p.add_argument(
        "--no-pages",
        dest="pages",
        action="store_false",
        help="skip the review page and gallery figures (first paint, filters)",
    )
    p.add_argument("--pages-only", action="store_true", help="print only the page figures")
    p.add_argument("--page-tasks", type=int, default=100_000)
    p.add_argument(
        "--video-mb",
        type=int,
        default=500,
        help="the size of the video whose download memory is measured (0: skip)",
    )
    p.add_argument("--video-only", action="store_true", help="only the video memory figure")
    p.add_argument(
        "--no-pool", dest="pool", action="store_false", help="skip the pool-of-accounts row"
    )
    p.add_argument("--pool-tasks", type=int, default=2000)
    p.add_argument("--pool-limits", default="10,10,20", help="each account's QPS limit")
    p.add_argument(
        "--no-million",
        dest="million",
        action="store_false",
        help="skip the 1,000,000-task figures (plan, a run's RSS, resume, status; minutes)",
    )
    p.add_argument("--million-tasks", type=int, default=1_000_000)
    p.add_argument(
        "--finished-tasks",
        type=int,
        default=1_000_000,
        help="memory of a run directory of this many done tasks, opened as a run does (0: skip)",
    )
    p.add_argument("--million-run-s", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("runner_args", nargs="*", help="extra flags for our runner (after --)")
    args = p.parse_args(argv)
    low, _, high = args.gen.partition("-")
    args.gen_min, args.gen_max = float(low), float(high or low)
    return args


if __name__ == "__main__":
    anyio.run(main, parse())
