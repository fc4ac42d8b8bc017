"""`simulate`: serve the bundled API simulator on loopback until stopped."""

from __future__ import annotations

import argparse

import anyio

from runner.errors import UsageError
from runner.simulator.accounts import SimAccount


def _range(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    try:
        a, b = float(low), float(high or low)
    except ValueError:
        raise UsageError(f"{text!r} is not a range like 2-6") from None
    if a < 0 or b < a:
        raise UsageError(f"{text!r} is not a range like 2-6")
    return a, b


def _account(text: str) -> SimAccount:
    app_id, _, rest = text.partition(":")
    secret, _, qps = rest.partition(":")
    try:
        limit = float(qps) if qps else 20.0
    except ValueError:
        limit = -1.0
    if not app_id or not secret or limit <= 0:
        raise UsageError(f"--account {text!r}: expected APP_ID:SECRET:QPS, e.g. app-b:s3cret:10")
    return SimAccount(app_id, secret, limit)


def main(args: argparse.Namespace) -> int:
    from runner.simulator import SimConfig, serve_forever

    config = SimConfig(
        qps_limit=args.qps,
        gen_s=_range(args.gen),
        video_gen_s=_range(args.video_gen),
        model_time_scale=args.model_times,
        video_bytes=int(args.video_mb * 1024 * 1024),
        cdn_drop_first=args.drop_first,
        fail_rate=args.fail_rate,
        seed=args.seed,
        error_50000_rate=args.error_50000_rate,
        reset_rate=args.reset_rate,
        lost_submit_rate=args.lost_submit_rate,
        html_502_rate=args.html_502_rate,
        slow_rate=args.slow_rate,
        truncate_rate=args.truncate_rate,
        token_lifetime_s=args.token_lifetime,
        accounts=tuple(_account(a) for a in args.account),
        refuse_output_refs=args.refuse_output_refs,
    )
    anyio.run(serve_forever, config, args.host, args.port, args.state)
    return 0
