"""Staff commands in Telegram: roles from `[staff]`, a neutral refusal for everyone else.

Later features add their commands as `StaffCommand`s; the router checks the role before the
handler runs, so a handler never sees a person without the right role.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message as TgMessage

from bot.config import StaffConfig, StaffMember
from bot.core.stats import stats_text
from bot.telegram.filters import private_chat

NOT_AVAILABLE = "Такой команды нет. Чтобы пройти опрос, отправьте /start."
WRONG_ROLE = "Эта команда доступна ролям: {roles}."

StaffHandler = Callable[[TgMessage, StaffMember, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class StaffCommand:
    name: str
    roles: frozenset[str]
    description: str
    handler: StaffHandler


class StaffDirectory:
    def __init__(self, config: StaffConfig) -> None:
        self._by_tg = {m.telegram_id: m for m in config.members if m.telegram_id is not None}

    def member(self, telegram_id: int | None) -> StaffMember | None:
        return self._by_tg.get(telegram_id) if telegram_id is not None else None


def staff_router(commands: Sequence[StaffCommand]) -> Router:
    router = Router(name="staff")
    router.message.filter(private_chat)
    for command in (*commands, help_command(commands)):
        router.message.register(_guarded(command), Command(command.name))
    return router


def _guarded(command: StaffCommand) -> Callable[..., Awaitable[None]]:
    async def handler(message: TgMessage, staff: StaffDirectory, **data: Any) -> None:
        member = staff.member(message.from_user.id if message.from_user else None)
        if member is None:
            await message.answer(NOT_AVAILABLE)  # same reply as an unknown command: reveals nothing
            return
        if member.role not in command.roles:
            await message.answer(WRONG_ROLE.format(roles=", ".join(sorted(command.roles))))
            return
        await command.handler(message, member, data)

    handler.__name__ = f"staff_{command.name}"
    return handler


def help_command(commands: Sequence[StaffCommand]) -> StaffCommand:
    async def show_help(message: TgMessage, member: StaffMember, data: dict[str, Any]) -> None:
        lines = [f"Вы: {member.name or 'сотрудник'}, роль {member.role}."]
        lines += [f"/{c.name} — {c.description}" for c in commands if member.role in c.roles]
        await message.answer("\n".join(lines))

    return StaffCommand(
        "staffhelp", frozenset({"admin", "analyst", "operator"}), "команды сотрудника", show_help
    )


async def _stats(message: TgMessage, member: StaffMember, data: dict[str, Any]) -> None:
    await message.answer(await stats_text(data["store"], data["questionnaire"], member))


STATS = StaffCommand("stats", frozenset({"admin", "analyst", "operator"}), "сколько анкет заполнено", _stats)
