"""Campaign texts: placeholders, audience and time parsing, progress lines (Russian for staff)."""

from __future__ import annotations

import re
import string
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from reports.period import FIRST_DATE, LAST_DATE, RANGE_TEXT
from storage.channels import Channel
from storage.mailing import (
    CAMPAIGN_FAILED,
    CANCELLED,
    DONE,
    FAILED,
    MISSED,
    PAUSED,
    RUNNING,
    SCHEDULED,
    SENT,
    UNKNOWN,
    UNREACHABLE,
    Audience,
    Campaign,
    Progress,
)

PLACEHOLDERS = frozenset({"name"})
MAX_TEXT = 3500  # the typed template; the message after substitution is checked separately
MAX_MESSAGE = 4096  # Telegram and VK refuse longer messages (Telegram counts UTF-16 code units)
# The longest name put into {name}: Telegram's own limit for a first name (the only name stored).
# A longer stored name, or a longer [mailing].name_fallback, is cut to it.
NAME_LIMIT = 64

STATUS_NAMES = {
    SCHEDULED: "запланирована",
    RUNNING: "идет отправка",
    PAUSED: "приостановлена",
    DONE: "завершена",
    CANCELLED: "отменена",
    MISSED: "пропущена",
    CAMPAIGN_FAILED: "не отправлена (текст нельзя подставить)",
}


class TextProblem(ValueError):
    """A campaign value a person typed is not usable; the message says why (in Russian)."""


def message_length(text: str) -> int:
    """The length as Telegram counts it: UTF-16 code units (an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


def _clip(name: str, limit: int = NAME_LIMIT) -> str:
    while message_length(name) > limit:
        name = name[:-1]
    return name


def _pieces(text: str) -> list[tuple[str, bool]]:
    """(literal text, whether {name} follows) for each piece; only a bare {name} is a placeholder.

    Format specs (`{name:>5000}`), conversions (`{name!r}`), attribute and index access
    (`{name.x}`, `{name[0]}`) are refused: they either fail at sending time or blow the length up.
    """
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        raise TextProblem(
            "В тексте непарная фигурная скобка. Подстановки пишутся так: {name}; "
            "чтобы вывести саму скобку, удвойте ее: {{ или }}."
        ) from None
    pieces = []
    for literal, field, spec, conversion in parsed:
        if field is None:
            pieces.append((literal, False))
            continue
        written = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if re.split(r"[.\[]", field, maxsplit=1)[0] not in PLACEHOLDERS:
            raise TextProblem(
                f"Неизвестная подстановка {written}. Доступна только {{name}} — имя получателя."
            )
        if field not in PLACEHOLDERS or spec or conversion:
            raise TextProblem(
                f"Подстановка {written} не поддерживается: пишите просто {{name}}, без двоеточия, "
                "восклицательного знака, точки и квадратных скобок."
            )
        pieces.append((literal, True))
    return pieces


def check_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise TextProblem("Текст приглашения пуст.")
    if len(text) > MAX_TEXT:
        raise TextProblem(f"Текст слишком длинный: {len(text)} символов, допускается до {MAX_TEXT}.")
    pieces = _pieces(text)
    names = sum(1 for _, has_name in pieces if has_name)
    longest = sum(message_length(literal) for literal, _ in pieces) + names * NAME_LIMIT
    if longest > MAX_MESSAGE:
        raise TextProblem(
            f"Текст слишком длинный: с самым длинным именем ({NAME_LIMIT} символов в каждой из {names} "
            f"подстановок {{name}}) сообщение займет {longest} символов, а Telegram и ВКонтакте "
            f"принимают до {MAX_MESSAGE}. Сократите текст или уберите часть подстановок."
        )
    return text


def render(text: str, name: str | None, fallback: str) -> str:
    """The message a recipient gets; raises TextProblem for a text `check_text` would refuse."""
    chosen = _clip((name or "").strip() or fallback)
    return "".join(literal + (chosen if has_name else "") for literal, has_name in _pieces(text))


AUDIENCE_KEYS = {
    "мера": "support_measure",
    "подразделение": "unit",
    "район": "district",
    "давно": "completed_before_days",
    "никогда": "never_completed",
}
AUDIENCE_HELP = (
    "Аудитория: «все» — все согласившиеся получать приглашения в Telegram; или фильтры через "
    "пробел: мера=<код> подразделение=<код> район=<код> давно=<дней> (последний опрос пройден "
    "больше N дней назад или не пройден вовсе), никогда (ни разу не прошли опрос)."
)
CHANNEL_HELP = (
    "Канал: по умолчанию Telegram; для ВКонтакте начните с «вк» (например «вк все» или «вк мера=1»)."
)
CHANNEL_WORDS = {
    "telegram": Channel.TELEGRAM, "телеграм": Channel.TELEGRAM, "тг": Channel.TELEGRAM,
    "tg": Channel.TELEGRAM, "vk": Channel.VK, "вк": Channel.VK, "вконтакте": Channel.VK,
}  # fmt: skip
CHANNEL_NAMES: dict[str, str] = {Channel.TELEGRAM: "Telegram", Channel.VK: "ВКонтакте"}
ALL_WORDS = frozenset({"все", "всем", "all", "*"})


def audience_help(channels: Collection[str] = (Channel.TELEGRAM,)) -> str:
    """The audience help; the channel choice is offered only when more than Telegram is running."""
    if Channel.VK not in channels:
        return AUDIENCE_HELP
    return AUDIENCE_HELP.replace("в Telegram", "в выбранном канале") + " " + CHANNEL_HELP


def parse_audience(
    spec: str, channel: str = Channel.TELEGRAM, channels: Collection[str] = (Channel.TELEGRAM,)
) -> Audience:
    """«все» or `мера=1 подразделение=2 район=3 давно=90 никогда`; with `channels` beyond
    Telegram also a channel word (`вк`, `телеграм`, or `канал=вк`)."""
    values: dict[str, object] = {}
    for part in spec.strip().lower().split():
        key, _, value = part.partition("=")
        if part in ALL_WORDS:
            continue
        if part in CHANNEL_WORDS or key == "канал":
            chosen = CHANNEL_WORDS.get(value if key == "канал" else part)
            if chosen is None:
                raise TextProblem(f"Неизвестный канал «{value}»: telegram или вк.")
            if chosen not in channels:
                raise TextProblem(
                    f"Канал {CHANNEL_NAMES[chosen]} не подключен; рассылка возможна в: "
                    + ", ".join(CHANNEL_NAMES[c] for c in channels)
                    + "."
                )
            channel = chosen
            continue
        field_name = AUDIENCE_KEYS.get(key)
        if field_name is None:
            raise TextProblem(f"Непонятный фильтр «{part}». {audience_help(channels)}")
        if field_name == "never_completed":
            values[field_name] = True
            continue
        if not value:
            raise TextProblem(f"У фильтра «{key}» нет значения: {key}=…")
        if field_name == "completed_before_days":
            if not value.isdigit() or not 0 < int(value) <= 3650:
                raise TextProblem("давно=<дней>: целое число от 1 до 3650.")
            values[field_name] = int(value)
        else:
            values[field_name] = value
    return Audience(channel=channel, **values)  # type: ignore[arg-type]


def describe_audience(audience: Audience) -> str:
    parts = [f"согласившиеся получать приглашения ({CHANNEL_NAMES.get(audience.channel, audience.channel)})"]
    if audience.support_measure:
        parts.append(f"мера поддержки {audience.support_measure}")
    if audience.unit:
        parts.append(f"подразделение {audience.unit}")
    if audience.district:
        parts.append(f"район {audience.district}")
    if audience.never_completed:
        parts.append("ни разу не прошли опрос")
    elif audience.completed_before_days is not None:
        parts.append(f"последний опрос больше {audience.completed_before_days} дн. назад или никогда")
    return ", ".join(parts)


TIME_HELP = "Время: «сейчас» или дата и время, например 25.12.2026 10:00 (или 2026-12-25 10:00)."


def parse_time(spec: str, zone: str, now: datetime) -> datetime:
    """A time typed by staff in the service's time zone, as UTC; «сейчас» is now."""
    spec = spec.strip().lower()
    if spec in ("сейчас", "now", ""):
        return now
    tz = ZoneInfo(zone)
    for pattern in ("%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%d.%m.%Y"):
        try:
            local = datetime.strptime(spec, pattern)
        except ValueError:
            continue
        _check_year(spec, local)
        value = local.replace(tzinfo=tz).astimezone(UTC)
        if value < now - timedelta(minutes=1):
            raise TextProblem(f"Время {spec} уже прошло. {TIME_HELP}")
        return value
    try:
        parsed = datetime.fromisoformat(spec)
    except ValueError:
        raise TextProblem(f"Не понимаю время «{spec}». {TIME_HELP}") from None
    _check_year(spec, parsed)
    value = (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).astimezone(UTC)
    if value < now - timedelta(minutes=1):
        raise TextProblem(f"Время {spec} уже прошло. {TIME_HELP}")
    return value


