"""The usual mistakes in the database address are one Russian line and exit 2: a SQLite path that
does not exist (read commands never create it), a PostgreSQL database or role that does not exist,
a wrong password, a URL scheme Otklik does not speak."""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import secrets
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli.main import build_parser, main
from tests.conftest import PG_URL, pg_skip_reason

CYRILLIC = re.compile("[а-яА-ЯёЁ]")
PASSWORD = "Pa55-word-never-shown"

# Every command that opens the database, with the arguments it needs. Only the commands that store
# answers (`migrate` and `run` first of all) may create a SQLite database.
READS: dict[str, list[str]] = {
    "export": ["--out", "all.csv"],
    "report": ["--quarter", "2025Q3", "--out", "r.xlsx"],
    "appendix2": ["--quarter", "2025Q3", "--unit", "1", "--out", "a2.xlsx"],
    "clients set": ["--quarter", "2025Q3", "--unit", "1", "--group", "1", "--channel", "онлайн", "4"],
    "clients show": ["--quarter", "2025Q3", "--unit", "1"],
    "qr": ["--point", "1", "--unit", "1", "--out", "qr.png"],
    "letter-footer": ["--bot", "--unit", "1"],
    "paper-form": ["--point", "1", "--out", "form.pdf"],
    "mailing create": ["--text", "Пройдите опрос", "--dry-run"],
    "mailing list": [],
    "mailing show": ["1"],
    "mailing pause": ["1"],
    "mailing resume": ["1"],
    "mailing cancel": ["1"],
    "consents export": [],
    "consents record": ["--external-id", "123", "--grant", "--by", "Иванова И.И."],
    "cases list": [],
    "cases show": ["1"],
    "cases export": ["--out", "cases.csv"],
    "dead-letters list": [],
    "dead-letters show": ["1"],
    "forget": ["--channel", "telegram", "--id", "123"],
    "backup": ["--out", "copy.db"],
}
CREATES = {"migrate", "run", "console", "paper", "import-paper"}
NO_DATABASE = {"questionnaire"}
# restore may bring back a lost database file; tests/bot/cli/test_restore.py covers it
REPLACES = {"restore"}


