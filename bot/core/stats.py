"""Channel-neutral texts of staff commands (the same `/stats` in Telegram and VK)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.config import StaffMember
from reports.options import of_unit
from storage.stats import survey_counts
from storage.store import Storage
from survey_flow.model import Questionnaire


async def stats_text(
    storage: Storage, q: Questionnaire, member: StaffMember, now: datetime | None = None
) -> str:
    now = now or datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    quarter_start = today.replace(month=3 * ((today.month - 1) // 3) + 1, day=1)
    async with storage.transaction() as conn:
        counts = await survey_counts(conn, today=today, since=quarter_start, unit=of_unit(q, member.unit))
    scope = f"подразделение {member.unit}" if member.unit else "все подразделения"
    return (
        f"Анкеты ({scope}):\n"
        f"заполнено сегодня: {counts.completed_today}\n"
        f"заполнено в этом квартале: {counts.completed_since}\n"
        f"начато и не закончено: {counts.in_progress}\n"
        f"согласны на приглашения: {counts.consenting}"
    )
