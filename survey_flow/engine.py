"""The pure survey engine: answers so far + questionnaire -> next step, validation, skip logic.

No I/O and no messenger imports: channels and storage call these functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from survey_flow.model import (
    OTHER_CODE,
    OTHER_LABEL,
    SCALE_CODES,
    Block,
    Option,
    Question,
    Questionnaire,
)
from survey_flow.text import MAX_FREE_TEXT, normalize, strip_control

# Typed words that skip the follow-up question (a channel's «Пропустить» button sends the same).
SKIP_WORDS = frozenset({"пропустить", "пропуск", "skip", "/skip"})
MAIN_QUESTION_REQUIRED = "Этот вопрос пропустить нельзя: пожалуйста, выберите ответ."


@dataclass(frozen=True)
class Answer:
    """One question's answer. `option` is an option code, a score, `other`, or an ISO time (7(18))."""

    option: str
    text: str | None = None  # typed text for «Другое»
    followup: str | None = None  # the difficulties text after a score 1–3
    prefilled: bool = False
    # The respondent chose «Пропустить» for the follow-up: it is offered, not required (Appendix 1
    # says «предлагается»), so the survey moves on and no text is stored.
    followup_skipped: bool = False

    @property
    def followup_done(self) -> bool:
        """The follow-up was answered or skipped: it is not asked again."""
        return self.followup is not None or self.followup_skipped


Answers = Mapping[str, Answer]


@dataclass(frozen=True)
class Step:
    question: Question
    followup: bool = False

    @property
    def key(self) -> str:
        return f"{self.question.code}f" if self.followup else self.question.code


@dataclass(frozen=True)
class Accepted:
    answers: dict[str, Answer]
    step: Step
    answer: Answer


@dataclass(frozen=True)
class Rejected:
    message: str
    candidates: tuple[Option, ...] = ()


Outcome = Accepted | Rejected


def condition_holds(question: Question, answers: Answers) -> bool | None:
    """True/False when decidable; None while the referenced question is unanswered."""
    cond = question.condition
    if cond is None:
        return True
    answer = answers.get(cond.question)
    if answer is None:
        return None
    return answer.option in cond.any_of


def needs_followup(q: Questionnaire, question: Question, answer: Answer | None) -> bool:
    return answer is not None and q.has_followup(question) and answer.option in q.followup.scores


def next_step(q: Questionnaire, answers: Answers) -> Step | None:
    """The first unanswered applicable step, or None when the questionnaire is complete."""
    for question in q.asked_questions:
        if not condition_holds(question, answers):
            continue
        answer = answers.get(question.code)
        if answer is None:
            return Step(question)
        if needs_followup(q, question, answer) and not answer.followup_done:
            return Step(question, followup=True)
    return None


def is_complete(q: Questionnaire, answers: Answers) -> bool:
    return next_step(q, answers) is None


def prune(q: Questionnaire, answers: Answers) -> dict[str, Answer]:
    """Drop answers whose question no longer applies, and follow-ups no longer asked."""
    kept: dict[str, Answer] = {}
    for question in q.questions:
        answer = answers.get(question.code)
        if answer is None or condition_holds(question, kept) is False:
            continue
        if answer.followup_done and not needs_followup(q, question, answer):
            answer = replace(answer, followup=None, followup_skipped=False)
        kept[question.code] = answer
    return kept


def answered_steps(q: Questionnaire, answers: Answers) -> list[Step]:
    """Steps the respondent answered themselves, in questionnaire order (prefilled ones excluded)."""
    steps: list[Step] = []
    for question in q.asked_questions:
        answer = answers.get(question.code)
        if answer is None or answer.prefilled or not condition_holds(question, answers):
            continue
        steps.append(Step(question))
        if answer.followup_done:
            steps.append(Step(question, followup=True))
    return steps


