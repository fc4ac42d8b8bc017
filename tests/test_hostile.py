"""Hostile and broken input: secrets stay secret, names cannot escape the run directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.simulator import DEMO_SECRET_KEY

from .conftest import Harness, cli, sim_env

FAST = ["--qps", "50", "--first-poll", "0.2", "--poll-interval", "0.1", "--progress-every", "1"]


async def test_a_verbose_run_never_shows_a_secret(harness: Harness) -> None:
    word = harness.sim.config.reject_word
    m = harness.manifest(f"tasks:\n  - a\n  - 'b {word}'\n")
    r = await cli(
        "run", str(m), "--out", str(harness.out), "--verbose", *FAST, env=sim_env(harness.sim)
    )
    assert r.returncode == 1
    secrets = [DEMO_SECRET_KEY.encode(), *(t.encode() for t in harness.sim.state.tokens)]
    assert len(secrets) >= 2  # the secret key and at least one access token
    streams = {"stdout": r.stdout, "stderr": r.stderr}
    files = {str(p): p.read_bytes() for p in harness.out.rglob("*") if p.is_file()}
    assert b"access token refreshed" in r.stderr  # the verbose run did talk about tokens
    for where, content in {**streams, **files}.items():
        for secret in secrets:
            assert secret not in content, f"a secret appears in {where}"


async def test_hostile_names_stay_inside_the_run_directory(harness: Harness) -> None:
    m = harness.manifest(
        r"""
        tasks:
          - {prompt: a, name: "../../escaped"}
          - {prompt: b, name: "/etc/passwd"}
          - {prompt: c, name: "..", repeat: 2}
          - {prompt: d, name: "tab\there\u0007bell\nnewline"}
          - {prompt: e, name: "%s"}
          - "../../prompt used as a name"
    """
        % ("长" * 300)
    )
    assert await harness.run(m) == 0
    inside = harness.out.resolve()
    written = [p for p in harness.tmp.rglob("*") if p.is_file()]
    assert not [p for p in written if p.name != "job.yaml" and inside not in p.resolve().parents]
    images = sorted((harness.out / "images").iterdir())
    assert len(images) == 7  # unique, one per image
    for image in images:
        assert image.parent == harness.out / "images"
        assert len(image.name.encode()) < 255 and not any(ord(c) < 32 for c in image.name)
        assert not image.name.startswith(".")


def test_prompt_length_limit_is_a_manifest_error_with_the_flag_to_raise_it(tmp_path: Path) -> None:
    from runner.errors import ManifestError
    from runner.manifest.limits import Limits
    from runner.manifest.tasks import load_tasks

    path = tmp_path / "m.yaml"
    path.write_text("tasks:\n  - " + "x" * 4001 + "\n")
    with pytest.raises(ManifestError, match="4,001 characters; the limit is 4,000") as info:
        load_tasks(path)
    assert f"{path}:2:5: tasks[0].prompt:" in str(info.value)
    assert "--max-prompt-chars" in str(info.value)
    assert load_tasks(path, Limits(max_prompt_chars=5000)).specs
    # The prompt as sent counts: placeholders filled.
    path.write_text("vars: {v: " + "y" * 30 + "}\ntasks:\n  - 'a {v}'\n")
    with pytest.raises(ManifestError, match="32 characters; the limit is 20"):
        load_tasks(path, Limits(max_prompt_chars=20))


async def test_broken_api_answers_are_survived(sim_factory, tmp_path: Path) -> None:
    from dataclasses import replace

    from runner.rundir.ledger import read
    from runner.simulator.mangle import KINDS

    from .conftest import FAST_SIM

    # Each kind first breaks an answer that carries a finished task (however few polls
    # the run gets in), then a third of the answers at random.
    config = replace(FAST_SIM, mangle_first=len(KINDS), mangle_rate=0.35, seed=5)
    sim = await sim_factory(replace(config, gen_s=(1.5, 3.0)))
    h = Harness(tmp_path, sim)
    manifest = h.manifest("tasks:\n  - {prompt: p, repeat: 25, number_of_images: 2}\n")

    # Frequent small polls, so that many answers can be broken.
    assert await h.run(manifest, download_attempts=8, first_poll_s=0.1, poll_interval_s=0.05) == 0

    sent = sim.state.mangled
    assert sent.total() >= len(KINDS), sent  # enough broken answers that every kind came
    assert set(sent) == set(KINDS)
    assert read(h.out / "ledger.jsonl").bad_lines == 0
    assert len(sim.state.submissions) == 25
    assert h.check_images_intact() == 50


async def test_cdn_bodies_that_are_not_images_are_fetched_again(sim_factory, tmp_path) -> None:
    from dataclasses import replace

    from .conftest import FAST_SIM

    sim = await sim_factory(replace(FAST_SIM, cdn_not_image_rate=0.4, seed=2))
    h = Harness(tmp_path, sim)
    assert await h.run(h.manifest("tasks:\n  - {prompt: p, repeat: 6}\n"), download_attempts=8) == 0
    assert h.check_images_intact() == 6
    assert not [p for p in (h.out / "images").iterdir() if not p.name.endswith(".png")]


async def test_an_image_over_the_size_cap_is_refused_with_a_reason(harness: Harness) -> None:
    import orjson

    code = await harness.run(harness.manifest("tasks: [a]\n"), max_download_bytes=100)
    assert code == 1
    item = orjson.loads((harness.out / "summary.json").read_bytes())["items"][0]
    assert "over the cap" in item["error"] or "more than 100 bytes" in item["error"]
    assert not list((harness.out / "images").iterdir())
