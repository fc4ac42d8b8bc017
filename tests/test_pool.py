"""Account pools: an accounts file, tasks spread by headroom, every later call
through the task's own account, an account leaving the pool, kill -9 and resume."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import anyio
import orjson
import pytest

from runner.api.accounts import load_accounts
from runner.commands.run import run
from runner.commands.status import status_data, status_text
from runner.errors import AccountsError
from runner.settings import RunRequest
from runner.simulator import DEMO_APP_ID, DEMO_SECRET_KEY
from runner.simulator.accounts import SimAccount

from .conftest import DEMO_CREDS, FAST_RUN, FAST_SIM, Harness

POOL_SIM = replace(
    FAST_SIM,
    qps_limit=15.0,
    gen_s=(0.3, 0.6),
    accounts=(SimAccount("app-b", "secret-b", 15.0), SimAccount("app-c", "secret-c", 30.0)),
)
SIM_KEY = {"a": "", "b": "app-b", "c": "app-c"}  # label -> the simulator's account key


def accounts_file(folder: Path, mode: int = 0o600) -> Path:
    path = folder / "accounts.yaml"
    path.write_text(
        "accounts:\n"
        f"  - {{label: a, app_id: {DEMO_APP_ID}, secret_key: {DEMO_SECRET_KEY}, qps: 10}}\n"
        "  - {label: b, app_id: app-b, secret_key: secret-b, qps: 10}\n"
        "  - {label: c, app_id: app-c, secret_key: secret-c, qps: 20}\n",
        encoding="utf-8",
    )
    path.chmod(mode)
    return path


async def pool_run(h: Harness, manifest: Path, **options: object) -> int:
    request = RunRequest(
        manifest,
        h.out,
        replace(FAST_RUN, **options),
        progress_interval_s=3600,
        accounts=accounts_file(h.tmp),
    )
    return await run(request, h.sim.base_url, lambda: DEMO_CREDS)


def check_each_task_stayed_with_its_account(h: Harness) -> dict[str, int]:
    """Every task the ledger knows was created by the account its label names, once;
    nothing was asked about through another account."""
    per_label: dict[str, int] = {}
    for rec in h.ledger().records.values():
        if rec.unique_id:
            assert h.sim.state.tasks[rec.unique_id].account == SIM_KEY[rec.account], rec.key
            per_label[rec.account] = per_label.get(rec.account, 0) + 1
    stats = h.sim.state.stats()
    assert all(a["duplicates"] == 0 for a in stats["accounts"].values()), stats["accounts"]
    assert stats["foreign_queries"] == 0
    return per_label


def test_accounts_file_problems_name_file_line_and_field(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "accounts:\n"
        "  - label: a\n"
        "    app_id: x\n"
        "    secret_key_env: NOT_SET_ANYWHERE\n"
        "  - label: b\n"
        "    credentials_dir: /nonexistent\n"
        "    qps: -1\n"
        "  - {label: a, app_id: y, secret_key_env: HOME, colour: red}\n",
        encoding="utf-8",
    )
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(AccountsError) as caught:
        load_accounts(path)
    text = str(caught.value)
    assert f"{path}:4:5: accounts[0].secret_key_env: $NOT_SET_ANYWHERE is not set" in text
    assert f"{path}:7:5: accounts[1].qps: must be a number > 0" in text
    assert "accounts[2].colour: unknown key" in text


def test_an_accounts_file_with_a_secret_that_others_can_read_is_refused(tmp_path: Path) -> None:
    path = accounts_file(tmp_path, mode=0o644)
    with pytest.raises(AccountsError) as caught:
        load_accounts(path)
    assert "chmod 600" in str(caught.value)
    assert DEMO_SECRET_KEY not in str(caught.value)
    path.chmod(0o600)
    assert [a.label for a in load_accounts(path)] == ["a", "b", "c"]


async def test_a_pool_spreads_tasks_and_keeps_each_task_with_its_account(
    sim_factory, tmp_path: Path
) -> None:
    h = Harness(tmp_path, await sim_factory(POOL_SIM))
    manifest = h.manifest("tasks:\n" + "".join(f"  - prompt {i}\n" for i in range(60)))

    assert await pool_run(h, manifest) == 0

    per_label = check_each_task_stayed_with_its_account(h)
    assert set(per_label) == {"a", "b", "c"} and sum(per_label.values()) == 60
    assert per_label["c"] > per_label["a"]  # twice the qps, more headroom, more tasks
    summary = orjson.loads((h.out / "summary.json").read_bytes())
    assert summary["accounts"]["c"]["succeeded"] == per_label["c"]
    assert set(summary["api"]["accounts"]) == {"a", "b", "c"}
    assert {i["account"] for i in summary["items"]} == {"a", "b", "c"}
    assert "accounts: a " in (h.out / "index.html").read_text(encoding="utf-8")
    status = status_data(h.out)
    assert status["accounts"]["a"]["tasks"] == per_label["a"]
    assert "account c: " in status_text(status)


async def test_an_account_revoked_mid_run_leaves_the_pool_and_its_tasks_finish_through_it(
    sim_factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(tmp_path, await sim_factory(POOL_SIM))
    state = h.sim.state
    state.listeners.append(
        lambda what, _: (
            state.revoke("app-b")
            if what == "submit" and state.accounts["app-b"].bodies.total() == 5
            else None
        )
    )
    manifest = h.manifest("tasks:\n" + "".join(f"  - prompt {i}\n" for i in range(40)))

    code = await pool_run(h, manifest)

    assert "account 'b' leaves the pool" in caplog.text
    records = h.ledger().records.values()
    stranded = [r for r in records if r.account == "b" and not r.state.final]
    assert code == (4 if stranded else 0)  # b's tasks on the server wait for b; nothing lost
    assert all(r.state.final for r in records if r.account != "b")
    assert sum(1 for r in records if r.account == "b") <= 5 + 2  # b got nothing more after

    state.accounts["app-b"].revoked = False  # the operator restores the key; run again
    state.listeners.clear()
    assert await pool_run(h, manifest) == 0
    check_each_task_stayed_with_its_account(h)
    assert len(state.submissions) == 40


async def test_when_every_account_fails_authentication_the_run_stops_with_exit_3(
    sim_factory, tmp_path: Path
) -> None:
    h = Harness(tmp_path, await sim_factory(POOL_SIM))
    for key in ("", "app-b", "app-c"):
        h.sim.state.revoke(key)
    assert await pool_run(h, h.manifest("tasks: [a, b]\n")) == 3
    assert h.sim.state.submissions == []


@pytest.mark.slow
async def test_kill_9_mid_pool_run_then_resume_keeps_every_task_with_its_account(
    sim_factory, tmp_path: Path
) -> None:
    h = Harness(tmp_path, await sim_factory(replace(POOL_SIM, gen_s=(0.5, 1.5))))
    manifest = h.manifest("tasks:\n" + "".join(f"  - prompt {i}\n" for i in range(120)))
    accounts = accounts_file(tmp_path)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHANJING_")},
        "CHANJING_OPENAPI_BASE_URL": h.sim.base_url,
    }
    cmd = [sys.executable, "-m", "runner", "run", str(manifest), "--out", str(h.out)]
    cmd += ["--accounts", str(accounts), "--first-poll", "0.3", "--poll-interval", "0.2"]
    cmd += ["--quiet"]
    killed = anyio.Event()

    def kill_when_busy(what: str, _: object) -> None:
        if what == "submit" and len(h.sim.state.submissions) == 50 and not killed.is_set():
            proc.kill()  # SIGKILL to our child alone
            killed.set()

    h.sim.state.listeners.append(kill_when_busy)
    proc = await anyio.open_process(cmd, env=env)
    await proc.wait()
    assert killed.is_set() and proc.returncode == -signal.SIGKILL
    h.sim.state.listeners.clear()

    done = await anyio.run_process(cmd, env=env, check=False)

    assert done.returncode == 0, done.stderr
    per_label = check_each_task_stayed_with_its_account(h)
    assert sum(per_label.values()) == 120 == len(h.sim.state.submissions)
    assert h.check_images_intact() == 120
