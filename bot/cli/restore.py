"""`otklik restore ФАЙЛ`: put a copy made by `otklik backup` back in place of the database.

SQLite: the copy is checked (integrity, an Otklik database at a schema revision this version
knows) and migrated to head in a temporary file next to the database, then renamed over it, so
the database is either the old one or the whole restored one. A running `otklik run` is detected
by the same flock() it takes on the database file (bot/runtime/single_process.py), another open
connection by SQLite itself (leaving WAL mode needs the only connection).

PostgreSQL: the custom-format dump is replayed by psql in one transaction after the target schema
is emptied, so objects created after the copy (a newer migration) do not survive and a failure
leaves the database as it was.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, make_url

from bot.app import open_storage
from bot.cli.output_files import reason
from bot.config import Settings
from bot.errors import UsageError
from bot.runtime.single_process import holder_pid
from storage.db import DatabaseUnavailable, alembic_config, create_engine, create_private, migrate
from storage.repository import COMPLETED

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_ARCHIVE_MAGIC = b"PGDMP"
YES = frozenset({"да", "д", "yes", "y"})
# A running service holds locks the restore must wait for: give up instead of hanging.
PG_LOCK_TIMEOUT = "10s"


def register(sub: Any) -> None:
    restore = sub.add_parser(
        "restore", help="вернуть базу данных из резервной копии (служба должна быть остановлена)"
    )
    restore.add_argument("file", type=Path, metavar="ФАЙЛ", help="файл копии, сделанной otklik backup")
    restore.add_argument("--yes", action="store_true", help="не спрашивать подтверждения (для сценариев)")
    restore.set_defaults(handler=cmd_restore)


async def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    backup: Path = args.file
    await asyncio.to_thread(_check_file, backup)
    url = make_url(settings.database.url)
    if url.get_backend_name() == "sqlite":
        return await _restore_sqlite(backup, url, yes=args.yes)
    return await _restore_postgresql(backup, settings, yes=args.yes)


# --- common -------------------------------------------------------------------------------------


def _check_file(backup: Path) -> None:
    if backup.is_dir():
        raise UsageError(f"{backup} — это папка, а нужен файл копии")
    if not backup.is_file():
        raise UsageError(f"Файла копии {backup} нет: проверьте путь.")


def known_revisions() -> tuple[set[str], str | None]:
    scripts = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in scripts.walk_revisions()}, scripts.get_current_head()


def check_revision(revision: str | None, backup: Path) -> None:
    known, head = known_revisions()
    if revision is None:
        raise UsageError(f"{backup} — не копия базы Отклика: в ней нет версии схемы (alembic_version).")
    if revision not in known:
        raise UsageError(
            f"Копия {backup} сделана более новой версией Отклика (схема {revision}; эта версия знает схемы "
            f"до {head}): установите ту версию Отклика или возьмите другую копию."
        )


def confirm(question: str, *, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError("Восстановление заменяет текущую базу: без терминала подтвердите его ключом --yes.")
    try:
        answer = input(f"{question} Текущие данные будут заменены копией. Продолжить? (да/нет): ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in YES


def declined() -> int:
    print("Отменено: база не изменена.")
    return 1


# --- SQLite ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqliteCopy:
    revision: str
    questionnaires: int


async def _restore_sqlite(backup: Path, url: URL, *, yes: bool) -> int:
    target = await asyncio.to_thread(_sqlite_target, url)
    with _held(target), _temporary_next_to(target) as temp:
        copy = await asyncio.to_thread(_copy_and_check, backup, temp)
        await asyncio.to_thread(_close_old_database, target)
        question = f"Восстановить базу {target} из копии {backup} (заполненных анкет в копии: {copy.questionnaires})?"
        if not confirm(question, yes=yes):
            return declined()
        engine = create_engine(f"sqlite+aiosqlite:///{temp}")
        try:
            await migrate(engine)
        except DatabaseUnavailable as exc:
            raise UsageError(f"Миграции копии не прошли ({exc}); база не изменена.") from None
        finally:
            await engine.dispose()
        await asyncio.to_thread(_settle, temp)
        # Again right before the rename: a program may have opened the old file during the question.
        await asyncio.to_thread(_close_old_database, target)
        await asyncio.to_thread(_replace, temp, target)
    _, head = known_revisions()
    print(
        f"База {target} восстановлена из копии {backup} (схема {copy.revision}"
        + (f", обновлена до {head}" if head != copy.revision else "")
        + "). Запустите службу: systemctl start otklik"
    )
    return 0


def _sqlite_target(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise UsageError("База в памяти (:memory:) не восстанавливается из копии: укажите файл базы.")
    # The real file: a symlink in the configured path stays and points at the restored database.
    target = Path(url.database).expanduser().resolve()
    if not target.parent.is_dir():
        raise UsageError(f"Папки базы {target.parent} нет: создайте ее или проверьте [database].url.")
    return target


@contextlib.contextmanager
def _held(target: Path) -> Iterator[None]:
    """The flock `otklik run` takes on the database file, held for the whole restore so the service
    cannot start in between; refused while a service holds it."""
    created = False
    try:
        created = create_private(target)  # as ProcessLock does: the lock belongs to the file
        fd = os.open(target, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(f"Базу {target} нельзя открыть: {reason(exc)}.") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = holder_pid(os.fstat(fd))
            raise UsageError(
                f"База {target} используется запущенной службой otklik run (PID {owner or '?'}): "
                "остановите ее (systemctl stop otklik) и повторите; база не изменена."
            ) from None
        try:
            yield
        finally:
            # Made only to be locked and not replaced (refused, declined): leave no empty database.
            if created and target.exists() and target.stat().st_size == 0:
                target.unlink()
    finally:
        os.close(fd)  # releases the flock


@contextlib.contextmanager
def _temporary_next_to(target: Path) -> Iterator[Path]:
    """A 0600 file in the database's folder (same file system: the final rename is atomic)."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}-restore-", dir=target.parent)
    except OSError as exc:
        raise UsageError(f"В папке базы {target.parent} нельзя создать файл: {reason(exc)}.") from None
    os.close(fd)
    temp = Path(name)
    try:
        temp.chmod(0o600)
        yield temp
    finally:
        for leftover in (temp, *_companions(temp)):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _companions(path: Path) -> tuple[Path, ...]:
    return tuple(Path(f"{path}{suffix}") for suffix in ("-wal", "-shm", "-journal"))


