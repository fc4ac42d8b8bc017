"""kill -9 through a chained run: no task twice, no parent re-run, children sent once."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import anyio
import orjson
import pytest

from runner.manifest.expand import expand
from runner.manifest.load import load_manifest
from runner.records import TaskState
from runner.rundir.ledger import read

from .conftest import Harness, kill_9_when
from .test_chaos import CHAOS_SIM, start

MANIFEST = """
name: chain-chaos
tasks:
  - {name: sheet, prompt: "sheet {n}", number_of_images: 2, matrix: {n: [1, 2, 3]}}
  - name: scene
    prompt: "scene {v}"
    ref_images: ["@sheet[0]", "@sheet[3]"]
    matrix: {v: [a, b, c, d]}
  - {name: clip, prompt: clip, for_each: "@scene"}
  - {name: free, prompt: "free {n}", matrix: {n: [FREE]}}
""".replace("FREE", ", ".join(str(n) for n in range(1, 61)))


def _is_child_submit(what: str, detail: object) -> bool:
    return what == "submit" and bool(getattr(detail, "body", {}).get("ref_img_url"))


@pytest.mark.slow
async def test_kill_9_through_a_chain_then_resume(sim_factory, tmp_path: Path) -> None:
    h = Harness(tmp_path, await sim_factory(CHAOS_SIM))
    manifest = h.manifest(MANIFEST)
    specs = expand(load_manifest(manifest))
    rng = random.Random(CHAOS_SIM.seed)
    calls = [0]
    h.sim.state.listeners.append(lambda what, _: calls.__setitem__(0, calls[0] + (what == "call")))
    # The first kills land on the seams of a chain: while a parent's image is being
    # served (downloaded), and when a child's submit has created its task but the
    # answer has not been recorded; then at seeded random moments.
    triggers = [
        lambda what, detail: what == "served" and _served_prompt(h, detail).startswith("sheet"),
        _is_child_submit,
        *(_after_calls(calls, rng.randint(2, 8)) for _ in range(5)),
    ]

    killed: list[bool] = []
    for trigger in triggers:
        hit = anyio.Event()

        def check(what: str, detail: object, trigger=trigger, hit: anyio.Event = hit) -> None:
            if trigger(what, detail):
                hit.set()

        h.sim.state.listeners.append(check)
        killed.append(await kill_9_when(await start(h, manifest), hit))
        h.sim.state.listeners.remove(check)

    proc = await start(h, manifest)
    with anyio.fail_after(120):
        code = await proc.wait()
    await proc.aclose()

    assert killed[:2] == [True, True] and sum(killed) >= 5, killed
    assert code == 0, (tmp_path / "stderr.txt").read_text()[-3000:]
    # The server's own records: one task per manifest task (no duplicate, no parent re-run).
    expected = Counter(s.request.prompt for s in specs)
    created = Counter(s["body"]["ref_prompt"] for s in h.sim.state.submissions)
    assert created == expected
    accounts = h.sim.state.stats()["accounts"].values()
    assert all(a["duplicates"] == 0 for a in accounts), accounts  # the server's own count
    replay = read(h.out / "ledger.jsonl")
    assert replay.bad_lines == 0
    uids = [r.unique_id for r in replay.records.values()]
    assert all(r.state is TaskState.DONE for r in replay.records.values())
    assert len(set(uids)) == len(specs) and set(uids) == set(h.sim.state.tasks)
    for rec in replay.records.values():
        body = h.sim.state.tasks[rec.unique_id].body
        if rec.spec.request.parents:  # sent once, with the references the ledger recorded
            assert rec.sent_refs == body["ref_img_url"]
            for parent in rec.spec.request.parents:
                assert any(replay.records[parent].unique_id in url for url in rec.sent_refs) or all(
                    "/cdn/uploads/" in url for url in rec.sent_refs
                )
    assert h.check_images_intact() == sum(s.request.number_of_images for s in specs)
    summary = orjson.loads((h.out / "summary.json").read_bytes())
    assert summary["duplicates_billed"] == 0  # and the end-of-run audit agrees


def _served_prompt(h: Harness, path: object) -> str:
    task = h.sim.state.tasks.get(str(path).split("/")[2])
    return "" if task is None else str(task.body["ref_prompt"])


def _after_calls(calls: list[int], n: int) -> Callable[[str, object], bool]:
    """A trigger: true once `n` more API calls have reached the server than when first asked."""
    base = [-1]

    def trigger(what: str, _: object) -> bool:
        if what != "call":
            return False
        if base[0] < 0:
            base[0] = calls[0]
        return calls[0] >= base[0] + n

    return trigger