def leaf_commands(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from leaf_commands(sub, f"{prefix} {name}".strip())
            return
    yield prefix


def test_every_command_is_classified() -> None:
    # A new command must say whether it may create a database (and get a row in READS if not).
    assert set(leaf_commands(build_parser())) == set(READS) | CREATES | NO_DATABASE | REPLACES


def one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, (argv, captured.out, captured.err)
    assert len(lines) == 1 and CYRILLIC.search(lines[0]), (argv, captured.err)
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


@pytest.mark.parametrize("command", sorted(READS))
def test_a_read_command_on_a_missing_sqlite_path_is_refused_and_creates_nothing(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OTKLIK_TELEGRAM__BOT_USERNAME", "otklik_bot")  # qr and forms link to a bot
    missing = tmp_path / "typo" / "otklik.db"
    line = one_line(
        capsys, ["--database", f"sqlite+aiosqlite:///{missing}", *command.split(), *READS[command]]
    )
    assert str(missing) in line
    assert not (tmp_path / "typo").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no output file either


def test_a_relative_missing_path_is_named_in_full(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    line = one_line(capsys, ["--database", "sqlite+aiosqlite:///otklk.db", "export", "--out", "a.csv"])
    assert str(tmp_path / "otklk.db") in line
    assert list(tmp_path.iterdir()) == []


def test_commands_that_store_answers_create_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # interactive entry ends at once
    for argv in (["migrate"], ["paper", "--unit", "1"], ["console"]):
        db = tmp_path / argv[0] / "otklik.db"
        assert main(["--database", f"sqlite+aiosqlite:///{db}", *argv]) == 0, capsys.readouterr()
        assert db.is_file()
    capsys.readouterr()


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("mysql://otklik:{pw}@127.0.0.1/otklik", "mysql://"),
        ("postgresql+psycopg2://otklik:{pw}@127.0.0.1/otklik", "postgresql+psycopg2://"),
        ("sqlite+pysqlite:///otklik.db", "sqlite+pysqlite://"),
        ("otklik:{pw}@127.0.0.1/otklik", None),
    ],
)
def test_a_wrong_url_scheme_names_the_key(
    url: str, scheme: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = url.format(pw=PASSWORD)
    given = one_line(capsys, ["--database", url, "export", "--out", str(tmp_path / "a.csv")])
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    in_file = one_line(capsys, ["--config", str(config), "export", "--out", str(tmp_path / "a.csv")])
    assert given.startswith("--database: ")
    assert f"({config}): database.url: " in in_file
    for line in (given, in_file):
        assert PASSWORD not in line
        assert "sqlite+aiosqlite:///" in line and "postgresql+asyncpg://" in line
        if scheme is not None:
            assert f"схема «{scheme}» не поддерживается" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_driverless_sqlite_url_means_the_built_in_driver(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "plain.db"
    assert main(["--database", f"sqlite:///{db}", "migrate"]) == 0
    assert "sqlite+aiosqlite:///" in capsys.readouterr().out
    assert main(["--database", f"sqlite:///{db}", "export", "--out", str(tmp_path / "a.csv")]) == 0


def _pg() -> str:
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    return PG_URL


def _with(
    url: str, *, user: str | None = None, password: str | None = None, database: str | None = None
) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.set(
        username=user or parsed.username, password=password, database=database or parsed.database
    ).render_as_string(hide_password=False)


def test_driverless_postgresql_urls_mean_asyncpg(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _pg()
    schema = f"t_{secrets.token_hex(6)}"
    monkeypatch.setenv("OTKLIK_DATABASE__PG_SCHEMA", schema)
    try:
        for scheme in ("postgresql", "postgres"):
            url = scheme + "://" + base.split("://", 1)[1]
            assert main(["--database", url, "migrate"]) == 0, capsys.readouterr().err
            assert "postgresql+asyncpg://" in capsys.readouterr().out
    finally:
        from tests.conftest import _drop_schema

        asyncio.run(_drop_schema(schema))


def test_a_postgresql_database_that_does_not_exist_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name = f"otklik_missing_{secrets.token_hex(4)}"
    url = _with(_pg(), password=PASSWORD, database=name)
    for argv in (["migrate"], ["export", "--out", str(tmp_path / "a.csv")], ["mailing", "list"]):
        line = one_line(capsys, ["--database", url, *argv])
        assert f"базы «{name}» на сервере нет" in line and "[database].url" in line
        assert "127.0.0.1:5432" in line and PASSWORD not in line


def test_a_postgresql_role_that_does_not_exist_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    role = f"otklik_nobody_{secrets.token_hex(4)}"
    line = one_line(capsys, ["--database", _with(_pg(), user=role, password=PASSWORD), "migrate"])
    assert f"не пускает пользователя «{role}»" in line and "[database].url" in line
    assert "127.0.0.1:5432" in line and PASSWORD not in line


class RefusingPostgres:
    """A PostgreSQL server as far as the wire protocol's start goes: it declines SSL, asks for a
    clear-text password and answers it with the server's «password authentication failed»
    (ErrorResponse, SQLSTATE 28P01)."""

    def __init__(self) -> None:
        self.passwords: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    def __enter__(self) -> RefusingPostgres:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        ).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        asyncio.run_coroutine_threadsafe(self._server.wait_closed(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            length, code = struct.unpack("!ii", await reader.readexactly(8))
            if code == 80877103:  # SSLRequest: no SSL here; the startup message follows
                writer.write(b"N")
                length, code = struct.unpack("!ii", await reader.readexactly(8))
            await reader.readexactly(length - 8)  # user, database, … of the startup message
            writer.write(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
            await writer.drain()
            kind = await reader.readexactly(1)
            (size,) = struct.unpack("!i", await reader.readexactly(4))
            body = await reader.readexactly(size - 4)
            if kind == b"p":
                self.passwords.append(body.rstrip(b"\0"))
            fields = b"".join(
                tag + value.encode() + b"\0"
                for tag, value in (
                    (b"S", "FATAL"),
                    (b"V", "FATAL"),
                    (b"C", "28P01"),
                    (b"M", 'password authentication failed for user "otklik"'),
                )
            )
            payload = fields + b"\0"
            writer.write(b"E" + struct.pack("!i", len(payload) + 4) + payload)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def test_a_wrong_postgresql_password_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with RefusingPostgres() as server:
        url = f"postgresql+asyncpg://otklik:{PASSWORD}@127.0.0.1:{server.port}/otklik"
        line = one_line(capsys, ["--database", url, "migrate"])
    assert server.passwords == [PASSWORD.encode()]  # the client really got to the password step
    assert "неверный пароль пользователя «otklik»" in line and "[database].url" in line
    assert f"127.0.0.1:{server.port}/otklik" in line and PASSWORD not in line
