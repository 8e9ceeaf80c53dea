"""Campaign storage on SQLite and PostgreSQL: audience, claiming with consent re-checks, recovery."""

from __future__ import annotations

from datetime import timedelta

from storage import mailing as store
from storage import repository as repo
from storage.schema import reminders
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.bot.mailing.conftest import FIRST_CHAT, completed_survey, now, seed
from tests.helpers import AUDIENCE_QUESTIONS


async def _campaign(storage: Storage, audience: store.Audience | None = None) -> store.Campaign:
    async with storage.transaction() as conn:
        return await store.create_campaign(
            conn, questions=AUDIENCE_QUESTIONS, text="Здравствуйте, {name}!", audience=audience or store.Audience(),
            scheduled_at=now(), created_by="test", now=now(),
        )  # fmt: skip


async def test_audience_filters_and_prefill(storage: Storage, questionnaire: Questionnaire) -> None:
    ids = await seed(storage, 6, withdrawn=[FIRST_CHAT + 5])
    await seed(storage, 2, first=7_000_000, consent=False)  # never consented
    await completed_survey(
        storage, ids[0], {"1": "1", "3": "2", "4": "3"}, now() - timedelta(days=200), questionnaire
    )
    await completed_survey(
        storage, ids[1], {"1": "1", "3": "2", "4": "4"}, now() - timedelta(days=5), questionnaire
    )
    await completed_survey(
        storage, ids[2], {"1": "2", "3": "2", "4": "3"}, now() - timedelta(days=5), questionnaire
    )
    async with storage.transaction() as conn:
        await repo.mark_unreachable(conn, ids[4], now())

        async def members(audience: store.Audience) -> set[int]:
            return {
                r.id for r in await conn.execute(store.audience_query(audience, AUDIENCE_QUESTIONS, now()))
            }

        assert await members(store.Audience()) == {ids[0], ids[1], ids[2], ids[3]}
        assert await members(store.Audience(support_measure="1")) == {ids[0], ids[1]}
        assert await members(store.Audience(unit="2", district="3")) == {ids[0], ids[2]}
        assert await members(store.Audience(completed_before_days=30)) == {ids[0], ids[3]}
        assert await members(store.Audience(never_completed=True)) == {ids[3]}
        assert await members(store.Audience(channel="vk")) == set()
        campaign = await store.create_campaign(
            conn, questions=AUDIENCE_QUESTIONS, text="t", audience=store.Audience(support_measure="1", district="3"),
            scheduled_at=now(), created_by="test", now=now(),
        )  # fmt: skip
        key = await repo.get_prefill(conn, campaign.prefill_key)
    assert key is not None and key.source == "campaign" and key.label == f"campaign:{campaign.id}"
    assert key.values == {"1": "1", "4": "3"}


