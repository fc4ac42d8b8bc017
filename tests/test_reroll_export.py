"""After review: reroll the rejected (through the CLI, against the simulator), export, origin."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import orjson

from runner.review.decisions import Decision, record

from .conftest import Harness, cli, sim_env

FAST = ("--qps", "50", "--first-poll", "0.2", "--poll-interval", "0.1", "--settle", "0.05")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_reroll_rejected_sends_each_once_with_its_edited_prompt(harness: Harness) -> None:
    manifest = harness.manifest("""
        tasks:
          - {prompt: "a red kite", name: kite}
          - {prompt: "a blue boat", name: boat, number_of_images: 2}
          - {prompt: "a green door", name: door}
    """)
    assert await harness.run(manifest) == 0
    recs = {r.spec.name: r for r in harness.ledger().records.values()}
    first_files = {n: [harness.out / f.path for f in r.files.values()] for n, r in recs.items()}
    ledger = harness.out / "ledger.jsonl"
    record(ledger, Decision(recs["kite"].key, 1, "keep"))
    record(ledger, Decision(recs["boat"].key, 1, "reject", "a blue boat at night"))
    record(ledger, Decision(recs["door"].key, 1, "reject"))
    env = sim_env(harness.sim)
    sent_before = len(harness.sim.state.tasks)

    planned = await cli(
        "plan", str(manifest), "--out", str(harness.out), "--reroll-rejected", "--json", env=env
    )
    assert planned.returncode == 0, planned.stderr
    rows = {t["name"]: t for t in json.loads(planned.stdout)["tasks"]}
    assert {n for n, t in rows.items() if t["state"] == "reroll"} == {"boat", "door"}
    assert rows["boat"]["prompt"] == "a blue boat at night"
    assert rows["door"]["prompt"] == "a green door"
    assert len(harness.sim.state.tasks) == sent_before  # plan sends nothing

    # The budget covers rerolls: 4 images were submitted already, 4 is the cap.
    capped = await cli(
        "run",
        str(manifest),
        "--out",
        str(harness.out),
        "--reroll-rejected",
        "--max-images",
        "4",
        *FAST,
        env=env,
    )
    assert capped.returncode == 4, capped.stderr
    assert len(harness.sim.state.tasks) == sent_before

    done = await cli(
        "run", str(manifest), "--out", str(harness.out), "--reroll-rejected", *FAST, env=env
    )
    assert done.returncode == 0, done.stderr
    new = list(harness.sim.state.tasks.values())[sent_before:]
    assert sorted(t.body["ref_prompt"] for t in new) == ["a blue boat at night", "a green door"]

    again = await cli(
        "run", str(manifest), "--out", str(harness.out), "--reroll-rejected", *FAST, env=env
    )
    assert again.returncode == 0 and len(harness.sim.state.tasks) == sent_before + 2

    recs = {r.spec.name: r for r in harness.ledger().records.values()}
    boat = recs["boat"]
    assert (boat.attempt, boat.decision, boat.spec.request.prompt) == (
        2,
        None,
        "a blue boat at night",
    )
    assert [(a.attempt, a.decision, a.prompt) for a in boat.earlier] == [
        (1, "reject", "a blue boat")
    ]
    assert len(boat.files) == 2 and all(".a2." in f.path for f in boat.files.values())
    assert harness.check_images_intact() == 4  # the current attempts' files
    for name, paths in first_files.items():  # earlier attempts' files are all still there
        recorded = {f.sha256 for a in recs[name].earlier for f in a.files} or {
            f.sha256 for f in recs[name].files.values()
        }
        assert {_sha(p) for p in paths} == recorded, name
    summary = orjson.loads((harness.out / "summary.json").read_bytes())
    item = next(i for i in summary["items"] if i["name"] == "boat")
    assert item["attempts"][0]["decision"] == "reject" and len(item["attempts"][0]["files"]) == 2
    assert summary["decisions"] == {"keep": 1, "reject": 0, "none": 2}
    status = await cli("status", str(harness.out), env=env)
    assert b"kept 1" in status.stdout, status.stdout


async def test_export_and_origin_find_a_renamed_file(harness: Harness) -> None:
    manifest = harness.manifest("""
        tasks:
          - {prompt: "a red kite", name: kite}
          - {prompt: "a blue boat", name: boat}
    """)
    assert await harness.run(manifest) == 0
    recs = {r.spec.name: r for r in harness.ledger().records.values()}
    record(harness.out / "ledger.jsonl", Decision(recs["kite"].key, 1, "keep"))
    dest = harness.tmp / "handoff"

    kept = await cli("export", str(harness.out), "--to", str(dest))
    assert kept.returncode == 0, kept.stderr
    images = sorted(p.name for p in dest.iterdir() if p.suffix == ".png")
    assert images == [Path(recs["kite"].files[0].path).name]
    with (dest / "metadata.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["name"], r["prompt"], r["decision"], r["run"]) for r in rows] == [
        ("kite", "a red kite", "keep", "job")
    ]
    assert rows[0]["unique_id"] == recs["kite"].unique_id
    assert json.loads(rows[0]["parameters"])["aspect_ratio"] == "1:1"
    assert rows[0]["sha256"] == _sha(dest / images[0])

    linked = await cli("export", str(harness.out), "--to", str(dest), "--only", "all", "--link")
    assert linked.returncode == 0, linked.stderr
    lines = (dest / "metadata.jsonl").read_bytes().splitlines()
    assert len(lines) == 2  # the kite row merged, not repeated
    boat = dest / Path(recs["boat"].files[0].path).name
    assert boat.stat().st_ino == (harness.out / recs["boat"].files[0].path).stat().st_ino

    moved = harness.tmp / "elsewhere" / "final-pick.png"
    moved.parent.mkdir()
    shutil.move(dest / images[0], moved)
    stranger = harness.tmp / "stranger.png"
    stranger.write_bytes(b"\x89PNG\r\n\x1a\nnot ours")
    found = await cli("origin", str(moved), "--runs", str(harness.tmp), "--json")
    assert found.returncode == 0, found.stderr
    [answer] = json.loads(found.stdout)
    [made] = answer["made_by"]
    assert (made["key"], made["prompt"], made["decision"]) == (
        recs["kite"].key,
        "a red kite",
        "keep",
    )
    assert made["run_dir"] == str(harness.out)
    unknown = await cli("origin", str(stranger), "--runs", str(harness.out))
    assert unknown.returncode == 1 and b"not made by any run" in unknown.stdout


async def test_export_refuses_a_name_taken_by_other_bytes(harness: Harness) -> None:
    manifest = harness.manifest("tasks: [{prompt: a red kite, name: kite}]")
    assert await harness.run(manifest) == 0
    [rec] = harness.ledger().records.values()
    dest = harness.tmp / "handoff"
    dest.mkdir()
    (dest / Path(rec.files[0].path).name).write_bytes(b"someone else's picture")
    result = await cli("export", str(harness.out), "--to", str(dest), "--only", "succeeded")
    assert result.returncode == 2 and b"different content" in result.stderr
    assert sorted(p.name for p in dest.iterdir()) == [Path(rec.files[0].path).name]
