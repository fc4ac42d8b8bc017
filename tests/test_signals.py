"""SIGINT, SIGTERM and --deadline: stop cleanly, exit 4, resume later."""

from __future__ import annotations

import signal
import subprocess
from dataclasses import replace
from pathlib import Path

import anyio
import orjson
import pytest

from runner.bench.runner_cli import child_env, run_argv
from runner.rundir.ledger import read

from .conftest import FAST_SIM, Harness, sim_env

QUICK = ["--first-poll", "0.2", "--poll-interval", "0.2", "--progress-every", "60"]


async def start(
    h: Harness, manifest: Path, *extra: str, stderr: int | None = None
) -> anyio.abc.Process:
    with (h.tmp / "stderr.txt").open("ab") as log:
        proc = await anyio.open_process(
            run_argv(manifest, h.out, *QUICK, *extra),
            env=child_env(sim_env(h.sim)),
            stdout=subprocess.DEVNULL,
            stderr=log if stderr is None else stderr,
        )
    RUNNING.append(proc)
    return proc


RUNNING: list[anyio.abc.Process] = []


@pytest.fixture(autouse=True)
async def _no_stray_processes():
    yield
    while RUNNING:
        proc = RUNNING.pop()
        if proc.returncode is None:
            proc.kill()
        await proc.aclose()


def when_submitted(h: Harness, count: int) -> anyio.Event:
    event = anyio.Event()
    h.sim.state.listeners.append(
        lambda what, _: (
            event.set() if what == "submit" and len(h.sim.state.submissions) >= count else None
        )
    )
    return event


@pytest.fixture
async def slow_harness(sim_factory, tmp_path: Path) -> Harness:
    return Harness(tmp_path, await sim_factory(replace(FAST_SIM, gen_s=(60.0, 60.0))))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_stops_within_5_seconds_with_exit_4(slow_harness: Harness, sig) -> None:
    h = slow_harness
    manifest = h.manifest("tasks:\n  - {prompt: p, repeat: 30}\n")
    submitted = when_submitted(h, 3)
    proc = await start(h, manifest, "--qps", "5")
    with anyio.fail_after(20):
        await submitted.wait()

    proc.send_signal(sig)
    with anyio.fail_after(5):
        code = await proc.wait()

    assert code == 4
    summary = orjson.loads((h.out / "summary.json").read_bytes())
    assert summary["stopped"] == sig.name
    assert summary["tasks"]["pending"] == 30
    replay = read(h.out / "ledger.jsonl")
    assert replay.bad_lines == 0
    assert len(h.sim.state.submissions) < 30  # it stopped submitting
    known = {r.unique_id for r in replay.records.values() if r.unique_id}
    in_doubt = sum(1 for r in replay.records.values() if r.state.value == "in_doubt")
    assert len(known) + in_doubt >= len(h.sim.state.submissions)  # nothing it paid for is lost


async def test_a_second_sigint_exits_at_once_leaving_a_valid_ledger(slow_harness: Harness) -> None:
    h = slow_harness
    manifest = h.manifest("tasks:\n  - {prompt: p, repeat: 30}\n")
    submitted = when_submitted(h, 3)
    proc = await start(h, manifest, "--qps", "5", stderr=subprocess.PIPE)
    with anyio.fail_after(20):
        await submitted.wait()
        proc.send_signal(signal.SIGINT)
        said = b""
        assert proc.stderr is not None
        while b"press Ctrl-C again" not in said:  # the first one has been taken in
            said += await proc.stderr.receive()

    proc.send_signal(signal.SIGINT)
    with anyio.fail_after(2):
        code = await proc.wait()

    assert code == 4
    replay = read(h.out / "ledger.jsonl")
    assert replay.bad_lines == 0 and len(replay.records) == 30


async def test_deadline_stops_submitting_polls_in_flight_then_resume_finishes(
    sim_factory, tmp_path: Path
) -> None:
    h = Harness(tmp_path, await sim_factory(replace(FAST_SIM, gen_s=(1.5, 1.5))))
    manifest = h.manifest("tasks:\n  - {prompt: p, repeat: 20}\n")

    proc = await start(h, manifest, "--qps", "2", "--deadline", "1.2", "--grace", "30s")
    with anyio.fail_after(20):
        code = await proc.wait()

    assert code == 4
    summary = orjson.loads((h.out / "summary.json").read_bytes())
    assert summary["stopped"] == "deadline"
    sent = len(h.sim.state.submissions)
    assert 1 <= sent <= 4  # 2 a second for 1.2 s: nothing is sent after the deadline
    assert summary["tasks"]["succeeded"] == sent  # in-flight ones were polled to the end
    assert summary["images"]["downloaded"] == sent

    proc = await start(h, manifest, "--qps", "50")
    with anyio.fail_after(20):
        assert await proc.wait() == 0
    assert len(h.sim.state.submissions) == 20
    assert h.check_images_intact() == 20


async def test_status_works_while_a_run_is_going(slow_harness: Harness) -> None:
    from .conftest import cli

    h = slow_harness
    manifest = h.manifest("tasks:\n  - {prompt: p, repeat: 4}\n")
    submitted = when_submitted(h, 4)
    proc = await start(h, manifest, "--qps", "20")
    with anyio.fail_after(20):
        await submitted.wait()
        while True:  # the answer of the 4th submit is recorded right after it arrives
            r = await cli("status", str(h.out), "--json")
            status = orjson.loads(r.stdout)
            if status["states"]["submitted"] == 4:
                break
            await anyio.sleep(0.05)
    assert status["running"] is True
    assert status["last_progress"] is not None
    r = await cli("status", str(h.out))
    assert b"(a run is going)" in r.stdout and b"submitted" in r.stdout
    proc.send_signal(signal.SIGTERM)
    with anyio.fail_after(10):
        assert await proc.wait() == 4


async def test_quiet_prints_only_warnings_and_the_final_line(sim_factory, tmp_path: Path) -> None:
    from .conftest import cli

    h = Harness(tmp_path, await sim_factory(FAST_SIM))
    word = h.sim.config.reject_word
    m = h.manifest(f"tasks:\n  - a\n  - 'b {word}'\n")
    r = await cli("run", str(m), "--out", str(h.out), "--quiet", *QUICK, env=sim_env(h.sim))
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "WARNING" in err and "rejected" in err
    assert " INFO " not in err
    line = r.stdout.decode()
    assert f"run job: 1 succeeded, 1 failed, 0 pending; 1/2 images; exit 1; see {h.out}" in line
    assert "finished: 1 succeeded, 1 failed" in (h.out / "run.log").read_text()


async def test_after_a_deadline_the_run_still_audits_what_it_sent(harness: Harness) -> None:
    """The deadline stops submitting, not the end-of-run audit (a signal does)."""
    manifest = harness.manifest("tasks:\n  - {prompt: a kite, repeat: 40}\n")
    code = await harness.run(manifest, qps=5.0, deadline_s=0.5, grace_s=30.0)
    assert code == 4  # stopped by the deadline, tasks left
    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    assert summary["stopped"] == "deadline"
    events = [
        orjson.loads(line) for line in (harness.out / "ledger.jsonl").read_bytes().splitlines()
    ]
    assert any(e.get("e") == "audit" for e in events), "no audit after the deadline"
