"""`/stats` (Telegram and VK): a unit-limited staff member sees their unit only, consents included."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.config import StaffMember
from bot.core.conversation import Conversation
from bot.core.messages import Incoming
from bot.core.stats import stats_text
from storage.store import Storage
from tests.helpers import IN_PERSON_PROVIDED


async def fill(conversation: Conversation, user: str, unit: str, *, consent: str | None) -> None:
    await conversation.handle(Incoming("telegram", user, "start"))
    inputs = list(IN_PERSON_PROVIDED)
    inputs[2] = unit  # question 3(13), the structural unit
    for text in inputs:
        await conversation.handle(Incoming("telegram", user, "text", text=text))
    if consent is not None:
        await conversation.handle(Incoming("telegram", user, "text", text=consent))


def counts(text: str) -> list[str]:
    return [line.rsplit(": ", 1)[1] for line in text.splitlines()[1:]]


async def test_unit_limited_stats_count_only_their_unit(conversation: Conversation, storage: Storage) -> None:
    await fill(conversation, "a", "1", consent="да")
    await fill(conversation, "b", "2", consent="да")
    await fill(conversation, "c", "2", consent="да")
    await fill(conversation, "d", "2", consent="нет")
    await conversation.handle(Incoming("telegram", "e", "start"))  # unit not answered yet
    now = datetime.now(UTC)
    everyone = await stats_text(storage, conversation.q, StaffMember(role="admin"), now)
    unit_1 = await stats_text(storage, conversation.q, StaffMember(role="operator", unit="1"), now)
    unit_2 = await stats_text(storage, conversation.q, StaffMember(role="operator", unit="2"), now)
    unit_3 = await stats_text(storage, conversation.q, StaffMember(role="operator", unit="3"), now)
    # today, this quarter, in progress, consenting
    assert counts(everyone) == ["4", "4", "1", "3"]
    assert counts(unit_1) == ["1", "1", "0", "1"]
    assert counts(unit_2) == ["3", "3", "0", "2"]
    assert counts(unit_3) == ["0", "0", "0", "0"]
    assert "подразделение 2" in unit_2
