"""`review`: serve the review page of a run directory on 127.0.0.1 until Ctrl-C.

Reads the ledger without the run's lock (a run may be going) and appends
decisions beside it; see runner/review/.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import webbrowser

import anyio

from runner.review.server import serve

log = logging.getLogger("runner.review")


def main(args: argparse.Namespace) -> int:
    def ready(url: str) -> None:
        print(f"review page: {url}  (Ctrl-C to stop)", flush=True)
        if args.open:
            webbrowser.open(url)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a user stops it
        anyio.run(serve, args.run_dir, args.port, ready)
    return 0
