"""Who may see and answer a case: staff of the case's unit and admins (docs/cases.md).

The one place that decides it, so the staff model can change under it without touching callers.
"""

from __future__ import annotations

from bot.config import StaffMember
from reports.errors import ReportError
from reports.options import UNIT, resolve_option
from survey_flow.model import Questionnaire

ADMIN = "admin"


def own_unit(q: Questionnaire, member: StaffMember) -> str | None:
    """The option code of the member's unit, or None when none is set (or it is not a unit)."""
    if member.unit is None:
        return None
    try:
        return resolve_option(q, UNIT, member.unit, "[staff] unit")
    except ReportError:
        return None


def may_handle(q: Questionnaire, member: StaffMember | None, unit: str) -> bool:
    """True when `member` may read, answer and close a case of `unit`."""
    if member is None:
        return False
    return member.role == ADMIN or own_unit(q, member) == unit


def visible_units(q: Questionnaire, member: StaffMember | None) -> tuple[bool, str | None]:
    """(allowed, unit) for lists: admins see all units (None), other staff their own unit only;
    staff without a unit see no cases."""
    if member is None:
        return False, None
    if member.role == ADMIN:
        return True, None
    unit = own_unit(q, member)
    return unit is not None, unit
