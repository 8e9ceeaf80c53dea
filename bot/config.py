"""Configuration: TOML file + OTKLIK_<SECTION>__<KEY> environment overrides (pydantic-settings)."""

from __future__ import annotations

import enum
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from bot import defaults
from storage.channels import Channel
from survey_flow.loader import ChoiceList
from survey_flow.text import normalize

TOKEN_RE = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{5,100}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def _known_zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"неизвестный часовой пояс {value!r} (пример: Asia/Novosibirsk)") from None
    return value


def _host_port(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("ожидается адрес вида 127.0.0.1:8080")
    return value


def _https_url(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or any(ch.isspace() for ch in value):
        raise ValueError(f"ожидается адрес https://…, например {ORDER_LETTER_LINK}")
    return value


# Point 9 of the order prescribes this link in the footer of the ministry's letters.
ORDER_LETTER_LINK = "https://pos.nso.ru/poll/3/644?de=1822&di=1823"


def _ip_network(value: object) -> object:
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        raise ValueError(
            f"{value!r}: ожидается IP-адрес или сеть, например 127.0.0.1 или 10.0.0.0/8"
        ) from None


class LogFormat(enum.StrEnum):
    """`[service] log_format`; bot/runtime/logs.py gives each its formatter."""

    TEXT = "text"
    JSON = "json"


def _log_format(value: object) -> object:
    if isinstance(value, str) and value not in {kind.value for kind in LogFormat}:
        raise ValueError(
            f'{value!r}: ожидается "text" (строки для человека) или "json" (для сборщиков журналов)'
        )
    return value


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
TrustedNetwork = Annotated[IpNetwork, BeforeValidator(_ip_network)]
TimeZone = Annotated[str, AfterValidator(_known_zone)]
HttpsUrl = Annotated[str, AfterValidator(_https_url)]
HostPort = Annotated[str, AfterValidator(_host_port)]
OptionalHostPort = Annotated[str, AfterValidator(lambda value: value and _host_port(value))]  # "" = off

DEFAULT_CONFIG_PATH = Path("config.toml")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///otklik.db"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ListItem(_Section):
    code: str = Field(min_length=1, max_length=16, pattern=r"^[0-9A-Za-z_-]+$")
    text: str = Field(min_length=1, max_length=200)


class ChoiceListConfig(_Section):
    """Options of questions 1–4: plain strings (numbered 1, 2, …) or {code, text} tables."""

    items: list[str | ListItem] = Field(min_length=1)
    allow_other: bool = False

    def to_choice_list(self) -> ChoiceList:
        pairs = tuple(
            (item.code, item.text) if isinstance(item, ListItem) else (str(index), item)
            for index, item in enumerate(self.items, start=1)
        )
        return ChoiceList(items=pairs, allow_other=self.allow_other)

    @model_validator(mode="after")
    def _unique(self) -> ChoiceListConfig:
        pairs = self.to_choice_list().items
        codes = [c for c, _ in pairs]
        texts = [t.casefold() for _, t in pairs]
        if len(set(codes)) != len(codes):
            raise ValueError("коды вариантов повторяются")
        if len(set(texts)) != len(texts):
            raise ValueError("тексты вариантов повторяются")
        return self


class SurveyLists(_Section):
    support_measures: ChoiceListConfig = ChoiceListConfig(
        items=list(defaults.SUPPORT_MEASURES), allow_other=True
    )
    points_of_interaction: ChoiceListConfig = ChoiceListConfig(
        items=list(defaults.POINTS_OF_INTERACTION), allow_other=True
    )
    structural_units: ChoiceListConfig = ChoiceListConfig(items=list(defaults.STRUCTURAL_UNITS))
    districts: ChoiceListConfig = ChoiceListConfig(items=list(defaults.DISTRICTS))

    def choice_lists(self) -> dict[str, ChoiceList]:
        return {
            "support_measures": self.support_measures.to_choice_list(),
            "points_of_interaction": self.points_of_interaction.to_choice_list(),
            "structural_units": self.structural_units.to_choice_list(),
            "districts": self.districts.to_choice_list(),
        }


class SurveyConfig(_Section):
    questionnaire: Path | None = None  # None: the built-in Appendix 1
    lists: SurveyLists = SurveyLists()


# The drivers Otklik ships with; a URL without a driver (as libpq and psql write it) means them.
_DATABASE_SCHEMES = {
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "sqlite": "sqlite+aiosqlite",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}
DATABASE_URL_EXAMPLES = (
    "sqlite+aiosqlite:///путь/otklik.db или postgresql+asyncpg://пользователь@сервер:5432/база"
)


def database_url(value: str) -> str:
    """`value` with the driver Otklik uses; a ValueError naming only the scheme (the rest of the
    address may hold a password) for anything else."""
    scheme, sep, rest = value.partition("://")
    if not sep or not scheme:
        raise ValueError(f"адрес базы без схемы; ожидается {DATABASE_URL_EXAMPLES}")
    known = _DATABASE_SCHEMES.get(scheme.lower())
    if known is None:
        shown = (
            scheme
            if len(scheme) <= 40 and scheme.isprintable()
            else scheme[:40].encode("unicode_escape").decode()
        )
        raise ValueError(
            f"схема «{shown}://» не поддерживается (только SQLite и PostgreSQL); ожидается {DATABASE_URL_EXAMPLES}"
        )
    return f"{known}://{rest}"


class DatabaseConfig(_Section):
    url: str = DEFAULT_DATABASE_URL
    # PostgreSQL only: keep Otklik's tables in this schema (a shared database, tests).
    pg_schema: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    # PostgreSQL only: connections per process. Chats answering at the same moment beyond this
    # wait for a free connection (SQLite has one connection and one writer by design).
    pool_size: int = Field(default=5, ge=1, le=200)

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        value = database_url(value)
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            port = make_url(value).port
        except (ArgumentError, ValueError):
            raise ValueError(
                "адрес базы не разбирается (пример: postgresql+asyncpg://user@host:5432/db)"
            ) from None
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"порт {port} вне диапазона 1–65535")
        return value


class ConsentConfig(_Section):
    text: str = defaults.CONSENT_TEXT
    version: str = "1"
    policy_url: str = ""


class TelegramConfig(_Section):
    enabled: bool = False
    token: SecretStr | None = None
    api_server: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""
    webhook_listen: HostPort = "127.0.0.1:8080"
    webhook_secret: SecretStr | None = None
    # Reverse proxies (nginx) whose X-Forwarded-For / X-Real-IP name the client in the webhook's log.
    trusted_proxies: list[TrustedNetwork] = []
    bot_username: str = ""
    request_timeout: float = Field(default=30.0, gt=0, le=300)  # seconds per Bot API request

    @model_validator(mode="after")
    def _url_when_webhook(self) -> TelegramConfig:
        if self.enabled and self.mode == "webhook" and not self.webhook_url:
            raise ValueError("webhook_url: в режиме webhook нужен адрес")
        return self

    def missing_secrets(self) -> list[str]:
        """What `otklik run` lacks to talk to Telegram (other commands never need the secrets)."""
        problems = []
        if self.enabled and not (self.token and self.token.get_secret_value()):
            problems.append("telegram.token: не задан токен бота, а канал включен (enabled = true)")
        if self.enabled and self.mode == "webhook" and not self.webhook_secret:
            problems.append(
                "telegram.webhook_secret: в режиме webhook нужен секрет (1–256 символов A-Z a-z 0-9 _ -)"
            )
        return problems

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        # Never echo the token back: the message only describes the expected shape.
        if value is not None and value.get_secret_value() and not TOKEN_RE.match(value.get_secret_value()):
            raise ValueError("token: токен бота имеет вид 123456789:AA…, проверьте значение")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not SECRET_RE.match(value.get_secret_value()):
            raise ValueError("webhook_secret: допустимы 1–256 символов A-Z a-z 0-9 _ -")
        return value

    @field_validator("api_server", "webhook_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("адрес должен начинаться с http:// или https://")
        return value.rstrip("/")


class VkConfig(_Section):
    enabled: bool = False
    token: SecretStr | None = None
    group_id: int = 0
    api_version: str = "5.199"
    api_base_url: str = "https://api.vk.ru"
    rps: float = Field(default=20.0, gt=0, le=100)

    @model_validator(mode="after")
    def _group_when_enabled(self) -> VkConfig:
        if self.enabled and self.group_id <= 0:
            raise ValueError("group_id: укажите номер сообщества ВКонтакте")
        return self

    def missing_secrets(self) -> list[str]:
        """What `otklik run` lacks to talk to VK (other commands never need the token)."""
        if self.enabled and not (self.token and self.token.get_secret_value()):
            return ["vk.token: не задан токен сообщества, а канал включен (enabled = true)"]
        return []


class MaxConfig(_Section):
    enabled: bool = False
    token: SecretStr | None = None
    api_base_url: str = "https://platform-api2.max.ru"
    # The bot's nick for links in reports and letters (https://max.ru/<nick>?start=<key>); `otklik
    # run` asks GET /me when it is empty.
    bot_username: str = Field(default="", pattern=r"^@?[A-Za-z0-9_.-]*$", max_length=64)
    # Requests per second; the platform's documented ceiling is 30.
    rps: float = Field(default=25.0, gt=0, le=30)

    def missing_secrets(self) -> list[str]:
        """What `otklik run` lacks to talk to MAX (other commands never need the token)."""
        if self.enabled and not (self.token and self.token.get_secret_value()):
            return ["max.token: не задан токен бота MAX, а канал включен (enabled = true)"]
        return []

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("адрес должен начинаться с http:// или https://")
        return value.rstrip("/")


class Role(enum.StrEnum):
    """A staff member's role. It is read from `[staff]`, so it lives with the config; the code
    that decides what a role may do imports it from `bot.core.staff`."""

    ADMIN = "admin"
    ANALYST = "analyst"
    OPERATOR = "operator"


class StaffMember(_Section):
    telegram_id: int | None = None
    vk_id: int | None = None
    name: str = ""
    role: Role
    unit: str | None = None  # limit to one structural unit's data


class StaffConfig(_Section):
    members: list[StaffMember] = []


def staff_problems(staff: StaffConfig, units: ChoiceListConfig) -> list[str]:
    """Staff entries that would be read two ways: an unknown unit, one person listed twice.

    A unit is given by its code or its text, as staff type it elsewhere; an id may appear once per
    channel, since access is decided by the first matching entry and a second one would be ignored.
    """
    known = units.to_choice_list().items
    codes = {code for code, _ in known}
    texts = {normalize(text) for _, text in known}
    problems: list[str] = []
    seen: dict[tuple[str, int], int] = {}
    for index, member in enumerate(staff.members):
        key = f"staff.members.{index}"
        if (
            member.unit is not None
            and member.unit.strip() not in codes
            and normalize(member.unit) not in texts
        ):
            problems.append(
                f"{key}.unit: подразделения «{member.unit}» нет в списке [survey.lists.structural_units] "
                f"(коды: {', '.join(sorted(codes))})"
            )
        for field, user_id in (("telegram_id", member.telegram_id), ("vk_id", member.vk_id)):
            if user_id is None:
                continue
            first = seen.setdefault((field, user_id), index)
            if first != index:
                other = staff.members[first]
                problems.append(
                    f"{key}.{field}: id {user_id} уже указан в staff.members.{first} "
                    f"(роль {other.role}, здесь {member.role}); у одного человека — одна запись"
                )
    return problems


class ServiceConfig(_Section):
    # "host:port" for GET /healthz (e.g. "127.0.0.1:8090"); empty: no health endpoint.
    health_listen: OptionalHostPort = ""
    # /healthz fails when a polling channel has had no successful poll for this long; longer than
    # one long poll (25 s) plus its request timeout, so an idle bot is not reported.
    health_poll_stale_seconds: float = Field(default=120.0, ge=40, le=86400)
    # "text": human-readable lines; "json": one JSON object per line for log collectors.
    log_format: Annotated[LogFormat, BeforeValidator(_log_format)] = LogFormat.TEXT


class ProcessGroup(_Section):
    """A row group of the Appendix 2 report: a name and the point-of-interaction codes in it."""

    name: str = Field(min_length=1, max_length=200)
    points: list[str] = Field(min_length=1)


class ReportsConfig(_Section):
    """Exports and reports: the time zone of period boundaries and the Appendix 2 process groups."""

    timezone: TimeZone = "Asia/Novosibirsk"
    process_groups: list[ProcessGroup] = []  # empty: each point of interaction is its own group

    def group_pairs(self) -> list[tuple[str, tuple[str, ...]]]:
        """The process groups as plain (name, point codes) pairs, the form reports take."""
        return [(group.name, tuple(group.points)) for group in self.process_groups]


class LetterConfig(_Section):
    """The assessment note of point 9 in the ministry's letters (`otklik letter-footer`)."""

    link: HttpsUrl = ORDER_LETTER_LINK


class ReminderConfig(_Section):
    enabled: bool = False  # off by default
    after_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    max_age_days: float = Field(default=7.0, gt=0)  # older unfinished surveys are left alone
    check_minutes: float = Field(default=10.0, gt=0)
    text: str = "Вы начали опрос, но не закончили. Продолжим? Ответы сохранены."


class MailingConfig(_Section):
    """Opt-in survey invitations: rate limits, frequency cap, scheduler."""

    enabled: bool = True
    per_second: float = Field(default=30.0, gt=0, le=30)  # Telegram's free broadcast limit
    per_chat_per_second: float = Field(default=1.0, gt=0, le=1)
    paid_broadcast: bool = False  # Telegram paid broadcasts: up to 1000 messages/s
    paid_per_second: float = Field(default=1000.0, gt=0, le=1000)
    safety_margin: float = Field(default=0.02, ge=0, lt=0.5)  # keep this fraction below the limit
    frequency_cap_days: float = Field(default=30.0, ge=0)
    grace_minutes: float = Field(default=60.0, ge=0)  # a campaign missed by more is marked missed
    timezone: TimeZone = "Asia/Novosibirsk"  # how staff type and read times
    button_text: str = Field(default="Пройти опрос", min_length=1, max_length=64)
    name_fallback: str = "уважаемый клиент"
    poll_seconds: float = Field(default=5.0, gt=0, le=300)  # pick up campaigns made elsewhere
    progress_seconds: float = Field(default=5.0, gt=0)
    leader_retry_seconds: float = Field(default=10.0, gt=0)
    reminder: ReminderConfig = ReminderConfig()

    def rate(self) -> float:
        return self.paid_per_second if self.paid_broadcast else self.per_second


class AlertsConfig(_Section):
    """Low-score alerts to staff chats in Telegram; off unless a chat is configured."""

    unit_chats: dict[str, int] = {}  # structural unit code -> Telegram chat id
    default_chat: int | None = None  # for units without their own chat
    poll_seconds: float = Field(default=10.0, ge=0.1, le=3600)

    @property
    def enabled(self) -> bool:
        return bool(self.unit_chats) or self.default_chat is not None


CASE_DEADLINE_DAYS = (1, 60)
CASE_QUIET_DAYS = (1, 90)
HOLIDAY_YEARS = (2000, 2100)


def _whole_number_in(bounds: tuple[int, int], what: str) -> Any:
    low, high = bounds

    def check(value: object) -> object:
        # TOML and JSON give numbers; an environment variable gives text.
        number = value.strip() if isinstance(value, str) else value
        if isinstance(number, str) and number.isdigit():
            number = int(number)
        if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
            raise ValueError(f"ожидается целое число {what} от {low} до {high}, указано {value!r}")
        return number

    return BeforeValidator(check)


def _holiday_list(value: object) -> object:
    if not isinstance(value, list):
        raise ValueError("ожидается список дат, например [2027-01-01, 2027-01-07]")
    days: list[date] = []
    for item in value:
        day = item if isinstance(item, date) else None
        if isinstance(item, str):
            try:
                day = date.fromisoformat(item.strip())
            except ValueError:
                day = None
        if day is None:
            raise ValueError(f"{item!r}: ожидается дата ГГГГ-ММ-ДД, например 2027-01-01")
        low, high = HOLIDAY_YEARS
        if not low <= day.year <= high:
            raise ValueError(f"{day.isoformat()}: дата вне диапазона {low}–{high} годов")
        if day in days:
            raise ValueError(f"{day.isoformat()}: дата указана дважды")
        days.append(day)
    return sorted(days)


class CasesConfig(_Section):
    """Answers to respondents who named difficulties: the response deadline in working days
    (Monday to Friday except `holidays`, in the time zone of [reports]), and the quiet time after
    which an answered case closes by itself."""

    enabled: bool = False  # the bot asks «may we answer you here?» only when on
    deadline_days: Annotated[int, _whole_number_in(CASE_DEADLINE_DAYS, "рабочих дней")] = 5
    quiet_days: Annotated[int, _whole_number_in(CASE_QUIET_DAYS, "дней")] = 7
    holidays: Annotated[list[date], BeforeValidator(_holiday_list)] = []
    question: str = Field(default=defaults.CASES_QUESTION, min_length=1, max_length=1000)
    text_version: str = Field(default="1", min_length=1, max_length=32)  # recorded with every answer

    @property
    def holiday_set(self) -> frozenset[date]:
        return frozenset(self.holidays)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OTKLIK_",
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
    )

    database: DatabaseConfig = DatabaseConfig()
    survey: SurveyConfig = SurveyConfig()
    consent: ConsentConfig = ConsentConfig()
    telegram: TelegramConfig = TelegramConfig()
    vk: VkConfig = VkConfig()
    max: MaxConfig = MaxConfig()
    staff: StaffConfig = StaffConfig()
    service: ServiceConfig = ServiceConfig()
    reports: ReportsConfig = ReportsConfig()
    letter: LetterConfig = LetterConfig()
    alerts: AlertsConfig = AlertsConfig()
    mailing: MailingConfig = MailingConfig()
    cases: CasesConfig = CasesConfig()

    @model_validator(mode="after")
    def _staff_consistent(self) -> Settings:
        problems = staff_problems(self.staff, self.survey.lists.structural_units)
        if problems:
            raise ValueError("\n".join(problems))  # one line per problem in ConfigError
        return self

    def send_rate(self, channel: str) -> float:
        """Messages per second a campaign of `channel` goes out at (for its time estimate)."""
        if channel == Channel.VK:
            return self.vk.rps
        if channel == Channel.MAX:
            return self.max.rps
        return self.mailing.rate()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file; the file wins over built-in defaults. The file is the
        # `toml_file` of the class load_settings builds for it (none: built-in defaults only).
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file") is not None:
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)


