"""No path prints a token or a webhook secret: `otklik run -v` as a real process against a Bot API
address that answers a proxy's HTML error page echoing the request path, one that refuses the
connection, and an unforeseen error whose text quotes the secrets."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import REPO
from tests.ports import free_port

TOKEN = "123456789:AAHk7Qx_secret-Part-of-the-token-0123"
OTHER_TOKEN = "987654321:BBHk7Qx_another-bots-token-4567890"  # never configured
WEBHOOK_SECRET = "hook-Secret_value-42"
VK_TOKEN = "vk1.a.vk-community-token-secret-value"


def config(tmp_path: Path, api_server: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "otklik.db"}"\n'
        f'[telegram]\nenabled = true\ntoken = "{TOKEN}"\napi_server = "{api_server}"\n'
        f'webhook_secret = "{WEBHOOK_SECRET}"\n'
        f'[vk]\ntoken = "{VK_TOKEN}"\n'
    )
    return path


async def run(*argv: str, timeout: float = 90) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode() + err.decode()


def assert_no_secret(output: str) -> None:
    for secret in (TOKEN, TOKEN.split(":")[1], WEBHOOK_SECRET, VK_TOKEN, OTHER_TOKEN.split(":")[1]):
        assert secret not in output, output


@pytest.fixture
async def proxy_error_page() -> AsyncIterator[str]:
    """A proxy in front of the Bot API: 502 with an HTML page that quotes the path it was asked."""

    async def page(request: web.Request) -> web.Response:
        body = f"<html><body><h1>502 Bad Gateway</h1><p>upstream failed for {request.path}</p></body></html>"
        return web.Response(status=502, text=body, content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_proxy_error_page_echoing_the_token(proxy_error_page: str, tmp_path: Path) -> None:
    cfg = config(tmp_path, proxy_error_page)
    code, output = await run(sys.executable, "-m", "bot.cli.main", "--config", str(cfg), "-v", "run")
    assert_no_secret(output)
    assert "Traceback" not in output
    assert code == 2
    last = output.strip().splitlines()[-1]
    assert last.startswith(f"Сервер Bot API {proxy_error_page} ответил не как Bot API"), output
    assert "Проверьте [telegram].api_server" in last


async def test_connection_refused(tmp_path: Path) -> None:
    cfg = config(tmp_path, f"http://127.0.0.1:{free_port()}")  # nobody listens there
    code, output = await run(sys.executable, "-m", "bot.cli.main", "--config", str(cfg), "-v", "run")
    assert_no_secret(output)
    assert "Traceback" not in output
    assert code == 2
    assert "недоступен (нет соединения или истекло время ожидания)" in output.strip().splitlines()[-1]


UNFORESEEN = f"""
import sys
import bot.cli.main as cli

async def boom(args, settings):
    raise RuntimeError(
        "POST /bot{TOKEN}/getMe failed; secret {WEBHOOK_SECRET}, vk {VK_TOKEN}, other bot{OTHER_TOKEN}"
    )

cli.dispatch = boom
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("verbose", [True, False])
async def test_unforeseen_error_names_no_secret(tmp_path: Path, verbose: bool) -> None:
    cfg = config(tmp_path, "http://127.0.0.1:1")
    flags = ["-v"] if verbose else []
    code, output = await run(sys.executable, "-c", UNFORESEEN, "--config", str(cfg), *flags, "run")
    assert_no_secret(output)
    assert code == 1
    last = output.strip().splitlines()[-1]
    assert last.startswith(
        "Непредвиденная ошибка: RuntimeError: POST /bot***/getMe failed; secret ***, vk ***"
    )
    # With -v the traceback is in the log, redacted; without it, no traceback at all.
    assert ("Traceback" in output) is verbose
