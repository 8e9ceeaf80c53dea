"""Answers per second through the real `Dispatcher.feed_update`, against a bare aiogram baseline.

N simulated respondents each answer the whole questionnaire (buttons, one typed follow-up);
updates go through the project's dispatcher with storage on a SQLite file and a session
without network. The baseline feeds the same number of updates to a bare dispatcher whose only
handler does one aiosqlite insert+commit and one send_message. Both run in this process, one
after the other, at the same concurrency, so the ratio is meaningful on any machine.

    python -m bench.answers [--respondents 200] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosqlite
from aiogram import Bot, Dispatcher, Router
from aiogram.types import CallbackQuery, Update
from aiogram.types import Message as TgMessage

from bench.nonet import NoNetworkSession
from bot.app import Services, questionnaire_from
from bot.config import Settings
from bot.telegram.runner import build_dispatcher
from storage.store import Storage

TOKEN = "123456:BENCH-token_abcdef"
# Button labels per question (in person, provided, a score of 3 with its typed follow-up).
SCRIPT = [
    "Субсидия", "Телефон", "Управление инвестиционной политики", "Баганский район",
    "Лично в органе власти", "Физическим лицом", "Была предоставлена", "Скорее удовлетворен",
    "5", "3", "!Сложно найти форму заявления", "5", "5", "5", "Да, согласен(на)",
]  # fmt: skip

_update_ids = itertools.count(1)
_message_ids = itertools.count(1)


def text_update(chat: int, text: str) -> Update:
    return Update.model_validate(
        {
            "update_id": next(_update_ids),
            "message": {
                "message_id": next(_message_ids), "date": int(time.time()),
                "chat": {"id": chat, "type": "private"},
                "from": {"id": chat, "is_bot": False, "first_name": "Анна"}, "text": text,
                **({"entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]}
                   if text.startswith("/") else {}),
            },
        }
    )  # fmt: skip


def press_update(chat: int, message_id: int, data: str) -> Update:
    return Update.model_validate(
        {
            "update_id": next(_update_ids),
            "callback_query": {
                "id": str(next(_update_ids)), "chat_instance": str(chat), "data": data,
                "from": {"id": chat, "is_bot": False, "first_name": "Анна"},
                "message": {"message_id": message_id, "date": int(time.time()),
                            "chat": {"id": chat, "type": "private"}, "text": "?"},
            },
        }
    )  # fmt: skip


def next_update(session: NoNetworkSession, chat: int, label: str) -> Update:
    if label.startswith("!"):
        return text_update(chat, label[1:])
    message_id, markup = session.keyboards[chat]
    for row in markup.inline_keyboard:
        for button in row:
            if button.text == label:
                assert button.callback_data is not None
                return press_update(chat, message_id, button.callback_data)
    raise RuntimeError(f"no button {label!r}")


async def run_project(
    db: Path, respondents: int, concurrency: int, url: str | None = None, pool_size: int = 5
) -> tuple[float, list[float], int]:
    schema = f"bench_{secrets.token_hex(4)}" if url else None
    settings = Settings(database={"url": url or f"sqlite+aiosqlite:///{db}", "pg_schema": schema})
    storage = await Storage.open(settings.database.url, schema=schema, pool_size=pool_size)
    session = NoNetworkSession()
    bot = Bot(TOKEN, session=session)
    dispatcher = build_dispatcher(Services(settings, storage, questionnaire_from(settings)), bot)
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def respondent(chat: int) -> None:
        async with gate:
            for index in range(len(SCRIPT) + 1):
                update = (
                    text_update(chat, "/start")
                    if index == 0
                    else next_update(session, chat, SCRIPT[index - 1])
                )
                started = time.perf_counter()
                await dispatcher.feed_update(bot, update)
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(respondent(10_000 + n) for n in range(respondents)))
    elapsed = time.perf_counter() - started
    if schema:
        async with storage.transaction() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    await storage.close()
    return elapsed, latencies, len(latencies)


async def run_baseline(db: Path, updates: int, concurrency: int) -> float:
    conn = await aiosqlite.connect(db)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("CREATE TABLE answers (chat INTEGER, body TEXT)")
    await conn.commit()
    router = Router()

    async def store_and_reply(chat: int, body: str, bot: Bot) -> None:
        await conn.execute("INSERT INTO answers VALUES (?, ?)", (chat, body))
        await conn.commit()
        await bot.send_message(chat, "ok")

    @router.message()
    async def on_message(message: TgMessage, bot: Bot) -> None:
        await store_and_reply(message.chat.id, message.text or "", bot)

    @router.callback_query()
    async def on_press(query: CallbackQuery, bot: Bot) -> None:
        await store_and_reply(query.from_user.id, query.data or "", bot)

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    bot = Bot(TOKEN, session=NoNetworkSession())
    per_chat = len(SCRIPT) + 1
    chats = max(1, updates // per_chat)
    gate = asyncio.Semaphore(concurrency)

    async def chat_updates(chat: int) -> None:
        async with gate:
            for index in range(per_chat):
                update = text_update(chat, "x") if index % 2 else press_update(chat, 1, "p|1:1|ans|1")
                await dispatcher.feed_update(bot, update)

    started = time.perf_counter()
    await asyncio.gather(*(chat_updates(20_000 + n) for n in range(chats)))
    elapsed = time.perf_counter() - started
    await conn.close()
    return chats * per_chat / elapsed


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def measure(
    respondents: int, concurrency: int, url: str | None = None, rounds: int = 4, pool_size: int = 5
) -> dict[str, Any]:
    """Two passes in one run: one respondent at a time (handling time without queueing), then
    `concurrency` respondents at once (throughput); each against the baseline at the same load.
    Project and baseline alternate in `rounds` slices, so a slow spell of a shared machine falls
    on both sides rather than on one."""
    result: dict[str, Any] = {"respondents": respondents, "concurrency": concurrency}
    per_round = max(1, respondents // rounds)
    with tempfile.TemporaryDirectory() as tmp:
        for name, load in (("serial", 1), ("concurrent", concurrency)):
            project_time = baseline_time = 0.0
            count = 0
            latencies: list[float] = []
            for index in range(rounds):
                folder = Path(tmp) / f"{name}{index}"
                folder.mkdir()
                elapsed, slice_latencies, slice_count = await run_project(
                    folder / "project.db", per_round, load, url, pool_size
                )
                rate = await run_baseline(folder / "baseline.db", slice_count, load)
                project_time += elapsed
                baseline_time += slice_count / rate
                count += slice_count
                latencies += slice_latencies
            result[name] = {
                "updates": count,
                "project_updates_per_s": count / project_time,
                "baseline_updates_per_s": count / baseline_time,
                "ratio": baseline_time / project_time,
                "p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": percentile(latencies, 99) * 1000,
            }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.answers")
    parser.add_argument("--respondents", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--database", default=None, help="PostgreSQL URL instead of a SQLite file")
    parser.add_argument("--rounds", type=int, default=4, help="project/baseline alternations per pass")
    parser.add_argument(
        "--pool-size", type=int, default=5, help="PostgreSQL connections ([database] pool_size)"
    )
    args = parser.parse_args(argv)
    result = asyncio.run(
        measure(args.respondents, args.concurrency, args.database, args.rounds, args.pool_size)
    )
    print(
        f"answers: {result['respondents']} respondents, the whole questionnaire each, storage {args.database or 'SQLite file'}"
    )
    for name in ("serial", "concurrent"):
        r = result[name]
        load = 1 if name == "serial" else result["concurrency"]
        print(
            f"  {name:10} (x{load:<3}) project {r['project_updates_per_s']:7.0f} updates/s, "
            f"baseline {r['baseline_updates_per_s']:7.0f} updates/s, ratio {r['ratio']:.2f} (target >= 0.5); "
            f"handling p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms (target <= 10 ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
