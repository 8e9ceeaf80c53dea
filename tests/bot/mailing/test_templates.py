"""Campaign templates: only a bare {name}, the length checked with the longest name, refused at
creation (CLI and /mailing), and a text that cannot be rendered fails its campaign, not the sender."""

from __future__ import annotations

import logging

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.cli.main import main
from bot.mailing import texts
from bot.telegram.mailing import STEP_AUDIENCE, STEP_TEXT
from storage import mailing as store
from tests.bot.mailing.conftest import FIRST_CHAT, mailing_service, seed
from tests.bot.mailing.test_admin_dialog import ADMIN, say
from tests.bot.mailing.test_campaign_e2e import create, invitations, wait_status
from tests.conftest import Database
from tests.fakes.telegram_api import FakeTelegram

FALLBACK = "уважаемый клиент"
# Pieces a template is made of: the placeholder with every kind of decoration, braces, text.
PIECES = st.sampled_from(
    ["{name}", "{name:x}", "{name:>5000}", "{name!r}", "{name.upper}", "{name[0]}", "{}", "{0}",
     "{имя}", "{{", "}}", "{", "}", "{name:}", "{name:{name}}", ":", "!", "Здравствуйте, ", "😀"]
)  # fmt: skip
TEMPLATES = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(PIECES, st.text(max_size=20)), max_size=40).map("".join),
    st.tuples(st.text(min_size=3400, max_size=3500), st.lists(PIECES, max_size=12)).map(
        lambda t: t[0] + "".join(t[1])
    ),
)
NAMES = st.one_of(st.none(), st.text(max_size=200), st.text(alphabet="😀Я", min_size=60, max_size=200))


@settings(max_examples=400, deadline=None)
@given(template=TEMPLATES, name=NAMES)
@example(template="Здравствуйте, {name:x}!", name="Анна")
@example(template="{name:>5000}", name="Анна")
@example(template="{name}" * 100, name="Анна")
def test_a_template_is_refused_or_renders_within_the_limit(template: str, name: str | None) -> None:
    try:
        checked = texts.check_text(template)
    except texts.TextProblem as problem:
        assert str(problem)  # a message for the person who typed it
        return
    rendered = texts.render(checked, name, FALLBACK)
    assert texts.message_length(rendered) <= texts.MAX_MESSAGE
    assert texts.message_length(texts.render(checked, "Я" * texts.NAME_LIMIT, FALLBACK)) <= texts.MAX_MESSAGE


def test_only_a_bare_placeholder_renders() -> None:
    assert (
        texts.render("Здравствуйте, {name}! {{скобки}}", "  Анна ", FALLBACK)
        == "Здравствуйте, Анна! {скобки}"
    )
    assert texts.render("{name}", None, FALLBACK) == FALLBACK
    assert texts.render("{name}", "Я" * 300, FALLBACK) == "Я" * texts.NAME_LIMIT
    for bad in ("{name:x}", "{name:>5000}", "{name!r}", "{name.upper}", "{name[0]}"):
        with pytest.raises(texts.TextProblem, match="не поддерживается"):
            texts.check_text(bad)
    with pytest.raises(texts.TextProblem, match="Неизвестная подстановка"):
        texts.check_text("{0}")
    longest = "x" * 3000 + "{name}" * 17  # 3000 + 17 * 64 = 4088: fits
    assert texts.check_text(longest) == longest
    with pytest.raises(texts.TextProblem, match="сообщение займет 4152 символов"):
        texts.check_text(longest + "{name}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Здравствуйте, {name:x}!", "Подстановка {name:x} не поддерживается"),
        ("{name:>5000}", "Подстановка {name:>5000} не поддерживается"),
        ("{name!r}", "Подстановка {name!r} не поддерживается"),
        ("{name.__class__}", "Подстановка {name.__class__} не поддерживается"),
        ("x" * 3400 + "{name}" * 12, "Текст слишком длинный: с самым длинным именем"),
    ],
)
def test_cli_refuses_at_creation(
    database: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    text: str, message: str,
) -> None:  # fmt: skip
    if database.schema:
        monkeypatch.setenv("OTKLIK_DATABASE__PG_SCHEMA", database.schema)
    assert main(["--database", database.url, "migrate"]) == 0  # mailing commands need the database
    capsys.readouterr()
    assert main(["--database", database.url, "mailing", "create", "--text", text]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert main(["--database", database.url, "mailing", "list"]) == 0
    assert "Рассылок нет" in capsys.readouterr().out  # nothing was created


async def test_telegram_dialog_refuses_at_creation(database: Database, fake_tg: FakeTelegram) -> None:
    service = await mailing_service(database, fake_tg).start()
    try:
        assert await say(fake_tg, ADMIN, "/mailing") == STEP_TEXT
        for text in ("Здравствуйте, {name:x}!", "{name:>5000}", "{name}" * 600):
            reply = await say(fake_tg, ADMIN, text)
            assert "Попробуйте еще раз" in reply, reply
            assert "не поддерживается" in reply or "Текст слишком длинный" in reply, reply
        assert await say(fake_tg, ADMIN, "Здравствуйте, {name}!") == STEP_AUDIENCE
    finally:
        await service.stop()


async def test_a_campaign_that_cannot_render_fails_and_the_next_one_is_sent(
    database: Database, fake_tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    storage = await database.open()
    try:
        await seed(storage, 3)
        # Stored straight, as a campaign made before templates were checked would be.
        broken = await create(storage, text="Здравствуйте, {name:x}!")
        good = await create(storage, text="Здравствуйте, {name}!")
    finally:
        await storage.close()
    caplog.set_level(logging.INFO)
    service = await mailing_service(database, fake_tg).start()
    try:
        assert service.storage is not None
        await wait_status(service.storage, good, store.DONE, timeout=30)
        failed = await wait_status(service.storage, broken, store.CAMPAIGN_FAILED, timeout=5)
        assert failed.note is not None and "{name:x}" in failed.note
        async with service.storage.transaction() as conn:
            rows = dict(await store.outbox_rows(conn, broken))
        # Nothing of it left mid-send (it would turn «unknown» and count toward the 30-day cap).
        assert not set(rows.values()) & {store.SENDING, store.UNKNOWN, store.SENT}, rows
        await fake_tg.wait_for(lambda: any("не отправлена" in t for t in fake_tg.texts(ADMIN)), timeout=10)
    finally:
        await service.stop()
    assert invitations(fake_tg) == {
        FIRST_CHAT + i: [f"Здравствуйте, Клиент{FIRST_CHAT + i}!"] for i in range(3)
    }
    errors = [
        r for r in caplog.records if r.levelno == logging.ERROR and f"mailing {broken}" in r.getMessage()
    ]
    assert errors, [r.getMessage() for r in caplog.records]