def _copy_and_check(backup: Path, temp: Path) -> SqliteCopy:
    """Copy the backup into `temp` and check the copy (the backup itself is only read)."""
    try:
        with backup.open("rb") as src:
            if src.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
                raise UsageError(f"{backup} — не копия базы SQLite (для PostgreSQL нужна копия pg_dump).")
            src.seek(0)
            with temp.open("r+b") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
    except OSError as exc:
        raise UsageError(f"Копию {backup} нельзя прочитать или скопировать: {reason(exc)}.") from None
    try:
        with closing(sqlite3.connect(temp)) as conn:
            # Rollback-journal mode: the copy stays one self-contained file, no -wal beside it.
            conn.execute("PRAGMA journal_mode=DELETE")
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check(5)")]
            if problems != ["ok"]:
                raise UsageError(f"Копия {backup} повреждена ({problems[0]}); база не изменена.")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"alembic_version", "survey_sessions"} <= tables:
                raise UsageError(f"{backup} — база SQLite, но не копия базы Отклика.")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
            check_revision(revision, backup)
            (count,) = conn.execute(
                "SELECT count(*) FROM survey_sessions WHERE status = ?", (COMPLETED,)
            ).fetchone()
    except sqlite3.DatabaseError as exc:
        raise UsageError(
            f"Копия {backup} повреждена или это не база SQLite ({exc}); база не изменена."
        ) from None
    assert revision is not None
    return SqliteCopy(revision, int(count))


def _close_old_database(target: Path) -> None:
    """Bring the database being replaced to one file, with no -wal, -shm or -journal.

    Left behind, the old database's WAL would be replayed into the restored file on its first
    open (a WAL carries no id of the database it belongs to), and a hot -journal rolled back into
    it. Leaving WAL mode makes SQLite merge and delete them itself, and it is refused while any
    other connection has the file open (an `otklik export`, a console), which is then reported.
    A damaged old database is not opened: its companions are removed unread.
    """
    if target.stat().st_size > 0:
        try:
            with closing(sqlite3.connect(target, timeout=0.5)) as conn:
                conn.execute("PRAGMA journal_mode=DELETE").fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise UsageError(
                    f"База {target} открыта другой программой (otklik export, console и т. п.): "
                    "закройте ее и повторите; база не изменена."
                ) from None
        except sqlite3.DatabaseError:
            pass  # not a database any more: nothing in it or its companions is worth keeping
    for leftover in _companions(target):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def _settle(temp: Path) -> None:
    """The migrated copy as one file: whatever the migrations left in a -wal is merged into it
    (only the main file is renamed into place)."""
    try:
        with closing(sqlite3.connect(temp)) as conn:
            conn.execute("PRAGMA journal_mode=DELETE").fetchall()
    except sqlite3.Error as exc:
        raise UsageError(f"Копию после миграций не удалось записать ({exc}); база не изменена.") from None
    if any(path.exists() for path in _companions(temp)):
        raise UsageError("Копия после миграций не собрана в один файл; база не изменена.")