async def test_claim_rechecks_consent_cap_and_reachability(storage: Storage) -> None:
    ids = await seed(storage, 5)
    earlier = await _campaign(storage)
    async with storage.transaction() as conn:
        assert await store.start_campaign(conn, earlier.id, AUDIENCE_QUESTIONS, now()) == 5
        claimed, _ = await store.claim(conn, earlier.id, 1, now(), 30)  # ids[0] invited recently
        assert await store.mark_sending(conn, [claimed[0].outbox_id]) == {claimed[0].outbox_id}
        await store.record(conn, [store.Outcome(claimed[0].outbox_id, store.SENT, "1")], now())
        await store.set_status(conn, earlier.id, store.CANCELLED, allowed_from=[store.RUNNING], now=now())
    campaign = await _campaign(storage)
    async with storage.transaction() as conn:
        size = await store.audience_size(conn, store.Audience(), AUDIENCE_QUESTIONS, now(), 30)
        assert (size.matching, size.recently_invited, size.will_receive) == (5, 1, 4)
        assert await store.start_campaign(conn, campaign.id, AUDIENCE_QUESTIONS, now()) == 5
        assert (
            await store.start_campaign(conn, campaign.id, AUDIENCE_QUESTIONS, now()) is None
        )  # started once only
    # After the audience was fixed: one withdraws, one blocks the bot.
    async with storage.transaction() as conn:
        await repo.record_consent(conn, ids[1], granted=False, channel="telegram", text_version="v1",
                                  method="staff", now=now(), recorded_by="operator")  # fmt: skip
        await repo.mark_unreachable(conn, ids[2], now())
    async with storage.transaction() as conn:
        claimed, skipped = await store.claim(conn, campaign.id, 10, now(), 30)
    assert [c.respondent_id for c in claimed] == [ids[3], ids[4]]
    assert claimed[0].external_id == str(FIRST_CHAT + 3) and claimed[0].name == f"Клиент{FIRST_CHAT + 3}"
    assert skipped == {store.SKIPPED_RECENT: 1, store.SKIPPED_NO_CONSENT: 1, store.UNREACHABLE: 1}
    async with storage.transaction() as conn:
        assert await store.claim(conn, campaign.id, 10, now(), 30) == ([], {})  # nothing left to claim
        assert not await store.finish_if_done(conn, campaign.id, now())  # two still `claimed`
        assert await store.mark_sending(conn, [c.outbox_id for c in claimed]) == {
            c.outbox_id for c in claimed
        }
        await store.record(conn, [store.Outcome(claimed[0].outbox_id, store.SENT, "7")], now())
    # A crash now: the other row was mid-send. It becomes `unknown` and is never claimed again.
    async with storage.transaction() as conn:
        assert await store.recover_sending(conn) == (1, 0)
        assert await store.finish_if_done(conn, campaign.id, now())
        progress = await store.progress(conn, campaign.id)
        rows = dict(await store.outbox_rows(conn, campaign.id))
    assert rows[ids[4]] == store.UNKNOWN and rows[ids[3]] == store.SENT
    assert (progress[store.SENT], progress[store.UNKNOWN], progress.skipped, progress.left) == (1, 1, 2, 0)


async def test_queued_is_not_in_flight(storage: Storage) -> None:
    """A claimed row whose request was never made: not `unknown` after a crash, not an invitation
    for the frequency cap; it goes back to `pending` and is sent after the restart."""
    ids = await seed(storage, 3)
    first, second = await _campaign(storage), await _campaign(storage)
    async with storage.transaction() as conn:
        assert await store.start_campaign(conn, first.id, AUDIENCE_QUESTIONS, now()) == 3
        claimed, _ = await store.claim(conn, first.id, 3, now(), 30)
        # Only ids[0]'s request was made before the crash; ids[1] and ids[2] were queued.
        assert await store.mark_sending(conn, [claimed[0].outbox_id]) == {claimed[0].outbox_id}
        assert dict(await store.outbox_rows(conn, first.id)) == {
            ids[0]: store.SENDING,
            ids[1]: store.CLAIMED,
            ids[2]: store.CLAIMED,
        }
        # Another campaign meanwhile: only the row whose request was made counts for the cap.
        size = await store.audience_size(conn, store.Audience(), AUDIENCE_QUESTIONS, now(), 30)
        assert (size.recently_invited, size.will_receive) == (1, 2)
        assert await store.start_campaign(conn, second.id, AUDIENCE_QUESTIONS, now()) == 3
        got, skipped = await store.claim(conn, second.id, 10, now(), 30)
        assert [c.respondent_id for c in got] == [ids[1], ids[2]] and skipped == {store.SKIPPED_RECENT: 1}
        await store.release(conn, [c.outbox_id for c in got])
        await store.set_status(conn, second.id, store.CANCELLED, allowed_from=[store.RUNNING], now=now())
    # The crash: recovery as the next leader runs it.
    async with storage.transaction() as conn:
        assert await store.requeue_claimed(conn) == 2
        assert await store.recover_sending(conn) == (1, 0)
        assert dict(await store.outbox_rows(conn, first.id)) == {
            ids[0]: store.UNKNOWN,
            ids[1]: store.PENDING,
            ids[2]: store.PENDING,
        }
        again, _ = await store.claim(conn, first.id, 10, now(), 30)
        assert [c.respondent_id for c in again] == [ids[1], ids[2]]
        # A row released meanwhile is not marked: its request must not be made.
        await store.release(conn, [again[1].outbox_id])
        assert await store.mark_sending(conn, [c.outbox_id for c in again]) == {again[0].outbox_id}


