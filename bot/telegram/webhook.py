"""Webhook mode: Telegram gets 200 only after the update is stored.

aiogram's `SimpleRequestHandler` answers after a 55-second timeout even when handling is still
running, and by default (`handle_in_background=True`) at once. This handler waits for the update
to be handled and answers 503 if the database stays away, so Telegram delivers it again.

A body that is not a JSON object (broken JSON, nesting too deep for the parser, a list) gets 400.
A JSON object that is not an update aiogram can parse is kept as a dead letter and answered 200,
so Telegram does not keep delivering it.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

from aiogram import Bot
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bot.config import IpNetwork
from bot.core.dead_letters import DeadLetters, describe
from bot.telegram.processing import UpdateProcessor

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram waits about 60 s for an answer; give up earlier and let it re-deliver.
HANDLING_DEADLINE = 25.0

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def webhook_path(url: str) -> str:
    return urlsplit(url).path or "/"


def _address(text: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(request: web.Request, trusted: Sequence[IpNetwork]) -> str:
    """Who sent the request: the peer, or the client a trusted reverse proxy names.

    Headers are believed only from a trusted peer. X-Forwarded-For is read from the nearest hop
    back: the first address that is not itself a trusted proxy is the client (what the client
    wrote at the left end of the list is never taken on trust).
    """
    peer = request.remote or "unknown"

    def is_trusted(text: str) -> bool:
        address = _address(text)
        return address is not None and any(address in network for network in trusted)

    if not is_trusted(peer):
        return peer
    hops = [
        hop.strip() for value in request.headers.getall("X-Forwarded-For", []) for hop in value.split(",")
    ]
    for hop in reversed([hop for hop in hops if hop]):
        if _address(hop) is None:
            break  # a garbled list: trust nothing further out
        if not is_trusted(hop):
            return f"{hop} (via {peer})"
    real_ip = request.headers.get("X-Real-IP", "")
    if _address(real_ip) is not None and not is_trusted(real_ip):
        return f"{real_ip.strip()} (via {peer})"
    return peer


def webhook_app(
    bot: Bot,
    processor: UpdateProcessor,
    *,
    secret: str,
    path: str,
    trusted_proxies: Sequence[IpNetwork] = (),
    dead_letters: DeadLetters | None = None,
) -> web.Application:
    expected = secret.encode()

    async def handle(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        client = client_address(request, trusted_proxies)
        if not hmac.compare_digest(given, expected):  # constant time
            log.warning("webhook request with a wrong or missing secret from %s", client)
            return web.Response(status=401, text="Unauthorized")
        try:
            body = await request.text()
            data = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past the parser's depth
            log.warning("webhook request with a body that is not JSON from %s", client)
            return web.Response(status=400, text="Bad update")
        if not isinstance(data, dict):
            return web.Response(status=400, text="Bad update")
        try:
            update = Update.model_validate(data, context={"bot": bot})
        except (ValidationError, ValueError, RecursionError) as exc:
            log.warning("webhook request with a malformed update from %s", client)
            if dead_letters is None:
                return web.Response(status=400, text="Bad update")
            raw_id = data.get("update_id")
            update_id = str(raw_id) if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
            try:
                await dead_letters.keep(body, describe(exc), update_id)
            except Exception as store_exc:  # the database: Telegram delivers it again
                log.warning("webhook: an unparsable update not stored (%s)", type(store_exc).__name__)
                return web.Response(status=503)
            return web.Response(status=200)
        log.debug("webhook update %s from %s", update.update_id, client)
        handled = await processor.process(update, give_up_after=HANDLING_DEADLINE)
        return web.Response(status=200 if handled else 503)

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post(path, handle)
    return app
