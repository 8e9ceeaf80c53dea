"""What the respondent sees: the messages and keyboards of each dialog phase.

The conversation decides (bot/core/conversation.py); this module only renders its decisions,
as aiogram_dialog keeps a window's rendering apart from its processing. Every sentence comes from
bot/core/texts.py or the questionnaire file.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core import texts
from bot.core.messages import Action, Button, Message
from survey_flow import engine
from survey_flow.engine import Answer, Step
from survey_flow.model import SCALE_CODES, Option, Questionnaire


@dataclass(frozen=True)
class ConsentTerms:
    text: str
    version: str
    policy_url: str = ""


@dataclass(frozen=True)
class Commands:
    start: str = "/start"
    stop: str = "/stop"


def page_count(items: int, size: int) -> int:
    return max(1, -(-items // size))


@dataclass(frozen=True)
class Screens:
    q: Questionnaire
    consent: ConsentTerms
    commands: Commands

    def idle(self) -> Message:
        text = texts.NO_SURVEY.format(start=self.commands.start)
        return Message(text, ((Button(texts.START_BUTTON, Action.START),),), token="idle")

    def paused(self) -> str:
        return texts.PAUSED.format(start=self.commands.start)

    def resume(self, session_id: int) -> Message:
        buttons = ((Button(texts.CONTINUE, Action.CONTINUE),), (Button(texts.RESTART, Action.RESTART),))
        return Message(texts.RESUME_PROMPT, buttons, token=f"{session_id}:resume")

    def title(self, answers: dict[str, Answer]) -> Message:
        """The form's title, then the title of the block the survey starts in (Block 2 when
        Block 1 is prefilled): what the top of the printed form shows."""
        first = engine.next_step(self.q, answers)
        block = engine.block_heading(self.q, first, None) if first is not None else None
        return Message(f"{self.q.title}\n\n{block.title}" if block else self.q.title)

    def consent_request(self, session_id: int) -> Message:
        text = self.consent.text
        if self.consent.policy_url:
            text += "\n\n" + texts.CONSENT_POLICY.format(url=self.consent.policy_url)
        buttons = (
            (Button(texts.CONSENT_YES, Action.CONSENT_YES), Button(texts.CONSENT_NO, Action.CONSENT_NO)),
        )
        return Message(text, buttons, token=f"{session_id}:consent")

    def consent_answered(self, granted: bool) -> str:
        chosen = texts.CONSENT_YES if granted else texts.CONSENT_NO
        return texts.ECHO_ANSWERED.format(question=self.consent.text, answer=chosen)

    def withdraw(self) -> Message:
        text = texts.CONSENT_GRANTED.format(stop=self.commands.stop)
        return Message(text, ((Button(texts.WITHDRAW_BUTTON, Action.WITHDRAW),),), token="stop")

    def step_text(self, step: Step) -> str:
        question = step.question
        if step.followup:
            return self.q.followup.text
        if question.kind == "scale":
            return f"{self.q.scale_intro}\n{question.text}"
        return question.text

    def echo(self, step: Step, answers: dict[str, Answer]) -> str:
        """The answered question with the answer the respondent gave."""
        answer = answers[step.question.code]
        if step.followup and answer.followup_skipped:
            return texts.ECHO_SKIPPED.format(question=self.step_text(step))
        shown = (
            answer.followup or ""
            if step.followup
            else engine.answer_label(self.q, step.question.code, answer)
        )
        return texts.ECHO_ANSWERED.format(question=self.step_text(step), answer=shown)

    def went_back(self, step: Step) -> str:
        """The question the respondent left by going back."""
        return texts.ECHO_BACK.format(question=self.step_text(step))

    def question(
        self,
        session_id: int,
        answers: dict[str, Answer],
        *,
        page: int,
        page_size: int,
        candidates: tuple[Option, ...] = (),
    ) -> Message:
        """The next step with its keyboard: options `page` of `page_size` each (the matching
        `candidates` instead, first page, when a typed answer fitted several)."""
        step = engine.next_step(self.q, answers)
        assert step is not None
        number, total = engine.progress(self.q, answers)
        text = texts.QUESTION_NUMBER.format(number=number, total=total) + f"\n\n{self.step_text(step)}"
        rows: list[tuple[Button, ...]] = []
        nav: list[Button] = []
        question = step.question
        if step.followup:
            text += f"\n\n{texts.FOLLOWUP_HINT}"
            rows.append((Button(texts.SKIP, Action.SKIP),))
        elif question.kind == "scale":
            rows.append(tuple(Button(code, Action.ANSWER, code) for code in SCALE_CODES))
        else:
            shown = candidates or question.options
            pages = page_count(len(shown), page_size)
            page = 0 if candidates else min(page, pages - 1)
            for option in shown[page * page_size : (page + 1) * page_size]:
                rows.append((Button(option.text, Action.ANSWER, option.code),))
            if question.allow_other:
                rows.append((Button(texts.OTHER, Action.OTHER),))
            if page > 0:
                nav.append(Button(texts.PREV_PAGE, Action.PAGE, str(page - 1)))
            if page + 1 < pages:
                nav.append(Button(texts.NEXT_PAGE, Action.PAGE, str(page + 1)))
            if pages > 1:
                text += "\n\n" + texts.PAGE_HINT.format(page=page + 1, pages=pages)
        if engine.answered_steps(self.q, answers):
            nav.append(Button(texts.BACK, Action.BACK))
        nav.append(Button(texts.ABORT, Action.ABORT))
        rows.append(tuple(nav))
        return Message(text, tuple(rows), token=f"{session_id}:{step.key}")

    def with_heading(
        self,
        session_id: int,
        answers: dict[str, Answer],
        shown_before: Step | None,
        *,
        page_size: int,
    ) -> list[Message]:
        """The next question, after its block's title when the respondent enters a block."""
        question = self.question(session_id, answers, page=0, page_size=page_size)
        step = engine.next_step(self.q, answers)
        block = engine.block_heading(self.q, step, shown_before) if step is not None else None
        return [Message(block.title), question] if block is not None else [question]
