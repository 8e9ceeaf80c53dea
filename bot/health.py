"""`/healthz`: the database answers and updates are being handled (for systemd, Docker, nginx)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy import text

from storage.store import Storage


@dataclass
class Health:
    """Channels report here; the endpoint reads it. One per process, passed in, never global."""

    started: float = field(default_factory=time.time)
    last_update_at: dict[str, float] = field(default_factory=dict)

    def handled(self, channel: str) -> None:
        self.last_update_at[channel] = time.time()


def health_app(storage: Storage, health: Health, clock: Callable[[], float] = time.time) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        try:
            async with storage.transaction() as conn:
                await conn.execute(text("SELECT 1"))
            database = "ok"
        except Exception as exc:  # any failure means unhealthy; the reason is the class name only
            database = f"unavailable ({type(exc).__name__})"
        now = clock()
        body = {
            "status": "ok" if database == "ok" else "fail",
            "database": database,
            "uptime_s": round(now - health.started),
            "last_update_age_s": {
                channel: round(now - moment, 1) for channel, moment in health.last_update_at.items()
            },
        }
        return web.Response(
            status=200 if database == "ok" else 503,
            text=json.dumps(body, ensure_ascii=False),
            content_type="application/json",
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    return app
