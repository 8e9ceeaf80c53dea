"""Staff commands in Telegram: `StaffFilter` lets a member with the command's role through and
hands the handler `member`; everyone else gets the refusal of `bot.core.staff`.

A handler is an ordinary aiogram handler and declares what it needs by name, from the
dispatcher's data (`storage`, `settings`, `questionnaire`) and from the filter (`member`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiogram import Router
from aiogram.filters import Command, Filter
from aiogram.types import CallbackQuery
from aiogram.types import Message as TgMessage

from bot.config import StaffMember
from bot.core.staff import (
    Role,
    StaffCommand,
    StaffDirectory,
    help_text,
    not_available,
    refusal,
    staffhelp_command,
    stats_command,
)
from bot.core.stats import stats_text
from bot.telegram.filters import private_chat
from storage.store import Storage
from survey_flow.model import Questionnaire

NOT_AVAILABLE = not_available("/start")

# An aiogram handler: it receives what it names (message, member, storage, settings, …).
TelegramHandler = Callable[..., Awaitable[None]]
TelegramCommand = StaffCommand[TelegramHandler]


class StaffFilter(Filter):
    """Passes a staff member with one of `roles`, adding `{"member": member}` to the handler's data.

    Anyone else is refused: a message gets the refusal of `bot.core.staff.refusal` (a stranger the
    reply to an unknown command), a button press the unknown-command reply, since only someone
    with the role could have been shown the button. With `quiet`, nobody is answered and the event
    goes on to the next handlers. A coroutine, as every filter here (`bot/telegram/filters.py`).
    """

    def __init__(self, roles: frozenset[Role], *, quiet: bool = False) -> None:
        self.roles = roles
        self.quiet = quiet

    async def __call__(
        self, event: TgMessage | CallbackQuery, staff: StaffDirectory
    ) -> bool | dict[str, Any]:
        member = staff.member(event.from_user.id if event.from_user else None)
        refused = refusal(member, self.roles, "/start")
        if refused is None:
            return {"member": member}
        if not self.quiet:
            if isinstance(event, CallbackQuery):
                await event.answer(NOT_AVAILABLE)
            else:
                await event.answer(refused)
        return False


def staff_router(commands: Sequence[TelegramCommand]) -> Router:
    router = Router(name="staff")
    router.message.filter(private_chat)
    every = (*commands, help_command(commands))
    for command in every:
        router.message.register(command.handler, Command(command.name), StaffFilter(command.roles))
    # A refused command was answered by its StaffFilter; it stops here rather than reach the survey.
    router.message.register(_refused, Command(*(c.name for c in every)))
    return router


async def _refused(message: TgMessage) -> None:
    del message


def help_command(commands: Sequence[TelegramCommand]) -> TelegramCommand:
    async def show_help(message: TgMessage, member: StaffMember) -> None:
        await message.answer(help_text(member, commands))

    return staffhelp_command(show_help)


async def _stats(
    message: TgMessage, member: StaffMember, storage: Storage, questionnaire: Questionnaire
) -> None:
    await message.answer(await stats_text(storage, questionnaire, member))


STATS = stats_command(_stats)
