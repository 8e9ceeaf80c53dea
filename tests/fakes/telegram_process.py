"""The rate-enforcing fake Bot API in a process of its own, for benchmarks.

    python -m tests.fakes.telegram_process --rate 30 --per-chat 1 --first-chat 8000000

Prints one JSON line (`{"port": …, "token": …}`) when it listens, then serves until SIGTERM.
Run in the benchmark's own event loop, the fake stamps a request when its handler gets the loop;
a stall there (the benchmark polling its database) compresses arrival times and shows as 429s
that the sender did not cause. Here nothing else shares the loop, and a watchdog records every
stall of the loop itself, so a 429 next to a stall is known to be the fake's.

`GET /stats` answers the counters (cheap, for polling); `GET /stats?full=1` also the accept times
(monotonic clock, shared by processes on Linux), the 429 times, the stalls and the per-chat counts.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import sys
import time
from typing import Any

from aiohttp import web

from tests.fakes.telegram_api import FakeTelegram

STALL_TICK = 0.005
STALL_REPORTED = 0.015  # a loop late by more than this is a stall worth knowing about


class TimedFake(FakeTelegram):
    """The fake server, also noting when each invitation was accepted and each 429 given."""

    def __init__(self, first_chat: int) -> None:
        super().__init__()
        self.first_chat = first_chat
        self.accepted: list[float] = []
        self.per_chat: dict[int, int] = {}
        self.limited_at: list[float] = []
        self.stalls: list[tuple[float, float]] = []  # (when it ended, how long the loop was late)

    async def api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        limited = self.rate_limited
        try:
            result = await super().api_sendMessage(params)
        finally:
            if self.rate_limited > limited:
                self.limited_at.append(time.monotonic())
        chat = int(params["chat_id"])
        if chat >= self.first_chat:
            self.accepted.append(time.monotonic())
            self.per_chat[chat] = self.per_chat.get(chat, 0) + 1
            self.calls.clear()  # 20,000 stored requests only slow the collector down
            self.messages.clear()
        return result

    async def watch_loop(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(STALL_TICK)
            late = time.monotonic() - before - STALL_TICK
            if late > STALL_REPORTED:
                self.stalls.append((time.monotonic(), late))

    async def stats(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = {"accepted": len(self.accepted), "rate_limited": self.rate_limited}
        if request.query.get("full"):
            body |= {
                "accepted_at": self.accepted,
                "limited_at": self.limited_at,
                "stalls": self.stalls,
                "per_chat": self.per_chat,
            }
        return web.json_response(body)

    def _app(self) -> web.Application:
        app = super()._app()
        app.router.add_get("/stats", self.stats)
        return app


async def serve(args: argparse.Namespace) -> None:
    fake = TimedFake(args.first_chat)
    fake.enforce_limits(per_second=args.rate, per_chat_per_second=args.per_chat)
    await fake.start()
    gc.freeze()  # start-up objects are never collected again: shorter collector pauses
    watchdog = asyncio.create_task(fake.watch_loop())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"port": fake.port, "token": fake.token}), flush=True)
    await stop.wait()
    watchdog.cancel()
    await fake.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.telegram_process")
    parser.add_argument("--rate", type=float, default=30.0, help="messages/s overall")
    parser.add_argument("--per-chat", type=float, default=1.0, help="messages/s per chat")
    parser.add_argument("--first-chat", type=int, default=0, help="chats counted as invitations")
    asyncio.run(serve(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
