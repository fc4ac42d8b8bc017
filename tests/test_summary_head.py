"""`read_head`: summary.json's counts without loading its items (the --quiet line)."""

from __future__ import annotations

from pathlib import Path

import orjson

from runner.report.summary import read_head


async def test_read_head_matches_the_whole_summary_without_items(harness) -> None:  # type: ignore[no-untyped-def]
    manifest = harness.manifest(
        "tasks:\n" + "".join(f"  - 'prompt {i} with \\\"items\\\": [ inside'\n" for i in range(3))
    )
    assert await harness.run(manifest) == 0
    path = harness.out / "summary.json"
    whole = orjson.loads(path.read_bytes())
    assert len(whole.pop("items")) == 3
    assert read_head(path) == whole


def test_a_summary_without_items_reads_whole(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_bytes(orjson.dumps({"name": "x", "tasks": {"total": 0}}))
    assert read_head(path) == {"name": "x", "tasks": {"total": 0}}
