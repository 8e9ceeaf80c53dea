"""Staff: roles, commands, who is staff in a channel, and who may receive exports and reports.

Every channel offers staff commands the same way: a `StaffCommand` names the roles that may use it,
a person who is not staff gets the same reply as for an unknown command (so the reply reveals
nothing about who is staff), and a member without the role is told which roles have it.

Only staff with role `analyst` or `admin` get files; a member with `unit` set sees only that
structural unit's data; contacts (messenger ids) only for `admin`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.config import Role, StaffConfig, StaffMember
from reports.errors import ReportError
from reports.options import UNIT, option_text, resolve_option
from storage.channels import Channel
from survey_flow.model import Questionnaire

__all__ = [
    "ADMINS",
    "ALL_STAFF",
    "REPORT_ROLES",
    "AccessDenied",
    "Grant",
    "Role",
    "StaffCommand",
    "StaffDirectory",
    "find_member",
    "grant",
    "help_text",
    "not_available",
    "refusal",
    "staffhelp_command",
    "stats_command",
    "wrong_role",
]

ALL_STAFF = frozenset(Role)
REPORT_ROLES = frozenset({Role.ADMIN, Role.ANALYST})  # who gets exports and reports
ADMINS = frozenset({Role.ADMIN})

NOT_AVAILABLE = "Такой команды нет. Чтобы пройти опрос, отправьте {start}."
WRONG_ROLE = "Эта команда доступна ролям: {roles}."

HandlerT = TypeVar("HandlerT", covariant=True)
H = TypeVar("H")


@dataclass(frozen=True)
class StaffCommand(Generic[HandlerT]):
    """A staff command: `/name`, the roles that may use it, the line of `/staffhelp`, and the
    channel's handler (each messenger calls its handlers its own way)."""

    name: str
    roles: frozenset[Role]
    description: str
    handler: HandlerT


def stats_command(handler: H) -> StaffCommand[H]:
    """`/stats`, answered by `handler` (the text is `bot.core.stats.stats_text` in every channel)."""
    return StaffCommand("stats", ALL_STAFF, "сколько анкет заполнено", handler)


def staffhelp_command(handler: H) -> StaffCommand[H]:
    """`/staffhelp`, answered by `handler` with `help_text`; it does not list itself."""
    return StaffCommand("staffhelp", ALL_STAFF, "команды сотрудника", handler)


def not_available(start: str) -> str:
    """The reply to a command the person may not know of; `start` is how the channel starts the survey."""
    return NOT_AVAILABLE.format(start=start)


def wrong_role(roles: Iterable[Role]) -> str:
    return WRONG_ROLE.format(roles=", ".join(sorted(roles)))


def refusal(member: StaffMember | None, roles: frozenset[Role], start: str) -> str | None:
    """Why `member` may not use a command of `roles`, or None when they may."""
    if member is None:
        return not_available(start)
    if member.role not in roles:
        return wrong_role(roles)
    return None


def help_text(member: StaffMember, commands: Iterable[StaffCommand[Any]]) -> str:
    """`/staffhelp`: who the member is and the commands their role may use."""
    lines = [f"Вы: {member.name or 'сотрудник'}, роль {member.role}."]
    lines += [f"/{c.name} — {c.description}" for c in commands if member.role in c.roles]
    return "\n".join(lines)


def _id_in(member: StaffMember, channel: str) -> int | None:
    return (
        member.telegram_id if channel == Channel.TELEGRAM else member.vk_id if channel == Channel.VK else None
    )


class StaffDirectory:
    """The staff of one channel by their id there (settings refuse an id listed twice)."""

    def __init__(self, config: StaffConfig, channel: str) -> None:
        self._by_id: dict[int, StaffMember] = {}
        for member in config.members:
            user_id = _id_in(member, channel)
            if user_id is not None:
                self._by_id.setdefault(user_id, member)

    def member(self, user_id: int | None) -> StaffMember | None:
        return self._by_id.get(user_id) if user_id is not None else None


def find_member(staff: StaffConfig, channel: str, user_id: int) -> StaffMember | None:
    return StaffDirectory(staff, channel).member(user_id)


class AccessDenied(Exception):
    """The message is shown to the person as is."""


@dataclass(frozen=True)
class Grant:
    unit: str | None  # None: all units
    with_contacts: bool


def grant(
    q: Questionnaire,
    member: StaffMember | None,
    requested_unit: str | None,
    *,
    with_contacts: bool = False,
) -> Grant:
    """What `member` may get for a request of `requested_unit` (None: all units)."""
    if member is None or member.role not in REPORT_ROLES:
        raise AccessDenied("Выгрузки и отчеты доступны только аналитикам и администраторам.")
    if with_contacts and member.role is not Role.ADMIN:
        raise AccessDenied("Выгрузка с контактами респондентов доступна только администратору.")
    try:
        requested = (
            None if requested_unit is None else resolve_option(q, UNIT, requested_unit, "подразделение")
        )
        own = None if member.unit is None else resolve_option(q, UNIT, member.unit, "[staff] unit")
    except ReportError as exc:
        raise AccessDenied(str(exc)) from None
    if own is None:
        return Grant(requested, with_contacts)
    if requested not in (None, own):
        raise AccessDenied(f"Вам доступны только данные подразделения «{option_text(q, UNIT, own)}».")
    return Grant(own, with_contacts)
