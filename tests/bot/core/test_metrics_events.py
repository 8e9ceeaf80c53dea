"""The conversation reports to its metrics port only what it committed: a questionnaire started,
an update delivered twice; an event whose transaction fails counts nothing."""

from __future__ import annotations

import pytest

from bot.core import conversation as conversation_module
from bot.core.conversation import Conversation, Layout
from bot.core.messages import Incoming
from bot.runtime.metrics import Metrics
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.conftest import CONSENT


def count(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


class Broken(Exception):
    pass


async def test_started_and_duplicate_are_counted_once_committed(
    storage: Storage, questionnaire: Questionnaire, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = Metrics()
    conversation = Conversation(storage, questionnaire, CONSENT, layout=Layout(), events=metrics)
    start = Incoming("telegram", "u1", "start", update_id="1")
    await conversation.handle(start)
    assert count(metrics, "otklik_questionnaires_started_total", channel="telegram") == 1
    again = await conversation.handle(start)  # the platform delivers the same update again
    assert again.duplicate
    assert count(metrics, "otklik_updates_duplicate_total", channel="telegram") == 1
    assert count(metrics, "otklik_questionnaires_started_total", channel="telegram") == 1

    def fail(*args: object, **kwargs: object) -> None:
        raise Broken

    # The session is created, then the turn fails: the transaction rolls back, nothing started.
    monkeypatch.setattr(conversation_module._Turn, "question_message", fail)
    with pytest.raises(Broken):
        await conversation.handle(Incoming("telegram", "u2", "start", update_id="2"))
    assert count(metrics, "otklik_questionnaires_started_total", channel="telegram") == 1