def _settings_class(toml_path: Path | None) -> type[Settings]:
    """`Settings` reading `toml_path`: a subclass per call, so no module state says which file."""
    if toml_path is None:
        return Settings
    config = SettingsConfigDict(**{**Settings.model_config, "toml_file": toml_path})
    return type(Settings.__name__, (Settings,), {"model_config": config, "__module__": __name__})


class ConfigError(Exception):
    """A bad configuration: one message per problem, naming the key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return f"Ошибка в конфигурации ({self.source}): {self.problems[0]}"
        lines = [f"Ошибка в конфигурации ({self.source}):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def load_settings(
    path: Path | None = None, *, explicit: bool = False, require_secrets: bool = False, **overrides: Any
) -> Settings:
    """Read `path` (default ./config.toml; built-in defaults when absent and not explicit).

    `require_secrets`: the caller talks to the messengers, so an enabled channel needs its token
    (and a webhook its secret). Commands that only read or write the database (export, backup,
    cron jobs) leave it off and run without the tokens in their environment.
    """
    path = path or DEFAULT_CONFIG_PATH
    source = str(path)
    if not path.exists():
        if explicit:
            raise ConfigError(source, ["файл не найден"])
        toml_path: Path | None = None
        source = "встроенные значения по умолчанию"
    else:
        toml_path = path
        try:
            # Bytes, as pydantic-settings reads them: text mode would turn a lone "\r" into a newline.
            tomllib.loads(path.read_bytes().decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            raise ConfigError(source, [f"файл не читается как TOML: {exc}"]) from None
    try:
        settings = _settings_class(toml_path)(**overrides)
    except SettingsError as exc:
        # pydantic-settings reads lists and tables from the environment as JSON; its error names
        # only the section, so find the variable. Values are never shown: they may hold tokens.
        raise ConfigError("переменные окружения", _env_json_problems(exc, os.environ)) from None
    except ValidationError as exc:
        problems = [
            _describe({**err, "msg": line})
            for err in exc.errors()
            for line in str(err.get("msg", "")).splitlines() or [""]
        ]
        raise ConfigError(source, problems) from None
    missing = (
        settings.telegram.missing_secrets() + settings.vk.missing_secrets() + settings.max.missing_secrets()
        if require_secrets
        else []
    )
    if missing:
        raise ConfigError(source, missing)
    return settings


def _env_json_problems(exc: SettingsError, environ: Mapping[str, str]) -> list[str]:
    found = re.search(r'field "(\w+)"', str(exc))
    prefix = f"OTKLIK_{found.group(1) if found else ''}".upper()
    problems = []
    for name in sorted(environ):
        if not name.upper().startswith(prefix):
            continue
        value = environ[name].strip()
        if not value.startswith(("{", "[")):
            continue
        try:
            json.loads(value)
        except json.JSONDecodeError as err:
            problems.append(
                f"{name}: значение не читается как JSON (строка {err.lineno}, позиция {err.colno})"
            )
    if not problems:
        names = ", ".join(n for n in sorted(environ) if n.upper().startswith(prefix)) or prefix
        problems.append(f"{names}: значение не подходит для этого ключа (ожидается JSON-список или таблица)")
    return problems


def _describe(err: Any) -> str:
    # Union branches show up in `loc` as type names; they mean nothing to a reader.
    loc = [str(part) for part in err.get("loc", ()) if not str(part).startswith(("function-", "str"))]
    key = ".".join(loc)
    msg = str(err.get("msg", "ошибка")).removeprefix("Value error, ")
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        msg = "неизвестный ключ"
    elif kind == "missing":
        msg = "обязательный ключ не задан"
    # A model-level check names its own key first ("token: ..."): attach it to the section.
    if ": " in msg and all(
        part.isidentifier() or part.isdigit() for part in msg.split(": ", 1)[0].split(".")
    ):
        sub, msg = msg.split(": ", 1)
        key = f"{key}.{sub}" if key else sub
    return f"{key or '—'}: {msg}"
