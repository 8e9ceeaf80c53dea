"""`/clients` in Telegram: staff enter the Appendix 2 total of clients who interacted with the
ministry in a quarter (the same record as `otklik clients set`), in one line:

    /clients 2025Q3 <unit code> <online|offline> <number> <process group or point code>
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram.types import Message as TgMessage

from bot.config import Settings, StaffMember
from bot.core.staff import ALL_STAFF, StaffCommand
from bot.errors import UsageError
from reports.appendix2 import CHANNELS, process_groups, resolve_channel, resolve_group
from reports.errors import ReportError
from reports.options import UNIT, option_text, resolve_option
from reports.period import quarter_key
from storage import reports_repo
from storage.schema import DB_INT_MAX
from storage.store import Storage
from survey_flow.model import Questionnaire

USAGE = (
    "Число клиентов для Приложения № 2, одной строкой:\n"
    "/clients 2025Q3 <код подразделения> <online|offline> <число> <группа процессов>\n"
    "Например: /clients 2025Q3 2 offline 120 Личный приём в здании министерства"
)


def parse(text: str, q: Questionnaire, settings: Settings) -> tuple[str, str, str, int, str]:
    parts = text.split(maxsplit=5)
    if len(parts) < 6:
        raise UsageError(USAGE)
    _, quarter, unit, channel, number, group = parts
    # isascii: isdigit() also accepts «²» and other digits int() refuses; the bound is the column's.
    if not (number.isascii() and number.isdigit()) or int(number) > DB_INT_MAX:
        raise UsageError(
            f"Число клиентов — целое неотрицательное число (до {DB_INT_MAX}), получено «{number[:20]}».\n\n{USAGE}"
        )
    return (
        quarter_key(quarter),
        resolve_option(q, UNIT, unit, "подразделение"),
        resolve_channel(channel),
        int(number),
        resolve_group(process_groups(q, settings.reports.group_pairs()), group),
    )


async def set_clients(
    message: TgMessage,
    member: StaffMember,
    storage: Storage,
    questionnaire: Questionnaire,
    settings: Settings,
) -> None:
    q = questionnaire
    try:
        quarter, unit, channel, total, group = parse(message.text or "", q, settings)
    except (UsageError, ReportError) as exc:
        await message.answer(str(exc).replace("--group: ", "").replace("--channel: ", "")[:3500])
        return
    if member.unit and unit != resolve_option(q, UNIT, member.unit, "[staff] unit"):
        await message.answer("Вы можете вносить числа только своего подразделения.")
        return
    async with storage.transaction() as conn:
        await reports_repo.set_client_total(
            conn, quarter=quarter, unit=unit, process_group=group, channel=channel, total=total,
            now=datetime.now(UTC), by=f"tg:{message.from_user.id if message.from_user else '?'}",
        )  # fmt: skip
    await message.answer(
        f"Записано: {quarter}, {option_text(q, UNIT, unit)}, «{group}», {dict(CHANNELS)[channel]}: {total} чел."
    )


CLIENTS = StaffCommand("clients", ALL_STAFF, "число обратившихся клиентов (Приложение № 2)", set_clients)