def _replace(temp: Path, target: Path) -> None:
    try:
        old = target.stat()
        if os.geteuid() == 0:
            os.chown(temp, old.st_uid, old.st_gid)  # run by root: the service's user keeps its file
        with temp.open("rb") as done:
            os.fsync(done.fileno())
        os.replace(temp, target)
        directory = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)
    except OSError as exc:
        raise UsageError(f"Базу {target} не удалось заменить: {reason(exc)}; база не изменена.") from None


# --- PostgreSQL -----------------------------------------------------------------------------------


async def _restore_postgresql(backup: Path, settings: Settings, *, yes: bool) -> int:
    url = make_url(settings.database.url)
    schema = settings.database.pg_schema or "public"
    for program in ("pg_restore", "psql"):
        if shutil.which(program) is None:
            raise UsageError(
                f"Для восстановления PostgreSQL нужна программа {program} (пакет postgresql-client)."
            )
    revision, dumped_schema = await asyncio.to_thread(_inspect_dump, backup)
    check_revision(revision, backup)
    if dumped_schema != schema:
        raise UsageError(
            f"Копия {backup} сделана из схемы {dumped_schema}, а в настройках — {schema} "
            "([database].pg_schema): восстановите ее с теми настройками, с которыми она сделана."
        )
    question = f"Восстановить базу {url.database} (схема {schema}) из копии {backup}?"
    if not confirm(question, yes=yes):
        return declined()
    await asyncio.to_thread(_pg_replay, backup, url, schema)
    # The copy may be of an older schema: bring it to this version's head now, not at the next start.
    storage = await open_storage(settings)
    await storage.close()
    _, head = known_revisions()
    print(
        f"База {url.database} (схема {schema}) восстановлена из копии {backup} (схема {revision}"
        + (f", обновлена до {head}" if head != revision else "")
        + "). Запустите службу: systemctl start otklik"
    )
    return 0


def _pg_env(url: URL) -> dict[str, str]:
    # The password goes through the environment: a command line is visible to every local user.
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return env


def _pg_restore(args: list[str], backup: Path) -> str:
    try:
        with backup.open("rb") as file:
            if file.read(len(PG_ARCHIVE_MAGIC)) != PG_ARCHIVE_MAGIC:
                raise UsageError(f"{backup} — не копия PostgreSQL (нужен файл pg_dump --format=custom).")
    except OSError as exc:
        raise UsageError(f"Копию {backup} нельзя прочитать: {reason(exc)}.") from None
    done = subprocess.run(
        ["pg_restore", *args, str(backup)], capture_output=True, text=True, encoding="utf-8", check=False
    )
    if done.returncode != 0:
        raise UsageError(_pg_restore_error(done.stderr, backup))
    return done.stdout


def _pg_restore_error(stderr: str, backup: Path) -> str:
    if "unsupported version" in stderr:
        version = subprocess.run(["pg_restore", "--version"], capture_output=True, text=True).stdout.strip()
        return (
            f"Копию {backup} сделал более новый pg_dump, чем установленный {version}: установите "
            "postgresql-client той же основной версии, что и сервер."
        )
    first = next((line for line in stderr.splitlines() if line.strip()), "")
    return f"Копия {backup} не читается ({first.strip()[:300]}); база не изменена."


