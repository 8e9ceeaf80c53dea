"""The mailing's Telegram side: the invitation transport, the staff notifier, and for role `admin`
the guided `/mailing` dialog and campaign commands.

Telegram has no idempotency key, so a request whose fate is unknown (a timeout, a dropped
connection after the request left) is reported as `unknown` and never repeated; only answers
that prove the message was not accepted (429, 5xx, a connection that was never made) are retried.

The dialog's state lives in the database (`channel_state`, key `mailing:dialog:<telegram id>`),
so a restart in the middle of it loses nothing; each step is stored together with the update id
in one transaction, so a re-delivered update is not applied twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiogram import Bot, Router
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Update
from aiogram.types import Message as TgMessage

from bot.config import Settings, StaffMember
from bot.core.clock import utcnow
from bot.core.retry import BackoffConfig
from bot.mailing import texts
from bot.mailing.control import ControlError, change_status
from bot.mailing.limiter import RateLimiter
from bot.mailing.transport import Delivered, Notifier, OnRequest, SendStats, Transport
from bot.runtime.metrics import Metrics
from bot.telegram.filters import private_text
from bot.telegram.retry import RetryPolicy, call_with_retry
from bot.telegram.staff import StaffCommand, StaffDirectory
from storage import mailing as store
from storage import repository as repo
from storage.channels import Channel
from storage.store import Storage

log = logging.getLogger(__name__)

# aiohttp errors raised before anything was sent: retrying cannot duplicate a message.
NOT_SENT_ERRORS = ("ClientConnectorError", "ClientConnectorDNSError", "ClientConnectorCertificateError")
# Retries of an invitation that provably did not arrive (5xx, no connection).
SEND_BACKOFF = BackoffConfig(first=0.5, limit=10.0, jitter=0.25)


# --- delivering invitations and notices ---------------------------------------------------


class TelegramTransport:
    def __init__(
        self,
        bot: Bot,
        limiter: RateLimiter,
        *,
        attempts: int = 5,
        max_flood_waits: int = 20,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        paid_broadcast: bool = False,
        username: str = "",
        metrics: Metrics | None = None,
    ) -> None:
        self.bot = bot
        self.metrics = metrics or Metrics()
        self.username = username
        # Above 30 messages/s Telegram wants `allow_paid_broadcast` (charged in Stars per message).
        self.paid_broadcast = paid_broadcast
        self.limiter = limiter
        self.attempts = attempts
        self.max_flood_waits = max_flood_waits
        self.stats = SendStats()
        self._sleep = sleep

    def survey_link(self, key: str) -> str:
        return f"https://t.me/{self.username}?start={key}" if key else f"https://t.me/{self.username}"

    async def send(
        self,
        external_id: str,
        text: str,
        button: tuple[str, str] | None,
        *,
        identity: str = "",
        on_request: OnRequest | None = None,
    ) -> Delivered:
        del identity  # Telegram has no idempotency key
        markup = None
        if button is not None:
            label, url = button
            markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=label, url=url)]])
        failures = floods = 0
        while True:
            await self.limiter.acquire(external_id)
            if on_request is not None:
                await on_request()
                on_request = None  # retries repeat the same request
            try:
                sent = await self.bot.send_message(
                    int(external_id),
                    text,
                    reply_markup=markup,
                    allow_paid_broadcast=True if self.paid_broadcast else None,
                )
            except TelegramRetryAfter as exc:
                floods += 1
                self.stats.rate_limited += 1
                self.metrics.mailing_rate_limited(Channel.TELEGRAM)
                self.limiter.back_off(float(exc.retry_after))
                if floods > self.max_flood_waits:
                    return Delivered(store.FAILED, error=f"429 {floods} раз подряд")
                continue
            except TelegramForbiddenError as exc:
                return Delivered(store.UNREACHABLE, error=_short(exc))
            except TelegramBadRequest as exc:
                if "chat not found" in exc.message.lower() or "user is deactivated" in exc.message.lower():
                    return Delivered(store.UNREACHABLE, error=_short(exc))
                return Delivered(store.FAILED, error=_short(exc))
            except (TelegramServerError, TelegramNetworkError) as exc:
                if isinstance(exc, TelegramNetworkError) and not exc.message.startswith(NOT_SENT_ERRORS):
                    # The request may have reached Telegram: repeating it could duplicate the message.
                    return Delivered(store.UNKNOWN, error=_short(exc))
                failures += 1
                if failures >= self.attempts:
                    return Delivered(store.FAILED, error=_short(exc))
                self.stats.retried += 1
                await self._sleep(SEND_BACKOFF.delay(failures))
                continue
            except TelegramAPIError as exc:
                return Delivered(store.FAILED, error=_short(exc))
            self.stats.sent += 1
            return Delivered(store.SENT, message_id=str(sent.message_id))


def _short(exc: TelegramAPIError) -> str:
    return f"{type(exc).__name__}: {exc.message}"[:300]


class TelegramNotifier:
    """Staff notices through the bot; failures are logged, never fatal to a campaign."""

    def __init__(self, bot: Bot, limiter: RateLimiter | None = None) -> None:
        self.bot = bot
        self.limiter = limiter  # staff notices share the invitations' budget

    async def tell(self, chat: str, text: str) -> int | None:
        if self.limiter is not None:
            await self.limiter.acquire(chat)
        try:
            sent = await call_with_retry(
                lambda: self.bot.send_message(int(chat), text), RetryPolicy(attempts=3), what="notice"
            )
        except TelegramAPIError as exc:
            log.warning("staff notice to %s not sent: %s", chat, exc)
            return None
        return sent.message_id

    async def edit(self, chat: str, message_id: int, text: str) -> None:
        try:
            await call_with_retry(
                lambda: self.bot.edit_message_text(text=text, chat_id=int(chat), message_id=message_id),
                RetryPolicy(attempts=3),
                what="progress",
            )
        except TelegramBadRequest:
            pass  # not modified
        except TelegramAPIError as exc:
            log.info("progress edit failed: %s", exc)


def telegram_transport(
    settings: Settings, bot: Bot, username: str, metrics: Metrics | None = None
) -> tuple[Transport, Notifier]:
    """The Telegram transport and the staff notifier, sharing one rate limiter."""
    cfg = settings.mailing
    limiter = RateLimiter(cfg.rate(), cfg.per_chat_per_second, safety_margin=cfg.safety_margin)
    transport = TelegramTransport(
        bot, limiter, paid_broadcast=cfg.paid_broadcast, username=username, metrics=metrics
    )
    return transport, TelegramNotifier(bot, limiter)


# --- the /mailing dialog and campaign commands ---------------------------------------------

ADMIN = frozenset({"admin"})
CANCEL_WORDS = frozenset({"отмена", "отменить", "/cancel", "cancel", "стоп"})
CONFIRM_WORDS = frozenset({"да", "подтверждаю", "yes", "ок", "ok"})
STEP_TEXT = (
    "Новая рассылка приглашений к опросу. Шаг 1 из 4: пришлите текст приглашения.\n"
    "Можно вставить {name} — имя получателя. Под текстом будет кнопка «Пройти опрос».\n"
    "Выйти из диалога: «отмена»."
)
STEP_AUDIENCE = "Шаг 2 из 4. " + texts.AUDIENCE_HELP
STEP_AUDIENCE_CHANNELS = "Шаг 2 из 4. " + texts.audience_help((Channel.TELEGRAM, Channel.VK))
STEP_TIME = "Шаг 3 из 4. " + texts.TIME_HELP
CANCELLED_DIALOG = "Создание рассылки отменено."


def dialog_key(user_id: int) -> str:
    return f"mailing:dialog:{user_id}"


def mailing_channels(settings: Settings) -> tuple[str, ...]:
    """Channels a campaign can go to from the dialog: Telegram, and VK when it is enabled."""
    return (Channel.TELEGRAM, Channel.VK) if settings.vk.enabled else (Channel.TELEGRAM,)


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
        await repo.set_state(conn, dialog_key(message.from_user.id), json.dumps({"step": "text"}), utcnow())
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
            text = await change_status(storage, int(parts[1]), action, utcnow())
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
    now = utcnow()
    state = dict(dialog)
    reply: str
    async with store.transaction() as conn:
        bot = str(message.bot.id) if message.bot is not None else ""
        if not await repo.mark_processed(conn, Channel.TELEGRAM, str(event_update.update_id), now, bot=bot):
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
