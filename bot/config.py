"""Configuration: TOML file + OTKLIK_<SECTION>__<KEY> environment overrides (pydantic-settings)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
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
    TomlConfigSettingsSource,
)

from bot import defaults
from survey_flow.loader import ChoiceList

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


TimeZone = Annotated[str, AfterValidator(_known_zone)]
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
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("ожидается sqlite+aiosqlite:///путь.db или postgresql+asyncpg://…")
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
    bot_username: str = ""
    request_timeout: float = Field(default=30.0, gt=0, le=300)  # seconds per Bot API request

    @model_validator(mode="after")
    def _token_when_enabled(self) -> TelegramConfig:
        if self.enabled and not (self.token and self.token.get_secret_value()):
            raise ValueError("token: не задан токен бота, а канал включен (enabled = true)")
        if self.enabled and self.mode == "webhook" and not self.webhook_url:
            raise ValueError("webhook_url: в режиме webhook нужен адрес")
        if self.enabled and self.mode == "webhook" and not self.webhook_secret:
            raise ValueError("webhook_secret: в режиме webhook нужен секрет (1–256 символов A-Z a-z 0-9 _ -)")
        return self

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
    def _token_when_enabled(self) -> VkConfig:
        if self.enabled and not (self.token and self.token.get_secret_value()):
            raise ValueError("token: не задан токен сообщества, а канал включен (enabled = true)")
        if self.enabled and self.group_id <= 0:
            raise ValueError("group_id: укажите номер сообщества ВКонтакте")
        return self


StaffRole = Literal["admin", "analyst", "operator"]


class StaffMember(_Section):
    telegram_id: int | None = None
    vk_id: int | None = None
    name: str = ""
    role: StaffRole
    unit: str | None = None  # limit to one structural unit's data


class StaffConfig(_Section):
    members: list[StaffMember] = []


class ServiceConfig(_Section):
    # "host:port" for GET /healthz (e.g. "127.0.0.1:8090"); empty: no health endpoint.
    health_listen: OptionalHostPort = ""
    # /healthz fails when a polling channel has had no successful poll for this long; longer than
    # one long poll (25 s) plus its request timeout, so an idle bot is not reported.
    health_poll_stale_seconds: float = Field(default=120.0, ge=40, le=86400)


class ProcessGroup(_Section):
    """A row group of the Appendix 2 report: a name and the point-of-interaction codes in it."""

    name: str = Field(min_length=1, max_length=200)
    points: list[str] = Field(min_length=1)


class ReportsConfig(_Section):
    """Exports and reports: the time zone of period boundaries and the Appendix 2 process groups."""

    timezone: TimeZone = "Asia/Novosibirsk"
    process_groups: list[ProcessGroup] = []  # empty: each point of interaction is its own group


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
    staff: StaffConfig = StaffConfig()
    service: ServiceConfig = ServiceConfig()
    reports: ReportsConfig = ReportsConfig()
    alerts: AlertsConfig = AlertsConfig()
    mailing: MailingConfig = MailingConfig()

    def send_rate(self, channel: str) -> float:
        """Messages per second a campaign of `channel` goes out at (for its time estimate)."""
        return self.vk.rps if channel == "vk" else self.mailing.rate()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file; the file wins over built-in defaults.
        toml_path = _TOML_PATH.get("path")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


_TOML_PATH: dict[str, Path | None] = {}


class ConfigError(Exception):
    """A bad configuration: one message per problem, naming the key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"Ошибка в конфигурации ({self.source}):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def load_settings(path: Path | None = None, *, explicit: bool = False, **overrides: Any) -> Settings:
    """Read `path` (default ./config.toml; built-in defaults when absent and not explicit)."""
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
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            raise ConfigError(source, [f"файл не читается как TOML: {exc}"]) from None
    _TOML_PATH["path"] = toml_path
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(source, [_describe(err) for err in exc.errors()]) from None
    finally:
        _TOML_PATH.pop("path", None)


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
    if ": " in msg and msg.split(": ", 1)[0].isidentifier():
        sub, msg = msg.split(": ", 1)
        key = f"{key}.{sub}" if key else sub
    return f"{key or '—'}: {msg}"
