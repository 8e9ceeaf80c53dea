"""The composition root: settings -> questionnaire, storage, conversation, and what every channel
gets (`Services`) and gives (`ChannelRunner`). The only place that knows the concrete parts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.cases.desk import CaseRelay
from bot.config import Settings
from bot.core.cases import CaseTerms
from bot.core.conversation import Commands, ConsentTerms, Conversation, Layout, SurveyEvents
from bot.mailing.hub import MailingHub
from bot.runtime.health import Health
from bot.runtime.metrics import Metrics
from storage.store import Storage
from survey_flow.loader import load_questionnaire
from survey_flow.model import Questionnaire


@dataclass(frozen=True)
class Services:
    """What every channel gets: passed in, never global."""

    settings: Settings
    storage: Storage
    questionnaire: Questionnaire
    health: Health = field(default_factory=Health)
    mailing: MailingHub = field(default_factory=MailingHub)  # channels register their transports
    metrics: Metrics = field(default_factory=Metrics)  # served at /metrics
    cases: CaseRelay = field(default_factory=CaseRelay)  # channels register how answers reach respondents


@dataclass(frozen=True)
class ChannelRunner:
    """One channel as `otklik run` sees it; each channel module exports one."""

    name: str
    enabled: Callable[[Settings], bool]
    run: Callable[[Services, asyncio.Event], Awaitable[None]]


async def open_storage(settings: Settings, *, create: bool = True) -> Storage:
    """The configured database, migrated. `create=False` for commands that only work with existing
    data: a mistyped SQLite path is then an error naming it, never a new empty database."""
    return await Storage.open(
        settings.database.url,
        schema=settings.database.pg_schema,
        pool_size=settings.database.pool_size,
        create=create,
    )


def questionnaire_from(settings: Settings) -> Questionnaire:
    return load_questionnaire(settings.survey.questionnaire, settings.survey.lists.choice_lists())


def consent_terms(settings: Settings) -> ConsentTerms:
    return ConsentTerms(
        text=settings.consent.text, version=settings.consent.version, policy_url=settings.consent.policy_url
    )


def build_conversation(
    settings: Settings,
    storage: Storage,
    questionnaire: Questionnaire,
    *,
    layout: Layout | None = None,
    commands: Commands | None = None,
    bot_key: str = "",
    events: SurveyEvents | None = None,
) -> Conversation:
    return Conversation(
        storage, questionnaire, consent_terms(settings), layout=layout, commands=commands, bot_key=bot_key,
        events=events, cases=CaseTerms.of(settings),
    )  # fmt: skip
