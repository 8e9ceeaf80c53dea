"""Administrative CLI: `otklik forget` (erasure on request) and `otklik backup`."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bot.app import open_storage
from bot.cli.arguments import bounded_text
from bot.cli.common import default_user
from bot.cli.output_files import atomic_output, reason
from bot.config import Settings
from bot.errors import UsageError
from storage.channels import Channel
from storage.db import create_private
from storage.privacy import forget

CHANNELS = (Channel.TELEGRAM.value, Channel.VK.value, Channel.CONSOLE.value)


def register(sub: Any) -> None:
    erase = sub.add_parser("forget", help="удалить связь человека с его ответами (по запросу)")
    erase.add_argument("--channel", required=True, choices=CHANNELS, help="канал: telegram, vk, console")
    erase.add_argument(
        "--id", required=True, dest="external_id", type=bounded_text(64), help="id пользователя в мессенджере"
    )
    erase.set_defaults(handler=cmd_forget)

    backup = sub.add_parser("backup", help="резервная копия базы данных")
    backup.add_argument("--out", required=True, type=Path, help="файл копии (недостающие папки создаются)")
    backup.set_defaults(handler=cmd_backup)


async def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    storage = await open_storage(settings, create=False)
    try:
        async with storage.transaction() as conn:
            found = await forget(conn, args.channel, args.external_id, datetime.now(UTC), default_user())
    finally:
        await storage.close()
    if found is None:
        raise UsageError(
            f"В канале {args.channel} нет пользователя с id {args.external_id}: ничего не изменено."
        )
    print(
        f"Готово: пользователь отвязан от своих ответов (респондент №{found}). Ответы остались анонимными, "
        "согласие на рассылки отозвано, запись об этом сохранена в реестре согласий."
    )
    return 0


async def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    size = await asyncio.to_thread(_backup, settings, args.out)
    print(f"Резервная копия: {args.out} ({size} байт)")
    return 0


def _backup(settings: Settings, out: Path) -> int:
    url = make_url(settings.database.url)
    if url.get_backend_name() == "sqlite":
        source = Path(url.database or "")
        if not source.is_file():
            raise UsageError(f"Файла базы {source} нет: копировать нечего.")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)  # backups go to dated folders, e.g. from cron
    except OSError as exc:
        raise UsageError(f"--out: папку {out.parent} нельзя создать: {reason(exc)}") from None
    with atomic_output(out, overwrite=False) as partial:
        if url.get_backend_name() == "sqlite":
            _sqlite_backup(source, partial)
        else:
            _pg_dump(settings, partial)
        size = partial.stat().st_size
    return size


def _create_copy(out: Path) -> None:
    """The copy file, 0600 before personal data is written into it."""
    try:
        create_private(out)
    except OSError as exc:
        raise UsageError(f"Не удалось создать файл копии {out}: {exc.strerror or exc}") from None


def _sqlite_backup(source: Path, out: Path) -> None:
    _create_copy(out)
    # The online backup API copies a consistent snapshot while the service keeps writing.
    try:
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(out)) as dst:
            src.backup(dst)
    except sqlite3.Error as exc:
        raise UsageError(
            f"Копия базы {source} не сделана: ошибка SQLite ({exc}); файл копии не создан."
        ) from None


def _pg_dump(settings: Settings, out: Path) -> None:
    if shutil.which("pg_dump") is None:
        raise UsageError("Для копии PostgreSQL нужна программа pg_dump (пакет postgresql-client).")
    url = make_url(settings.database.url)
    command = ["pg_dump", "--format=custom", f"--file={out}", "--host", url.host or "127.0.0.1"]
    command += ["--port", str(url.port or 5432), "--username", url.username or "postgres"]
    if settings.database.pg_schema:
        command += ["--schema", settings.database.pg_schema]
    command.append(url.database or "postgres")
    _create_copy(out)  # pg_dump writes into it and keeps its mode
    env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise UsageError(f"pg_dump не смог сделать копию: {done.stderr.strip()[:300]}")
