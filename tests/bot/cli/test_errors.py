"""The command line refuses impossible values with one Russian line and exit code 2, before they
reach a report or the database, and never leaves a half-written file behind."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import resource
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli.main import build_parser, main
from reports.period import FIRST_DATE, LAST_DATE
from tests.conftest import PG_URL, REPO, Database, _drop_schema, pg_skip_reason

CYRILLIC = re.compile("[а-яА-ЯёЁ]")
HUGE = "99999999999999999999"
INT32_OVERFLOW = "3000000000"  # fits SQLite, overflows PostgreSQL INTEGER


@pytest.fixture
def _schema(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # A private PostgreSQL schema reaches the CLI through the environment, as in a deployment.
    if database.schema:
        monkeypatch.setenv("OTKLIK_DATABASE__PG_SCHEMA", database.schema)


def prepared(database: Database) -> Database:
    """The database with its schema created (as after `otklik migrate`)."""

    async def go() -> None:
        storage = await database.open()
        await storage.close()

    asyncio.run(go())
    return database


def refused(capsys: pytest.CaptureFixture[str], database: Database, *argv: str) -> str:
    """Run `otklik …` in this process; assert exit 2 and one Russian line; return the line."""
    code = main(["--database", database.url, *argv])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, (argv, captured.out, captured.err)
    assert len(lines) == 1 and CYRILLIC.search(lines[0]), (argv, captured.err)
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


def only_expected_files(folder: Path, expected: set[str]) -> None:
    names = {p.name for p in folder.iterdir()}
    assert names <= expected, f"left behind: {sorted(names - expected)}"


LONG = "x" * 300

CASES = [
    # dates and quarters outside 01.01.2000–31.12.2100
    (["export", "--from", "0001-01-01", "--out", "{out}/a.csv"], "--from: дата «0001-01-01» вне допустимого периода"),
    (["export", "--to", "9999-12-31", "--out", "{out}/a.csv"], "--to: дата «9999-12-31» вне допустимого периода"),
    (["export", "--from", "31.12.1999", "--out", "{out}/a.xlsx"], "--from: дата «31.12.1999» вне допустимого"),
    (["report", "--quarter", "9999Q4", "--out", "{out}/r.xlsx"], "--quarter: квартал «9999Q4» вне допустимого"),
    (["report", "--quarter", "0000Q1", "--out", "{out}/r.xlsx"], "--quarter: квартал «0000Q1» вне допустимого"),
    (["appendix2", "--quarter", "9999Q4", "--unit", "1", "--out", "{out}/a.xlsx"], "--quarter: квартал «9999Q4»"),
    (["clients", "show", "--quarter", "0000Q1", "--unit", "1"], "--quarter: квартал «0000Q1»"),
    # numbers that would overflow a database integer, or are negative
    (["clients", "set", "--quarter", "2025Q3", "--unit", "1", "--group", "1", "--channel", "online", HUGE],
     "ожидается целое число от 0 до 2147483647"),
    (["clients", "set", "--quarter", "2025Q3", "--unit", "1", "--group", "1", "--channel", "online", "-" + HUGE],
     "ожидается целое число от 0 до 2147483647"),
    (["clients", "set", "--quarter", "2025Q3", "--unit", "1", "--group", "1", "--channel", "online",
      INT32_OVERFLOW], "ожидается целое число от 0 до 2147483647"),
    (["clients", "set", "--quarter", "2025Q3", "--unit", "1", "--group", "1", "--channel", "online", "-1"],
     "ожидается целое число от 0 до 2147483647"),
    (["mailing", "show", HUGE], "НОМЕР: ожидается целое число от 1 до 2147483647"),
    (["mailing", "show", INT32_OVERFLOW], "НОМЕР: ожидается целое число от 1 до 2147483647"),
    (["mailing", "pause", HUGE], "НОМЕР: ожидается целое число от 1"),
    (["mailing", "resume", "-" + HUGE], "НОМЕР: не может быть отрицательным: ожидается целое число от 1"),
    (["mailing", "cancel", INT32_OVERFLOW], "НОМЕР: ожидается целое число от 1"),
    (["mailing", "create", "--text", "x", "--completed-before-days", HUGE], "--completed-before-days: ожидается"),
    (["mailing", "create", "--text", "x", "--at", "01.01.0001 00:00"], "вне допустимого периода"),
    (["mailing", "create", "--text", "x", "--at", "31.12.9999 23:59"], "вне допустимого периода"),
    # texts longer than their column (PostgreSQL VARCHAR)
    (["clients", "set", "--quarter", "2025Q3", "--unit", "1", "--group", "1", "--channel", "online", "5",
      "--by", LONG], "--by: не длиннее 64 символов"),
    (["console", "--user", LONG], "--user: не длиннее 64 символов"),
    (["forget", "--channel", "console", "--id", LONG], "--id: не длиннее 64 символов"),
    (["consents", "record", "--external-id", LONG, "--grant", "--by", "Иванова"], "--external-id: не длиннее 64"),
    (["letter-footer", "--unit", "1", "--label", LONG], "--label: не длиннее 200 символов"),
]  # fmt: skip


@pytest.mark.usefixtures("_schema")
@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_out_of_range_values_are_one_clear_line(
    database: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    line = refused(capsys, prepared(database), *[a.replace("{out}", str(out)) for a in argv])
    assert message in line
    only_expected_files(out, set())


@pytest.mark.usefixtures("_schema")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["clients", "show", "--quarter", "2025Q3", "--unit", "99"], "--unit: нет варианта «99» в вопросе"),
        (["clients", "set", "--quarter", "2025Q3", "--unit", "1", "--group", "1", "--channel", "почта", "5"],
         "--channel: ожидается online (онлайн) или offline (оффлайн), получено «почта»"),
    ],
)  # fmt: skip
def test_a_report_error_is_one_line_with_its_message(
    database: Database, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    # Raised inside reports/ (ReportError), shown by the CLI as its own usage errors are.
    assert message in refused(capsys, prepared(database), *argv)


@pytest.mark.usefixtures("_schema")
def test_values_at_the_bounds_are_accepted(
    database: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = prepared(database)
    args = ["--database", db.url]
    assert (
        main(
            [*args, "export", "--from", "2000-01-01", "--to", "31.12.2100", "--out", str(tmp_path / "a.csv")]
        )
        == 0
    )
    assert main([*args, "report", "--quarter", "2100q4", "--out", str(tmp_path / "r.xlsx")]) == 0
    clients = ["clients", "set", "--quarter", "2000Q1", "--unit", "1", "--group", "1", "--channel", "online"]
    assert main([*args, *clients, "2147483647", "--by", "б" * 64]) == 0
    assert main([*args, "clients", "show", "--quarter", "2000Q1", "--unit", "1"]) == 0
    assert "2147483647" in capsys.readouterr().out
    assert main([*args, "mailing", "create", "--text", "x", "--at", "31.12.2100 23:59"]) == 0
    assert main([*args, "mailing", "show", "1"]) == 0
    assert "Рассылка №1" in capsys.readouterr().out


@pytest.mark.usefixtures("_schema")
def test_argparse_mistakes_are_one_russian_line(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "не заданы обязательные параметры: --quarter, --out" in refused(capsys, database, "report")
    assert "нет варианта 'nosuch'" in refused(capsys, database, "nosuch")
    assert "ожидается целое число, получено «abc»" in refused(capsys, database, "mailing", "show", "abc")
    assert "непонятные параметры: --bogus" in refused(capsys, database, "mailing", "list", "--bogus")
    # Bytes that are not UTF-8 (a terminal in another encoding) arrive as lone surrogates.
    assert "не в кодировке UTF-8" in refused(
        capsys, database, "forget", "--channel", "console", "--id", "\udcff"
    )
    assert "не в кодировке UTF-8" in refused(
        capsys, database, "consents", "record", "--respondent", "r", "--by", "\udcfe", "--grant"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql+asyncpg://postgres@127.0.0.1:99999999/test",
            "database.url: порт 99999999 вне диапазона",
        ),
        ("postgresql+asyncpg://postgres@127.0.0.1:abc/test", "database.url: адрес базы не разбирается"),
        ("sqlite+aiosqlite:////proc/no/such/o.db", "папку /proc/no/such нельзя создать"),
    ],
)
def test_impossible_database_address_is_one_line(
    capsys: pytest.CaptureFixture[str], url: str, message: str
) -> None:
    line = refused(capsys, Database("sqlite", url, None), "migrate")
    assert message in line


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """A folder nobody may create files in, root included (root ignores permission bits)."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o700)
        return
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False).returncode != 0:
        pytest.skip("root without chattr +i on this file system: cannot make a folder unwritable")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


