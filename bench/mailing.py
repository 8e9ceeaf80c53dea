"""Mailing benchmark: a campaign against the rate-enforcing fake Bot API, killed at half-way.

    .venv/bin/python -m bench.mailing --n 1200            # free limit, 30 messages/s (~45 s)
    .venv/bin/python -m bench.mailing --n 20000 --rate 1000 --paid   # paid broadcasts

A real `otklik run` process sends the campaign; it is killed with SIGKILL when half of the
invitations arrived and started again. The fake Bot API runs in a third process
(`tests/fakes/telegram_process.py`), so the benchmark's own work cannot delay its time stamps; it
also reports when its event loop stalled. Reported: messages/s achieved divided by the configured
limit (steady state, before the kill), 429 answers received (and when), the busiest 1 s window
the fake saw, and after the restart the duplicates (a chat invited twice) and the missing (not
invited, not reported `unknown`).
The full setting is 20,000 recipients; at 30/s that takes 11 minutes, so a smaller N
measures the same steady state (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import insert, select

from bot.config import Settings
from storage import mailing as store
from storage.schema import consents, respondents
from storage.store import Storage
from survey_flow.loader import load_questionnaire

REPO = Path(__file__).resolve().parent.parent
FIRST_CHAT = 8_000_000


class FakeProcess:
    """The rate-enforcing fake Bot API in its own process (`tests/fakes/telegram_process.py`):
    nothing the benchmark does (polling the database, its own collector) can delay its stamps."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0
        self.token = ""
        self.http: aiohttp.ClientSession | None = None

    async def start(self, rate: float) -> FakeProcess:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.fakes.telegram_process", "--rate", str(rate),
            "--per-chat", "1", "--first-chat", str(FIRST_CHAT), cwd=REPO, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.process.stdout is not None
        hello = json.loads(await asyncio.wait_for(self.process.stdout.readline(), 30))
        self.port, self.token = int(hello["port"]), str(hello["token"])
        self.http = aiohttp.ClientSession()
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stats(self, *, full: bool = False) -> dict[str, Any]:
        assert self.http is not None
        async with self.http.get(f"{self.base_url}/stats", params={"full": "1"} if full else {}) as response:
            data: dict[str, Any] = await response.json()
            return data

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), 10)


async def seed(storage: Storage, n: int) -> None:
    now = datetime.now(UTC)
    async with storage.transaction() as conn:
        await conn.execute(
            insert(respondents),
            [{"pseudonym": f"b{i:08d}", "channel": "telegram", "external_id": str(FIRST_CHAT + i),
              "name": f"Клиент {i}", "dialog": {}, "created_at": now} for i in range(n)],
        )  # fmt: skip
        ids = [r.id for r in await conn.execute(select(respondents.c.id).order_by(respondents.c.id))]
        await conn.execute(
            insert(consents),
            [{"respondent_id": rid, "granted": True, "kind": "granted", "channel": "telegram", "text_version": "1",
              "method": "bot", "recorded_at": now} for rid in ids],
        )  # fmt: skip
        campaign = await store.create_campaign(
            conn, text="Здравствуйте, {name}! Оцените, пожалуйста, нашу работу.",
            audience=store.Audience(), scheduled_at=now, created_by="bench", now=now,
            questions=store.AudienceQuestions.of(load_questionnaire(None, Settings().survey.lists.choice_lists())),
        )  # fmt: skip
    print(f"seeded {n} consenting respondents, campaign {campaign.id}")


def rate_of(times: list[float]) -> float:
    if len(times) < 2:
        return 0.0
    # Skip the first second (start-up) when there is enough data.
    start = times[0] + 1.0 if times[-1] - times[0] > 5 else times[0]
    window = [t for t in times if t >= start]
    return (len(window) - 1) / (window[-1] - window[0]) if len(window) > 1 else 0.0


