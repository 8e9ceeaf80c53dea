"""Webhook mode: Telegram gets 200 only after the update is stored.

aiogram's `SimpleRequestHandler` answers after a 55-second timeout even when handling is still
running, and by default (`handle_in_background=True`) at once. This handler waits for the update
to be handled and answers 503 if the database stays away, so Telegram delivers it again.
"""

from __future__ import annotations

import hmac
import logging
from urllib.parse import urlsplit

from aiogram import Bot
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bot.telegram.processing import UpdateProcessor

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram waits about 60 s for an answer; give up earlier and let it re-deliver.
HANDLING_DEADLINE = 25.0


def webhook_path(url: str) -> str:
    return urlsplit(url).path or "/"


def webhook_app(bot: Bot, processor: UpdateProcessor, *, secret: str, path: str) -> web.Application:
    expected = secret.encode()

    async def handle(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):  # constant time
            log.warning("webhook request with a wrong or missing secret from %s", request.remote)
            return web.Response(status=401, text="Unauthorized")
        try:
            update = Update.model_validate(await request.json(), context={"bot": bot})
        except (ValueError, ValidationError):
            return web.Response(status=400, text="Bad update")
        handled = await processor.process(update, give_up_after=HANDLING_DEADLINE)
        return web.Response(status=200 if handled else 503)

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post(path, handle)
    return app
