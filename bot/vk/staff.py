"""Staff commands in VK: the roles of `[staff]` (by `vk_id`), the same refusal for everyone else.

Only `/stats` and `/staffhelp` exist here. The commands, roles, refusals and the help text are
those of `bot.core.staff`, as in Telegram; a VK handler returns the reply's text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.config import StaffConfig, StaffMember
from bot.core.staff import (
    StaffCommand,
    StaffDirectory,
    help_text,
    not_available,
    refusal,
    staffhelp_command,
    stats_command,
)
from bot.core.stats import stats_text
from storage.channels import Channel
from storage.store import Storage
from survey_flow.model import Questionnaire

START = "«Начать»"
NOT_AVAILABLE = not_available(START)

VkHandler = Callable[[Storage, Questionnaire, StaffMember], Awaitable[str]]
VkCommand = StaffCommand[VkHandler]

STATS = stats_command(stats_text)


class VkStaff:
    def __init__(
        self, config: StaffConfig, q: Questionnaire, commands: tuple[VkCommand, ...] = (STATS,)
    ) -> None:
        self._directory = StaffDirectory(config, Channel.VK)
        self._q = q
        self._commands = {c.name: c for c in commands}
        self._help = staffhelp_command(self._show_help)

    def member(self, vk_id: int) -> StaffMember | None:
        return self._directory.member(vk_id)

    def wants(self, text: str) -> bool:
        """Whether a message is a staff command (/stats, /staffhelp); anything else is the survey's."""
        return self._name(text) in (*self._commands, self._help.name)

    async def answer(self, storage: Storage, vk_id: int, text: str) -> str:
        name = self._name(text)
        command = self._help if name == self._help.name else self._commands[name]
        member = self.member(vk_id)
        refused = refusal(member, command.roles, START)
        if refused is not None:
            return refused
        assert member is not None  # refusal() refuses None
        return await command.handler(storage, self._q, member)

    async def _show_help(self, storage: Storage, q: Questionnaire, member: StaffMember) -> str:
        del storage, q
        return help_text(member, self._commands.values())

    @staticmethod
    def _name(text: str) -> str:
        words = text.strip().split()
        if not words or not words[0].startswith("/"):
            return ""
        return words[0][1:].split("@")[0].lower()
