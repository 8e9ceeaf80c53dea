"""`otklik mailing …` and `otklik consents export`: output, and clear errors with exit code 2."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest

from bot.cli.main import main
from tests.bot.mailing.conftest import FIRST_CHAT, seed
from tests.conftest import Database
from tests.helpers import AUDIENCE_QUESTIONS


def run(database: Database, *argv: str) -> list[str]:
    return ["--database", database.url, *argv]


@pytest.fixture(autouse=True)
def _schema(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # A private PostgreSQL schema reaches the CLI through the environment, as in a deployment.
    if database.schema:
        monkeypatch.setenv("OTKLIK_DATABASE__PG_SCHEMA", database.schema)


def _seed(database: Database) -> None:
    async def go() -> None:
        storage = await database.open()
        try:
            await seed(storage, 4, withdrawn=[FIRST_CHAT])
        finally:
            await storage.close()

    asyncio.run(go())


def test_create_list_show_pause_resume_cancel(
    database: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _seed(database)
    assert main(run(database, "mailing", "create", "--text", "Привет, {name}", "--dry-run")) == 0
    assert "получат: 3" in capsys.readouterr().out
    assert main(run(database, "mailing", "list")) == 0
    assert "Рассылок нет" in capsys.readouterr().out
    assert (
        main(run(database, "mailing", "create", "--text", "Привет, {name}", "--at", "01.01.2099 10:00")) == 0
    )
    assert "Рассылка №1 создана: 01.01.2099 10:00" in capsys.readouterr().out
    assert main(run(database, "mailing", "show", "1")) == 0
    out = capsys.readouterr().out
    assert "Рассылка №1: запланирована" in out and "[не начата]" in out
    assert main(run(database, "mailing", "pause", "1")) == 0
    assert "приостановлена" in capsys.readouterr().out
    assert main(run(database, "mailing", "resume", "1")) == 0
    assert main(run(database, "mailing", "cancel", "1")) == 0
    assert "отменена" in capsys.readouterr().out
    assert main(run(database, "mailing", "list")) == 0
    assert "отменена" in capsys.readouterr().out
    # Errors: exit code 2, one clear Russian line, no traceback.
    cases = [
        (["mailing", "cancel", "1"], "Рассылка №1 отменена: ее нельзя отменить."),
        (["mailing", "show", "7"], "Рассылки №7 нет."),
        (["mailing", "resume", "7"], "Рассылки №7 нет."),
        (["mailing", "create", "--text", "Привет {имя}"], "Неизвестная подстановка {имя}"),
        (["mailing", "create", "--text", "Привет {"], "непарная фигурная скобка"),
        (["mailing", "create", "--text", "  "], "Текст приглашения пуст."),
        (["mailing", "create", "--text", "x", "--at", "01.01.2020 10:00"], "уже прошло"),
        (["mailing", "create", "--text", "x", "--at", "завтра"], "Не понимаю время «завтра»"),
        (["mailing", "create", "--text", "x", "--channel", "whatsapp"], "Неизвестный канал 'whatsapp'"),
        (["mailing", "create", "--text", "x", "--completed-before-days", "0"], "--completed-before-days"),
        (["mailing", "create", "--text-file", str(tmp_path / "none.txt")], "Не удалось прочитать"),
        (["consents", "export", "-o", str(tmp_path / "no" / "dir.csv")], "--output: папка"),
    ]
    for argv, message in cases:
        assert main(run(database, *argv)) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)


def test_consents_export_csv(database: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _seed(database)
    assert main(run(database, "consents", "export")) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 5
    assert [r["kind"] for r in rows].count("withdrawn") == 1 and [r["kind"] for r in rows].count(
        "granted"
    ) == 4
    assert {r["method"] for r in rows} == {"bot"} and {r["text_version"] for r in rows} == {"v1"}
    assert all(r["recorded_at"] and r["respondent"] and r["channel"] == "telegram" for r in rows)
    target = tmp_path / "register.csv"
    assert main(run(database, "consents", "export", "--output", str(target))) == 0
    assert "Записей в реестре: 5" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8").splitlines()[0].startswith("record_id,respondent,channel,kind")


def test_staff_records_a_withdrawal_heard_by_phone(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(database)
    ext = str(FIRST_CHAT + 1)
    argv = ["consents", "record", "--external-id", ext, "--withdraw", "--by", "Иванова И.И."]
    assert main(run(database, *argv)) == 0
    assert "Записано: отзыв согласия" in capsys.readouterr().out
    assert main(run(database, "mailing", "create", "--text", "x", "--dry-run")) == 0
    assert "получат: 2" in capsys.readouterr().out  # FIRST_CHAT withdrew in the bot, +1 by staff
    assert main(run(database, "consents", "export")) == 0
    last = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))[-1]
    assert (last["kind"], last["method"], last["recorded_by"]) == ("withdrawn", "staff", "Иванова И.И.")
    bad = [
        (["consents", "record", "--external-id", "42", "--grant", "--by", "X"], "Респондента с id 42"),
        (["consents", "record", "--respondent", "nobody", "--grant", "--by", "X"], "псевдонимом nobody"),
        (["consents", "record", "--external-id", ext, "--grant", "--by", "  "], "--by: укажите"),
    ]
    for argv, message in bad:
        assert main(run(database, *argv)) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_mailing_config_errors_name_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[mailing]\ntimezone = "Mars/Olympus"\nper_second = 50\n')
    assert main(["--config", str(config), "mailing", "list"]) == 2
    err = capsys.readouterr().err
    assert "mailing.timezone: неизвестный часовой пояс 'Mars/Olympus'" in err
    assert "mailing.per_second" in err


def test_show_prints_a_progress_bar(database: Database, capsys: pytest.CaptureFixture[str]) -> None:
    from storage import mailing as store
    from tests.bot.mailing.conftest import now

    async def half_sent() -> None:
        storage = await database.open()
        try:
            await seed(storage, 4)
            async with storage.transaction() as conn:
                campaign = await store.create_campaign(
                    conn,
                    questions=AUDIENCE_QUESTIONS,
                    text="x",
                    audience=store.Audience(),
                    scheduled_at=now(),
                    created_by="t",
                    now=now(),
                )
                await store.start_campaign(conn, campaign.id, AUDIENCE_QUESTIONS, now())
                claimed, _ = await store.claim(conn, campaign.id, 2, now(), 30)
                await store.record(conn, [store.Outcome(c.outbox_id, store.SENT) for c in claimed], now())
        finally:
            await storage.close()

    asyncio.run(half_sent())
    assert main(run(database, "mailing", "show", "1")) == 0
    out = capsys.readouterr().out
    assert "Рассылка №1: идет отправка" in out and "отправлено: 2" in out and "осталось: 2" in out
    assert f"[{'#' * 15}{'.' * 15}] 50%" in out and "оценка времени до конца: ≈1 с" in out


def test_show_estimates_a_vk_campaign_at_the_vk_rate(
    database: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from storage import mailing as store
    from tests.bot.mailing.conftest import now

    async def running() -> None:
        storage = await database.open()
        try:
            await seed(storage, 40, channel="vk")
            async with storage.transaction() as conn:
                campaign = await store.create_campaign(
                    conn, questions=AUDIENCE_QUESTIONS, text="x", audience=store.Audience(channel="vk"),
                    scheduled_at=now(), created_by="t", now=now(),
                )  # fmt: skip
                await store.start_campaign(conn, campaign.id, AUDIENCE_QUESTIONS, now())
        finally:
            await storage.close()

    asyncio.run(running())
    config = tmp_path / "config.toml"
    config.write_text("[vk]\nrps = 2\n", encoding="utf-8")
    assert main(["--config", str(config), *run(database, "mailing", "show", "1")]) == 0
    out = capsys.readouterr().out
    # 40 messages at [vk] rps = 2, not at Telegram's 30/s (which would say ≈2 с)
    assert "осталось: 40" in out and "оценка времени до конца: ≈21 с" in out
