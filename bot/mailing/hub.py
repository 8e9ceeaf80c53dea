"""One mailing service per `otklik run` process, whichever channels (Telegram, VK, both) are on.

Each channel runner, once its client is up, enters `services.mailing.channel(...)` with its
transport (Telegram also with the staff notifier). The first one starts the service (leader
election, scheduler, sender); the others only add their transport, and campaigns of a channel not
registered yet simply wait. The service stops when the first channel leaves (all channels stop
together on SIGTERM), before that channel closes its client, so in-flight sends finish and are
recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator

from bot.config import Settings
from bot.core.retry import BackoffConfig, sleep_until
from bot.mailing.service import MailingDeps, admin_chats, queue_depth, run_mailing
from bot.mailing.transport import LogNotifier, Notifier, Transport
from bot.runtime.metrics import Metrics
from storage.channels import Channel
from storage.store import Storage

log = logging.getLogger(__name__)

STOP_SECONDS = 15.0
# Restarts of a failed mailing service: about 1 s, doubling, at most a minute; reset once it runs.
RESTART = BackoffConfig(first=1.0, limit=60.0, jitter=0.25)


class HubNotifier:
    """Staff notices through the registered Telegram notifier, or into the log until there is one."""

    def __init__(self) -> None:
        self.target: Notifier = LogNotifier()

    async def tell(self, chat: str, text: str) -> int | None:
        return await self.target.tell(chat, text)

    async def edit(self, chat: str, message_id: int, text: str) -> None:
        await self.target.edit(chat, message_id, text)


class MailingHub:
    def __init__(self) -> None:
        self.transports: dict[str, Transport] = {}
        self.notifier = HubNotifier()
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._deps: MailingDeps | None = None
        self.failure: str | None = None  # why the service is down, until it runs again

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def problem(self) -> str | None:
        """For /healthz: why the mailing service is not running here, or None (also when this
        process has no mailing to run: mailing off, or no channel up yet)."""
        if self._task is None:
            return None
        if self._task.done():
            return "mailing service stopped"
        if self.failure is not None:
            return f"mailing service not running ({self.failure})"
        return None

    @contextlib.asynccontextmanager
    async def channel(
        self,
        settings: Settings,
        storage: Storage,
        name: str,
        transport: Transport,
        notifier: Notifier | None = None,
        *,
        metrics: Metrics | None = None,
    ) -> AsyncIterator[None]:
        """While inside: `name` campaigns are sent through `transport`."""
        if not settings.mailing.enabled:
            yield
            return
        self.transports[name] = transport
        if notifier is not None:
            self.notifier.target = notifier
        if self._task is None:
            deps = MailingDeps(
                storage=storage,
                config=settings.mailing,
                transports=self.transports,
                notifier=self.notifier,
                admin_chats=admin_chats(settings),
                rates={channel: settings.send_rate(channel) for channel in (Channel.TELEGRAM, Channel.VK)},
                metrics=metrics or Metrics(),
            )
            deps.metrics.queue_probe = functools.partial(queue_depth, storage)
            self._stop = asyncio.Event()
            self.failure = None
            self._task = asyncio.create_task(self._supervise(deps, self._stop, settings.database.pg_schema))
            self._deps = deps
        elif self._deps is not None:
            self._deps.wake.set()  # campaigns of this channel may be waiting
        try:
            yield
        finally:
            await self.stop()
            self.transports.pop(name, None)
            if notifier is not None and self.notifier.target is notifier:
                self.notifier.target = LogNotifier()

    async def _supervise(self, deps: MailingDeps, stop: asyncio.Event, schema: str | None) -> None:
        """Run the service until `stop`; whatever stops it earlier is logged and it starts again."""
        failures = 0

        def ready() -> None:
            nonlocal failures
            failures, self.failure = 0, None

        while not stop.is_set():
            try:
                await run_mailing(deps, stop, schema=schema, on_ready=ready)
            except Exception as exc:
                failures += 1
                self.failure = type(exc).__name__
                delay = RESTART.delay(failures)
                log.exception("mailing service failed, restarting in %.1f s", delay)
            else:
                if stop.is_set():
                    return
                failures += 1
                self.failure = "ended"
                delay = RESTART.delay(failures)
                log.error("mailing service ended unexpectedly, restarting in %.1f s", delay)
            await sleep_until(stop, delay)

    async def stop(self) -> None:
        task = self._task
        if task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_SECONDS)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
        except Exception:
            log.exception("mailing service failed")
