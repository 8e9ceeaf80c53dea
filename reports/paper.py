"""Paper questionnaires (footnote 1 of Appendix 1): typed by an operator or imported from a table.

Input is keyed by platform codes (question 15: 1 = in person, 4 = online) and goes through the
same engine as the chat, so validation and skip logic are identical. Paper questionnaires are
stored with channel «offline», source «paper» and no respondent.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import UsageError
from storage import repository as repo
from storage.store import Storage
from survey_flow import engine
from survey_flow.engine import Accepted, Answer, Outcome, Rejected, Step
from survey_flow.model import OTHER_LABEL, Question, Questionnaire
from survey_flow.text import normalize

CHANNEL = "offline"
SOURCE = "paper"
# Columns of an export that an import ignores (so an export can be imported back).
SERVICE_COLUMNS = frozenset(
    {"session", "channel", "source", "source_ref", "respondent", "external_id", "name"}
)
BACK_WORDS = frozenset({"назад", "back"})
CANCEL_WORDS = frozenset({"отмена", "прервать", "cancel"})
YES = frozenset({"да", "д", "y", "yes", "1"})


def column_of(step: Step) -> str:
    code = step.question.platform_code
    return f"{code}_text" if step.followup else code


def translate(step: Step, text: str) -> str | Rejected:
    """Platform option codes to the form's option codes; other input goes to the engine as is."""
    question = step.question
    value = text.strip()
    if step.followup or question.kind != "choice":
        return text
    for option in question.options:
        if value == option.platform_code:
            return option.code
    if value.isdigit():
        codes = ", ".join(o.platform_code for o in question.options)
        return Rejected(f"Нет варианта с кодом {value} в вопросе {question.platform_code}; коды: {codes}")
    return text


def apply_paper_input(q: Questionnaire, answers: dict[str, Answer], text: str) -> Outcome:
    step = engine.next_step(q, answers)
    if step is None:
        return Rejected("Анкета уже заполнена")
    translated = translate(step, text)
    if isinstance(translated, Rejected):
        return translated
    return engine.apply_input(q, answers, translated)


def parse_filled_at(text: str, zone: ZoneInfo) -> datetime | None:
    """The date (and time) written on the form, in the ministry's zone; None if unreadable."""
    value = text.strip()
    formats = ("%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S",
               "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")  # fmt: skip
    for fmt in formats:
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(UTC)
    for fmt in ("%d.%m.%Y", "%Y-%m-%d"):
        try:
            day = datetime.strptime(value, fmt).date()
        except ValueError:
            continue
        return datetime.combine(day, time(12, 0), zone).astimezone(UTC)
    return None


async def save_paper(
    conn: AsyncConnection, q: Questionnaire, answers: dict[str, Answer], filled_at: datetime
) -> int:
    final = engine.finalize(q, answers, filled_at)
    session = await repo.create_session(
        conn,
        q,
        respondent_id=None,
        channel=CHANNEL,
        source=SOURCE,
        source_ref=None,
        prefill={},
        now=filled_at,
    )
    await repo.sync_answers(conn, q, session.id, {}, final, filled_at)
    await repo.finish_session(conn, session.id, repo.COMPLETED, filled_at)
    return session.id


# --- typing in the terminal ----------------------------------------------------------------


def prompt_text(q: Questionnaire, step: Step) -> str:
    question = step.question
    if step.followup:
        return f"{column_of(step)}. {q.followup.text} (к вопросу {question.platform_code})"
    lines = [f"{question.platform_code}. {question.text}"]
    if question.kind == "scale":
        lines.append("  оценка от 1 до 5")
    else:
        lines += [f"  {o.platform_code} – {o.text}" for o in question.options]
        if question.allow_other:
            lines.append(f"  «{OTHER_LABEL}: текст» – свой вариант")
    return "\n".join(lines)


def summary_lines(q: Questionnaire, answers: dict[str, Answer]) -> list[str]:
    lines = []
    for question in q.questions:
        answer = answers.get(question.code)
        if answer is None or not question.asked:
            continue
        lines.append(f"  {question.platform_code}: {_shown(question, q, answer)}")
        if answer.followup:
            lines.append(f"  {question.platform_code}_text: {answer.followup}")
    return lines


