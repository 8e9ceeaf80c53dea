"""MaxClient against the fake MAX Bot API: calls, long polling with a marker, errors, the token."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from bot.core.messages import Action, Button, Message
from bot.max.api import MaxBlocked, MaxClient, MaxError, retry_after
from bot.max.render import attachments
from tests.fakes.max_api import BOT_USERNAME, TOKEN, FakeMax


def client(fake: FakeMax, *, token: str = TOKEN, attempts: int = 3, rps: float = 1000) -> MaxClient:
    return MaxClient(token, api_base_url=fake.url, rps=rps, attempts=attempts, backoff=0.01)


async def test_me_and_the_token_only_in_the_header(fake: FakeMax) -> None:
    max_ = client(fake)
    try:
        assert (await max_.me())["username"] == BOT_USERNAME
        assert fake.auth_seen == ["header"]
        assert all("access_token" not in query for _, query, _ in fake.calls)
    finally:
        await max_.close()


async def test_send_with_a_keyboard_edit_and_answer(fake: FakeMax) -> None:
    max_ = client(fake)
    try:
        message = Message(
            "Вопрос?", ((Button("Да", Action.ANSWER, "1"), Button("Нет", Action.ANSWER, "2")),), "s1"
        )
        sent = await max_.send_message(user_id=42, text=message.text, attachments=attachments(message))
        assert fake.sent[sent.mid].labels() == ["Да", "Нет"]
        assert fake.calls_of("POST /messages")[0][0] == {"user_id": "42"}

        await max_.edit_message(sent.mid, text="Вопрос? — Да", attachments=[])
        assert fake.sent[sent.mid].text == "Вопрос? — Да" and fake.sent[sent.mid].buttons == []
        assert fake.sent[sent.mid].edits == ["Вопрос?"]

        await max_.answer_callback("cb.1", notification="Принято")
        assert fake.answers == [{"callback_id": "cb.1", "notification": "Принято"}]
    finally:
        await max_.close()


async def test_edit_of_an_unknown_message_is_an_error_not_a_retry(fake: FakeMax) -> None:
    max_ = client(fake)
    try:
        with pytest.raises(MaxError) as caught:
            await max_.edit_message("mid.nope", text="x")
        assert caught.value.status == 404 and len(fake.calls_of("PUT /messages")) == 1
    finally:
        await max_.close()


async def test_long_poll_with_the_marker_survives_a_client_restart(fake: FakeMax) -> None:
    await fake.user_writes(7, "первое")
    await fake.user_writes(7, "второе")
    first = client(fake)
    try:
        batch = await first.get_updates(None, hold=0)
        assert [u["message"]["body"]["text"] for u in batch.updates] == ["первое", "второе"]
        marker = batch.marker  # what the channel persists
    finally:
        await first.close()

    await fake.user_writes(7, "третье")
    second = client(fake)  # a restart: a new client, the marker from storage
    try:
        batch = await second.get_updates(marker, hold=0)
        assert [u["message"]["body"]["text"] for u in batch.updates] == ["третье"]
        again = await second.get_updates(marker, hold=0)  # not confirmed yet: delivered again
        assert [u["message"]["body"]["text"] for u in again.updates] == ["третье"]
        empty = await second.get_updates(batch.marker, hold=0)
        assert empty.updates == [] and empty.marker == batch.marker
    finally:
        await second.close()


async def test_long_poll_waits_for_an_update(fake: FakeMax) -> None:
    max_ = client(fake)
    try:
        poll = asyncio.create_task(max_.get_updates(None, hold=5))
        await asyncio.sleep(0.2)
        assert not poll.done()
        await fake.bot_started(9, "ref-123")
        batch = await asyncio.wait_for(poll, 3)
        assert batch.updates[0]["update_type"] == "bot_started" and batch.updates[0]["payload"] == "ref-123"
        assert fake.calls_of("GET /updates")[0][0]["timeout"] == "5"
    finally:
        await max_.close()


async def test_429_waits_the_retry_after(fake: FakeMax) -> None:
    max_ = client(fake)
    try:
        fake.fail("POST /messages", 429, "too.many.requests", retry_after="1")
        started = time.monotonic()
        sent = await max_.send_message(user_id=1, text="Здравствуйте")
        assert time.monotonic() - started >= 0.95  # the backoff alone would be 0.01 s
        assert sent.mid in fake.sent and len(fake.calls_of("POST /messages")) == 2
    finally:
        await max_.close()


async def test_429_without_retry_after_backs_off_and_gives_up(fake: FakeMax) -> None:
    max_ = client(fake, attempts=2)
    try:
        fake.fail("POST /messages", 429, "too.many.requests")
        fake.fail("POST /messages", 429, "too.many.requests")
        with pytest.raises(MaxError) as caught:
            await max_.send_message(user_id=1, text="x")
        assert caught.value.status == 429 and not isinstance(caught.value, MaxBlocked)
        assert fake.sent == {}
    finally:
        await max_.close()


async def test_the_configured_rate_keeps_under_the_servers_limit(fake: FakeMax) -> None:
    fake.rps = 10
    max_ = client(fake, rps=8)
    try:
        for n in range(12):
            await max_.send_message(user_id=1, text=str(n))
        assert fake.rate_limited == 0 and len(fake.sent) == 12
    finally:
        await max_.close()


async def test_a_blocked_user_is_a_typed_error_without_retries(fake: FakeMax) -> None:
    await fake.bot_stopped(5)
    max_ = client(fake)
    try:
        with pytest.raises(MaxBlocked) as caught:
            await max_.send_message(user_id=5, text="Приглашение")
        assert caught.value.status == 403 and caught.value.code == "chat.denied"
        assert len(fake.calls_of("POST /messages")) == 1
    finally:
        await max_.close()


async def test_other_403_is_not_blocked(fake: FakeMax) -> None:
    max_ = client(fake)
    try:
        fake.fail("POST /messages", 403, "access.denied", "Bot is not admin")
        with pytest.raises(MaxError) as caught:
            await max_.send_message(chat_id=-5, text="x")
        assert not isinstance(caught.value, MaxBlocked)
    finally:
        await max_.close()


async def test_a_bad_token_is_refused_and_never_shown(fake: FakeMax) -> None:
    wrong = "wrong-secret-token-0123456789abcdef"
    max_ = client(fake, token=wrong)
    try:
        with pytest.raises(MaxError) as caught:
            await max_.me()
        assert caught.value.status == 401 and caught.value.code == "verify.token"
        assert wrong not in str(caught.value) and wrong not in repr(max_)
    finally:
        await max_.close()


async def test_an_echoed_token_is_scrubbed_from_errors_and_logs(
    fake: FakeMax, caplog: pytest.LogCaptureFixture
) -> None:
    max_ = client(fake, attempts=2)
    try:
        # A proxy that echoes the request's credentials in its error message.
        fake.fail("POST /messages", 502, "bad.gateway", f"upstream refused Authorization: {TOKEN}")
        fake.fail("POST /messages", 502, "bad.gateway", f"upstream refused Authorization: {TOKEN}")
        with caplog.at_level(logging.WARNING, logger="bot.max.api"), pytest.raises(MaxError) as caught:
            await max_.send_message(user_id=1, text="x")
        assert TOKEN not in str(caught.value) and "***" in str(caught.value)
        assert all(TOKEN not in r.getMessage() for r in caplog.records)
    finally:
        await max_.close()


async def test_network_failures_are_retried_then_reported_without_the_token() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    max_ = MaxClient(TOKEN, api_base_url=f"http://127.0.0.1:{port}", rps=1000, attempts=2, backoff=0.01)
    try:
        with pytest.raises(MaxError) as caught:
            await max_.me()
        assert caught.value.status == -1 and TOKEN not in str(caught.value)
    finally:
        await max_.close()


async def test_success_false_is_an_error(fake: FakeMax) -> None:
    max_ = client(fake)
    try:
        with pytest.raises(MaxError):
            await max_.answer_callback("cb.1")  # neither message nor notification: refused (400)
    finally:
        await max_.close()


def test_retry_after_forms() -> None:
    assert retry_after("3") == 3.0
    assert retry_after("-1") == 0.0
    assert retry_after("100000") == 300.0
    assert retry_after("soon") is None and retry_after(None) is None
    assert retry_after("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0


async def test_a_long_poll_in_flight_is_cancelled_at_once(fake: FakeMax) -> None:
    max_ = client(fake)
    poll = asyncio.create_task(max_.get_updates(None, hold=30))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    poll.cancel()
    with pytest.raises(asyncio.CancelledError):
        await poll
    await max_.close()
    assert time.monotonic() - started < 1.0  # stopping the service never waits for the poll