async def main(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="otklik-bench-"))
    url = args.database or f"sqlite+aiosqlite:///{work / 'bench.db'}"
    fake = await FakeProcess().start(args.rate)
    storage = await Storage.open(url, schema=args.schema)
    await seed(storage, args.n)
    mailing = (
        f"paid_broadcast = true\npaid_per_second = {args.rate}\n"
        if args.paid
        else f"per_second = {args.rate}\n"
    )
    schema = f'pg_schema = "{args.schema}"\n' if args.schema else ""
    config = work / "config.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n{schema}'
        f'[telegram]\nenabled = true\ntoken = "{fake.token}"\napi_server = "{fake.base_url}"\n'
        f"[mailing]\n{mailing}poll_seconds = 0.5\n"
    )
    log = work / "otklik.log"

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli.main", "--config", str(config), "run",
            cwd=REPO, stdout=log.open("ab"), stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip

    process = await start()
    starts = [time.monotonic()]
    try:
        half = args.n // 2
        while (await fake.stats())["accepted"] < (half if args.kill else args.n):
            await asyncio.sleep(0.1)
            if process.returncode is not None:
                print(log.read_text()[-2000:])
                return 1
        first_phase = int((await fake.stats())["accepted"])  # (the full answer would stall the fake)
        if args.kill:
            process.kill()
            await process.wait()
            print(f"SIGKILL after {first_phase} invitations")
            process = await start()
            starts.append(time.monotonic())
        while True:
            async with storage.transaction() as conn:
                campaign = await store.get_campaign(conn, 1)
            if campaign is not None and campaign.status == store.DONE:
                break
            await asyncio.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
        final = await fake.stats(full=True)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await fake.stop()
    async with storage.transaction() as conn:
        progress = await store.progress(conn, 1)
        rows = await store.outbox_rows(conn, 1)
        external = {r.id: int(r.external_id) for r in await conn.execute(select(respondents))}
    await storage.close()
    accepted: list[float] = final["accepted_at"]
    limited_at: list[float] = final["limited_at"]
    stalls: list[list[float]] = final["stalls"]
    per_chat = {int(chat): count for chat, count in final["per_chat"].items()}
    limited_before_kill = sum(1 for t in limited_at if len(starts) < 2 or t < starts[1])
    unknown = {external[p] for p, status in rows if status == store.UNKNOWN}
    duplicates = sum(1 for count in per_chat.values() if count > 1)
    missing = sum(1 for p, _ in rows if external[p] not in per_chat and external[p] not in unknown)
    achieved = rate_of(accepted[:first_phase])
    print(
        f"recipients: {args.n}; limit {args.rate}/s ({'paid' if args.paid else 'free'}); database {url.split(':')[0]}"
    )
    print(f"steady rate before the kill: {achieved:.2f}/s = {achieved / args.rate:.3f} of the limit")
    print(f"after restart: {rate_of(accepted[first_phase:]):.2f}/s")
    print(f"429 answers: {limited_before_kill} before the kill, {len(limited_at)} in total")
    for moment in limited_at:
        start_at = max((t for t in starts if t <= moment), default=starts[0])
        first_sent = next((t for t in accepted if t >= start_at), moment)
        near = [late for end, late in stalls if moment - 1.0 <= end <= moment + 0.1]
        stalled = f"; the fake's loop stalled {max(near) * 1000:.0f} ms just before" if near else ""
        print(f"  a 429 {moment - first_sent:+.1f} s after that process's first accepted invitation{stalled}")
    # Stalls of the fake while invitations flowed (not its start, nor the final statistics call).
    flowing = [(end, late) for end, late in stalls if accepted and accepted[0] <= end <= accepted[-1]]
    worst = max((late for _, late in flowing), default=0.0)
    print(f"fake server loop stalls > 15 ms while sending: {len(flowing)}, longest {worst * 1000:.0f} ms")
    print(f"busiest 1 s window of accepted invitations: {busiest_second(accepted)}")
    print(f"sent {progress[store.SENT]}, unknown {progress[store.UNKNOWN]}, failed {progress[store.FAILED]}")
    print(f"duplicates: {duplicates}; missing (not invited, not reported unknown): {missing}")
    if duplicates or missing:
        print(f"database and service log kept in {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)  # a clean run leaves nothing behind in /tmp
    return 0


def busiest_second(times: list[float]) -> int:
    """The most accepted invitations in any half-open 1 s window."""
    best = start = 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.mailing")
    parser.add_argument("--n", type=int, default=20_000, help="recipients (default 20000)")
    parser.add_argument("--rate", type=float, default=30.0, help="messages/s, server and client")
    parser.add_argument("--paid", action="store_true", help="configure Telegram paid broadcasts")
    parser.add_argument("--database", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--schema", help="PostgreSQL schema")
    parser.add_argument("--no-kill", dest="kill", action="store_false", help="do not kill at half-way")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