@pytest.mark.usefixtures("_schema")
def test_outputs_into_an_unwritable_folder_are_refused_and_nothing_is_left(
    database: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = prepared(database)
    monkeypatch.setenv("OTKLIK_TELEGRAM__BOT_USERNAME", "otklik_bot")  # qr needs a bot to link to
    folder = tmp_path / "locked"
    folder.mkdir()
    with unwritable(folder):
        for argv in (
            ["backup", "--out", str(folder / "copy.db")],
            ["backup", "--out", str(folder / "new" / "copy.db")],
            ["export", "--out", str(folder / "a.csv")],
            ["export", "--out", str(folder / "a.xlsx")],
            ["report", "--quarter", "2025Q3", "--out", str(folder / "r.xlsx")],
            ["appendix2", "--quarter", "2025Q3", "--unit", "1", "--out", str(folder / "a.xlsx")],
            ["consents", "export", "-o", str(folder / "c.csv")],
            ["qr", "--point", "1", "--unit", "1", "--out", str(folder / "qr")],
            [
                "report",
                "--quarter",
                "2025Q3",
                "--out",
                str(tmp_path / "r.xlsx"),
                "--charts-dir",
                str(folder / "c"),
            ],
        ):
            if db.kind == "postgresql" and argv[0] == "backup" and not _has_pg_dump():
                continue
            assert "нет прав на запись" in refused(capsys, db, *argv)
            only_expected_files(folder, set())
    assert not (tmp_path / "r.xlsx").exists()


@pytest.mark.usefixtures("_schema")
def test_outputs_into_a_missing_folder_are_refused_and_nothing_is_created(
    database: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = prepared(database)
    missing = tmp_path / "no" / "such"
    for argv in (
        ["export", "--out", str(missing / "a.csv")],
        ["report", "--quarter", "2025Q3", "--out", str(missing / "r.xlsx")],
        ["consents", "export", "-o", str(missing / "c.csv")],
    ):
        assert f"папка {missing} не существует" in refused(capsys, db, *argv)
    assert not (tmp_path / "no").exists()
    (tmp_path / "file").write_text("x")
    # backup creates missing folders (dated folders from cron), but not under a file
    assert "папку" in refused(capsys, db, "backup", "--out", str(tmp_path / "file" / "sub" / "copy.db"))
    assert "в пути есть файл" in refused(capsys, db, "report", "--quarter", "2025Q3", "--out", str(tmp_path / "r.xlsx"), "--charts-dir", str(tmp_path / "file" / "charts"))  # fmt: skip
    assert "это файл, а нужна папка" in refused(capsys, db, "report", "--quarter", "2025Q3", "--out", str(tmp_path / "r.xlsx"), "--charts-dir", str(tmp_path / "file"))  # fmt: skip
    assert not (tmp_path / "r.xlsx").exists()


def _has_pg_dump() -> bool:
    import shutil

    return shutil.which("pg_dump") is not None


def _limit_file_size(limit: int) -> None:
    # A real write failure part-way through a file (as on a full disk): writes past `limit`
    # bytes fail with EFBIG (Python ignores SIGXFSZ).
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def cli(
    *argv: str, env: dict[str, str] | None = None, limit: int | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli.main", *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env=env,
        preexec_fn=None if limit is None else lambda: _limit_file_size(limit),
    )


def test_backup_that_fails_part_way_leaves_no_partial_copy(tmp_path: Path) -> None:
    db = prepared(Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'o.db'}", None))
    out = tmp_path / "copies"
    out.mkdir()
    # The database (≈120 KB) and its 32 KB shared-memory file fit; the copy does not.
    done = cli("--database", db.url, "backup", "--out", str(out / "copy.db"), limit=64 * 1024)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Копия базы" in lines[0] and "файл копии не создан" in lines[0]
    assert "Traceback" not in done.stderr
    only_expected_files(out, set())
    again = cli("--database", db.url, "backup", "--out", str(out / "copy.db"))
    assert again.returncode == 0, again.stderr
    only_expected_files(out, {"copy.db"})


def test_export_that_fails_part_way_leaves_no_partial_file(tmp_path: Path) -> None:
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)  # on SQLite the size limit would hit the database file first
    db = prepared(Database("postgresql", PG_URL, f"t_{secrets.token_hex(6)}"))
    env = {**os.environ, "OTKLIK_DATABASE__PG_SCHEMA": str(db.schema)}
    out = tmp_path / "out"
    out.mkdir()
    try:
        for name in ("a.csv", "a.xlsx"):
            done = cli("--database", db.url, "export", "--out", str(out / name), env=env, limit=1000)
            assert done.returncode == 2, done.stderr
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and "файл больше допустимого размера; файл не создан" in lines[0], (
                done.stderr
            )
            only_expected_files(out, set())
    finally:
        asyncio.run(_drop_schema(str(db.schema)))


DATE_LIKE = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\A-?[0-9]{1,6}-[0-9]{1,3}-[0-9]{1,3}\Z"),
    st.from_regex(r"\A[0-9]{1,3}\.[0-9]{1,3}\.-?[0-9]{1,6}\Z"),
)
QUARTER_LIKE = st.one_of(st.text(max_size=12), st.from_regex(r"\A[0-9]{1,5}[QqКк][0-9]\Z"))
INT_LIKE = st.one_of(st.text(max_size=30), st.integers().map(str), st.from_regex(r"\A-?[0-9]{1,40}\Z"))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(day=DATE_LIKE, quarter=QUARTER_LIKE, number=INT_LIKE)
def test_any_typed_value_is_parsed_into_range_or_refused_in_one_line(
    day: str, quarter: str, number: str
) -> None:
    """Whatever is typed, the parser either yields a value a report and the database can take or
    refuses it in one Russian line with exit 2: no value out of range gets past it."""
    parser = build_parser()
    for argv, check in (
        (["export", "--from", day, "--out", "x.csv"], lambda a: FIRST_DATE <= a.date_from <= LAST_DATE),
        (["report", "--quarter", quarter, "--out", "r.xlsx"], lambda a: 2000 <= int(a.quarter[:4]) <= 2100),
        (["mailing", "show", number], lambda a: 1 <= a.id <= 2**31 - 1),
        (
            ["clients", "show", "--quarter", quarter, "--unit", "1"],
            lambda a: re.fullmatch(r"\d{4}Q[1-4]", a.quarter),
        ),
    ):
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                args = parser.parse_args(argv)
        except SystemExit as exc:
            lines = stderr.getvalue().strip().splitlines()
            assert exc.code == 2 and len(lines) == 1 and CYRILLIC.search(lines[0]), (argv, stderr.getvalue())
            assert "Traceback" not in stderr.getvalue()
        else:
            assert check(args), argv
