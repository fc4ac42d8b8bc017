"""Where the credentials come from (interface.md), and keeping them out of output.

Order: CHANJING_ACCESS_TOKEN; else CHANJING_APP_ID + CHANJING_SECRET_KEY; else
the vendor tools' credentials.json in $CHANJING_OPENAPI_CREDENTIALS_DIR
(default ~/.chanjing). Every secret found is registered with the redacting log
filter, so it cannot reach a log line even by accident.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from runner.errors import UsageError

DEFAULT_BASE_URL = "https://open-api.chanjing.cc"
_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    if value and len(value) >= 6:
        _SECRETS.add(value)


def redact(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            message = redact(record.getMessage())
            record.msg, record.args = message, None
        return True


@dataclass(frozen=True, slots=True)
class Credentials:
    app_id: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    expire_in: float = 0.0  # unix time the access_token expires; 0 = unknown
    source: str = ""

    @property
    def can_refresh(self) -> bool:
        return bool(self.app_id and self.secret_key)


def resolve_base_url(flag: str | None, env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    url = flag or env.get("CHANJING_OPENAPI_BASE_URL") or env.get("CHANJING_API_BASE")
    return (url or DEFAULT_BASE_URL).rstrip("/")


def resolve_credentials(env: dict[str, str] | None = None) -> Credentials:
    env = dict(os.environ) if env is None else env
    creds = _resolve(env)
    for secret in (creds.secret_key, creds.access_token):
        register_secret(secret)
    return creds


def _resolve(env: dict[str, str]) -> Credentials:
    if env.get("CHANJING_ACCESS_TOKEN"):
        return Credentials(
            access_token=env["CHANJING_ACCESS_TOKEN"], source="CHANJING_ACCESS_TOKEN"
        )
    if env.get("CHANJING_APP_ID") and env.get("CHANJING_SECRET_KEY"):
        return Credentials(
            app_id=env["CHANJING_APP_ID"],
            secret_key=env["CHANJING_SECRET_KEY"],
            source="CHANJING_APP_ID/CHANJING_SECRET_KEY",
        )
    folder = Path(env.get("CHANJING_OPENAPI_CREDENTIALS_DIR") or Path.home() / ".chanjing")
    path = folder / "credentials.json"
    if path.exists():
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise UsageError(f"{path}: not readable JSON ({exc.__class__.__name__})") from None
        if not isinstance(data, dict):
            raise UsageError(f"{path}: expected a JSON object")
        creds = Credentials(
            app_id=data.get("app_id") or None,
            secret_key=data.get("secret_key") or None,
            access_token=data.get("access_token") or None,
            expire_in=float(data.get("expire_in") or 0),
            source=str(path),
        )
        if creds.access_token or creds.can_refresh:
            return creds
        raise UsageError(f"{path}: has neither access_token nor app_id + secret_key")
    raise UsageError(
        "no credentials: set CHANJING_APP_ID and CHANJING_SECRET_KEY (or CHANJING_ACCESS_TOKEN), "
        f"or put credentials.json in {folder}; or use --simulate to try the bundled simulator"
    )
