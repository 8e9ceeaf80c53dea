"""Cases in storage (SQLite and PostgreSQL): the life of a case, what staff may see, the
agreement to be answered, withdrawal and erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from storage import cases
from storage import mailing as mailing_store
from storage import repository as repo
from storage.cases import CaseStatus, ClosedBy, Delivery, DeliveryAddress, Direction
from storage.privacy import forget
from storage.schema import case_messages, consents
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.helpers import AUDIENCE_QUESTIONS
from tests.reports.data import B, D
from tests.storage.cases_data import questionnaire_of

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)  # a Friday
DUE = datetime(2026, 12, 10, 17, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


async def opened(
    storage: Storage, q: Questionnaire, user: str = "777", unit: str = "1"
) -> tuple[int, cases.Case]:
    respondent, session = await questionnaire_of(storage, q, user, B, T0)
    async with storage.transaction() as conn:
        await cases.record_reply_consent(
            conn, respondent, agreed=True, channel="telegram", text_version="r1", now=T0
        )
        case = await cases.open_case(conn, session, unit=unit, channel="telegram", now=T0, deadline_at=DUE)
    return respondent, case


async def test_a_case_from_opening_to_closing(storage: Storage, questionnaire: Questionnaire) -> None:
    _, case = await opened(storage, questionnaire)
    assert (case.status, case.unit, case.opened_at, case.deadline_at) == (CaseStatus.OPEN, "1", T0, DUE)
    assert case.first_answer_at is None and case.closed_at is None and case.closed_by is None
    async with storage.transaction() as conn:
        # Opening again (a re-delivered «Да») finds the same case.
        again = await cases.open_case(
            conn, case.session_id, unit="1", channel="telegram", now=T0 + HOUR, deadline_at=DUE
        )
        assert again == case
        answer = await cases.add_message(
            conn, case.number, direction=Direction.TO_RESPONDENT, text="Здравствуйте! Разберемся.", now=T0 + HOUR,
            staff="tg:42",
        )  # fmt: skip
        await cases.set_delivery(conn, answer, Delivery.SENT, T0 + 2 * HOUR)
        assert await cases.mark_answered(conn, case.number, T0 + 2 * HOUR)
        assert not await cases.mark_answered(conn, case.number, T0 + 5 * HOUR)  # the first answer stands
        await cases.add_message(
            conn, case.number, direction=Direction.FROM_RESPONDENT, text="Спасибо!", now=T0 + 3 * HOUR
        )
        assert await cases.close_case(conn, case.number, by=ClosedBy.THANKS, now=T0 + 4 * HOUR)
        assert not await cases.close_case(
            conn, case.number, by=ClosedBy.STAFF, now=T0 + 5 * HOUR, staff="tg:42"
        )
        shown = await cases.get_case(conn, case.number, unit="1")
        thread = await cases.messages(conn, case.number)
    assert shown is not None
    assert (shown.status, shown.first_answer_at, shown.closed_at, shown.closed_by) == (
        CaseStatus.CLOSED, T0 + 2 * HOUR, T0 + 4 * HOUR, ClosedBy.THANKS,
    )  # fmt: skip
    assert shown.last_message_at == T0 + 3 * HOUR
    assert [(m.direction, m.text, m.delivery, m.created_at, m.delivered_at) for m in thread] == [
        (Direction.TO_RESPONDENT, "Здравствуйте! Разберемся.", Delivery.SENT, T0 + HOUR, T0 + 2 * HOUR),
        (Direction.FROM_RESPONDENT, "Спасибо!", Delivery.RECEIVED, T0 + 3 * HOUR, None),
    ]


async def test_staff_see_no_messenger_id_name_or_staff_identity(
    storage: Storage, questionnaire: Questionnaire
) -> None:
    _, case = await opened(storage, questionnaire, user="5550001")
    async with storage.transaction() as conn:
        await cases.add_message(
            conn, case.number, direction=Direction.TO_RESPONDENT, text="Ответ", now=T0, staff="tg:9990001"
        )
        seen = [
            await cases.get_case(conn, case.number, unit="1"),
            await cases.list_cases(conn, unit="1"),
            await cases.messages(conn, case.number),
            await cases.overdue(conn, DUE),
        ]
        audit = (await conn.execute(select(case_messages.c.staff))).scalar_one()
    assert audit == "tg:9990001"  # kept for audit
    for secret in ("5550001", "Имя", "9990001"):
        assert secret not in repr(seen)


async def test_a_unit_sees_only_its_cases(storage: Storage, questionnaire: Questionnaire) -> None:
    _, first = await opened(storage, questionnaire, user="1", unit="1")
    _, second = await opened(storage, questionnaire, user="2", unit="2")
    async with storage.transaction() as conn:
        assert await cases.get_case(conn, second.number, unit="1") is None
        assert await cases.get_case(conn, second.number, unit="2") == second
        assert await cases.get_case(conn, second.number, unit=None) == second  # admins
        assert [c.number for c in await cases.list_cases(conn, unit="1")] == [first.number]
        assert [c.number for c in await cases.list_cases(conn, unit=None)] == [first.number, second.number]
        await cases.close_case(conn, first.number, by=ClosedBy.STAFF, now=T0, staff="tg:1")
        assert await cases.list_cases(conn, unit="1") == []
        closed = await cases.list_cases(conn, unit="1", statuses=[CaseStatus.CLOSED])
        assert [c.number for c in closed] == [first.number]
        assert await cases.count_by_status(conn, unit="1") == {
            CaseStatus.OPEN: 0, CaseStatus.ANSWERED: 0, CaseStatus.CLOSED: 1,
        }  # fmt: skip


async def test_overdue_and_quiet_cases(storage: Storage, questionnaire: Questionnaire) -> None:
    _, late = await opened(storage, questionnaire, user="1")
    _, answered = await opened(storage, questionnaire, user="2")
    async with storage.transaction() as conn:
        assert await cases.overdue(conn, DUE - timedelta(seconds=1)) == []
        await cases.add_message(
            conn, answered.number, direction=Direction.TO_RESPONDENT, text="a", now=T0, staff="s"
        )
        await cases.mark_answered(conn, answered.number, T0)
        assert [c.number for c in await cases.overdue(conn, DUE)] == [late.number]
        assert await cases.overdue(conn, DUE, unit="2") == []
        found = await cases.get_case(conn, late.number, unit=None)
        assert found is not None and found.overdue(DUE) and not found.overdue(DUE - HOUR)
        # Quiet time counts from the last message of an answered case.
        assert await cases.quiet(conn, T0 + 47 * HOUR, timedelta(hours=48)) == []
        assert [c.number for c in await cases.quiet(conn, T0 + 48 * HOUR, timedelta(hours=48))] == [
            answered.number
        ]


async def test_an_answer_names_its_writer_and_a_reply_none(
    storage: Storage, questionnaire: Questionnaire
) -> None:
    _, case = await opened(storage, questionnaire)
    async with storage.transaction() as conn:
        with pytest.raises(ValueError):
            await cases.add_message(conn, case.number, direction=Direction.TO_RESPONDENT, text="x", now=T0)
        with pytest.raises(ValueError):
            await cases.add_message(
                conn, case.number, direction=Direction.FROM_RESPONDENT, text="x", now=T0, staff="tg:1"
            )


async def test_delivery_only_while_the_agreement_stands(
    storage: Storage, questionnaire: Questionnaire
) -> None:
    respondent, case = await opened(storage, questionnaire, user="777")
    async with storage.transaction() as conn:
        assert await cases.delivery_address(conn, case.number) == DeliveryAddress("telegram", "777")
        assert await cases.case_for_reply(conn, respondent) == case
        assert await cases.end_reply_consent(conn, respondent, channel="telegram", now=T0 + HOUR)
        assert not await cases.end_reply_consent(conn, respondent, channel="telegram", now=T0 + HOUR)
        with pytest.raises(ValueError):
            await cases.end_reply_consent(
                conn, respondent, channel="telegram", now=T0, kind=repo.ConsentKind.REFUSED
            )
        assert await cases.delivery_address(conn, case.number) is None
        assert await cases.case_for_reply(conn, respondent) is None
        closed = await cases.get_case(conn, case.number, unit="1")
        reply = await repo.latest_consent(conn, respondent, repo.ConsentPurpose.REPLY)
    assert closed is not None and (closed.status, closed.closed_by) == (
        CaseStatus.CLOSED,
        ClosedBy.WITHDRAWAL,
    )
    assert reply is not None and (reply.kind, reply.channel) == (repo.ConsentKind.WITHDRAWN, "telegram")


async def test_a_no_is_a_refusal_and_nothing_is_delivered(
    storage: Storage, questionnaire: Questionnaire
) -> None:
    respondent, session = await questionnaire_of(storage, questionnaire, "888", D, T0)
    async with storage.transaction() as conn:
        await cases.record_reply_consent(
            conn, respondent, agreed=False, channel="telegram", text_version="r1", now=T0
        )
        assert not await cases.reply_allowed(conn, respondent)
        # Even a case opened by mistake has no address to deliver to.
        case = await cases.open_case(conn, session, unit="1", channel="telegram", now=T0, deadline_at=DUE)
        assert await cases.delivery_address(conn, case.number) is None
        latest = await repo.latest_consent(conn, respondent, repo.ConsentPurpose.REPLY)
    assert latest is not None and (latest.kind, latest.text_version) == (repo.ConsentKind.REFUSED, "r1")


async def test_the_two_purposes_keep_their_own_histories(
    storage: Storage, questionnaire: Questionnaire
) -> None:
    only_reply, _ = await opened(storage, questionnaire, user="1")
    both, _ = await opened(storage, questionnaire, user="2")
    async with storage.transaction() as conn:
        await repo.record_consent(
            conn, both, kind=repo.ConsentKind.GRANTED, channel="telegram", text_version="v1", method="bot",
            now=T0 - HOUR,
        )  # fmt: skip
        # The reply grant of "2" came later; withdrawing it leaves the invitation grant standing.
        await cases.end_reply_consent(conn, both, channel="telegram", now=T0 + HOUR)
        invitations = {p: await repo.latest_consent(conn, p) for p in (only_reply, both)}
        audience = await conn.execute(
            mailing_store.audience_query(mailing_store.Audience(channel="telegram"), AUDIENCE_QUESTIONS, T0)
        )
        audience_ids = [row.id for row in audience]
        consenting = await mailing_store.consenting_ids(conn, [only_reply, both])
        register = await mailing_store.consent_register(conn)
    assert invitations[only_reply] is None  # agreeing to be answered is no agreement to invitations
    standing = invitations[both]
    assert standing is not None and standing.granted
    assert audience_ids == [both] and consenting == {both}
    purposes = [(row[3], row[-1]) for row in register]
    assert purposes == [
        ("granted", "reply"), ("granted", "reply"), ("granted", "invitations"), ("withdrawn", "reply"),
    ]  # fmt: skip


async def test_forget_ends_the_agreement_and_erases_case_texts(
    storage: Storage, questionnaire: Questionnaire
) -> None:
    respondent, case = await opened(storage, questionnaire, user="777")
    _, other = await opened(storage, questionnaire, user="778")
    async with storage.transaction() as conn:
        for number in (case.number, other.number):
            await cases.add_message(
                conn, number, direction=Direction.TO_RESPONDENT, text="Ответ", now=T0, staff="s"
            )
            await cases.add_message(
                conn, number, direction=Direction.FROM_RESPONDENT, text="Мой телефон 8-913", now=T0
            )
        assert await forget(conn, "telegram", "777", T0 + HOUR, "dpo") == respondent
        thread = await cases.messages(conn, case.number)
        kept = await cases.messages(conn, other.number)
        erased = await cases.get_case(conn, case.number, unit=None)
        rows = await conn.execute(
            select(consents.c.kind, consents.c.purpose, consents.c.method)
            .where(consents.c.respondent_id == respondent)
            .order_by(consents.c.id)
        )
        register = [tuple(row) for row in rows]
        assert await cases.delivery_address(conn, case.number) is None
    assert [m.text for m in thread] == [None, None]
    assert [m.text for m in kept] == ["Ответ", "Мой телефон 8-913"]
    assert erased is not None and (erased.status, erased.closed_by) == (CaseStatus.CLOSED, ClosedBy.ERASURE)
    assert erased.opened_at == T0  # the case stays for the report figures
    assert register == [
        ("granted", "reply", "bot"), ("erased", "invitations", "erasure"), ("erased", "reply", "erasure"),
    ]  # fmt: skip


async def test_one_overdue_reminder_per_case(storage: Storage, questionnaire: Questionnaire) -> None:
    _, case = await opened(storage, questionnaire)
    async with storage.transaction() as conn:
        assert [c.number for c in await cases.overdue(conn, DUE, not_reminded=True)] == [case.number]
        assert await cases.claim_overdue_reminder(conn, case.number, DUE)
        assert not await cases.claim_overdue_reminder(conn, case.number, DUE + HOUR)  # another worker
        assert await cases.overdue(conn, DUE, not_reminded=True) == []
        assert [c.number for c in await cases.overdue(conn, DUE)] == [case.number]  # still overdue
        await cases.release_overdue_reminder(conn, case.number)  # sending failed: try again later
        assert await cases.claim_overdue_reminder(conn, case.number, DUE + HOUR)


async def test_the_thread_in_the_unit_chat_and_message_refs(
    storage: Storage, questionnaire: Questionnaire
) -> None:
    _, case = await opened(storage, questionnaire)
    async with storage.transaction() as conn:
        assert await cases.thread_of(conn, case.number) is None
        await cases.set_thread(conn, case.number, unit_chat="-100123", message_id="55")
        assert await cases.thread_of(conn, case.number) == ("-100123", "55")
        assert await cases.case_by_thread(conn, "-100123", "55") == case
        assert await cases.case_by_thread(conn, "-100123", "56") is None
        answer = await cases.add_message(
            conn, case.number, direction=Direction.TO_RESPONDENT, text="a", now=T0, staff="s"
        )
        await cases.set_delivery(conn, answer, Delivery.BLOCKED, T0, error="403: bot was blocked by the user")
        await cases.add_message(
            conn, case.number, direction=Direction.FROM_RESPONDENT, text="b", now=T0, message_ref="9"
        )
        thread = await cases.messages(conn, case.number)
        refs = (
            (await conn.execute(select(case_messages.c.message_ref).order_by(case_messages.c.id)))
            .scalars()
            .all()
        )
    assert [(m.delivery, m.delivered_at) for m in thread] == [
        (Delivery.BLOCKED, None),
        (Delivery.RECEIVED, None),
    ]
    assert refs == [None, "9"]