def _shown(question: Question, q: Questionnaire, answer: Answer) -> str:
    label = engine.answer_label(q, question.code, answer)
    option = question.option(answer.option)
    return f"{option.platform_code} ({label})" if option is not None else label


HELP = (
    "Ввод бумажной анкеты. Вопросы и варианты — по кодам платформы (например, вопрос 15: "
    "1 – лично, 4 – онлайн).\n«назад» — исправить предыдущий ответ, «отмена» — бросить анкету без сохранения."
)


async def run_paper(
    storage: Storage,
    q: Questionnaire,
    zone: ZoneInfo,
    *,
    read_line: Callable[[], str],
    out: TextIO,
    now: Callable[[], datetime],
    preset: dict[str, Answer] | None = None,
) -> int:
    """Type questionnaires one after another; returns the number saved.

    `preset` answers (e.g. the unit and point of a whole stack of forms) are not asked.
    """

    def ask(text: str) -> str | None:
        print(text, file=out)
        print("> ", end="", file=out, flush=True)
        line = read_line()
        return None if not line else line.rstrip("\r\n")

    print(HELP, file=out)
    saved = 0
    while True:
        filled_at: datetime | None = None
        while filled_at is None:
            line = ask("\nДата заполнения анкеты (ДД.ММ.ГГГГ или ДД.ММ.ГГГГ ЧЧ:ММ; пусто — сейчас):")
            if line is None:
                return _eof(out, saved)
            filled_at = now() if not line.strip() else parse_filled_at(line, zone)
            if filled_at is None:
                print("Не удалось разобрать дату. Пример: 15.08.2025 или 15.08.2025 14:30", file=out)
        answers: dict[str, Answer] = dict(preset or {})
        cancelled = False
        while (step := engine.next_step(q, answers)) is not None:
            line = ask("\n" + prompt_text(q, step))
            if line is None:
                return _eof(out, saved)
            word = normalize(line)
            if word in CANCEL_WORDS:
                cancelled = True
                break
            if word in BACK_WORDS:
                answers, undone = engine.go_back(q, answers)
                if undone is None:
                    print("Нечего исправлять: это первый вопрос.", file=out)
                continue
            outcome = apply_paper_input(q, answers, line)
            if isinstance(outcome, Rejected):
                print(f"Ошибка: {outcome.message}", file=out)
                continue
            assert isinstance(outcome, Accepted)
            answers = outcome.answers
        if cancelled:
            print("Анкета не сохранена.", file=out)
        else:
            print("\nАнкета заполнена:\n" + "\n".join(summary_lines(q, answers)), file=out)
            line = ask("Сохранить анкету? (да/нет)")
            if line is None:
                return _eof(out, saved)
            if normalize(line) in YES:
                async with storage.transaction() as conn:
                    session_id = await save_paper(conn, q, answers, filled_at)
                saved += 1
                print(f"Анкета сохранена под номером {session_id}.", file=out)
            else:
                print("Анкета не сохранена.", file=out)
        line = ask("\nВвести следующую анкету? (да/нет)")
        if line is None or normalize(line) not in YES:
            print(f"Сохранено анкет: {saved}.", file=out)
            return saved


def _eof(out: TextIO, saved: int) -> int:
    print(f"\nВвод завершен. Незавершенная анкета не сохранена. Сохранено анкет: {saved}.", file=out)
    return saved


# --- importing a table ---------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"строка {self.line}, столбец {self.column}: {self.reason}"


@dataclass(frozen=True)
class PaperRow:
    line: int
    answers: dict[str, Answer]
    filled_at: datetime


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value).strip()


