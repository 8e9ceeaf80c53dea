"""Who gets files in a messenger: analysts and admins; unit-limited staff see their unit only."""

from __future__ import annotations

import pytest

from bot.config import StaffConfig, StaffMember
from bot.core.staff import AccessDenied, Grant, find_member, grant
from survey_flow.model import Questionnaire

STAFF = StaffConfig(
    members=[
        StaffMember(telegram_id=1, role="admin"),
        StaffMember(telegram_id=2, role="analyst"),
        StaffMember(telegram_id=3, vk_id=33, role="analyst", unit="2"),
        StaffMember(telegram_id=4, role="operator"),
    ]
)


def member(user_id: int) -> StaffMember | None:
    return find_member(STAFF, "telegram", user_id)


def test_non_analysts_are_refused(questionnaire: Questionnaire) -> None:
    for user_id in (4, 999):  # an operator; a stranger
        with pytest.raises(AccessDenied, match="только аналитикам и администраторам"):
            grant(questionnaire, member(user_id), None)


def test_roles_units_and_contacts(questionnaire: Questionnaire) -> None:
    assert grant(questionnaire, member(1), None, with_contacts=True) == Grant(None, True)
    assert grant(questionnaire, member(2), "Управление развития туризма") == Grant("4", False)
    with pytest.raises(AccessDenied, match="только администратору"):
        grant(questionnaire, member(2), None, with_contacts=True)
    limited = find_member(STAFF, "vk", 33)
    assert limited is member(3)
    assert grant(questionnaire, limited, None) == Grant("2", False)  # all units -> their own
    assert grant(questionnaire, limited, "2") == Grant("2", False)
    with pytest.raises(
        AccessDenied, match="только данные подразделения «Управление инвестиционной политики»"
    ):
        grant(questionnaire, limited, "1")
    with pytest.raises(AccessDenied, match="нет варианта «99»"):
        grant(questionnaire, member(2), "99")
