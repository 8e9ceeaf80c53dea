"""The MAX Bot API client: five calls over aiohttp, our rate limit, retries, a configurable base URL.

The token travels only in the `Authorization` header (documented alongside the `access_token`
query parameter), so it is never part of a URL that an aiohttp error or a proxy log could echo.
Error texts from the server are passed through `_scrub` before they reach an exception.

Errors: the API answers `{"code": ..., "message": ...}` with the HTTP status. 429 (too many
requests) and 5xx are retried, waiting `Retry-After` when the server sends it and backing off
otherwise; 403 `chat.denied` (the user blocked the bot or removed the dialog: the message says
`error.dialog.suspended`) raises `MaxBlocked` so delivery can mark the respondent unreachable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from bot.core.retry import Backoff, BackoffConfig

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://platform-api2.max.ru"  # the servers entry of the published OpenAPI schema
POLL_TIMEOUT = 30  # seconds the server holds GET /updates open (documented range 0..90)
POLL_LIMIT = 100  # updates per GET /updates (documented range 1..1000)
HTTP_TIMEOUT = 30.0  # seconds for calls other than the long poll
MAX_RETRY_AFTER = 300.0  # a longer Retry-After is capped: the outbox retries later anyway
MAX_BACKOFF = 30.0  # seconds between retries of one call, at most
NETWORK = -1  # MaxError.status of a call that never got an answer (network failures)
BLOCKED_CODES = frozenset({"chat.denied"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class MaxError(Exception):
    """A MAX Bot API call that failed for good (after retries where retrying makes sense)."""

    def __init__(self, method: str, status: int, code: str, message: str) -> None:
        super().__init__(f"{method}: HTTP {status} [{code}] {message}")
        self.method = method
        self.status = status
        self.code = code
        self.message = message

    @property
    def transient(self) -> bool:
        """Goes away by itself (rate limit, server trouble, network): `is_transient` reads it."""
        return self.status in RETRY_STATUSES or self.status == NETWORK


class MaxBlocked(MaxError):
    """The user blocked the bot or removed the dialog: messages to them cannot be delivered."""


@dataclass(frozen=True)
class UpdateBatch:
    updates: list[Any]  # objects as sent; one that is not an object goes to the dead letters
    marker: int | None  # pass it to the next GET /updates; everything before it is confirmed


@dataclass(frozen=True)
class SentMessage:
    mid: str  # message id, for PUT /messages
    raw: dict[str, Any]


class RateLimiter:
    """Spaces calls at most `rps` per second (asyncio, so waiting never blocks the loop)."""

    def __init__(self, rps: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rps
        self.clock = clock
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = self.clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (a number of seconds or an HTTP date)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class MaxClient:
    """Async client for a MAX bot token; one aiohttp session, opened lazily and closed by `close`."""

    def __init__(
        self,
        token: str,
        *,
        api_base_url: str = DEFAULT_BASE_URL,
        rps: float = 25.0,
        attempts: int = 5,
        backoff: float = 0.5,
        timeout: float = HTTP_TIMEOUT,
    ) -> None:
        if not token:
            raise ValueError("a MAX bot token is required")
        self._token = token
        self.api_base_url = api_base_url.rstrip("/")
        self.limiter = RateLimiter(rps)
        self.attempts = attempts
        self.backoff = BackoffConfig(first=backoff, limit=max(backoff, MAX_BACKOFF))
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # never the token
        return f"MaxClient(api_base_url={self.api_base_url!r})"

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***")

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": self._token}, raise_for_status=False
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- the calls the survey needs -----------------------------------------------------

    async def me(self) -> dict[str, Any]:
        """GET /me: the bot's own user (its `username` makes the deep links)."""
        result = await self.call("GET", "/me")
        return result if isinstance(result, dict) else {}

    async def get_updates(
        self,
        marker: int | None,
        *,
        hold: int = POLL_TIMEOUT,
        limit: int = POLL_LIMIT,
        types: Sequence[str] = (),
    ) -> UpdateBatch:
        """GET /updates (long polling): the updates after `marker` and the marker to pass next.

        `hold`: seconds the server may keep the request open waiting for an update (its `timeout`).
        """
        params: dict[str, Any] = {"timeout": hold, "limit": limit}
        if marker is not None:
            params["marker"] = marker
        if types:
            params["types"] = ",".join(types)
        result = await self.call("GET", "/updates", params, http_timeout=hold + HTTP_TIMEOUT)
        if not isinstance(result, dict):
            raise MaxError("GET /updates", 200, "bad.response", "the answer is not an object")
        updates = result.get("updates") or []
        next_marker = result.get("marker")
        if not isinstance(updates, list) or not (next_marker is None or isinstance(next_marker, int)):
            raise MaxError("GET /updates", 200, "bad.response", "no list of updates or marker")
        return UpdateBatch(list(updates), next_marker)

    async def send_message(
        self,
        *,
        user_id: int | None = None,
        chat_id: int | None = None,
        text: str,
        attachments: list[dict[str, Any]] | None = None,
        notify: bool = True,
    ) -> SentMessage:
        """POST /messages to a user (dialog) or a chat; returns the new message's id."""
        if (user_id is None) == (chat_id is None):
            raise ValueError("exactly one of user_id and chat_id")
        params = {"user_id": user_id} if user_id is not None else {"chat_id": chat_id}
        body: dict[str, Any] = {"text": text, "attachments": attachments or [], "notify": notify}
        result = await self.call("POST", "/messages", params, body)
        message = result.get("message") if isinstance(result, dict) else None
        mid = (message or {}).get("body", {}).get("mid") if isinstance(message, dict) else None
        if not isinstance(mid, str) or not isinstance(message, dict):
            raise MaxError("POST /messages", 200, "bad.response", "no message id in the answer")
        return SentMessage(mid, message)

    async def edit_message(
        self, message_id: str, *, text: str, attachments: list[dict[str, Any]] | None = None
    ) -> None:
        """PUT /messages: new text; `attachments=[]` removes the keyboard, None keeps it."""
        body: dict[str, Any] = {"text": text, "attachments": attachments}
        await self._checked(
            "PUT /messages", await self.call("PUT", "/messages", {"message_id": message_id}, body)
        )

    async def answer_callback(
        self, callback_id: str, *, notification: str | None = None, message: dict[str, Any] | None = None
    ) -> None:
        """POST /answers: stops the client's spinner on a pressed button, optionally with a notice."""
        body: dict[str, Any] = {}
        if notification is not None:
            body["notification"] = notification
        if message is not None:
            body["message"] = message
        result = await self.call("POST", "/answers", {"callback_id": callback_id}, body)
        await self._checked("POST /answers", result)

    @staticmethod
    async def _checked(method: str, result: Any) -> None:
        # SimpleQueryResult: HTTP 200 with success=false is a refusal, not a success.
        if isinstance(result, dict) and result.get("success") is False:
            raise MaxError(method, 200, "not.success", str(result.get("message") or ""))

    # --- transport ----------------------------------------------------------------------

    async def call(
        self,
        http_method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        *,
        http_timeout: float | None = None,
    ) -> Any:
        """One API call with retries on 429, 5xx and network failures; other errors raise at once."""
        name = f"{http_method} {path}"
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (params or {}).items()}
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        timeout = aiohttp.ClientTimeout(total=http_timeout or self.timeout)
        waits = Backoff(self.backoff)
        for attempt in range(1, self.attempts + 1):
            await self.limiter.wait()
            wait = waits.next_delay()
            try:
                async with self._http().request(
                    http_method,
                    self.api_base_url + path,
                    params=query,
                    data=data,
                    headers=headers,
                    timeout=timeout,
                ) as response:
                    text = await response.text()
                    if response.status == 200:
                        return _json(text)
                    code, message = _error_of(text)
                    error_cls = MaxBlocked if response.status == 403 and code in BLOCKED_CODES else MaxError
                    if response.status not in RETRY_STATUSES or attempt == self.attempts:
                        raise error_cls(name, response.status, code, self._scrub(message)) from None
                    advised = retry_after(response.headers.get("Retry-After"))
                    if advised is not None:
                        wait = advised
                    log.warning(
                        "MAX %s: HTTP %s [%s], retry %d in %.2fs", name, response.status, code, attempt, wait
                    )
            except (aiohttp.ClientError, TimeoutError) as exc:
                if attempt == self.attempts:
                    raise MaxError(name, NETWORK, "network", self._scrub(_describe(exc))) from None
                log.warning("MAX %s: %s, retry %d in %.2fs", name, self._scrub(_describe(exc)), attempt, wait)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else {}
    except ValueError:
        raise MaxError("response", 200, "bad.response", "the answer is not JSON") from None


def _error_of(text: str) -> tuple[str, str]:
    """(code, message) of an error answer; a proxy's HTML page gives ("", its first 200 chars)."""
    try:
        data = json.loads(text)
    except ValueError:
        return "", text[:200]
    if not isinstance(data, dict):
        return "", text[:200]
    return str(data.get("code") or data.get("error") or ""), str(data.get("message") or "")


def _describe(exc: BaseException) -> str:
    # aiohttp's connection errors name the host and port, never the query or headers.
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