async def test_paused_campaign_is_not_claimed(storage: Storage) -> None:
    await seed(storage, 3)
    campaign = await _campaign(storage)
    async with storage.transaction() as conn:
        await store.start_campaign(conn, campaign.id, AUDIENCE_QUESTIONS, now())
        assert await store.set_status(
            conn, campaign.id, store.PAUSED, allowed_from=[store.RUNNING], now=now()
        )
        assert await store.claim(conn, campaign.id, 10, now(), 30) == ([], {})
        assert not await store.set_status(
            conn, campaign.id, store.PAUSED, allowed_from=[store.RUNNING], now=now()
        )


async def test_reminders_only_for_consenting_idle_sessions_once(
    storage: Storage, questionnaire: Questionnaire
) -> None:
    ids = await seed(storage, 3, withdrawn=[FIRST_CHAT + 1])
    old = now() - timedelta(hours=30)
    async with storage.transaction() as conn:
        for person in ids:
            await repo.create_session(conn, questionnaire, respondent_id=person, channel="telegram",
                                      source="direct", source_ref=None, prefill={}, now=old)  # fmt: skip
        # ids[2] answered recently: not idle yet.
        session = await repo.active_session(conn, ids[2])
        assert session is not None
        await repo.sync_answers(conn, questionnaire, session.id, {}, {}, now())
    window = {"channel": "telegram", "older_than": now() - timedelta(hours=24),
              "newer_than": now() - timedelta(days=7), "limit": 10}  # fmt: skip
    async with storage.transaction() as conn:
        claimed = await store.claim_reminders(conn, now=now(), **window)  # type: ignore[arg-type]
    assert [c.respondent_id for c in claimed] == [ids[0]]
    async with storage.transaction() as conn:
        await store.record_reminders(conn, [store.Outcome(claimed[0].outbox_id, store.SENT)], now())
        assert await store.claim_reminders(conn, now=now(), **window) == []  # type: ignore[arg-type]


async def test_queued_reminder_is_not_lost_in_a_crash(storage: Storage, questionnaire: Questionnaire) -> None:
    """A reminder only queued when the process died is sent later; one whose request was made
    becomes `unknown` and is not repeated."""
    ids = await seed(storage, 2)
    old = now() - timedelta(hours=30)
    async with storage.transaction() as conn:
        for person in ids:
            await repo.create_session(conn, questionnaire, respondent_id=person, channel="telegram",
                                      source="direct", source_ref=None, prefill={}, now=old)  # fmt: skip
    window = {"channel": "telegram", "older_than": now() - timedelta(hours=24),
              "newer_than": now() - timedelta(days=7), "limit": 10}  # fmt: skip
    async with storage.transaction() as conn:
        claimed = await store.claim_reminders(conn, now=now(), **window)  # type: ignore[arg-type]
        assert [c.respondent_id for c in claimed] == ids
        marked = await store.mark_sending(conn, [claimed[0].outbox_id], table=reminders)
        assert marked == {claimed[0].outbox_id}
    async with storage.transaction() as conn:  # the crash, then the next leader's recovery
        await store.requeue_claimed(conn)
        assert await store.recover_sending(conn) == (0, 1)
        again = await store.claim_reminders(conn, now=now(), **window)  # type: ignore[arg-type]
    assert [c.respondent_id for c in again] == [ids[1]]


async def test_consent_register_lists_every_change(storage: Storage) -> None:
    await seed(storage, 2, withdrawn=[FIRST_CHAT])
    async with storage.transaction() as conn:
        rows = await store.consent_register(conn)
    assert [(r[3], r[5]) for r in rows] == [("granted", "bot"), ("withdrawn", "bot"), ("granted", "bot")]
    assert all(len(r) == len(store.CONSENT_COLUMNS) for r in rows)
    assert str(FIRST_CHAT) not in repr(rows)  # pseudonyms, not messenger ids


async def test_a_row_is_marked_sending_once(storage: Storage) -> None:
    """Two leaders around a takeover: whoever marks a claimed row first sends it, never both."""
    await seed(storage, 2)
    campaign = await _campaign(storage)
    async with storage.transaction() as conn:
        await store.start_campaign(conn, campaign.id, AUDIENCE_QUESTIONS, now())
        claimed, _ = await store.claim(conn, campaign.id, 2, now(), 30)
        ids = [c.outbox_id for c in claimed]
        assert await store.mark_sending(conn, ids[:1]) == {ids[0]}
        assert await store.mark_sending(conn, ids) == {ids[1]}  # the first is already being sent
        assert await store.mark_sending(conn, ids) == set()
