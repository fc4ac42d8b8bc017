"""What a fresh clone's `make demo` shows before the demo runs (issue 13, item 10)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_license_is_an_spdx_string_and_the_build_backend_reads_it() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    # A table here makes setuptools print a deprecation warning into every install.
    assert meta["project"]["license"] == "MIT"
    (setuptools,) = [r for r in meta["build-system"]["requires"] if r.startswith("setuptools")]
    assert int(re.findall(r">=(\d+)", setuptools)[0]) >= 77  # the first to take SPDX strings


def test_make_install_says_one_line_and_keeps_pips_output_in_a_log() -> None:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = text.split("$(STAMP): pyproject.toml\n", 1)[1].split("\n\n", 1)[0]
    logical = recipe.replace("\\\n", " ").splitlines()  # continuation lines joined
    commands = " ".join(line.strip() for line in logical)
    assert commands.count("pip install") == 2
    assert "--quiet" not in commands  # quiet is not enough: warnings still reach the screen
    assert "> $(VENV)/install.log 2>&1" in commands
    echoed = [line for line in logical if "echo" in line and "||" not in line]
    assert len(echoed) == 1 and "installing" in echoed[0]
    assert all(line.startswith("\t@") for line in logical if line.startswith("\t"))  # no echo
