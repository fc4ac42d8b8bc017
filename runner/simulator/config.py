"""Every knob of the simulator in one frozen record.

Fault rates are probabilities per request, drawn from one seeded generator so
that a failing scenario can be replayed with the same `seed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.simulator.accounts import SimAccount

DEMO_APP_ID = "sim-app-id"
DEMO_SECRET_KEY = "sim-secret-key"


@dataclass(frozen=True, slots=True)
class SimConfig:
    app_id: str = DEMO_APP_ID
    secret_key: str = DEMO_SECRET_KEY
    qps_limit: float | None = 20.0  # account-wide, sliding one-second window; None = unlimited
    count_rejected: bool = False  # do 40001-rejected calls count against the window?
    file_limit_per_min: int = 30  # the upload endpoints' own limit
    queue_s: tuple[float, float] = (0.1, 0.3)
    gen_s: tuple[float, float] = (0.5, 1.5)  # images
    video_gen_s: tuple[float, float] = (2.0, 4.0)  # videos take much longer
    # A number: each model's own generation times from the model table, times this.
    model_time_scale: float | None = None
    video_fps: int = 4  # frames a second of the MP4s (each frame ~55 KB at 16:9)
    video_bytes: int = 0  # pad every video to this size (0: as encoded, ~1 MB for 5 s)
    fail_rate: float = 0.0  # share of tasks that end in Error
    reject_word: str = "REJECTED-BY-MODERATION"  # a prompt containing it gets 40000
    token_lifetime_s: float = 86_400.0
    image_long_side_px: int | None = None  # None: clarity / 8 (1024 -> 128 px)
    upload_ready_s: float = 0.3
    page_order: str = "newest"  # newest | oldest | random: the vendor leaves it undocumented
    seed: int = 0
    # Faults (probability per request)
    error_50000_rate: float = 0.0
    reset_rate: float = 0.0  # connection closed before the request is processed
    lost_submit_rate: float = 0.0  # submit: task created, then the socket closes unanswered
    html_502_rate: float = 0.0  # a gateway error page instead of JSON
    slow_rate: float = 0.0
    slow_s: float = 5.0
    truncate_rate: float = 0.0  # CDN: body shorter than its Content-Length
    cdn_404_rate: float = 0.0  # CDN: URL gone; a re-query of the task gives a fresh one
    mangle_rate: float = (
        0.0  # task queries: a broken answer (see mangle.py) instead of the real one
    )
    # task queries: the first N answers that carry a finished task are all broken (each
    # kind in turn), so every kind meets a task with outputs however few polls a run makes
    mangle_first: int = 0
    cdn_not_image_rate: float = 0.0  # CDN: HTTP 200 with an HTML page instead of the image
    accounts: tuple[SimAccount, ...] = ()  # more accounts beside the primary one above
    refuse_output_refs: bool = False  # submit: 40000 for any of our own output URLs as a reference
    cdn_fail_first: int = 0  # CDN: the first N fetches of each image fail (404, truncated, ...)
    cdn_drop_first: int = 0  # CDN: the first N fetches of each file drop the connection mid-body
