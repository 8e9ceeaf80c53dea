"""Where a respondent is in the chat: the dialog state kept in `respondents.dialog` as JSON.

The stored shape is a flat object: `{"phase": …}` plus the session (`survey`, `resume`,
`consent`), the options page shown (`survey`) and the start payload to begin again with
(`resume`). Keys that a phase does not use are left out, so what is written stays as small as
the state it describes, and a state loaded and written back is the same JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Phase(StrEnum):
    IDLE = "idle"  # no survey in progress: any text gets the «how to start» answer
    SURVEY = "survey"  # answering the questionnaire
    RESUME = "resume"  # asked «Продолжить» or «Начать заново» about an unfinished one
    CONSENT = "consent"  # asked for consent to invitations after completing one
    REPLY = "reply"  # asked whether the ministry may answer the difficulties named (docs/cases.md)


@dataclass(frozen=True)
class Dialog:
    phase: Phase = Phase.IDLE
    session: int | None = None
    page: int | None = None
    payload: str | None = None

    @classmethod
    def idle(cls) -> Dialog:
        return cls(Phase.IDLE)

    @classmethod
    def survey(cls, session: int, page: int = 0) -> Dialog:
        return cls(Phase.SURVEY, session=session, page=page)

    @classmethod
    def resume(cls, session: int, payload: str) -> Dialog:
        return cls(Phase.RESUME, session=session, payload=payload)

    @classmethod
    def consent(cls, session: int) -> Dialog:
        return cls(Phase.CONSENT, session=session)

    @classmethod
    def reply(cls, session: int) -> Dialog:
        return cls(Phase.REPLY, session=session)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Dialog:
        """A stored dialog; a new respondent's empty object, or a phase this code does not know,
        is idle (what any text outside a survey gets)."""
        try:
            phase = Phase(raw.get("phase", Phase.IDLE))
        except ValueError:
            phase = Phase.IDLE
        session = raw.get("session")
        page = raw.get("page")
        payload = raw.get("payload")
        return cls(
            phase,
            session=session if isinstance(session, int) and not isinstance(session, bool) else None,
            page=page if isinstance(page, int) and not isinstance(page, bool) else None,
            payload=payload if isinstance(payload, str) else None,
        )

    def to_json(self) -> dict[str, Any]:
        stored: dict[str, Any] = {"phase": self.phase.value}
        if self.session is not None:
            stored["session"] = self.session
        if self.page is not None:
            stored["page"] = self.page
        if self.payload is not None:
            stored["payload"] = self.payload
        return stored