def go_back(q: Questionnaire, answers: Answers) -> tuple[dict[str, Answer], Step | None]:
    """Undo the last answered step so it is asked again; (answers, None) when nothing to undo."""
    steps = answered_steps(q, answers)
    if not steps:
        return dict(answers), None
    last = steps[-1]
    updated = dict(answers)
    if last.followup:
        updated[last.question.code] = replace(
            updated[last.question.code], followup=None, followup_skipped=False
        )
    else:
        del updated[last.question.code]
    return prune(q, updated), last


def block_of(q: Questionnaire, step: Step) -> Block | None:
    return next((b for b in q.blocks if b.number == step.question.block), None)


def block_heading(q: Questionnaire, step: Step, shown_before: Step | None) -> Block | None:
    """The block whose title goes above `step`: set when the respondent enters a block.

    `shown_before` is the step the respondent saw just before this one (None at the start of a
    survey or on resuming it): the title is shown when the block changes, going forward or back,
    so a survey whose Block 1 was prefilled starts with the Block 2 title.
    """
    block = block_of(q, step)
    if shown_before is None or shown_before.question.block != step.question.block:
        return block
    return None


def progress(q: Questionnaire, answers: Answers) -> tuple[int, int]:
    """(number of the current question, total) among questions the respondent is asked.

    Prefilled and auto-recorded questions are not counted; a question whose condition is still
    undecided counts, so the total can only shrink as answers rule questions out.
    """
    asked = [
        question
        for question in q.asked_questions
        if condition_holds(question, answers) is not False
        and not (question.code in answers and answers[question.code].prefilled)
    ]
    step = next_step(q, answers)
    if step is None:
        return len(asked), len(asked)
    number = next((i + 1 for i, x in enumerate(asked) if x.code == step.question.code), len(asked))
    return number, len(asked)


def apply_input(q: Questionnaire, answers: Answers, text: str) -> Outcome:
    """Validate typed or pressed input for the current step and return the new answers."""
    step = next_step(q, answers)
    if step is None:
        return Rejected("Анкета уже заполнена. Спасибо!")
    parsed = parse_answer(q, step, text)
    if isinstance(parsed, Rejected):
        return parsed
    return record(q, answers, step, parsed)


def skip_followup(q: Questionnaire, answers: Answers) -> Outcome:
    """«Пропустить»: only the follow-up may be skipped; the main questions stay required."""
    step = next_step(q, answers)
    if step is None:
        return Rejected("Анкета уже заполнена. Спасибо!")
    if not step.followup:
        return Rejected(MAIN_QUESTION_REQUIRED)
    return record(q, answers, step, Answer(option="", followup_skipped=True))


def record(q: Questionnaire, answers: Answers, step: Step, answer: Answer) -> Accepted:
    updated = dict(answers)
    if step.followup:
        answer = replace(
            updated[step.question.code], followup=answer.followup, followup_skipped=answer.followup_skipped
        )
    updated[step.question.code] = answer
    return Accepted(prune(q, updated), step, answer)


def parse_answer(q: Questionnaire, step: Step, text: str) -> Answer | Rejected:
    if step.followup:
        if normalize(text) in SKIP_WORDS:
            return Answer(option="", followup_skipped=True)
        return parse_free_text(text)
    if normalize(text) in SKIP_WORDS:
        return Rejected(MAIN_QUESTION_REQUIRED)
    question = step.question
    if question.kind == "scale":
        return parse_score(text)
    return parse_choice(question, text)


def parse_free_text(text: str) -> Answer | Rejected:
    cleaned = strip_control(text).strip()
    if not cleaned:
        return Rejected("Пожалуйста, опишите сложности текстом.")
    if len(cleaned) > MAX_FREE_TEXT:
        return Rejected(
            f"Ответ получился длиннее {MAX_FREE_TEXT} символов ({len(cleaned)}). "
            "Пожалуйста, сократите его и отправьте ещё раз."
        )
    return Answer(option="", followup=cleaned)


def parse_score(text: str) -> Answer | Rejected:
    key = normalize(text).removesuffix(" баллов").removesuffix(" балла").removesuffix(" балл")
    if key in SCALE_CODES:
        return Answer(option=key)
    return Rejected("Пожалуйста, поставьте оценку от 1 до 5, где 1 – самая низкая оценка, 5 – самая высокая.")


