"""Mailings in the Telegram bot for role `admin`: the guided `/mailing` dialog and campaign commands.

The dialog's state lives in the database (`channel_state`, key `mailing:dialog:<telegram id>`),
so a restart in the middle of it loses nothing; each step is stored together with the update id
in one transaction, so a re-delivered update is not applied twice.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiogram import Router
from aiogram.types import Message as TgMessage
from aiogram.types import Update

from bot.config import Settings, StaffMember
from bot.mailing import texts
from bot.mailing.control import ControlError, change_status
from bot.telegram.filters import private_text
from bot.telegram.staff import StaffCommand, StaffDirectory
from storage import mailing as store
from storage import repository as repo
from storage.store import Storage

ADMIN = frozenset({"admin"})
CANCEL_WORDS = frozenset({"отмена", "отменить", "/cancel", "cancel", "стоп"})
CONFIRM_WORDS = frozenset({"да", "подтверждаю", "yes", "ок", "ok"})
STEP_TEXT = (
    "Новая рассылка приглашений к опросу. Шаг 1 из 4: пришлите текст приглашения.\n"
    "Можно вставить {name} — имя получателя. Под текстом будет кнопка «Пройти опрос».\n"
    "Выйти из диалога: «отмена»."
)
STEP_AUDIENCE = "Шаг 2 из 4. " + texts.AUDIENCE_HELP
STEP_AUDIENCE_CHANNELS = "Шаг 2 из 4. " + texts.audience_help(("telegram", "vk"))
STEP_TIME = "Шаг 3 из 4. " + texts.TIME_HELP
CANCELLED_DIALOG = "Создание рассылки отменено."


def dialog_key(user_id: int) -> str:
    return f"mailing:dialog:{user_id}"


def mailing_channels(settings: Settings) -> tuple[str, ...]:
    """Channels a campaign can go to from the dialog: Telegram, and VK when it is enabled."""
    return ("telegram", "vk") if settings.vk.enabled else ("telegram",)


def _now() -> datetime:
    return datetime.now(UTC)


async def _load(storage: Storage, user_id: int) -> dict[str, Any] | None:
    async with storage.transaction() as conn:
        raw = await repo.get_state(conn, dialog_key(user_id))
    if not raw:
        return None
    state = json.loads(raw)
    return state if isinstance(state, dict) and state.get("step") else None


# --- commands ------------------------------------------------------------------------------


async def _start_dialog(message: TgMessage, member: StaffMember, data: dict[str, Any]) -> None:
    storage: Storage = data["store"]
    assert message.from_user is not None
    async with storage.transaction() as conn:
        await repo.set_state(conn, dialog_key(message.from_user.id), json.dumps({"step": "text"}), _now())
    await message.answer(STEP_TEXT)


async def _list(message: TgMessage, member: StaffMember, data: dict[str, Any]) -> None:
    storage: Storage = data["store"]
    settings: Settings = data["settings"]
    async with storage.transaction() as conn:
        campaigns = await store.list_campaigns(conn, limit=10)
        progress = {c.id: await store.progress(conn, c.id) for c in campaigns}
    if not campaigns:
        await message.answer("Рассылок пока нет. Создать: /mailing")
        return
    blocks = [
        texts.progress_text(c, progress[c.id], settings.send_rate(c.channel), settings.mailing.timezone)
        for c in campaigns
    ]
    await message.answer("\n\n".join(blocks)[:4000])


def _status_command(action: str) -> StaffCommand:
    async def handler(message: TgMessage, member: StaffMember, data: dict[str, Any]) -> None:
        storage: Storage = data["store"]
        parts = (message.text or "").split()
        if len(parts) != 2 or not parts[1].isdigit():
            await message.answer(f"Укажите номер рассылки: /mailing_{action} 12 (номера: /mailings)")
            return
        try:
            text = await change_status(storage, int(parts[1]), action, _now())
        except ControlError as exc:
            text = str(exc)
        await message.answer(text)

    names = {
        "pause": "приостановить рассылку",
        "resume": "продолжить рассылку",
        "cancel": "отменить рассылку",
    }
    return StaffCommand(f"mailing_{action}", ADMIN, names[action], handler)


MAILING_COMMANDS: tuple[StaffCommand, ...] = (
    StaffCommand("mailing", ADMIN, "создать рассылку приглашений", _start_dialog),
    StaffCommand("mailings", ADMIN, "рассылки и их ход", _list),
    _status_command("pause"),
    _status_command("resume"),
    _status_command("cancel"),
)


# --- the dialog ----------------------------------------------------------------------------


def mailing_dialog_router() -> Router:
    """Plain-text replies of an admin who is inside `/mailing`; everyone else passes through."""
    router = Router(name="mailing_dialog")
    router.message.filter(private_text)
    router.message.register(on_dialog_text, _in_dialog)
    return router


async def _in_dialog(message: TgMessage, staff: StaffDirectory, store: Storage) -> bool | dict[str, Any]:
    member = staff.member(message.from_user.id if message.from_user else None)
    if member is None or member.role not in ADMIN or message.from_user is None:
        return False
    typed = (message.text or "").strip()
    if typed.startswith("/") and typed.lower() not in CANCEL_WORDS:
        return False  # other commands (/start, …) keep their meaning inside the dialog
    state = await _load(store, message.from_user.id)
    if state is None:
        return False
    return {"dialog": state, "member": member}


async def on_dialog_text(
    message: TgMessage,
    event_update: Update,
    dialog: dict[str, Any],
    member: StaffMember,
    store: Storage,
    settings: Settings,
) -> None:
    assert message.from_user is not None
    user_id = message.from_user.id
    typed = (message.text or "").strip()
    now = _now()
    state = dict(dialog)
    reply: str
    async with store.transaction() as conn:
        bot = str(message.bot.id) if message.bot is not None else ""
        if not await repo.mark_processed(conn, "telegram", str(event_update.update_id), now, bot=bot):
            return  # re-delivered: this step was already taken
        if typed.lower() in CANCEL_WORDS:
            await repo.set_state(conn, dialog_key(user_id), "", now)
            reply = CANCELLED_DIALOG
        else:
            try:
                state, reply = await _step(conn, state, typed, member, message.chat.id, settings, now)
            except texts.TextProblem as exc:
                reply = f"{exc}\nПопробуйте еще раз или напишите «отмена»."
            await repo.set_state(conn, dialog_key(user_id), json.dumps(state) if state else "", now)
    await message.answer(reply[:4000])


async def _step(
    conn: Any,
    state: dict[str, Any],
    typed: str,
    member: StaffMember,
    chat_id: int,
    settings: Settings,
    now: datetime,
) -> tuple[dict[str, Any], str]:
    cfg = settings.mailing
    step = state.get("step")
    if step == "text":
        state["text"] = texts.check_text(typed)
        state["step"] = "audience"
        return state, STEP_AUDIENCE_CHANNELS if settings.vk.enabled else STEP_AUDIENCE
    if step == "audience":
        state["audience"] = texts.parse_audience(typed, channels=mailing_channels(settings)).to_json()
        state["step"] = "time"
        return state, STEP_TIME
    audience = store.Audience.from_json(state.get("audience") or {})
    if step == "time":
        at = texts.parse_time(typed, cfg.timezone, now)
        state["at"] = at.isoformat()
        state["step"] = "confirm"
        size = await store.audience_size(conn, audience, now, cfg.frequency_cap_days)
        preview = texts.render(state["text"], member.name or None, cfg.name_fallback)
        when = "сразу после подтверждения" if at <= now else texts.local_time(at, cfg.timezone)
        return state, (
            "Шаг 4 из 4. Проверьте рассылку.\n\n"
            f"——— так увидит получатель ———\n{preview}\n[кнопка «{cfg.button_text}»]\n———\n\n"
            f"Аудитория: {texts.describe_audience(audience)}\n"
            f"Подходят: {size.matching}; недавно приглашены (пропустим): {size.recently_invited}; "
            f"получат: {size.will_receive}\n"
            f"Время: {when}\n\n"
            "Отправьте «да», чтобы запустить, или «отмена»."
        )
    if step == "confirm":
        if typed.lower() not in CONFIRM_WORDS:
            return state, "Отправьте «да», чтобы запустить рассылку, или «отмена»."
        at = datetime.fromisoformat(str(state["at"]))
        campaign = await store.create_campaign(
            conn,
            text=str(state["text"]),
            audience=audience,
            scheduled_at=max(at, now),
            created_by=f"tg:{chat_id}",
            now=now,
            notify_chat=str(chat_id),
        )
        when = (
            "начнется в течение нескольких секунд"
            if at <= now
            else (f"запланирована на {texts.local_time(at, cfg.timezone)}")
        )
        return {}, (
            f"Рассылка №{campaign.id} создана и {when}. Ход отправки покажу здесь.\n"
            f"Приостановить: /mailing_pause {campaign.id}, отменить: /mailing_cancel {campaign.id}"
        )
    return {}, CANCELLED_DIALOG
