"""`otklik backup` then `otklik restore`: every table comes back as it was, on SQLite and PostgreSQL,
and a restore that must not happen (service running, corrupt or foreign file, newer schema) is
refused in one line with the database untouched."""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import stat
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update

from bot.cli.main import main
from bot.core import texts
from bot.core.conversation import Conversation, Layout
from bot.runtime.single_process import ProcessLock
from storage import mailing as store
from storage.db import head_revision
from storage.schema import campaigns, consents, metadata, respondents
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.conftest import CONSENT, PG_URL, REPO, Database, pg_skip_reason
from tests.fakes.chat import Chat
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import AUDIENCE_QUESTIONS, IN_PERSON_PROVIDED

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
Snapshot = dict[str, list[tuple[Any, ...]]]


def write_config(database: Database, folder: Path) -> Path:
    config = folder / "config.toml"
    schema = f'pg_schema = "{database.schema}"\n' if database.schema else ""
    config.write_text(f'[database]\nurl = "{database.url}"\n{schema}')
    return config


def cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


async def seed(storage: Storage, questionnaire: Questionnaire, user: str) -> None:
    """A questionnaire completed through the Conversation with a consent, and a campaign."""
    chat = Chat(Conversation(storage, questionnaire, CONSENT, layout=Layout(page_size=8)), user=user)
    await chat.start()
    for answer in IN_PERSON_PROVIDED:
        await chat.text(answer)
    await chat.press(texts.CONSENT_YES)
    async with storage.transaction() as conn:
        await store.create_campaign(
            conn, questions=AUDIENCE_QUESTIONS, text=f"Приглашение {user}",
            audience=store.Audience(channel="test"),
            scheduled_at=T0 + timedelta(days=1), created_by="admin", now=T0,
        )  # fmt: skip


async def snapshot(database: Database) -> Snapshot:
    """Every row of every table the code declares, and the schema revision."""
    storage = await database.open()
    try:
        async with storage.transaction() as conn:
            rows = {
                table.name: [tuple(r) for r in await conn.execute(select(table).order_by(*table.primary_key))]
                for table in metadata.sorted_tables
            }
            rows["alembic_version"] = [
                tuple(r) for r in await conn.execute(text("SELECT * FROM alembic_version"))
            ]
    finally:
        await storage.close()
    return rows


async def change_everything(database: Database, questionnaire: Questionnaire) -> None:
    """After the backup: a new questionnaire, a deleted campaign, an edited consent, a new table."""
    storage = await database.open()
    try:
        await seed(storage, questionnaire, "after-backup")
        async with storage.transaction() as conn:
            await conn.execute(delete(campaigns).where(campaigns.c.text == "Приглашение before"))
            await conn.execute(update(consents).values(method="changed"))
            await conn.execute(update(respondents).values(name="Изменено"))
            await conn.execute(text("CREATE TABLE added_later (x INTEGER)"))  # as a newer migration would
    finally:
        await storage.close()


