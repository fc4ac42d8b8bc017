"""One manifest run twice at once into two run directories on one account."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import anyio
import orjson
import pytest

from runner.rundir.ledger import read

from .conftest import FAST_SIM, Harness, cli, sim_env

MANIFEST = "tasks:\n  - {prompt: twin, repeat: 3}\n" + "".join(f"  - c{i}\n" for i in range(9))


@pytest.mark.slow
async def test_a_second_live_run_of_the_same_manifest_is_refused_with_exit_75(
    sim_factory, tmp_path: Path
) -> None:
    sim = await sim_factory(replace(FAST_SIM, gen_s=(3600.0, 3600.0)))  # until released
    first = Harness(tmp_path / "e1", sim)
    first.tmp.mkdir()
    manifest = first.manifest(MANIFEST)
    submitted = anyio.Event()
    sim.state.listeners.append(lambda what, _: submitted.set() if what == "submit" else None)
    async with anyio.create_task_group() as tg:
        tg.start_soon(first.run, manifest)
        await submitted.wait()
        second = await cli(
            "run", str(manifest), "--out", str(tmp_path / "e2"), "--quiet", env=sim_env(sim)
        )
        sim.state.config = replace(sim.state.config, gen_s=(0.1, 0.3))  # the first run
        for task in sim.state.tasks.values():  # may finish now
            task.gen_s = 0.1
    assert second.returncode == 75, second.stderr
    message = second.stderr.decode()
    assert str(first.out.resolve()) in message and f"process {os.getpid()}" in message
    assert not (tmp_path / "e2" / "ledger.jsonl").exists()  # nothing was done
    assert len(sim.state.submissions) == 12  # the first run alone, each task once
    assert first.check_images_intact() == 12

    # Once the first run has ended, the same manifest may run again elsewhere.
    again = await cli("run", str(manifest), "--out", str(tmp_path / "e3"), env=sim_env(sim))
    assert again.returncode == 0, again.stderr


async def test_allowed_concurrent_runs_never_adopt_each_others_tasks(
    sim_factory, tmp_path: Path
) -> None:
    """Lost answers in both runs: each in-doubt lookup skips the other run's tasks."""
    sim = await sim_factory(replace(FAST_SIM, lost_submit_rate=0.35, seed=5))
    runs = [Harness(tmp_path / name, sim) for name in ("e1", "e2")]
    for h in runs:
        h.tmp.mkdir()
    manifest = runs[0].manifest(MANIFEST)
    codes: list[int] = []

    async def go(h: Harness) -> None:
        codes.append(await h.run(manifest, allow_concurrent=True))

    async with anyio.create_task_group() as tg:
        for h in runs:
            tg.start_soon(go, h)

    assert codes == [0, 0]
    assert len(sim.state.submissions) == 24  # twice, as asked; no task paid a third time
    uids = [{r.unique_id for r in read(h.out / "ledger.jsonl").records.values()} for h in runs]
    assert len(uids[0]) == len(uids[1]) == 12 and not uids[0] & uids[1]
    for h in runs:
        assert h.check_images_intact() == 12
        summary = orjson.loads((h.out / "summary.json").read_bytes())
        assert summary["duplicates_billed"] == 0


async def test_two_runs_adopting_at_once_never_take_the_same_task(tmp_path: Path) -> None:
    """Lost submits of the same request in two runs, one task on the server: one adopts it."""
    from runner.pipeline.reconcile import assign
    from runner.records import Request
    from runner.rundir.registry import Registration

    request = Request("same")
    body = request.body()
    item = {
        "unique_id": "only-one",
        "create_time": 1000,
        "model_code": body["model_code"],
        "photo_info": {
            "ref_prompt": "same",
            "ref_img_url": [],
            "aspect_ratio": body["aspect_ratio"],
            "clarity": body["clarity"],
            "number_of_images": body["number_of_images"],
        },
    }
    runs = [Registration(tmp_path / name, "manifest", "account") for name in ("e1", "e2")]
    for r in runs:
        r.enter(allow_concurrent=True)
    adopted: list[dict[str, str]] = []

    async def adopt(r: Registration) -> None:
        async with r.claiming() as claim:
            found = assign([("k", 1000.0, request, None)], [item], claim.taken, 60)
            await anyio.sleep(0.05)  # the other run tries meanwhile
            claim.new.update(found.values())
        adopted.append(found)

    async with anyio.create_task_group() as tg:
        for r in runs:
            tg.start_soon(adopt, r)
    for r in runs:
        r.close()
    assert sorted(len(found) for found in adopted) == [0, 1]


async def test_a_lookup_leaves_alone_a_task_another_run_has_not_recorded_yet(
    harness: Harness, tmp_path: Path
) -> None:
    """Run e1 has sent a submit and the server created its task, but the answer is not in
    e1's ledger yet; run e2, whose identical submit was lost before it reached the server,
    looks it up meanwhile. e2 must wait for e1's answer, then find nothing of its own."""
    import time
    from contextlib import AbstractAsyncContextManager

    import aiohttp

    from runner.api.client import ApiClient
    from runner.api.limiter import AccountLimiter
    from runner.pipeline.gate import RequestGate
    from runner.pipeline.reconcile import Reconciler
    from runner.records import Request, TaskSpec, TaskState
    from runner.rundir.ledger import Ledger
    from runner.rundir.registry import Claim, Registration
    from runner.taskrecord import TaskRecord

    from .conftest import DEMO_CREDS

    request = Request("twin")
    e1, e2 = (Registration(tmp_path / name, "manifest", "account") for name in ("e1", "e2"))
    for r in (e1, e2):
        r.enter(allow_concurrent=True)
    (tmp_path / "e1").mkdir()
    ledger = Ledger(tmp_path / "e1" / "ledger.jsonl")
    ledger.open()
    intent = round(time.time(), 3)
    ledger.write({"e": "planned", "key": "k1", "name": "", "req": request.to_json()})
    ledger.write({"e": "intent", "key": "k1", "attempt": 1, "t": intent}, durable=True)
    lost = TaskRecord(TaskSpec("k2", "", request), TaskState.IN_DOUBT, intent_at=intent)

    asked = 0
    waiting = anyio.Event()

    def claim() -> AbstractAsyncContextManager[Claim]:
        nonlocal asked
        asked += 1
        if asked == 2:  # e2 was told to wait once, and asks again
            waiting.set()
        return e2.claiming()

    found: dict[str, str] = {}
    async with aiohttp.ClientSession() as session:
        client = ApiClient(session, harness.sim.base_url, DEMO_CREDS, AccountLimiter(50.0))
        e1.in_flight.add(request.fingerprint())  # as e1's submit does before the send
        uid = (await client.submit(request.body(), lambda: None)).data  # created; answer "late"
        reconciler = Reconciler(client, RequestGate(), set(), claim=claim, settle_s=0.05)

        async def lookup() -> None:
            found.update(await reconciler.resolve_batch([lost]))
            waiting.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(lookup)
            await waiting.wait()
            # e1's answer arrives: recorded in its ledger, then no longer in flight
            ledger.write({"e": "submitted", "key": "k1", "uid": uid}, durable=True)
            e1.in_flight.remove(request.fingerprint())
    ledger.close()
    for r in (e1, e2):
        r.close()

    assert found == {}  # e1's task stays e1's; e2's lost submit created nothing: sent again
    assert asked >= 2  # e2 asked again once e1's answer was in its ledger