def _inspect_dump(backup: Path) -> tuple[str | None, str]:
    """The schema revision stored in the dump and the schema its tables live in."""
    listing = _pg_restore(["--list"], backup)
    found = re.search(r"^\d+; \d+ \d+ TABLE (\S+) alembic_version(?: |$)", listing, re.M)
    if found is None:
        raise UsageError(f"{backup} — копия PostgreSQL, но не копия базы Отклика (нет alembic_version).")
    data = _pg_restore(["--data-only", "--table=alembic_version", "--file=-"], backup)
    rows = re.search(r"^COPY \S+ \(version_num\) FROM stdin;\n(.*?)^\\\.$", data, re.S | re.M)
    versions = rows.group(1).split() if rows else []
    return (versions[0] if versions else None), found.group(1)


def _pg_replay(backup: Path, url: URL, schema: str) -> None:
    """Empty the schema and replay the dump in one transaction (BEGIN … COMMIT through psql).

    pg_restore writes the dump as SQL (--clean --if-exists: it drops what it recreates, quietly
    when absent; --no-owner: objects belong to the configured user, the dump's owner may not
    exist here). Its own --single-transaction could not drop what the dump lacks, such as tables
    of a newer migration, which would make the later `migrate` fail: the schema is emptied first
    in the same transaction. A running service's locks make it give up after PG_LOCK_TIMEOUT.
    """
    quoted = '"' + schema.replace('"', '""') + '"'
    if schema == "public":
        # The public schema belongs to the database (owner, grants): empty it, do not drop it.
        prologue = (
            "DO $$ DECLARE t record; BEGIN FOR t IN SELECT tablename FROM pg_tables "
            "WHERE schemaname = 'public' LOOP EXECUTE format('DROP TABLE IF EXISTS public.%I CASCADE', "
            "t.tablename); END LOOP; END $$;\n"
        )
    else:
        prologue = f"DROP SCHEMA IF EXISTS {quoted} CASCADE;\n"
    command = [
        "psql", "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1",
        "--host", url.host or "127.0.0.1", "--port", str(url.port or 5432),
        "--username", url.username or "postgres", "--dbname", url.database or "postgres",
    ]  # fmt: skip
    head = f"SET LOCAL lock_timeout = '{PG_LOCK_TIMEOUT}';\n{prologue}".encode()
    returncode, stderr = _pipe_into_psql(command, head, backup, url)
    if returncode != 0:
        errors = [line for line in stderr.splitlines() if "ERROR" in line or "FATAL" in line]
        first = (errors or stderr.splitlines() or [""])[0].strip()
        if "lock timeout" in first:
            raise UsageError(
                "База занята запущенной службой: остановите ее (systemctl stop otklik) и повторите; "
                "база не изменена."
            )
        raise UsageError(f"Восстановление PostgreSQL не удалось ({first[:300]}); база не изменена.")


def _pipe_into_psql(command: list[str], head: bytes, backup: Path, url: URL) -> tuple[int, str]:
    """BEGIN, `head`, pg_restore's SQL streamed into psql (a dump may be larger than memory), and
    COMMIT only once pg_restore has finished well: a dump that breaks off part-way (a truncated
    file) ends psql's input without COMMIT, so nothing is kept.

    The programs' messages go to temporary files, not pipes: a pipe nobody reads while the dump
    is streamed would fill and stall both programs.
    """
    _pg_restore(["--list"], backup)  # a foreign or unreadable file fails here, before psql starts
    with tempfile.TemporaryFile() as psql_err, tempfile.TemporaryFile() as restore_err:
        psql = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_err, env=_pg_env(url)
        )
        restore = subprocess.Popen(
            ["pg_restore", "--clean", "--if-exists", "--no-owner", "--exit-on-error", "--file=-", str(backup)],
            stdout=subprocess.PIPE, stderr=restore_err,
        )  # fmt: skip
        assert psql.stdin is not None and restore.stdout is not None
        try:
            psql.stdin.write(b"BEGIN;\n" + head)
            shutil.copyfileobj(restore.stdout, psql.stdin, 1024 * 1024)
            restored = restore.wait()
            if restored == 0:
                psql.stdin.write(b"COMMIT;\n")
        except BrokenPipeError:
            restore.kill()  # psql stopped at an error: its message says why
        finally:
            restore.stdout.close()
            with contextlib.suppress(BrokenPipeError):
                psql.stdin.close()
        restored, replayed = restore.wait(), psql.wait()
        psql_err.seek(0)
        restore_err.seek(0)
        if replayed == 0 and restored != 0:  # psql saw no COMMIT: rolled back; pg_restore says why
            return restored, restore_err.read().decode("utf-8", "replace")
        return replayed, psql_err.read().decode("utf-8", "replace")
