"""`origin`: which run, task and prompt made a file, found by its content hash."""

from __future__ import annotations

import argparse

from runner.errors import UsageError
from runner.report.origin import find_origins, run_dirs
from runner.report.text import dumps, short


def main(args: argparse.Namespace) -> int:
    places = args.runs or [args.default_runs]
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    if not run_dirs(places):
        where = ", ".join(str(p) for p in places)
        raise UsageError(f"no run directories under {where}; name them with --runs DIR")
    answers = find_origins(args.files, places)
    if args.json:
        print(dumps(answers))
    else:
        for a in answers:
            if not a["made_by"]:
                print(f"{a['path']}: not made by any run searched (sha256 {a['sha256'][:16]}…)")
            for m in a["made_by"]:
                print(
                    f"{a['path']}: run {m['run']} ({m['run_dir']}), task {m['key']} "
                    f"{m['name'] or '-'}, attempt {m['attempt']}, unique_id {m['unique_id']}, "
                    f"{m['model']}, decision {m['decision'] or 'none'}\n"
                    f"    prompt: {short(m['prompt'], 200)}\n    was: {m['file']}"
                )
    return 0 if all(a["made_by"] for a in answers) else 1
