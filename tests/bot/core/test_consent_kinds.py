"""The consent register tells a refusal from a withdrawal (and from a grant and an erasure)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Boolean, DateTime, bindparam, select, text

from bot.cli.main import main
from bot.core import texts
from bot.core.conversation import ConsentTerms, Conversation
from bot.core.messages import Incoming
from storage import mailing as store
from storage import repository as repo
from storage.db import alembic_config, create_engine
from storage.privacy import forget
from storage.schema import consents
from storage.store import Storage
from tests.conftest import CONSENT, Database
from tests.fakes.chat import Chat
from tests.helpers import AUDIENCE_QUESTIONS, IN_PERSON_PROVIDED

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


async def kinds(storage: Storage, user: str = "u1") -> list[tuple[str, bool]]:
    async with storage.transaction() as conn:
        person = await repo.get_respondent(conn, "test", user)
        assert person is not None
        rows = await conn.execute(
            select(consents.c.kind, consents.c.granted)
            .where(consents.c.respondent_id == person.id)
            .order_by(consents.c.id)
        )
        return [(r.kind, bool(r.granted)) for r in rows]


async def finish_survey(chat: Chat) -> None:
    await chat.start()
    for answer in IN_PERSON_PROVIDED:
        await chat.text(answer)
    assert chat.log[-1].phase == "consent"


async def test_no_to_the_consent_question_is_a_refusal(conversation: Conversation, storage: Storage) -> None:
    chat = Chat(conversation)
    await finish_survey(chat)
    result = await chat.press(texts.CONSENT_NO)
    assert result.messages[0].text == texts.CONSENT_DECLINED
    assert await kinds(storage) == [("refused", False)]
    # /stop afterwards: nothing to withdraw, nothing recorded.
    result = await chat.send(Incoming("test", "u1", "stop"))
    assert result.messages[0].text == texts.NOTHING_TO_WITHDRAW
    assert await kinds(storage) == [("refused", False)]


async def test_stop_after_a_grant_withdraws_once(conversation: Conversation, storage: Storage) -> None:
    chat = Chat(conversation)
    await finish_survey(chat)
    await chat.press(texts.CONSENT_YES)
    result = await chat.press(texts.WITHDRAW_BUTTON)
    assert result.messages[0].text == texts.CONSENT_WITHDRAWN
    result = await chat.text("стоп")
    assert result.messages[0].text == texts.ALREADY_WITHDRAWN
    assert await kinds(storage) == [("granted", True), ("withdrawn", False)]


async def test_stop_while_asked_is_a_refusal(conversation: Conversation, storage: Storage) -> None:
    chat = Chat(conversation)
    await finish_survey(chat)
    result = await chat.send(Incoming("test", "u1", "stop"))
    assert result.messages[0].text == texts.NOTHING_TO_WITHDRAW and result.phase == "idle"
    assert await kinds(storage) == [("refused", False)]


async def test_no_to_a_new_consent_text_withdraws_the_old_grant(storage: Storage, questionnaire: Any) -> None:
    old = Chat(Conversation(storage, questionnaire, ConsentTerms(text="Старый текст", version="v0")))
    await finish_survey(old)
    await old.press(texts.CONSENT_YES)
    chat = Chat(Conversation(storage, questionnaire, CONSENT))  # the consent text changed: asked again
    await finish_survey(chat)
    await chat.text("нет")
    assert await kinds(storage) == [("granted", True), ("withdrawn", False)]


async def seed_four_kinds(storage: Storage) -> dict[str, repo.Respondent]:
    """One respondent per kind, each ending in it: granted, refused, withdrawn, erased."""
    async with storage.transaction() as conn:
        people = {}
        for user in ("granted", "refused", "withdrawn", "erased"):
            people[user] = await repo.get_or_create_respondent(conn, "test", user, T0, None)
        args: dict[str, Any] = {"channel": "test", "text_version": "v1", "method": "bot", "now": T0}
        for user in ("granted", "withdrawn", "erased"):
            await repo.record_consent(conn, people[user].id, kind=repo.ConsentKind.GRANTED, **args)
        later = {**args, "now": T0 + timedelta(minutes=1)}
        await repo.record_consent(conn, people["refused"].id, kind=repo.ConsentKind.REFUSED, **later)
        await repo.record_consent(conn, people["withdrawn"].id, kind=repo.ConsentKind.WITHDRAWN, **later)
        assert await forget(conn, "test", "erased", T0 + timedelta(minutes=2), "dpo") is not None
    return people


async def test_erasure_is_its_own_kind_and_audience_has_only_grants(storage: Storage) -> None:
    people = await seed_four_kinds(storage)
    async with storage.transaction() as conn:
        latest = {u: await repo.latest_consent(conn, p.id) for u, p in people.items()}
        assert {u: (r.kind if r else None) for u, r in latest.items()} == {
            "granted": "granted", "refused": "refused", "withdrawn": "withdrawn", "erased": "erased",
        }  # fmt: skip
        audience = await conn.execute(
            store.audience_query(store.Audience(channel="test"), AUDIENCE_QUESTIONS, T0)
        )
        assert [r.id for r in audience] == [people["granted"].id]
        assert await store.consenting_ids(conn, [p.id for p in people.values()]) == {people["granted"].id}
        with pytest.raises(ValueError):
            await repo.record_consent(
                conn, people["granted"].id, kind=repo.ConsentKind.REFUSED, granted=True, channel="test",
                text_version="v1", method="bot", now=T0,
            )  # fmt: skip


def test_export_names_the_four_kinds(
    database: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.schema:
        monkeypatch.setenv("OTKLIK_DATABASE__PG_SCHEMA", database.schema)

    async def seed() -> None:
        storage = await database.open()
        try:
            await seed_four_kinds(storage)
        finally:
            await storage.close()

    asyncio.run(seed())
    assert main(["--database", database.url, "consents", "export"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["kind"] for r in rows] == ["granted", "granted", "granted", "refused", "withdrawn", "erased"]
    assert [r["method"] for r in rows][-1] == "erasure"


def test_staff_withdrawal_without_a_consent_is_a_refusal(
    database: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.schema:
        monkeypatch.setenv("OTKLIK_DATABASE__PG_SCHEMA", database.schema)

    async def seed() -> None:
        storage = await database.open()
        try:
            async with storage.transaction() as conn:
                await repo.get_or_create_respondent(conn, "telegram", "555", T0, None)
        finally:
            await storage.close()

    asyncio.run(seed())
    argv = [
        "--database",
        database.url,
        "consents",
        "record",
        "--external-id",
        "555",
        "--withdraw",
        "--by",
        "Иванова",
    ]
    assert main(argv) == 0
    assert "отказ от приглашений" in capsys.readouterr().out
    assert main(["--database", database.url, "consents", "export"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["kind"], r["method"], r["recorded_by"]) for r in rows] == [("refused", "staff", "Иванова")]


_RESPONDENT = text(
    "INSERT INTO respondents (id, pseudonym, channel, external_id, dialog, created_at) "
    "VALUES (:id, :pseudonym, 'telegram', :external, '{}', :at)"
).bindparams(bindparam("at", type_=DateTime(timezone=True)))
# The consents table as it was before `kind`: the register the migration starts from.
_LEGACY_CONSENT = text(
    "INSERT INTO consents (respondent_id, granted, channel, text_version, method, recorded_at) "
    "VALUES (:respondent, :granted, 'telegram', 'v1', :method, :at)"
).bindparams(bindparam("granted", type_=Boolean()), bindparam("at", type_=DateTime(timezone=True)))


def _upgrade_to(revision: str) -> Any:
    def run(connection: Any) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    return run


async def test_migration_maps_existing_records(database: Database) -> None:
    """Rows written before the kinds existed: grants, «Нет», /stop without consent, withdrawals, erasure."""
    history = [
        (1, True, "bot"), (1, False, "bot"),  # granted, then /stop: a withdrawal
        (2, False, "bot"),  # «Нет» (or /stop) without any consent: a refusal
        (3, True, "bot"), (3, False, "erasure"),  # erased on request
        (4, False, "staff"), (4, True, "staff"), (4, False, "staff"),  # refusal, grant, withdrawal
    ]  # fmt: skip
    engine = create_engine(database.url, schema=database.schema)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade_to("0007_channels"))
            for n in range(1, 5):
                await conn.execute(_RESPONDENT, {"id": n, "pseudonym": f"R{n}", "external": str(n), "at": T0})
            for number, (person, granted, method) in enumerate(history):
                at = T0 + timedelta(minutes=number)
                await conn.execute(
                    _LEGACY_CONSENT, {"respondent": person, "granted": granted, "method": method, "at": at}
                )
            await conn.run_sync(_upgrade_to("head"))
            rows = await conn.execute(text("SELECT respondent_id, kind, granted FROM consents ORDER BY id"))
            found = [(r[0], r[1], bool(r[2])) for r in rows]
    finally:
        await engine.dispose()
    assert found == [
        (1, "granted", True), (1, "withdrawn", False),
        (2, "refused", False),
        (3, "granted", True), (3, "erased", False),
        (4, "refused", False), (4, "granted", True), (4, "withdrawn", False),
    ]  # fmt: skip
