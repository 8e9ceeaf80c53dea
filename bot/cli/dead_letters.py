"""`otklik dead-letters list|show`: updates the channels could not parse or handle."""

from __future__ import annotations

import argparse
from typing import Any
from zoneinfo import ZoneInfo

from bot.app import open_storage
from bot.config import Settings
from bot.errors import UsageError
from storage.channels import Channel, get_dead_letter, list_dead_letters

CHANNELS = (Channel.TELEGRAM.value, Channel.VK.value)
MAX_ID = 2**31 - 1  # the id column is a 32-bit integer on PostgreSQL


def register(sub: Any) -> None:
    letters = sub.add_parser(
        "dead-letters", help="обновления, которые канал не смог разобрать или обработать"
    )
    actions = letters.add_subparsers(dest="dead_letters_action", required=True, metavar="ДЕЙСТВИЕ")
    listing = actions.add_parser("list", help="список: номер, время, канал, ошибка")
    listing.add_argument("--channel", choices=CHANNELS, default=None, help="только этот канал")
    listing.add_argument("--limit", type=_count, default=50, help="сколько последних показать (50)")
    listing.set_defaults(handler=cmd_list)
    show = actions.add_parser("show", help="исходный JSON обновления и текст ошибки")
    show.add_argument("id", type=_letter_id, help="номер из списка")
    show.set_defaults(handler=cmd_show)


def _letter_id(value: str) -> int:
    if not value.isascii() or not value.isdecimal() or not 0 < int(value) <= MAX_ID:
        raise argparse.ArgumentTypeError(f"номер — целое число от 1 до {MAX_ID}, получено «{value[:20]}»")
    return int(value)


def _count(value: str) -> int:
    if not value.isascii() or not value.isdecimal() or not 0 < int(value) <= 10_000:
        raise argparse.ArgumentTypeError(f"ожидается число от 1 до 10000, получено «{value[:20]}»")
    return int(value)


async def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    zone = ZoneInfo(settings.reports.timezone)
    storage = await open_storage(settings, create=False)
    try:
        async with storage.transaction() as conn:
            letters = await list_dead_letters(conn, channel=args.channel, limit=args.limit)
    finally:
        await storage.close()
    if not letters:
        print("Необработанных обновлений нет.")
        return 0
    print("номер\tвремя\tканал\tбот\tupdate\tошибка")
    for letter in letters:
        when = letter.received_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        error = letter.error.splitlines()[0][:160] if letter.error else ""
        print(f"{letter.id}\t{when}\t{letter.channel}\t{letter.bot}\t{letter.update_id or '—'}\t{error}")
    return 0


async def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    storage = await open_storage(settings, create=False)
    try:
        async with storage.transaction() as conn:
            letter = await get_dead_letter(conn, args.id)
    finally:
        await storage.close()
    if letter is None:
        raise UsageError(f"Необработанного обновления № {args.id} нет (список: otklik dead-letters list).")
    zone = ZoneInfo(settings.reports.timezone)
    print(f"№ {letter.id}, {letter.received_at.astimezone(zone):%Y-%m-%d %H:%M:%S}, канал {letter.channel}, "
          f"бот {letter.bot}, update {letter.update_id or '—'}")  # fmt: skip
    print(f"Ошибка: {letter.error}")
    print(letter.raw)
    return 0
