"""The Chanjing Open API client: one aiohttp session, one account limiter.

Every call passes the limiter first. Answers are mapped to typed errors that
carry the trace_id. `call` retries what is safe to retry (queries, tokens,
uploads); `submit` never retries on its own, because a submit whose answer
was lost may have created a task: the submit stage decides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
import orjson

from runner.api import retry
from runner.api.credentials import Credentials, redact, register_secret
from runner.api.health import ApiHealth
from runner.api.limiter import AccountLimiter
from runner.errors import ApiError, AuthError, PermanentApiError, RateLimited, TransientApiError

log = logging.getLogger("runner.api")
TOKEN_MARGIN_S = 300.0  # refresh this long before the token expires (a fifth of a short life)
MAX_THROTTLED_RETRIES = 10_000  # a 40001 is "not executed"; the limiter does the slowing


@dataclass(frozen=True, slots=True)
class Answer:
    data: Any
    trace_id: str


class ApiClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        credentials: Credentials,
        limiter: AccountLimiter,
        *,
        timeout_s: float = 30.0,
        retry_policy: retry.RetryPolicy = retry.DEFAULT_POLICY,
    ):
        self.session, self.base_url, self.limiter = session, base_url.rstrip("/"), limiter
        self._creds = credentials
        self.retry_policy = retry_policy
        self._token = credentials.access_token
        self._expiry = credentials.expire_in
        self._margin_s = TOKEN_MARGIN_S
        self._token_lock = anyio.Lock()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.transient_errors = 0
        self.health = ApiHealth(self.base_url)

    # --- tokens ------------------------------------------------------------
    async def _current_token(self) -> str:
        if self._token and (not self._expiry or time.time() < self._expiry - self._margin_s):
            return self._token
        return await self._refresh(self._token)

    async def _refresh(self, stale: str | None) -> str:
        async with self._token_lock:
            if self._token and self._token != stale:
                return self._token  # another caller refreshed it meanwhile
            if not self._creds.can_refresh:
                raise AuthError(
                    "the access token was refused or has expired, and no app_id/secret_key "
                    f"is configured to get a new one (from {self._creds.source})",
                    code=10400,
                )
            body = {"app_id": self._creds.app_id, "secret_key": self._creds.secret_key}
            answer = await self._with_retries("POST", "/open/v1/access_token", body, authed=False)
            data = answer.data
            if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
                raise AuthError("access_token answer has no token", trace_id=answer.trace_id)
            register_secret(data["access_token"])
            self._token = data["access_token"]
            self._expiry, self._margin_s = token_expiry(data.get("expire_in"), time.time())
            log.info("access token refreshed [trace_id %s]", answer.trace_id)
            return self._token

    # --- one HTTP exchange ---------------------------------------------------
    async def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        *,
        authed: bool = True,
        on_send: Callable[[], None] | None = None,
    ) -> Answer:
        headers = {"access_token": await self._current_token()} if authed else {}
        await self.limiter.acquire()
        sent_at = self.limiter.clock()
        if on_send is not None:
            on_send()
        url = self.base_url + path
        try:
            async with self.session.request(
                method,
                url,
                data=orjson.dumps(body) if body is not None else None,
                params=params,
                headers={**headers, "Content-Type": "application/json"},
                timeout=self._timeout,
            ) as response:
                try:
                    raw = await response.read()
                except BaseException:
                    # The request may still be sitting in the network and reach the
                    # server late; the connection that carried it is closed, never
                    # reused. (Failures before the headers: aiohttp closes it itself.)
                    response.close()
                    raise
                status, ctype = response.status, response.headers.get("Content-Type", "")
        except aiohttp.ClientConnectorError as exc:
            self.health.failed(f"cannot connect: {exc.os_error}")
            raise TransientApiError(
                f"cannot connect: {exc.os_error}", maybe_sent=False, endpoint=path
            ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"no answer: {exc.__class__.__name__} {redact(str(exc))}".strip()
            self.health.failed(error)
            raise TransientApiError(error, endpoint=path) from exc
        try:
            answer = _parse(path, status, ctype, raw)
        except ApiError as exc:
            if exc.code is None:  # a gateway page or a broken body: not the API answering
                self.health.failed(str(exc))
            else:
                self.health.ok()
            if isinstance(exc, RateLimited):
                exc.sent_at = sent_at
            else:
                self.limiter.accepted()  # refused, but the call counted against the window
            raise
        self.health.ok()
        self.limiter.accepted()
        return answer

    async def _with_retries(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        *,
        authed: bool = True,
    ) -> Answer:
        attempt, refreshed, throttled = 1, False, 0
        while True:
            try:
                return await self._send(method, path, body, params, authed=authed)
            except RateLimited as exc:
                self.limiter.throttled(exc.sent_at)
                throttled += 1
                if throttled > MAX_THROTTLED_RETRIES:
                    raise
            except AuthError:
                if not authed or refreshed:
                    raise
                refreshed = True
                await self._refresh(self._token)
            except TransientApiError as exc:
                self.transient_errors += 1
                if not retry.should_retry(exc, attempt, self.retry_policy):
                    raise
                log.info("%s; retrying (attempt %d)", exc, attempt + 1)
                await anyio.sleep(retry.backoff_s(attempt, self.retry_policy))
                attempt += 1

    # --- endpoints -----------------------------------------------------------
    async def submit(self, body: dict[str, Any], on_send: Callable[[], None]) -> Answer:
        """One submit attempt. 10400 refreshes the token and tries once more
        (a 10400 answer means nothing was created); anything else is raised."""
        path = "/open/v1/ai_creation/task/submit"
        try:
            answer = await self._send("POST", path, body, on_send=on_send)
        except AuthError:
            await self._refresh(self._token)
            answer = await self._send("POST", path, body, on_send=on_send)
        if not isinstance(answer.data, str) or not answer.data:
            raise TransientApiError(
                f"submit answer has no unique_id: {str(answer.data)[:80]!r}",
                endpoint=path,
                trace_id=answer.trace_id,
            )
        return answer

    async def page(
        self, unique_ids: list[str], page: int = 1, page_size: int = 50, kind_type: int = 3
    ) -> tuple[list[dict[str, Any]], int, str]:
        """Items, total pages, trace_id. At most 50 ids: that is the API's cap.

        `kind_type`: 3 lists image tasks, 4 video tasks."""
        if len(unique_ids) > 50:
            raise ValueError("at most 50 unique_ids per page call")
        body = {
            "unique_ids": unique_ids,
            "type": kind_type,
            "page": page,
            "page_size": page_size,
            "is_success": False,
        }
        answer = await self._with_retries("POST", "/open/v1/ai_creation/task/page", body)
        data = answer.data
        if not isinstance(data, dict) or not isinstance(data.get("list"), list):
            raise TransientApiError(
                "task page answer has no list", endpoint="task/page", trace_id=answer.trace_id
            )
        items = [item for item in data["list"] if isinstance(item, dict)]
        info = data.get("page_info")
        total_page = info.get("total_page") if isinstance(info, dict) else None
        if not isinstance(total_page, int):
            total_page = page + 1 if len(items) >= page_size else page
        return items, total_page, answer.trace_id

    async def get_task(self, unique_id: str) -> tuple[dict[str, Any], str]:
        answer = await self._with_retries(
            "GET", "/open/v1/ai_creation/task", params={"unique_id": unique_id}
        )
        if not isinstance(answer.data, dict):
            raise TransientApiError("task answer is not an object", trace_id=answer.trace_id)
        return answer.data, answer.trace_id

    async def call(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> Answer:
        """Any other endpoint, with the safe retries."""
        return await self._with_retries(method, path, body, params)


def token_expiry(expire_in: object, now: float) -> tuple[float, float]:
    """Absolute expiry and refresh margin from an access_token answer.

    The vendor documents `expire_in` as a unix timestamp; a small number can
    only be a lifetime in seconds, and is read as one rather than as a token
    that expired in 1970 (which would refresh before every call).
    """
    if not isinstance(expire_in, int | float) or isinstance(expire_in, bool) or expire_in <= 0:
        return 0.0, TOKEN_MARGIN_S
    expiry = float(expire_in) if expire_in > 1_000_000_000 else now + float(expire_in)
    return expiry, min(TOKEN_MARGIN_S, max(0.0, expiry - now) / 5)


def _parse(path: str, status: int, ctype: str, raw: bytes) -> Answer:
    endpoint = path.removeprefix("/open/v1/")
    if status == 429:  # a gateway's "too many requests": refused before it reached the API
        raise RateLimited("HTTP 429 Too Many Requests", code=40001, endpoint=endpoint)
    if status >= 500 or ("json" not in ctype and not raw.lstrip().startswith(b"{")):
        snippet = raw[:60].decode("utf-8", "replace").replace("\n", " ")
        raise TransientApiError(f"HTTP {status}, not JSON: {snippet!r}", endpoint=endpoint)
    try:
        envelope = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise TransientApiError(f"HTTP {status}, malformed JSON", endpoint=endpoint) from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("code"), int):
        raise TransientApiError("answer without a business code", endpoint=endpoint)
    code, trace = envelope["code"], str(envelope.get("trace_id") or "")
    msg = redact(str(envelope.get("msg") or ""))[:300]
    if code == 0:
        return Answer(envelope.get("data"), trace)
    kw: dict[str, Any] = {"code": code, "trace_id": trace, "endpoint": endpoint}
    if code in (400, 40000):
        raise PermanentApiError(msg or "parameter error", **kw)
    if code == 40001:
        raise RateLimited(msg or "QPS limit exceeded", **kw)
    if code == 10400:
        raise AuthError(msg or "access token verification failed", **kw)
    if code == 50000:
        raise TransientApiError(msg or "internal error", **kw)
    raise TransientApiError(f"unexpected code: {msg}", **kw)


__all__ = ["Answer", "ApiClient", "ApiError"]
