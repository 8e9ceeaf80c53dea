"""The Bots Long Poll loop of one community, with its `ts` persisted so nothing is missed.

The `ts` is stored after each handled batch (`channel_state`, key `vk:<group id>:ts`): a restart
goes on from there, so events that arrived while the service was down come first. A batch that
keeps failing for a reason other than an outage is skipped after `BATCH_ATTEMPTS`; an outage
(database, network) is waited for, however long it takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from bot.core.clock import utcnow
from bot.core.retry import Backoff, BackoffConfig, is_transient, sleep_until
from bot.errors import UsageError
from bot.vk.api import VkClient, VkError
from storage import repository as repo
from storage.store import Storage

log = logging.getLogger(__name__)

BATCH_ATTEMPTS = 3  # a batch that cannot be taken apart (no ts, …) is tried this often, then skipped
MAX_PAUSE = 60.0  # seconds between retries, at most

HandleBatch = Callable[[list[Any]], Awaitable[None]]


@dataclass(frozen=True)
class LongPollServer:
    server: str
    key: str
    ts: str


class LongPoll:
    def __init__(
        self,
        client: VkClient,
        storage: Storage,
        group_id: int,
        *,
        wait: int = 25,
        backoff: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.client = client
        self.storage = storage
        self.group_id = group_id
        self.wait = wait
        self.backoff = BackoffConfig(first=backoff, limit=MAX_PAUSE)
        self.clock = clock
        self.state_key = f"vk:{group_id}:ts"

    async def run(
        self, stop: asyncio.Event, handle: HandleBatch, on_handled: Callable[[], None] | None = None
    ) -> None:
        """Poll until `stop` is set, handing each batch of events to `handle`."""
        session = self.client.new_session()
        try:
            server = await self._first_server(stop)
            if server is None:
                return
            stored = await self.load_ts()
            ts = stored or server.ts
            if stored is None:  # first start: from now on nothing that arrives is missed
                await self.save_ts(ts)
            log.info("VK: long poll of community %s from ts %s", self.group_id, ts)
            failures = 0
            outage = Backoff(self.backoff)
            while not stop.is_set():
                try:
                    response = await self._poll(session, server, ts, stop)
                except (requests.RequestException, ValueError) as exc:
                    log.warning("VK long poll: %s; retrying", exc)
                    await sleep_until(stop, outage.next_delay())
                    continue
                outage.reset()
                if response is None:  # stopped
                    break
                try:
                    failed = response.get("failed")
                    if failed == 1:  # history outdated or partly lost: go on from the given ts
                        ts = str(response["ts"])
                        await self.save_ts(ts)
                    elif failed == 2:  # the key expired: a new key, the same ts
                        server = await self.get_server()
                    elif failed is not None:  # 3: key and ts lost: start from the server's ts
                        log.warning("VK long poll: failed=%s, events may be lost; new key and ts", failed)
                        server = await self.get_server()
                        ts = server.ts
                        await self.save_ts(ts)
                    else:
                        await handle(list(response.get("updates") or []))
                        failures = 0
                        ts = str(response["ts"])
                        await self.save_ts(ts)
                        if on_handled is not None:
                            on_handled()
                except Exception as exc:
                    failures += 1
                    # A broken event is given up after a few attempts; an unreachable database or
                    # VK API is waited for, however long it takes: those events are not lost.
                    broken = "ts" in response and "failed" not in response and not is_transient(exc)
                    if broken and failures >= BATCH_ATTEMPTS:
                        log.exception("VK: a batch failed %d times; skipping it", failures)
                        failures = 0
                        ts = str(response["ts"])
                        with contextlib.suppress(Exception):
                            await self.save_ts(ts)
                    else:
                        log.exception("VK: handling failed (attempt %d); retrying", failures)
                        await sleep_until(stop, self.pause(failures))
        finally:
            session.close()

    def pause(self, attempt: int) -> float:
        """Backoff before retry number `attempt` (1, 2, …): doubling, at most a minute."""
        return self.backoff.delay(attempt)

    async def _first_server(self, stop: asyncio.Event) -> LongPollServer | None:
        waits = Backoff(self.backoff)
        while not stop.is_set():
            try:
                return await self.get_server()
            except VkError as exc:
                if exc.transient:  # network trouble: wait and try again
                    log.warning("VK: %s; retrying", exc)
                    await sleep_until(stop, waits.next_delay())
                    continue
                raise UsageError(
                    f"ВКонтакте: не удалось подключиться к Long Poll сообщества {self.group_id} "
                    f"(ошибка {exc.code}: {exc.message}). Проверьте токен сообщества, group_id и что "
                    "в настройках сообщества включен Long Poll API с событиями сообщений."
                ) from None
        return None

    async def get_server(self) -> LongPollServer:
        data = await self.client.call("groups.getLongPollServer", {"group_id": self.group_id})
        return LongPollServer(server=str(data["server"]), key=str(data["key"]), ts=str(data["ts"]))

    async def load_ts(self) -> str | None:
        async with self.storage.transaction() as conn:
            return await repo.get_state(conn, self.state_key)

    async def save_ts(self, ts: str) -> None:
        async with self.storage.transaction() as conn:
            await repo.set_state(conn, self.state_key, ts, self.clock())

    async def _poll(
        self, session: requests.Session, server: LongPollServer, ts: str, stop: asyncio.Event
    ) -> dict[str, Any] | None:
        """One a_check request in a daemon thread; None when `stop` is set first."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        params: dict[str, str | int] = {"act": "a_check", "key": server.key, "ts": ts, "wait": self.wait}

        def settle(value: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)

        def work() -> None:
            value: Any = None
            error: BaseException | None = None
            try:
                response = session.get(server.server, params=params, timeout=self.wait + 10)
                response.raise_for_status()
                value = response.json()
                if not isinstance(value, dict):
                    raise ValueError(f"unexpected long-poll answer: {value!r}")
            except BaseException as exc:
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is gone: the service stopped
                loop.call_soon_threadsafe(settle, value, error)

        # A daemon thread: a long poll in flight never delays the shutdown.
        threading.Thread(target=work, name="vk-longpoll", daemon=True).start()
        stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        waiting: set[asyncio.Future[Any]] = {future, stopper}
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not future.done():
            future.cancel()
            return None
        return future.result()
