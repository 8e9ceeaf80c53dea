"""Staff commands in VK: the roles of `[staff]` (by `vk_id`), the same refusal for everyone else.

Only `/stats` and `/staffhelp` exist here (as in Telegram). A person who is not staff gets the same
reply as for an unknown command, so the reply reveals nothing about who is staff.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.config import StaffConfig, StaffMember
from bot.core.staff import find_member
from bot.core.stats import stats_text
from storage.store import Storage
from survey_flow.model import Questionnaire

NOT_AVAILABLE = "Такой команды нет. Чтобы пройти опрос, отправьте «Начать»."
WRONG_ROLE = "Эта команда доступна ролям: {roles}."
ALL_ROLES = frozenset({"admin", "analyst", "operator"})

StaffHandler = Callable[[Storage, Questionnaire, StaffMember], Awaitable[str]]


@dataclass(frozen=True)
class StaffCommand:
    name: str
    roles: frozenset[str]
    description: str
    handler: StaffHandler


STATS = StaffCommand("stats", ALL_ROLES, "сколько анкет заполнено", stats_text)


class VkStaff:
    def __init__(
        self, config: StaffConfig, q: Questionnaire, commands: tuple[StaffCommand, ...] = (STATS,)
    ) -> None:
        self._config = config
        self._q = q
        self._commands = {c.name: c for c in commands}

    def member(self, vk_id: int) -> StaffMember | None:
        return find_member(self._config, "vk", vk_id)

    def wants(self, text: str) -> bool:
        """Whether a message is a staff command (/stats, /staffhelp); anything else is the survey's."""
        return self._name(text) in (*self._commands, "staffhelp")

    async def answer(self, storage: Storage, vk_id: int, text: str) -> str:
        member = self.member(vk_id)
        if member is None:
            return NOT_AVAILABLE
        name = self._name(text)
        if name == "staffhelp":
            lines = [f"Вы: {member.name or 'сотрудник'}, роль {member.role}."]
            lines += [
                f"/{c.name} — {c.description}" for c in self._commands.values() if member.role in c.roles
            ]
            return "\n".join(lines)
        command = self._commands[name]
        if member.role not in command.roles:
            return WRONG_ROLE.format(roles=", ".join(sorted(command.roles)))
        return await command.handler(storage, self._q, member)

    @staticmethod
    def _name(text: str) -> str:
        words = text.strip().split()
        if not words or not words[0].startswith("/"):
            return ""
        return words[0][1:].split("@")[0].lower()