def _check_year(spec: str, value: datetime) -> None:
    # Far years overflow when converted between time zones and would wedge the scheduler.
    if not FIRST_DATE.year <= value.year <= LAST_DATE.year:
        raise TextProblem(f"Время {spec} вне допустимого периода {RANGE_TEXT}. {TIME_HELP}")


def local_time(value: datetime, zone: str) -> str:
    return value.astimezone(ZoneInfo(zone)).strftime("%d.%m.%Y %H:%M")


def eta(progress: Progress, rate: float) -> str:
    if progress.left == 0:
        return "0 с"
    seconds = int(progress.left / max(rate, 0.001)) + 1
    if seconds < 120:
        return f"≈{seconds} с"
    if seconds < 7200:
        return f"≈{seconds // 60} мин"
    return f"≈{seconds // 3600} ч {seconds % 3600 // 60} мин"


def bar(progress: Progress, width: int = 30) -> str:
    total = progress.total
    filled = width if total == 0 else round(width * progress.done / total)
    percent = 100 if total == 0 else int(100 * progress.done / total)
    return f"[{'#' * filled}{'.' * (width - filled)}] {percent}%"


def progress_text(campaign: Campaign, progress: Progress, rate: float, zone: str) -> str:
    lines = [
        f"Рассылка №{campaign.id}: {STATUS_NAMES.get(campaign.status, campaign.status)}",
        f"время: {local_time(campaign.scheduled_at, zone)}; получателей: {progress.total}",
        f"отправлено: {progress[SENT]}",
        f"не доставлено: {progress[FAILED]}",
        f"недоступны (заблокировали бота): {progress[UNREACHABLE]}",
        f"пропущено (нет согласия / недавно приглашены): {progress.skipped}",
        f"не отправлено (рассылка отменена): {progress.left}"
        if campaign.status == CANCELLED
        else f"осталось: {progress.left}",
    ]
    if progress[UNKNOWN]:
        lines.append(f"неизвестно (сбой во время отправки, повторно не отправляются): {progress[UNKNOWN]}")
    if campaign.status == RUNNING:
        lines.append(f"оценка времени до конца: {eta(progress, rate)}")
    if campaign.note:
        lines.append(f"примечание: {campaign.note}")
    return "\n".join(lines)