def parse_choice(question: Question, text: str) -> Answer | Rejected:
    key = normalize(text)
    if not key:
        return Rejected("Пожалуйста, выберите один из вариантов ответа.")
    for option in question.options:
        if key in (option.code, normalize(option.printed_code), normalize(option.text)):
            return Answer(option=option.code)
    other_key = normalize(OTHER_LABEL)
    if question.allow_other:
        if key in (other_key, OTHER_CODE):
            return Rejected("Пожалуйста, напишите свой вариант ответа текстом.")
        if key.startswith(other_key + ":"):
            return _other(strip_control(text).strip()[len(OTHER_LABEL) + 1 :])
    matches = search_options(question, text)
    if len(matches) == 1:
        return Answer(option=matches[0].code)
    if len(matches) > 1:
        names = "; ".join(f"{m.code}. {m.text}" for m in matches[:10])
        return Rejected(
            f"Под ответ «{_shorten(text)}» подходит несколько вариантов: {names}. Уточните, пожалуйста.",
            matches,
        )
    if question.allow_other:
        # Free text that matches no option is the respondent's own variant («Другое»).
        return _other(text)
    return Rejected(
        f"Не удалось распознать ответ «{_shorten(text)}». "
        f"Выберите вариант кнопкой или напишите его номер ({_code_range(question)})."
    )


def _other(text: str) -> Answer | Rejected:
    cleaned = strip_control(text).strip()
    if not cleaned:
        return Rejected("Пожалуйста, напишите свой вариант ответа текстом.")
    if len(cleaned) > MAX_FREE_TEXT:
        return Rejected(f"Ответ длиннее {MAX_FREE_TEXT} символов. Пожалуйста, сократите его.")
    return Answer(option=OTHER_CODE, text=cleaned)


def search_options(question: Question, text: str) -> tuple[Option, ...]:
    """Options whose text contains the typed words (for long lists such as the 35 districts)."""
    words = normalize(text).split()
    if not words or sum(len(w) for w in words) < 3:
        return ()
    return tuple(o for o in question.options if all(w in normalize(o.text) for w in words))


def _code_range(question: Question) -> str:
    codes = [o.code for o in question.options]
    return f"{codes[0]}–{codes[-1]}" if len(codes) > 1 else codes[0]


def _shorten(text: str, limit: int = 60) -> str:
    text = strip_control(text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def prefill_answers(q: Questionnaire, values: Mapping[str, str]) -> tuple[dict[str, Answer], list[str]]:
    """Turn a start payload (question code -> option code) into prefilled answers.

    Returns the answers and a list of problems; unusable entries are ignored (and asked instead).
    """
    answers: dict[str, Answer] = {}
    problems: list[str] = []
    for code, value in values.items():
        try:
            question = q.question(code)
        except KeyError:
            problems.append(f"вопрос {code} отсутствует в анкете")
            continue
        if not question.prefillable:
            problems.append(f"вопрос {code} нельзя предзаполнить")
            continue
        if question.option(value) is None:
            problems.append(f"в вопросе {code} нет варианта {value}")
            continue
        answers[code] = Answer(option=value, prefilled=True)
    return prune(q, answers), problems


def finalize(q: Questionnaire, answers: Answers, completed_at: datetime) -> dict[str, Answer]:
    """Add the auto-recorded date and time (7(18)) once every applicable question is answered."""
    if not is_complete(q, answers):
        raise ValueError("questionnaire is not complete")
    done = dict(answers)
    for question in q.questions:
        if question.kind == "auto_datetime":
            done[question.code] = Answer(option=completed_at.isoformat(timespec="seconds"))
    return done


def answer_label(q: Questionnaire, code: str, answer: Answer) -> str:
    """Human-readable answer text, e.g. «Скорее удовлетворен» or «Другое: …»."""
    question = q.question(code)
    if answer.option == OTHER_CODE:
        return f"{OTHER_LABEL}: {answer.text or ''}"
    option = question.option(answer.option)
    return option.text if option is not None else answer.option
