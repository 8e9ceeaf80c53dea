"""Who may receive exports and reports in a messenger (channel-neutral; the bots call this).

Only staff with role `analyst` or `admin` get files; a member with `unit` set sees only that
structural unit's data; contacts (messenger ids) only for `admin`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import StaffConfig, StaffMember
from reports.errors import ReportError
from reports.options import UNIT, option_text, resolve_option
from survey_flow.model import Questionnaire

REPORT_ROLES = frozenset({"analyst", "admin"})


class AccessDenied(Exception):
    """The message is shown to the person as is."""


@dataclass(frozen=True)
class Grant:
    unit: str | None  # None: all units
    with_contacts: bool


def find_member(staff: StaffConfig, channel: str, user_id: int) -> StaffMember | None:
    for member in staff.members:
        if (channel == "telegram" and member.telegram_id == user_id) or (
            channel == "vk" and member.vk_id == user_id
        ):
            return member
    return None


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
    if with_contacts and member.role != "admin":
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
