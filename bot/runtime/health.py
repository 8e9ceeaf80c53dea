"""`/healthz`: 200 only when the service can do its work (for systemd, Docker, nginx, monitoring).

503 with a short reason when the database cannot be written (a tiny write in its own
transaction, within a timeout: reading is not enough, a read-only or full database reads fine),
when the mailing service this process should run is down, or when a polling channel has not
polled successfully for `[service] health_poll_stale_seconds`.

`/metrics` on the same listener: the process's Prometheus metrics (bot/runtime/metrics.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy.exc import DBAPIError

from bot.runtime.metrics import CONTENT_TYPE_LATEST, Metrics
from storage import repository as repo
from storage.store import Storage

PROBE_KEY = "health:write-probe"
PROBE_SECONDS = 5.0


@dataclass
class Health:
    """Channels report here; the endpoint reads it. One per process, passed in, never global."""

    started: float = field(default_factory=time.time)
    last_update_at: dict[str, float] = field(default_factory=dict)
    # Channels that poll (Telegram long polling, VK long poll): their last successful poll, or
    # the moment polling began until the first one succeeds.
    last_poll_at: dict[str, float] = field(default_factory=dict)

    def handled(self, channel: str) -> None:
        self.last_update_at[channel] = time.time()

    def polling(self, channel: str) -> None:
        """`channel` starts polling: from now on a poll is expected."""
        self.last_poll_at.setdefault(channel, time.time())

    def polled(self, channel: str) -> None:
        self.last_poll_at[channel] = time.time()


async def probe_database(storage: Storage, seconds: float = PROBE_SECONDS) -> str | None:
    """None if a small write commits within `seconds`, else why not (short, no secrets)."""
    try:
        async with asyncio.timeout(seconds):
            async with storage.transaction() as conn:
                now = datetime.now(UTC)
                await repo.set_state(conn, PROBE_KEY, now.isoformat(), now)
    except TimeoutError:
        return f"database not writable (no answer in {seconds:g} s)"
    except Exception as exc:  # any failure means unhealthy
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        detail = _first_line(cause)
        return f"database not writable ({type(exc).__name__}: {detail})"[:200]
    return None


def health_app(
    storage: Storage,
    health: Health,
    *,
    poll_stale_seconds: float = 120.0,
    mailing: Callable[[], str | None] | None = None,
    clock: Callable[[], float] = time.time,
    probe_seconds: float = PROBE_SECONDS,
    metrics: Metrics | None = None,
) -> web.Application:
    """`mailing` says why the mailing service is not running here (None: it runs, or is not this
    process's to run)."""

    async def healthz(request: web.Request) -> web.Response:
        database = await probe_database(storage, probe_seconds)
        if database and metrics is not None:
            metrics.database_error("health")
        problems = [database] if database else []
        mailing_problem = mailing() if mailing is not None else None
        if mailing_problem:
            problems.append(mailing_problem)
        now = clock()
        poll_age = {channel: now - moment for channel, moment in health.last_poll_at.items()}
        problems += [
            f"{channel}: no successful poll for {age:.0f} s"
            for channel, age in sorted(poll_age.items())
            if age > poll_stale_seconds
        ]
        body: dict[str, object] = {
            "status": "fail" if problems else "ok",
            "database": database or "ok",
            "mailing": mailing_problem or "ok",
            "uptime_s": round(now - health.started),
            "last_update_age_s": {
                channel: round(now - moment, 1) for channel, moment in health.last_update_at.items()
            },
            "last_poll_age_s": {channel: round(age, 1) for channel, age in poll_age.items()},
        }
        if problems:
            body["reason"] = "; ".join(problems)
        return web.Response(
            status=503 if problems else 200,
            text=json.dumps(body, ensure_ascii=False),
            content_type="application/json",
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    if metrics is not None:
        exposed = metrics

        async def scrape(request: web.Request) -> web.Response:
            response = web.Response(body=await exposed.render())
            response.headers["Content-Type"] = CONTENT_TYPE_LATEST
            return response

        app.router.add_get("/metrics", scrape)
    return app


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""
