"""The memory of a large video download: `make bench` prints it.

Runs one text-to-video task through the runner (a subprocess, as users run
it) against the simulator serving a video padded to `size_mb`, with the
connection dropped half-way so the Range resume is part of the measure; then
the same with a 1 MB video. The runner's peak RSS growth is the difference:
what streaming the big file cost. Target: under 50 MB for 500 MB.
"""

from __future__ import annotations

from pathlib import Path

from runner.bench.runner_cli import run_argv, run_for_peak_rss
from runner.simulator import RunningSimulator, SimConfig

MANIFEST = "name: video-bench\ntasks:\n  - {prompt: a long wave, model: seedance-1.0-pro}\n"


async def _run(folder: Path, label: str, size_bytes: int) -> tuple[float, float, int, int]:
    """Peak RSS (MB), wall seconds, bytes on disk, bytes the CDN sent."""
    manifest = folder / f"{label}.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    out = folder / label
    config = SimConfig(
        qps_limit=None,
        queue_s=(0.0, 0.0),
        video_gen_s=(0.2, 0.2),
        video_bytes=size_bytes,
        cdn_drop_first=1,
    )
    flags = ("--quiet", "--video-first-poll", "0.3", "--video-poll-interval", "0.2")
    run = run_argv(manifest, out, *flags)
    async with RunningSimulator(config) as sim:
        code, wall, rss_mb = await run_for_peak_rss(run, sim.base_url)
        sent = sum(sim.state.cdn_bytes.values())
    if code != 0:
        raise RuntimeError(f"the video run exited {code}")
    files = list((out / "videos").glob("*.mp4"))
    on_disk = sum(f.stat().st_size for f in files)
    for f in files:
        f.unlink()  # do not keep 500 MB in the temporary folder
    return rss_mb, wall, on_disk, sent


async def report(folder: Path, size_mb: int = 500) -> str:
    size = size_mb * 1024 * 1024
    small_rss, _, _, _ = await _run(folder, "small", 1024 * 1024)
    big_rss, wall, on_disk, sent = await _run(folder, "big", size)
    growth = big_rss - small_rss
    ok = "ok" if growth < 50 and on_disk == size else "OVER TARGET"
    return "\n".join(
        [
            f"video: one {size_mb} MB download, dropped half-way and resumed with Range",
            f"  on disk {on_disk / 2**20:.0f} MB; the CDN sent {sent / 2**20:.0f} MB "
            f"({sent / max(1, size):.2f} x the file) in {wall:.1f} s",
            f"  peak RSS {big_rss:.0f} MB vs {small_rss:.0f} MB for a 1 MB video: "
            f"growth {growth:.1f} MB   target < 50 MB   {ok}",
        ]
    )
