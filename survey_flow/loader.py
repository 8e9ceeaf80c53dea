"""Load and validate a questionnaire file; every problem is reported with its question code."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from survey_flow.model import OTHER_CODE, SCALE_CODES, Option, Question, Questionnaire

DEFAULT_FILE = "appendix1.toml"
# The form's and the blocks' titles are shown in chats as one heading message; Telegram and VK
# take at most 4096 characters a message, so two titles of this length always fit in one.
MAX_TITLE = 1000


@dataclass(frozen=True)
class ChoiceList:
    """A configurable list of options (questions 1–4): (code, text) pairs."""

    items: tuple[tuple[str, str], ...]
    allow_other: bool = False


@dataclass(frozen=True)
class Problem:
    question: str | None
    message: str

    def __str__(self) -> str:
        where = f"вопрос {self.question}" if self.question else "анкета"
        return f"[{where}] {self.message}"


@dataclass
class QuestionnaireError(Exception):
    source: str
    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"Файл анкеты {self.source} содержит ошибки ({len(self.problems)}):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def default_questionnaire_text() -> str:
    return resources.files("survey_flow").joinpath(DEFAULT_FILE).read_text(encoding="utf-8")


def load_questionnaire(
    path: Path | None = None, lists: Mapping[str, ChoiceList] | None = None
) -> Questionnaire:
    """Read the file (the built-in Appendix 1 when `path` is None) and resolve config lists."""
    if path is None:
        source, text = f"<встроенная {DEFAULT_FILE}>", default_questionnaire_text()
    else:
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise QuestionnaireError(source, [Problem(None, f"не удалось прочитать файл: {exc}")]) from None
    return parse_questionnaire(text, lists or {}, source)


def parse_questionnaire(text: str, lists: Mapping[str, ChoiceList], source: str = "<text>") -> Questionnaire:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise QuestionnaireError(source, [Problem(None, f"синтаксическая ошибка TOML: {exc}")]) from None
    problems: list[Problem] = []
    raw_questions = raw.get("questions")
    if isinstance(raw_questions, list):
        raw["questions"] = [_resolve_list(q, lists, problems) for q in raw_questions]
    try:
        questionnaire = Questionnaire.model_validate(raw)
    except ValidationError as exc:
        problems += [_problem_from_pydantic(err, raw) for err in exc.errors()]
        raise QuestionnaireError(source, problems) from None
    problems += check_questionnaire(questionnaire)
    if problems:
        raise QuestionnaireError(source, problems)
    return questionnaire


def _resolve_list(raw_q: Any, lists: Mapping[str, ChoiceList], problems: list[Problem]) -> Any:
    if not isinstance(raw_q, dict) or "options_from" not in raw_q:
        return raw_q
    name = raw_q["options_from"]
    code = str(raw_q.get("code", "?"))
    choice_list = lists.get(name) if isinstance(name, str) else None
    if choice_list is None:
        problems.append(Problem(code, f"список вариантов «{name}» не задан в конфигурации"))
        return raw_q
    resolved = dict(raw_q)
    resolved["options"] = [{"code": c, "platform_code": c, "text": t} for c, t in choice_list.items]
    resolved["allow_other"] = choice_list.allow_other or bool(raw_q.get("allow_other", False))
    return resolved


def _problem_from_pydantic(err: Mapping[str, Any], raw: Mapping[str, Any]) -> Problem:
    loc: Sequence[Any] = err.get("loc", ())
    code: str | None = None
    if len(loc) >= 2 and loc[0] == "questions" and isinstance(loc[1], int):
        questions = raw.get("questions") or []
        if loc[1] < len(questions) and isinstance(questions[loc[1]], dict):
            code = str(questions[loc[1]].get("code", f"№{loc[1] + 1}"))
        loc = loc[2:]
    where = ".".join(str(part) for part in loc) or "—"
    return Problem(code, f"поле {where}: {err.get('msg', 'ошибка')}")


def check_questionnaire(q: Questionnaire) -> list[Problem]:
    """Structural checks beyond field types."""
    problems: list[Problem] = []
    seen_codes: set[str] = set()
    seen_platform: dict[str, str] = {}
    blocks = {b.number for b in q.blocks}
    problems += _check_titles(q)
    position: dict[str, int] = {}
    role_owner: dict[str, str] = {}
    for index, question in enumerate(q.questions):
        code = question.code
        if question.role is not None:
            if question.role in role_owner:
                problems.append(
                    Problem(code, f"роль «{question.role}» уже задана вопросу {role_owner[question.role]}")
                )
            role_owner.setdefault(question.role, code)
        if code in seen_codes:
            problems.append(Problem(code, "номер вопроса повторяется"))
        seen_codes.add(code)
        if question.platform_code in seen_platform:
            problems.append(
                Problem(
                    code,
                    f"код платформы {question.platform_code} уже занят вопросом "
                    f"{seen_platform[question.platform_code]}",
                )
            )
        seen_platform.setdefault(question.platform_code, code)
        position.setdefault(code, index)
        if question.block not in blocks:
            problems.append(Problem(code, f"блок {question.block} не описан в анкете"))
        problems += _check_options(question)
        if question.prefillable and (question.block != 1 or question.kind != "choice"):
            problems.append(Problem(code, "предзаполнять можно только вопросы выбора блока 1"))
        if question.condition is not None:
            problems += _check_condition(q, question, position)
    for followup_code in q.followup.questions:
        target = next((x for x in q.questions if x.code == followup_code), None)
        if target is None:
            problems.append(Problem(followup_code, "уточняющий вопрос задан для несуществующего вопроса"))
        elif target.kind != "scale":
            problems.append(Problem(followup_code, "уточняющий вопрос возможен только после оценки 1–5"))
    bad_scores = [s for s in q.followup.scores if s not in SCALE_CODES]
    if bad_scores:
        problems.append(Problem(None, f"уточняющий вопрос: оценки {bad_scores} вне шкалы 1–5"))
    return problems


def _check_titles(q: Questionnaire) -> list[Problem]:
    problems: list[Problem] = []
    titles = [("заголовок анкеты", q.title)] + [(f"заголовок блока {b.number}", b.title) for b in q.blocks]
    for what, title in titles:
        if not title.strip():
            problems.append(Problem(None, f"{what} пуст"))
        elif len(title) > MAX_TITLE:
            problems.append(Problem(None, f"{what} длиннее {MAX_TITLE} символов ({len(title)})"))
    numbers = [b.number for b in q.blocks]
    for number in sorted({n for n in numbers if numbers.count(n) > 1}):
        problems.append(Problem(None, f"блок {number} описан несколько раз"))
    return problems


def _check_options(question: Question) -> list[Problem]:
    code = question.code
    problems: list[Problem] = []
    if question.kind == "choice":
        if not question.options and question.options_from is None:  # a missing list is reported already
            problems.append(Problem(code, "у вопроса выбора нет вариантов ответа"))
        problems += _duplicates(code, question.options)
    elif question.options or question.allow_other:
        problems.append(Problem(code, f"у вопроса вида «{question.kind}» не может быть вариантов ответа"))
    return problems


def _duplicates(code: str, options: Sequence[Option]) -> list[Problem]:
    problems: list[Problem] = []
    for attr, label in (("code", "код варианта"), ("platform_code", "код варианта на платформе")):
        values = [getattr(o, attr) for o in options]
        for value in sorted({v for v in values if values.count(v) > 1}):
            problems.append(Problem(code, f"{label} «{value}» повторяется"))
    if any(o.code == OTHER_CODE for o in options):
        problems.append(Problem(code, f"код варианта «{OTHER_CODE}» зарезервирован для «Другое»"))
    texts = [o.text.casefold() for o in options]
    for text in sorted({t for t in texts if texts.count(t) > 1}):
        problems.append(Problem(code, f"текст варианта «{text}» повторяется"))
    return problems


def _check_condition(q: Questionnaire, question: Question, position: Mapping[str, int]) -> list[Problem]:
    assert question.condition is not None
    cond = question.condition
    code = question.code
    if cond.question not in position:
        later = any(x.code == cond.question for x in q.questions)
        reason = "который идет позже" if later else "которого нет в анкете"
        return [Problem(code, f"условие ссылается на вопрос {cond.question}, {reason}")]
    target = q.question(cond.question)
    if target.kind != "choice":
        return [Problem(code, f"условие ссылается на вопрос {cond.question}, который не является выбором")]
    known = {o.code for o in target.options}
    return [
        Problem(code, f"условие ссылается на вариант {value} вопроса {cond.question}, которого нет")
        for value in cond.any_of
        if value not in known
    ]
