"""Starting a small aiohttp server on "host:port" (webhook, health check)."""

from __future__ import annotations

from aiohttp import web

from bot.errors import UsageError


async def start_server(app: web.Application, listen: str) -> web.AppRunner:
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host.strip("[]"), int(port)).start()
    except OSError as exc:
        await runner.cleanup()

        raise UsageError(f"Не удалось открыть {listen}: {exc.strerror or exc}") from None
    return runner
