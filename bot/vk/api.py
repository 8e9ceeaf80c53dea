"""The VK API client: `vk_api` calls in worker threads, our own rate limit, retries, our base URL.

`vk_api` is synchronous and posts to the hard-coded https://api.vk.ru/method/; a transport adapter
mounted on its `requests.Session` sends those requests to the configured `api_base_url` instead
(a proxy or the fake server of the tests). Its built-in 3 requests/s sleep is switched off: an
asyncio limiter spaces calls at the configured rate without blocking the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import requests
import vk_api
from requests.adapters import HTTPAdapter
from vk_api.vk_api import jconfig  # shipped inside vk_api

from bot.core.retry import BackoffConfig

log = logging.getLogger(__name__)

T = TypeVar("T")

# Where vk_api sends API calls (11.x uses api.vk.ru; older releases api.vk.com).
VK_API_PREFIXES = ("https://api.vk.ru/", "https://api.vk.com/")
RETRY_CODES = frozenset({6, 9, 10})  # too many requests/s, flood control, internal server error
UNREACHABLE_CODES = frozenset({901, 902})  # the user does not allow messages from the community
HTTP_TIMEOUT = 30.0
MAX_DELAY = 30.0  # seconds between retries of one call, at most


class VkError(Exception):
    """A VK API call that failed for good (after retries where retrying makes sense)."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: [{code}] {message}")
        self.method = method
        self.code = code
        self.message = message

    @property
    def transient(self) -> bool:
        """Network failures (code -1, after the client's own retries) go away by themselves."""
        return self.code < 0


class BaseUrlAdapter(HTTPAdapter):
    """Sends requests for the hard-coded VK API host to `base_url`; sets a timeout when none is given."""

    def __init__(self, base_url: str, timeout: float = HTTP_TIMEOUT) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        for prefix in VK_API_PREFIXES:
            if url.startswith(prefix):
                request.url = self.base_url + url[len(prefix) :]
                break
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, *args, **kwargs)


def mount_base_url(session: requests.Session, base_url: str, timeout: float = HTTP_TIMEOUT) -> None:
    adapter = BaseUrlAdapter(base_url, timeout)
    for prefix in VK_API_PREFIXES:
        session.mount(prefix, adapter)


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


class VkClient:
    """Async facade over `vk_api.VkApi` for a community token."""

    def __init__(
        self,
        token: str,
        *,
        api_version: str,
        api_base_url: str,
        rps: float,
        attempts: int = 5,
        backoff: float = 0.5,
        workers: int = 4,
    ) -> None:
        self.api_base_url = api_base_url
        # vk_api serialises the calls of one VkApi under a lock: one instance (and one requests
        # session) per worker thread lets calls overlap up to our own rate limit.
        self._apis: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for _ in range(workers):
            self._apis.put(self._make_api(token, api_version, api_base_url))
        self.limiter = RateLimiter(rps)
        self.attempts = attempts
        self.backoff = BackoffConfig(first=backoff, limit=MAX_DELAY)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vk-api")
        self._sessions: list[requests.Session] = []

    @staticmethod
    def _make_api(token: str, api_version: str, api_base_url: str) -> Any:
        session = requests.Session()
        mount_base_url(session, api_base_url)
        api = vk_api.VkApi(token=token, api_version=api_version, session=session, config=jconfig.MemoryConfig)
        api.RPS_DELAY = 0.0  # our RateLimiter spaces the calls
        # Error 6 must come back to us (backoff below) instead of vk_api's fixed 0.5 s sleep and retry.
        api.error_handlers.pop(vk_api.exceptions.TOO_MANY_RPS_CODE, None)
        return api

    def _method(self, method: str, values: dict[str, Any]) -> Any:
        """In a worker thread: borrow a VkApi instance for one call."""
        api = self._apis.get()
        try:
            return api.method(method, values)
        finally:
            self._apis.put(api)

    def new_session(self) -> requests.Session:
        """A separate session (e.g. for long polling) routed like the API session."""
        session = requests.Session()
        mount_base_url(session, self.api_base_url)
        self._sessions.append(session)
        return session

    async def in_thread(self, func: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, func, *args)

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call an API method; errors 6/9/10 and network failures are retried with backoff."""
        values = {k: v for k, v in (params or {}).items() if v is not None}
        for attempt in range(1, self.attempts + 1):
            delay = self.backoff.delay(attempt)
            await self.limiter.wait()
            try:
                return await self.in_thread(self._method, method, values)
            except vk_api.exceptions.ApiError as exc:
                code, message = int(exc.code), str(exc.error.get("error_msg", ""))
                if code not in RETRY_CODES or attempt == self.attempts:
                    raise VkError(method, code, message) from None
                log.warning("VK %s: error %s (%s), retry %d in %.2fs", method, code, message, attempt, delay)
            except (vk_api.exceptions.ApiHttpError, requests.RequestException, ValueError) as exc:
                if attempt == self.attempts:
                    raise VkError(method, -1, str(exc)) from None
                log.warning("VK %s: %s, retry %d in %.2fs", method, exc, attempt, delay)
            except vk_api.exceptions.VkApiError as exc:  # captcha, validation: nothing a bot can do
                raise VkError(method, int(getattr(exc, "code", 0) or 0), str(exc)) from None
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        while not self._apis.empty():
            self._apis.get().http.close()
        for session in self._sessions:
            session.close()