def read_table(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of a CSV (`;` or `,`, UTF-8) or XLSX file (first sheet)."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        try:
            workbook = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise UsageError(f"Не удалось открыть {path}: {exc}") from None
        for number, row in enumerate(workbook.worksheets[0].iter_rows(values_only=True), start=1):
            yield number, [_cell(v) for v in row]
        workbook.close()
        return
    if suffix != ".csv":
        raise UsageError(f"Импорт из {path.name}: поддерживаются файлы .csv и .xlsx")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Не удалось прочитать {path} как UTF-8: {exc}") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    first_line = 1
    for row in reader:  # a quoted cell may span lines: report the line the record starts on
        yield first_line, [cell.strip() for cell in row]
        first_line = reader.line_num + 1


def parse_rows(
    q: Questionnaire, rows: Iterator[tuple[int, list[str]]], zone: ZoneInfo, now: datetime
) -> tuple[list[PaperRow], list[RowError]]:
    errors: list[RowError] = []
    parsed: list[PaperRow] = []
    header_line, header = next(rows, (1, []))
    questions = q.questions
    known = {question.platform_code for question in questions}
    known |= {f"{question.platform_code}_text" for question in questions if q.has_followup(question)}
    columns: list[str] = []
    for index, name in enumerate(header, start=1):
        if name and name not in known and name not in SERVICE_COLUMNS:
            errors.append(
                RowError(header_line, name, "неизвестный столбец (ожидаются коды платформы: 11, 12, …)")
            )
        if name in columns and name:
            errors.append(RowError(header_line, name, f"столбец повторяется (позиция {index})"))
        columns.append(name)
    if not any(name in known for name in columns):
        errors.append(RowError(header_line, "—", "в первой строке нет кодов вопросов (11, 12, …)"))
        return [], errors
    titles = {question.platform_code: question.text for question in questions}
    for line, cells in rows:
        values = {
            name: cells[i] for i, name in enumerate(columns) if name in known and i < len(cells) and cells[i]
        }
        if not values:
            continue  # an empty line
        if any(titles.get(name) == value for name, value in values.items()):
            continue  # the row of question texts of an export
        result = parse_row(q, line, values, zone, now)
        if isinstance(result, RowError):
            errors.append(result)
        else:
            parsed.append(result)
    return parsed, errors


def parse_row(
    q: Questionnaire, line: int, values: dict[str, str], zone: ZoneInfo, now: datetime
) -> PaperRow | RowError:
    answers: dict[str, Answer] = {}
    while (step := engine.next_step(q, answers)) is not None:
        column = column_of(step)
        value = values.get(column, "")
        if not value:
            what = "нет текста сложностей после оценки 1–3" if step.followup else "не заполнено"
            return RowError(line, column, what)
        outcome = apply_paper_input(q, answers, value)
        if isinstance(outcome, Rejected):
            return RowError(line, column, outcome.message)
        assert isinstance(outcome, Accepted)
        answers = outcome.answers
    for column in values:
        code = column.removesuffix("_text")
        question = next(x for x in q.questions if x.platform_code == code)
        if not question.asked:
            continue
        answer = answers.get(question.code)
        if answer is None:
            return RowError(line, column, "вопрос не задается при ответах этой анкеты (лишний ответ)")
        if column.endswith("_text") and answer.followup is None:
            return RowError(line, column, "сложности указываются только после оценки 1–3")
    filled_at = now
    auto = next((x for x in q.questions if not x.asked), None)
    if auto is not None and values.get(auto.platform_code):
        found = parse_filled_at(values[auto.platform_code], zone)
        if found is None:
            return RowError(
                line, auto.platform_code, f"не удалось разобрать дату «{values[auto.platform_code]}»"
            )
        filled_at = found
    return PaperRow(line, answers, filled_at)


async def import_paper(storage: Storage, q: Questionnaire, path: Path, zone: ZoneInfo, now: datetime) -> int:
    """All or nothing: any bad row raises UsageError listing every problem; nothing is saved."""
    rows, errors = parse_rows(q, read_table(path), zone, now)
    if errors:
        listing = "\n".join(f"  {error}" for error in errors)
        raise UsageError(
            f"Файл {path.name} не импортирован, ничего не сохранено. Ошибок: {len(errors)}\n{listing}"
        )
    if not rows:
        raise UsageError(f"В файле {path.name} нет анкет")
    async with storage.transaction() as conn:
        for row in rows:
            await save_paper(conn, q, row.answers, row.filled_at)
    return len(rows)
