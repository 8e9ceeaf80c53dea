"""Pause, resume and cancel: the same rules for the CLI and the Telegram commands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.mailing.texts import STATUS_NAMES
from storage import mailing as store
from storage.store import Storage


class ControlError(Exception):
    """The change is impossible; the message (Russian) says why."""


ACTIONS = {
    "pause": ((store.SCHEDULED, store.RUNNING), "приостановлена"),
    "resume": ((store.PAUSED,), "возобновлена"),
    "cancel": ((store.SCHEDULED, store.RUNNING, store.PAUSED), "отменена"),
}


async def change_status(storage: Storage, campaign_id: int, action: str, now: datetime) -> str:
    allowed, done = ACTIONS[action]
    async with storage.transaction() as conn:
        campaign = await store.get_campaign(conn, campaign_id)
        if campaign is None:
            raise ControlError(f"Рассылки №{campaign_id} нет.")
        if campaign.status not in allowed:
            raise ControlError(
                f"Рассылка №{campaign_id} {STATUS_NAMES.get(campaign.status, campaign.status)}: "
                f"ее нельзя {_verb(action)}."
            )
        if action == "pause":
            target = store.PAUSED
        elif action == "cancel":
            target = store.CANCELLED
        elif campaign.started_at is not None:
            target = store.RUNNING
        else:
            target = store.SCHEDULED
        extra: dict[str, Any] = {}
        if action == "resume" and target == store.SCHEDULED and campaign.scheduled_at < now:
            extra["scheduled_at"] = now  # its time passed while paused: start now, not "missed"
        if not await store.set_status(conn, campaign_id, target, allowed_from=allowed, now=now, **extra):
            raise ControlError(f"Рассылка №{campaign_id} только что изменилась; повторите команду.")
    return f"Рассылка №{campaign_id} {done}."


def _verb(action: str) -> str:
    return {"pause": "приостановить", "resume": "возобновить", "cancel": "отменить"}[action]
