"""Engine creation, SQLite pragmas and Alembic migrations applied at start."""

from __future__ import annotations

import contextlib
import os
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.url import URL, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from storage.sqlite import driver as sqlite_driver

BUSY_TIMEOUT = 1.0  # seconds


# SQLite result codes (the primary code, the low byte of an extended one) after which the
# connection itself is suspect, not just the statement: opened read-only because the file was not
# writable at that moment (it stays read-only after the file is writable again), an I/O error,
# a file that could not be opened. Such a connection is discarded and the next one opened afresh.
SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN = 8, 10, 14
_REOPEN_CODES = frozenset({SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN})


def needs_new_connection(exc: BaseException) -> bool:
    """True if `exc` (a DBAPIError, or the driver's own error) means: open a new SQLite connection."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in _REOPEN_CODES


# Connections a process may hold outside transactions: the mailing's and the cases' leader locks.
HELD_CONNECTIONS = 2


class DatabaseUnavailable(Exception):
    """The database cannot be opened or reached; the message is safe to show (no password)."""


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def create_private(path: Path) -> bool:
    """Create an empty file readable by its owner only (0600, whatever the umask); False if it
    already exists. The database, its WAL and backups hold personal data (messenger ids, names)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, 0o600)  # a umask like 0o200 would otherwise leave it unwritable
    finally:
        os.close(fd)
    return True


def create_engine(
    url: str, *, pool_size: int = 5, schema: str | None = None, create: bool = True
) -> AsyncEngine:
    """An async engine; `schema` (PostgreSQL only) isolates a deployment or a test run.

    `create=False`: a SQLite file that does not exist is an error naming it, and neither it nor
    its folder is created (a mistyped path must not turn into an empty database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            path = Path(database).expanduser()
            if not create and not path.exists():
                raise DatabaseUnavailable(
                    f"Базы данных {path.absolute()} нет: проверьте путь в [database].url или --database "
                    "(новую базу создает otklik migrate)"
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailable(
                    f"База данных {safe_url(url)} недоступна: папку {path.parent} нельзя создать (errno {exc.errno})"
                ) from None
            # Before SQLite creates it: SQLite gives the -wal and -shm files the main file's mode.
            # If it cannot be created here, SQLite's own attempt fails with the clear message.
            with contextlib.suppress(OSError):
                create_private(path)
        engine = create_async_engine(
            url,
            async_creator=sqlite_driver.creator(database or ":memory:", BUSY_TIMEOUT),
            poolclass=StaticPool,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # No ping before each checkout (three round trips through the asyncpg adapter, more than a
    # whole answer's reads): a connection the server dropped fails its first statement, that
    # transaction is retried by the channel, and the disconnect invalidates every pooled
    # connection opened before it, so one failure clears them all.
    # `pool_size` is the number of connections for transactions (storage/postgresql/connections.py
    # keeps them open and makes transactions wait for one: an overflow connection would pay the
    # connection set-up and the preparation of every statement again). The overflow is for the
    # connections held by session-level locks for as long as a process leads (storage/locks.py),
    # so a leader never takes a transaction's place.
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=HELD_CONNECTIONS, pool_pre_ping=False)
    if schema is not None:
        if not schema.isidentifier():
            raise ValueError(f"bad schema name {schema!r}")

        def _search_path(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            cursor.execute(f'SET search_path TO "{schema}"')
            cursor.close()
            # Committed at once: if the connection's first transaction were rolled back (a failed
            # statement), SET would be undone with it and the connection would stay on `public`.
            dbapi_connection.commit()

        event.listen(engine.sync_engine, "connect", _search_path)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; NORMAL sync in WAL survives a killed process
    # (only an OS crash could lose the last commits). A lock held by another process is waited
    # for at most BUSY_TIMEOUT: the calls run inline in the event loop (storage/sqlite/driver.py).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
    cursor.close()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("storage").joinpath("migrations")))
    return config


def _upgrade(connection: Connection, revision: str, config: Config | None) -> None:
    config = config or alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise MigrationBroken(f"после миграции нарушены ссылки между таблицами: {broken[:3]}")


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def migrate(engine: AsyncEngine, revision: str = "head", *, config: Config | None = None) -> None:
    """Apply pending migrations (idempotent; migrations are additive, never destructive).

    `config`: another Alembic configuration (tests add revisions on top of the chain)."""
    try:
        async with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                # SQLite alters a table by copying it and dropping the old one. With foreign keys
                # enforced, that drop deletes every referencing row with ON DELETE CASCADE (all
                # answers of survey_sessions) or fails; the pragma is ignored inside a transaction.
                await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                await connection.commit()
            try:
                async with connection.begin():
                    if sqlite:
                        # The driver opens a transaction only before INSERT/UPDATE/DELETE, so each
                        # CREATE/ALTER would commit at once: a revision failing half-way would leave
                        # its first tables behind and fail again on the next try. SQLite's DDL is
                        # transactional once a transaction is open.
                        await connection.exec_driver_sql("BEGIN")
                    await connection.run_sync(_upgrade, revision, config)
            finally:
                if sqlite:
                    await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                    await connection.commit()
    except (OSError, SQLAlchemyError, MigrationBroken) as exc:
        raise DatabaseUnavailable(
            f"База данных {safe_url(str(engine.url))} недоступна: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    except Exception as exc:
        problem = _server_refusal(exc, make_url(str(engine.url)))
        if problem is None:
            raise
        raise DatabaseUnavailable(f"База данных {safe_url(str(engine.url))} недоступна: {problem}") from None


class MigrationBroken(Exception):
    """A migration left rows pointing at rows that do not exist."""


# SQLSTATEs a PostgreSQL server answers a connection attempt with when the address names a
# database or a role it does not have, or the password is wrong.
_REFUSALS = {
    "3D000": "базы «{database}» на сервере нет: создайте ее (createdb -O {user} {database}) "
    "или исправьте [database].url",
    "28000": "сервер не пускает пользователя «{user}»: такой роли нет (createuser {user}) "
    "или вход запрещен в pg_hba.conf; исправьте [database].url",
    "28P01": "неверный пароль пользователя «{user}»: исправьте пароль в [database].url",
}


def _server_refusal(exc: BaseException, url: URL) -> str | None:
    """The Russian reason for a refused PostgreSQL connection, None for anything else. asyncpg
    raises its own exceptions at connect (SQLAlchemy does not wrap them); SQLSTATE, not the
    server's message, which may be in the server's language."""
    seen: BaseException | None = exc
    while seen is not None:
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str) and state in _REFUSALS:
            return _REFUSALS[state].format(user=url.username or "?", database=url.database or "?")
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current_revision)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""
