"""Answers per second through the real `Dispatcher.feed_update`, against a bare aiogram baseline.

N simulated respondents each answer the whole questionnaire (buttons, one typed follow-up);
updates go through the project's dispatcher (what the webhook handler runs for each update) with
a session without network. The baseline feeds the same number of updates to a bare dispatcher
whose only handler does one INSERT + commit on the same database and one send_message: aiosqlite
on a SQLite file, or asyncpg with the same pool size on the same PostgreSQL server. Both run in
this process, alternating, at the same concurrency, so the ratio is meaningful on any machine.
On PostgreSQL `--workers 2` adds a pass of two worker processes sharing one database, chats
split between them, and reports their combined throughput beside one worker's.

    python -m bench.answers [--respondents 200] [--concurrency 20] [--database URL] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
from aiogram import Bot, Dispatcher, Router
from aiogram.types import CallbackQuery, Update
from aiogram.types import Message as TgMessage
from sqlalchemy.engine import make_url

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


def text_update(bot: Bot, chat: int, text: str) -> Update:
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
        },
        # Mounted on the bot as the webhook handler does: else feed_update re-creates it.
        context={"bot": bot},
    )  # fmt: skip


def press_update(bot: Bot, chat: int, message_id: int, data: str) -> Update:
    return Update.model_validate(
        {
            "update_id": next(_update_ids),
            "callback_query": {
                "id": str(next(_update_ids)), "chat_instance": str(chat), "data": data,
                "from": {"id": chat, "is_bot": False, "first_name": "Анна"},
                "message": {"message_id": message_id, "date": int(time.time()),
                            "chat": {"id": chat, "type": "private"}, "text": "?"},
            },
        },
        # Mounted on the bot as the webhook handler does: else feed_update re-creates it.
        context={"bot": bot},
    )  # fmt: skip


def next_update(bot: Bot, session: NoNetworkSession, chat: int, label: str) -> Update:
    if label.startswith("!"):
        return text_update(bot, chat, label[1:])
    message_id, markup = session.keyboards[chat]
    for row in markup.inline_keyboard:
        for button in row:
            if button.text == label:
                assert button.callback_data is not None
                return press_update(bot, chat, message_id, button.callback_data)
    raise RuntimeError(f"no button {label!r}")


async def run_project(
    db: Path,
    respondents: int,
    concurrency: int,
    url: str | None = None,
    pool_size: int = 5,
    *,
    schema: str | None = None,
    first_chat: int = 10_000,
    start_at: float | None = None,
) -> tuple[float, list[float], int]:
    """`schema`: a PostgreSQL schema other workers share (made and dropped by the caller);
    without it each call makes its own. `start_at`: a `time.time()` to start at, so workers
    in several processes start together."""
    own_schema = f"bench_{secrets.token_hex(4)}" if url and schema is None else None
    schema = schema or own_schema
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
                    text_update(bot, chat, "/start")
                    if index == 0
                    else next_update(bot, session, chat, SCRIPT[index - 1])
                )
                started = time.perf_counter()
                await dispatcher.feed_update(bot, update)
                latencies.append(time.perf_counter() - started)

    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
    started = time.perf_counter()
    await asyncio.gather(*(respondent(first_chat + n) for n in range(respondents)))
    elapsed = time.perf_counter() - started
    if own_schema:
        async with storage.transaction() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{own_schema}" CASCADE')
    await storage.close()
    return elapsed, latencies, len(latencies)


async def run_baseline(db: Path, updates: int, concurrency: int) -> tuple[float, list[float]]:
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
    latencies: list[float] = []

    async def chat_updates(chat: int) -> None:
        async with gate:
            for index in range(per_chat):
                update = (
                    text_update(bot, chat, "x") if index % 2 else press_update(bot, chat, 1, "p|1:1|ans|1")
                )
                started = time.perf_counter()
                await dispatcher.feed_update(bot, update)
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(chat_updates(20_000 + n) for n in range(chats)))
    elapsed = time.perf_counter() - started
    await conn.close()
    return chats * per_chat / elapsed, latencies


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def run_pg_baseline(
    url: str, updates: int, concurrency: int, pool_size: int
) -> tuple[float, list[float]]:
    """The fair PostgreSQL baseline: one asyncpg INSERT + commit per update on the same server,
    from a pool of the same size as the project's."""
    schema = f"bench_base_{secrets.token_hex(4)}"
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=pool_size)
    assert pool is not None
    await pool.execute(f'CREATE SCHEMA "{schema}"')
    await pool.execute(f'CREATE TABLE "{schema}".answers (id bigserial PRIMARY KEY, chat bigint, body text)')
    insert = f'INSERT INTO "{schema}".answers (chat, body) VALUES ($1, $2)'
    router = Router()

    async def store_and_reply(chat: int, body: str, bot: Bot) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(insert, chat, body)
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
    latencies: list[float] = []

    async def chat_updates(chat: int) -> None:
        async with gate:
            for index in range(per_chat):
                update = (
                    text_update(bot, chat, "x") if index % 2 else press_update(bot, chat, 1, "p|1:1|ans|1")
                )
                started = time.perf_counter()
                await dispatcher.feed_update(bot, update)
                latencies.append(time.perf_counter() - started)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(chat_updates(20_000 + n) for n in range(chats)))
        elapsed = time.perf_counter() - started
    finally:
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await pool.close()
    return chats * per_chat / elapsed, latencies