def test_backup_change_restore_gives_back_every_row(
    database: Database, questionnaire: Questionnaire, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if database.kind == "postgresql" and not _has_pg_tools():
        pytest.skip("pg_dump/pg_restore/psql not installed")
    config = write_config(database, tmp_path)

    async def prepare() -> Snapshot:
        storage = await database.open()
        try:
            await seed(storage, questionnaire, "before")
        finally:
            await storage.close()
        return await snapshot(database)

    before = asyncio.run(prepare())
    assert before["answers"] and before["consents"] and before["campaigns"] and before["survey_sessions"]
    copy = tmp_path / "copies" / "otklik.backup"
    assert cli(config, "backup", "--out", str(copy)) == 0
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600

    asyncio.run(change_everything(database, questionnaire))
    assert asyncio.run(snapshot(database)) != before

    capsys.readouterr()
    assert cli(config, "restore", str(copy), "--yes") == 0
    out = capsys.readouterr().out
    assert "восстановлена" in out and "systemctl start otklik" in out
    assert asyncio.run(snapshot(database)) == before

    async def usable_after() -> list[str]:
        storage = await database.open()
        try:
            await seed(storage, questionnaire, "after-restore")  # ids continue after the restored ones
            async with storage.transaction() as conn:
                tables = await conn.run_sync(lambda c: c.dialect.get_table_names(c))
        finally:
            await storage.close()
        return list(tables)

    assert "added_later" not in asyncio.run(usable_after())
    if database.kind == "sqlite":
        assert stat.S_IMODE(Path(database.url.split("///", 1)[1]).stat().st_mode) == 0o600


def _has_pg_tools() -> bool:
    import shutil

    return all(shutil.which(p) for p in ("pg_dump", "pg_restore", "psql"))


# --- SQLite -------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_copy(tmp_path: Path, questionnaire: Questionnaire) -> tuple[Database, Path, Path, Snapshot]:
    """A seeded SQLite database, a backup of it and the database's snapshot."""
    target = tmp_path / "db" / "otklik.db"
    target.parent.mkdir()
    database = Database("sqlite", f"sqlite+aiosqlite:///{target}", None)

    async def prepare() -> Snapshot:
        storage = await database.open()
        try:
            await seed(storage, questionnaire, "before")
        finally:
            await storage.close()
        return await snapshot(database)

    before = asyncio.run(prepare())
    config = write_config(database, tmp_path)
    copy = tmp_path / "copy.db"
    assert cli(config, "backup", "--out", str(copy)) == 0
    return database, config, copy, before


def refused(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> str:
    capsys.readouterr()
    assert cli(config, "restore", *args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_sqlite_restore_refused_while_the_service_guard_holds_the_file(
    sqlite_copy: tuple[Database, Path, Path, Snapshot], questionnaire: Questionnaire,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    database, config, copy, before = sqlite_copy
    asyncio.run(change_everything(database, questionnaire))
    changed = asyncio.run(snapshot(database))
    target = Path(database.url.split("///", 1)[1])

    lock = ProcessLock(target)  # what `otklik run` takes, held in this process
    lock.acquire()
    try:
        message = refused(capsys, config, str(copy), "--yes")
    finally:
        lock.release()
    assert "используется запущенной службой otklik run" in message and "systemctl stop otklik" in message

    holder = subprocess.Popen(  # the guard held by another process: its PID is named
        [sys.executable, "-c", "import sys, time\nfrom bot.runtime.single_process import ProcessLock\n"
         f"ProcessLock(__import__('pathlib').Path({str(target)!r})).acquire()\nprint('held', flush=True)\n"
         "time.sleep(60)"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        message = refused(capsys, config, str(copy), "--yes")
        assert f"PID {holder.pid}" in message
    finally:
        holder.kill()
        holder.wait()

    with closing(sqlite3.connect(target)) as other:  # another program reading it (a console, an export)
        other.execute("SELECT count(*) FROM answers").fetchall()
        message = refused(capsys, config, str(copy), "--yes")
        assert "открыта другой программой" in message
    assert asyncio.run(snapshot(database)) == changed  # nothing replaced by a refused restore
    assert cli(config, "restore", str(copy), "--yes") == 0
    assert asyncio.run(snapshot(database)) == before


def test_sqlite_restore_refuses_bad_copies_and_keeps_the_database(
    sqlite_copy: tuple[Database, Path, Path, Snapshot], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database, config, copy, before = sqlite_copy
    assert "нет" in refused(capsys, config, str(tmp_path / "missing.db"), "--yes")
    assert "папка" in refused(capsys, config, str(tmp_path), "--yes")

    foreign = tmp_path / "notes.txt"
    foreign.write_text("не база\n" * 100)
    assert "не копия базы SQLite" in refused(capsys, config, str(foreign), "--yes")

    other = tmp_path / "other.db"  # a SQLite database, but not Otklik's
    with closing(sqlite3.connect(other)) as conn, conn:
        conn.execute("CREATE TABLE t (x)")
    assert "не копия базы Отклика" in refused(capsys, config, str(other), "--yes")

    corrupt = tmp_path / "corrupt.db"
    data = bytearray(copy.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for number in range(2, len(data) // page):  # every page but the header page overwritten
        data[number * page : number * page + 64] = b"\xa5" * 64
    corrupt.write_bytes(bytes(data))
    assert "повреждена" in refused(capsys, config, str(corrupt), "--yes")

    newer = tmp_path / "newer.db"
    newer.write_bytes(copy.read_bytes())
    with closing(sqlite3.connect(newer)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    message = refused(capsys, config, str(newer), "--yes")
    assert (
        "более новой версией Отклика" in message
        and "9999_future" in message
        and str(head_revision()) in message
    )

    # No terminal and no --yes: refused, nothing asked.
    assert "--yes" in refused(capsys, config, str(copy))
    assert asyncio.run(snapshot(database)) == before
    leftovers = sorted(p.name for p in Path(database.url.split("///", 1)[1]).parent.iterdir())
    assert leftovers == ["otklik.db"]  # no temporary file left by the refusals


def test_sqlite_restore_drops_the_old_databases_stale_wal(
    sqlite_copy: tuple[Database, Path, Path, Snapshot], questionnaire: Questionnaire
) -> None:
    """A WAL left by a crashed service belongs to the old file: replayed into the restored one, it
    would bring back changed rows or corrupt it."""
    database, config, copy, before = sqlite_copy
    target = Path(database.url.split("///", 1)[1])
    asyncio.run(change_everything(database, questionnaire))
    with closing(sqlite3.connect(target)) as conn:
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("UPDATE respondents SET name = 'из журнала'")
        conn.commit()
        wal = Path(f"{target}-wal").read_bytes()  # as a killed process leaves it: frames not checkpointed
        shm = Path(f"{target}-shm").read_bytes()
    Path(f"{target}-wal").write_bytes(wal)
    Path(f"{target}-shm").write_bytes(shm)
    assert cli(config, "restore", str(copy), "--yes") == 0
    assert asyncio.run(snapshot(database)) == before
    with closing(sqlite3.connect(target)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_sqlite_restore_through_a_symlink_keeps_link_owner_and_mode(
    sqlite_copy: tuple[Database, Path, Path, Snapshot], questionnaire: Questionnaire, tmp_path: Path
) -> None:
    """Configured through a symlink: the real file is replaced, the link stays; run by root, the
    restored file keeps the old file's owner (the service's user can still open it)."""
    database, _, copy, before = sqlite_copy
    real = Path(database.url.split("///", 1)[1])
    asyncio.run(change_everything(database, questionnaire))
    link = tmp_path / "link.db"
    link.symlink_to(real)
    linked = Database("sqlite", f"sqlite+aiosqlite:///{link}", None)
    config = write_config(linked, tmp_path / "db")
    if os.geteuid() == 0:
        os.chown(real, 4242, 4343)
    assert cli(config, "restore", str(copy), "--yes") == 0
    assert link.is_symlink() and link.resolve() == real
    assert asyncio.run(snapshot(database)) == before
    info = real.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    if os.geteuid() == 0:
        assert (info.st_uid, info.st_gid) == (4242, 4343)


def test_sqlite_restore_asks_on_a_terminal(
    sqlite_copy: tuple[Database, Path, Path, Snapshot], questionnaire: Questionnaire,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    database, config, copy, before = sqlite_copy
    asyncio.run(change_everything(database, questionnaire))
    changed = asyncio.run(snapshot(database))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    answers = iter(["нет", "да"])
    prompts: list[str] = []
    monkeypatch.setattr("builtins.input", lambda prompt: (prompts.append(prompt), next(answers))[1])
    assert cli(config, "restore", str(copy)) == 1
    assert "заполненных анкет в копии: 1" in prompts[0] and str(copy) in prompts[0]
    assert "база не изменена" in capsys.readouterr().out
    assert asyncio.run(snapshot(database)) == changed
    assert cli(config, "restore", str(copy)) == 0
    assert asyncio.run(snapshot(database)) == before


# --- PostgreSQL -----------------------------------------------------------------------------------


@pytest.fixture
def pg_copy(database: Database, questionnaire: Questionnaire, tmp_path: Path) -> tuple[Database, Path, Path]:
    if database.kind != "postgresql":
        pytest.skip("PostgreSQL only")
    if not _has_pg_tools():
        pytest.skip("pg_dump/pg_restore/psql not installed")

    async def prepare() -> None:
        storage = await database.open()
        try:
            await seed(storage, questionnaire, "before")
        finally:
            await storage.close()

    asyncio.run(prepare())
    config = write_config(database, tmp_path)
    copy = tmp_path / "pg.dump"
    assert cli(config, "backup", "--out", str(copy)) == 0
    return database, config, copy


def test_pg_restore_password_only_in_the_environment(
    pg_copy: tuple[Database, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database, _, copy = pg_copy
    url = database.url.replace("postgres@", "postgres:s3cret-pw@")  # the test server trusts 127.0.0.1
    config = tmp_path / "with-password.toml"
    config.write_text(f'[database]\nurl = "{url}"\npg_schema = "{database.schema}"\n')
    calls: list[tuple[list[str], dict[str, str] | None]] = []
    real_run, real_popen = subprocess.run, subprocess.Popen

    def spy_run(command: list[str], *args: Any, **kwargs: Any) -> Any:
        calls.append((list(command), kwargs.get("env")))
        return real_run(command, *args, **kwargs)

    def spy_popen(command: list[str], *args: Any, **kwargs: Any) -> Any:
        calls.append((list(command), kwargs.get("env")))
        return real_popen(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy_run)
    monkeypatch.setattr(subprocess, "Popen", spy_popen)
    assert cli(config, "restore", str(copy), "--yes") == 0
    psql = [(c, env) for c, env in calls if c[0] == "psql"]
    assert psql and all(env and env["PGPASSWORD"] == "s3cret-pw" for _, env in psql)
    assert not any("s3cret" in " ".join(c) for c, _ in calls)
    assert any(
        c[:1] == ["pg_restore"] and {"--clean", "--if-exists", "--no-owner"} <= set(c) for c, _ in calls
    )


def test_pg_restore_of_a_truncated_dump_keeps_the_database(
    pg_copy: tuple[Database, Path, Path], questionnaire: Questionnaire, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The table of contents is whole, the data breaks off: the schema was already emptied in the
    transaction when the stream ends, and nothing of it is committed."""
    database, config, copy = pg_copy
    asyncio.run(change_everything(database, questionnaire))
    changed = asyncio.run(snapshot(database))
    truncated = tmp_path / "truncated.dump"
    data = copy.read_bytes()
    truncated.write_bytes(data[: len(data) * 3 // 4])
    capsys.readouterr()
    assert cli(config, "restore", str(truncated), "--yes") == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "база не изменена" in err, err
    assert asyncio.run(snapshot(database)) == changed


def test_pg_restore_refusals_are_one_line(
    pg_copy: tuple[Database, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    database, config, copy = pg_copy
    before = asyncio.run(snapshot(database))

    sqlite_file = tmp_path / "x.db"
    with closing(sqlite3.connect(sqlite_file)) as conn, conn:
        conn.execute("CREATE TABLE t (x)")
    assert "не копия PostgreSQL" in refused(capsys, config, str(sqlite_file), "--yes")

    newer_tool = tmp_path / "newer.dump"  # the header of a dump made by a newer pg_dump
    data = bytearray(copy.read_bytes())
    data[6] = 99  # archive format minor version
    newer_tool.write_bytes(bytes(data))
    assert "более новый pg_dump" in refused(capsys, config, str(newer_tool), "--yes")

    elsewhere = tmp_path / "elsewhere.toml"  # a copy of one schema restored with another configured
    elsewhere.write_text(f'[database]\nurl = "{database.url}"\npg_schema = "t_other_schema"\n')
    assert "сделана из схемы" in refused(capsys, elsewhere, str(copy), "--yes")

    monkeypatch.setenv("PATH", str(tmp_path))  # no postgresql-client
    assert "pg_restore (пакет postgresql-client)" in refused(capsys, config, str(copy), "--yes")
    monkeypatch.undo()
    assert asyncio.run(snapshot(database)) == before


def test_pg_restore_waits_no_longer_than_the_lock_timeout_for_a_running_service(
    pg_copy: tuple[Database, Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    database, config, copy = pg_copy
    monkeypatch.setattr("bot.cli.restore.PG_LOCK_TIMEOUT", "1s")

    async def hold_and_restore() -> str:
        storage = await database.open()
        try:
            async with storage.transaction() as conn:  # a service in the middle of a write
                await conn.execute(update(respondents).values(name="в работе"))
                return await asyncio.to_thread(refused, capsys, config, str(copy), "--yes")
        finally:
            await storage.close()

    assert "остановите ее" in asyncio.run(hold_and_restore())


def test_documented_weekly_restore_check_needs_no_token(tmp_path: Path) -> None:
    """The cron line of docs/deploy.md, run as written (system paths moved under tmp_path) with a
    Telegram channel enabled and no token: a good copy passes quietly, a corrupt one is reported."""
    page = (REPO / "docs/deploy.md").read_text(encoding="utf-8")
    line = next(x for x in page.splitlines() if x.startswith("45 3 * * 0 otklik "))
    command = line.removeprefix("45 3 * * 0 otklik ")
    for path in ("/var/backups/otklik", "/var/lib/otklik", "/etc/otklik"):
        command = command.replace(path, f"{tmp_path}{path}")
    command = command.replace("/opt/otklik/venv/bin/otklik", f"{sys.executable} -m bot.cli.main")
    for folder in ("var/backups/otklik", "var/lib/otklik", "etc/otklik"):
        (tmp_path / folder).mkdir(parents=True)
    live = tmp_path / "var/lib/otklik/otklik.db"
    (tmp_path / "etc/otklik/config.toml").write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{live}"\n[telegram]\nenabled = true\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTKLIK_")}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "--config", str(tmp_path / "etc/otklik/config.toml"), "migrate"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    good = tmp_path / "var/backups/otklik/otklik-2025-01-01.db"
    good.write_bytes(live.read_bytes())

    def cron() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", "-c", command], cwd=REPO, env=env, capture_output=True, text=True)

    done = cron()
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert sorted(p.name for p in (tmp_path / "var/lib/otklik").iterdir()) == ["otklik.db"]

    corrupt = tmp_path / "var/backups/otklik/otklik-2025-01-02.db"  # the newest copy is damaged
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\xa5" * 8192)
    os.utime(corrupt, (good.stat().st_mtime + 60,) * 2)
    done = cron()
    assert done.stdout == "" and "повреждена" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in (tmp_path / "var/lib/otklik").iterdir()) == ["otklik.db"]


def test_pg_restore_of_a_whole_database_without_pg_schema(
    questionnaire: Questionnaire, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No pg_schema: the tables live in `public` of their own database (a scratch database here,
    the shared test database is not touched)."""
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    if not _has_pg_tools():
        pytest.skip("pg_dump/pg_restore/psql not installed")
    name = f"otklik_restore_{secrets.token_hex(4)}"
    admin = [
        "psql",
        "--no-psqlrc",
        "--quiet",
        "--host",
        "127.0.0.1",
        "--username",
        "postgres",
        "--dbname",
        "test",
    ]
    subprocess.run([*admin, "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    try:
        database = Database("postgresql", PG_URL.rsplit("/", 1)[0] + f"/{name}", None)
        config = write_config(database, tmp_path)

        async def prepare() -> Snapshot:
            storage = await database.open()
            try:
                await seed(storage, questionnaire, "before")
            finally:
                await storage.close()
            return await snapshot(database)

        before = asyncio.run(prepare())
        copy = tmp_path / "whole.dump"
        assert cli(config, "backup", "--out", str(copy)) == 0
        asyncio.run(change_everything(database, questionnaire))
        assert cli(config, "restore", str(copy), "--yes") == 0, capsys.readouterr().err
        assert asyncio.run(snapshot(database)) == before
        done = subprocess.run(
            [*admin[:-1], name, "-Atc", "SELECT count(*) FROM pg_tables WHERE tablename = 'added_later'"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        assert done.stdout.strip() == "0"
    finally:
        subprocess.run([*admin, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)


def test_sqlite_restore_of_a_lost_database_file(
    sqlite_copy: tuple[Database, Path, Path, Snapshot], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The database file is gone (deleted, disk replaced): declined, nothing is left behind;
    confirmed, the copy becomes the database."""
    database, config, copy, before = sqlite_copy
    target = Path(database.url.split("///", 1)[1])
    for path in (target, *(Path(f"{target}{suffix}") for suffix in ("-wal", "-shm"))):
        path.unlink(missing_ok=True)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "нет")
    assert cli(config, "restore", str(copy)) == 1
    assert list(target.parent.iterdir()) == []
    assert cli(config, "restore", str(copy), "--yes") == 0
    assert asyncio.run(snapshot(database)) == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["otklik.db"]


async def test_sqlite_restore_refused_while_otklik_run_serves_the_database(
    sqlite_copy: tuple[Database, Path, Path, Snapshot], tmp_path: Path
) -> None:
    database, _, copy, _ = sqlite_copy
    fake = await FakeTelegram().start()
    config = tmp_path / "service.toml"
    config.write_text(
        f'[database]\nurl = "{database.url}"\n'
        f'[telegram]\nenabled = true\ntoken = "{fake.token}"\napi_server = "{fake.base_url}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTKLIK_")}
    service = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli.main", "--config", str(config), "run", cwd=REPO, env=env
    )
    try:
        await fake.wait_for(lambda: any(m == "getUpdates" for m, _ in fake.calls), timeout=30)
        restore = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli.main", "--config", str(config), "restore", str(copy), "--yes",
            cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(restore.communicate(), 60)
        assert restore.returncode == 2 and out == b""
        message = err.decode()
        assert len(message.strip().splitlines()) == 1, message
        assert f"otklik run (PID {service.pid})" in message and "systemctl stop otklik" in message
    finally:
        service.terminate()
        await service.wait()
        await fake.stop()
