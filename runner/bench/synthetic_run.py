"""A run directory made from ledger events alone, of any size, for the page benchmarks.

Mostly finished tasks with one image each (hard links to one small PNG), some
failed, some still pending; two models; prompts from a small vocabulary, so a
text filter has something to find.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import orjson

from runner.records import Request, task_key
from runner.simulator.images import render_png

WORDS = [
    "harbour",
    "lighthouse",
    "teapot",
    "garden",
    "library",
    "bicycle",
    "skyline",
    "forest",
    "desert",
    "canyon",
    "glacier",
    "market",
    "window",
    "portrait",
    "street",
    "bridge",
    "meadow",
    "river",
    "orchard",
    "temple",
]
MODELS = ("doubao-seedream-4.0", "doubao-seedream-4.5")


def build(run_dir: Path, tasks: int, *, files: bool = True) -> Path:
    """Write ledger.jsonl (and images) for `tasks` tasks; returns the run directory."""
    images = run_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    png = render_png("synthetic", "1:1", 64)
    sources: list[Path] = []  # a file takes only so many hard links (65,000 on ext4)
    sha = hashlib.sha256(png).hexdigest()
    t = 1_700_000_000.0
    with (run_dir / "ledger.jsonl").open("wb") as out:
        out.write(orjson.dumps({"e": "header", "v": 1, "t": t}) + b"\n")
        out.write(
            orjson.dumps({"e": "run", "what": "start", "pid": 1, "name": run_dir.name, "t": t})
        )
        out.write(b"\n")
        for i in range(tasks):
            words = " ".join(WORDS[(i * k) % len(WORDS)] for k in (1, 3, 7))
            req = Request(f"a {words} at dusk, no. {i}", model_code=MODELS[i % 2])
            key = task_key(req.fingerprint(), 0)
            lines: list[dict[str, Any]] = [
                {"e": "planned", "key": key, "name": f"task-{i}", "req": req.to_json(), "src": ""},
                {"e": "submitted", "key": key, "uid": f"uid{i:08d}", "trace": f"tr{i}"},
            ]
            if i % 50 == 7:
                lines.append(
                    {
                        "e": "finished",
                        "key": key,
                        "uid": f"uid{i:08d}",
                        "status": "Error",
                        "err": "generation failed",
                    }
                )
            elif i % 97 != 5:
                name = f"images/task-{i}.{key}.1.png"
                lines.append(
                    {
                        "e": "finished",
                        "key": key,
                        "uid": f"uid{i:08d}",
                        "status": "Success",
                        "urls": [f"https://cdn.example/{i}.png"],
                    }
                )
                lines.append(
                    {
                        "e": "downloaded",
                        "key": key,
                        "i": 0,
                        "path": name,
                        "sha256": sha,
                        "size": len(png),
                    }
                )
                if files and not (run_dir / name).exists():
                    if i // 10_000 >= len(sources):
                        sources.append(images / f".source-{len(sources)}.png")
                        sources[-1].write_bytes(png)
                    os.link(sources[i // 10_000], run_dir / name)
            for n, ev in enumerate(lines):
                out.write(orjson.dumps({**ev, "t": t + i * 0.01 + n * 0.001}) + b"\n")
        out.write(orjson.dumps({"e": "run", "what": "end", "exit": 1, "t": t + tasks}) + b"\n")
    return run_dir