def _worker(url: str, schema: str, respondents: int, concurrency: int, pool_size: int,
            first_chat: int, start_at: float, out: Any) -> None:  # fmt: skip
    global _update_ids
    # Telegram numbers the updates of one bot across all its workers: no two share an id.
    _update_ids = itertools.count(first_chat * 1_000)
    elapsed, latencies, count = asyncio.run(
        run_project(Path("unused"), respondents, concurrency, url, pool_size,
                    schema=schema, first_chat=first_chat, start_at=start_at)
    )  # fmt: skip
    out.put((start_at, elapsed, latencies, count))


def run_workers(url: str, workers: int, respondents: int, concurrency: int, pool_size: int) -> dict[str, Any]:
    """`workers` processes on one database and schema, chats split between them (as a load
    balancer in front of several webhook workers would), started together; their combined rate."""
    schema = f"bench_w_{secrets.token_hex(4)}"

    async def prepare() -> None:
        storage = await Storage.open(url, schema=schema, pool_size=1)
        await storage.close()

    async def drop() -> None:
        storage = await Storage.open(url, schema=schema, pool_size=1)
        async with storage.transaction() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        await storage.close()

    asyncio.run(prepare())
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    start_at = time.time() + 8.0  # after every worker's imports and connections
    share = respondents // workers
    processes = [
        context.Process(
            target=_worker,
            args=(
                url,
                schema,
                share,
                max(1, concurrency // workers),
                pool_size,
                10_000 + n * share,
                start_at,
                out,
            ),
        )
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    results = [out.get() for _ in processes]
    for process in processes:
        process.join()
    asyncio.run(drop())
    wall = max(elapsed for _start, elapsed, _lat, _count in results)
    latencies = [value for *_head, lat, _count in results for value in lat]
    count = sum(count for *_head, count in results)
    return {
        "workers": workers,
        "updates": count,
        "updates_per_s": count / wall,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


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
            baseline_latencies: list[float] = []
            for index in range(rounds):
                folder = Path(tmp) / f"{name}{index}"
                folder.mkdir()
                elapsed, slice_latencies, slice_count = await run_project(
                    folder / "project.db", per_round, load, url, pool_size
                )
                rate, base_latencies = (
                    await run_pg_baseline(url, slice_count, load, pool_size)
                    if url
                    else await run_baseline(folder / "baseline.db", slice_count, load)
                )
                project_time += elapsed
                baseline_time += slice_count / rate
                count += slice_count
                latencies += slice_latencies
                baseline_latencies += base_latencies
            result[name] = {
                "updates": count,
                "project_updates_per_s": count / project_time,
                "baseline_updates_per_s": count / baseline_time,
                "ratio": baseline_time / project_time,
                "p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": percentile(latencies, 99) * 1000,
                "baseline_p50_ms": percentile(baseline_latencies, 50) * 1000,
                "baseline_p99_ms": percentile(baseline_latencies, 99) * 1000,
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
    parser.add_argument(
        "--workers", type=int, default=1, help="PostgreSQL: also run this many worker processes at once"
    )
    parser.add_argument("--json", action="store_true", help="end with one line of JSON figures")
    args = parser.parse_args(argv)
    if args.workers > 1 and not args.database:
        parser.error("--workers needs --database (SQLite runs one service process per file)")
    result = asyncio.run(
        measure(args.respondents, args.concurrency, args.database, args.rounds, args.pool_size)
    )
    if args.workers > 1:
        result["workers"] = run_workers(
            args.database, args.workers, args.respondents, args.concurrency, args.pool_size
        )
    baseline = (
        f"aiogram + asyncpg INSERT+commit (pool {args.pool_size}) + send_message"
        if args.database
        else "aiogram + aiosqlite INSERT+commit + send_message"
    )
    p99_target = 20 if args.database else 10
    print(
        f"answers: {result['respondents']} respondents, the whole questionnaire each, "
        f"storage {args.database or 'SQLite file'}; baseline {baseline}"
    )
    for name in ("serial", "concurrent"):
        r = result[name]
        load = 1 if name == "serial" else result["concurrency"]
        print(
            f"  {name:10} (x{load:<3}) project {r['project_updates_per_s']:7.0f} updates/s, "
            f"baseline {r['baseline_updates_per_s']:7.0f} updates/s, ratio {r['ratio']:.2f} (target >= 0.5); "
            f"handling p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms (target <= {p99_target} ms; "
            f"baseline p50 {r['baseline_p50_ms']:.2f} ms, p99 {r['baseline_p99_ms']:.2f} ms)"
        )
    if "workers" in result:
        w = result["workers"]
        print(
            f"  {w['workers']} workers (x{result['concurrency']} in all) {w['updates_per_s']:7.0f} updates/s "
            f"combined (one worker: {result['concurrent']['project_updates_per_s']:.0f}); "
            f"p50 {w['p50_ms']:.2f} ms, p99 {w['p99_ms']:.2f} ms"
        )
    if args.json:
        figures: dict[str, Any] = {"baseline": baseline}
        for name in ("serial", "concurrent"):
            r = result[name]
            figures[name] = {
                "ratio": round(r["ratio"], 3),
                "updates_per_s": round(r["project_updates_per_s"], 1),
                "p50_ms": round(r["p50_ms"], 3),
                "p99_ms": round(r["p99_ms"], 3),
            }
        print(json.dumps(figures, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
