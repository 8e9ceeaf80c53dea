"""Wiring shared by every entry point: settings -> questionnaire, storage, conversation."""

from __future__ import annotations

from bot.config import Settings
from bot.conversation import Commands, ConsentTerms, Conversation, Layout, SurveyEvents
from storage.store import Storage
from survey_flow.loader import load_questionnaire
from survey_flow.model import Questionnaire


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
        events=events,
    )  # fmt: skip
