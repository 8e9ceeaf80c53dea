"""Paper questionnaires (footnote 1 of Appendix 1): typed by an operator or imported from a table.

Input is keyed by platform codes (question 15: 1 = in person, 4 = online) and validated by the
same engine as the chat. The order makes no answer mandatory: an empty cell (or an empty line in
the terminal) is "no answer" and is not stored (survey_flow.blanks). Every form needs its date,
7(18), which cannot be before the order or in the future. Paper questionnaires are stored with
channel «offline», source «paper», no respondent, and a fingerprint of their answers and date
(storage.paper_forms) so the same forms are not imported twice.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncConnection

from reports.errors import ReportError
from reports.progress import Progress
from storage import paper_forms
from storage import repository as repo
from storage.channels import Channel
from storage.store import Storage
from survey_flow import blanks, engine
from survey_flow.engine import Accepted, Answer, Outcome, Rejected, Step
from survey_flow.model import OTHER_LABEL, Question, Questionnaire
from survey_flow.text import normalize

CHANNEL = Channel.OFFLINE
SOURCE = "paper"
# Columns of an export that an import ignores (so an export can be imported back).
SERVICE_COLUMNS = frozenset(
    {"session", "channel", "source", "source_ref", "respondent", "external_id", "name"}
)
BACK_WORDS = frozenset({"назад", "back"})
CANCEL_WORDS = frozenset({"отмена", "прервать", "cancel"})
YES = frozenset({"да", "д", "y", "yes", "1"})
NO_ANSWER = "без ответа"
# Order No. 152-НПА is dated 23.09.2024: no questionnaire of it can be older.
ORDER_DATE = date(2024, 9, 23)
DATE_EXAMPLE = "ДД.ММ.ГГГГ или ДД.ММ.ГГГГ ЧЧ:ММ, например 15.08.2025 или 15.08.2025 14:30"
TIME_FORMATS = ("%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")  # fmt: skip
DAY_FORMATS = ("%d.%m.%Y", "%Y-%m-%d")


def column_of(step: Step) -> str:
    code = step.question.platform_code
    return f"{code}_text" if step.followup else code


def _shorten(text: str, limit: int = 40) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        return Rejected(
            f"Нет варианта с кодом {_shorten(value)} в вопросе {question.platform_code}; коды: {codes}"
        )
    return text


def apply_paper_step(q: Questionnaire, answers: dict[str, Answer], step: Step, text: str) -> Outcome:
    """Validate one filled cell for `step` (the walk decides the step, since blanks are skipped)."""
    translated = translate(step, text)
    if isinstance(translated, Rejected):
        return translated
    parsed = engine.parse_answer(q, step, translated)
    if isinstance(parsed, Rejected):
        return parsed
    return engine.record(q, answers, step, parsed)


def _day(value: date) -> str:
    # strftime does not pad year 1 to four digits, and such a date is exactly what is refused.
    return f"{value.day:02d}.{value.month:02d}.{value.year:04d}"


def parse_form_date(text: str, zone: ZoneInfo, now: datetime) -> datetime | str:
    """The form's date (and time) in UTC, or why it is refused.

    A date without a time is taken as 12:00 in the ministry's zone. Dates before the order or in
    the future are refused: such a form would be stored and then fall outside every period.
    """
    value = text.strip()
    local: datetime | None = None
    with_time = True
    for fmt in TIME_FORMATS:
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        try:
            local = parsed.astimezone(zone) if parsed.tzinfo else parsed.replace(tzinfo=zone)
        except (OverflowError, ValueError):  # year 1 or 9999 shifted by the offset
            return _out_of_range(parsed.date())
        break
    if local is None:
        with_time = False
        for fmt in DAY_FORMATS:
            try:
                day = datetime.strptime(value, fmt).date()
            except ValueError:
                continue
            local = datetime.combine(day, time(12, 0), zone)
            break
    if local is None:
        return f"не удалось разобрать дату «{_shorten(value)}» ({DATE_EXAMPLE})"
    day = local.date()
    if day < ORDER_DATE or day > now.astimezone(zone).date() or (with_time and local > now):
        return _out_of_range(day)
    return local.astimezone(UTC)


def _out_of_range(day: date) -> str:
    if day < ORDER_DATE:
        return f"дата {_day(day)} раньше приказа № 152-НПА от {_day(ORDER_DATE)}: проверьте год"
    return f"дата {_day(day)} еще не наступила: проверьте дату"


def form_fingerprint(q: Questionnaire, final: dict[str, Answer], filled_at: datetime) -> str:
    stored = []
    for code, answer in final.items():
        values = repo.answer_values(q, code, answer)
        stored.append((code, str(values["option_code"]), str(values["value_text"]), values["followup_text"]))
    return paper_forms.fingerprint(filled_at, stored)


async def save_paper(
    conn: AsyncConnection,
    q: Questionnaire,
    final: dict[str, Answer],
    filled_at: datetime,
    fingerprint: str,
    now: datetime,
) -> int:
    """Store a finalised paper questionnaire (blanks.finalize) with its fingerprint."""
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
    await paper_forms.record(conn, session.id, fingerprint, now)
    return session.id


def has_answers(q: Questionnaire, answers: dict[str, Answer]) -> bool:
    """At least one answer the respondent gave (a preset unit or point is the operator's)."""
    return any(
        question.code in answers and not answers[question.code].prefilled for question in q.asked_questions
    )


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
    for question in q.asked_questions:
        if engine.condition_holds(question, answers) is False:
            continue
        answer = answers.get(question.code)
        if answer is None:
            lines.append(f"  {question.platform_code}: {NO_ANSWER}")
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
    "1 – лично, 4 – онлайн).\nПустая строка — на вопрос нет ответа (на бланке ничего не отмечено). "
    "«назад» — исправить предыдущий ответ, «отмена» — бросить анкету без сохранения."
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
    filled_at: datetime | None = None,
) -> int:
    """Type questionnaires one after another; returns the number saved.

    `preset` answers (e.g. the unit and point of a whole stack of forms) are not asked; with
    `filled_at` (the date of the whole stack) the date is not asked either.
    """

    def ask(text: str) -> str | None:
        print(text, file=out)
        print("> ", end="", file=out, flush=True)
        line = read_line()
        return None if not line else line.rstrip("\r\n")

    print(HELP, file=out)
    saved = 0
    while True:
        form_date = filled_at
        while form_date is None:
            line = ask(f"\nДата заполнения анкеты, 7(18) ({DATE_EXAMPLE}):")
            if line is None:
                return _eof(out, saved)
            if not line.strip():
                print("Дата анкеты нужна: без нее анкета не попадет в отчет за свой период.", file=out)
                continue
            found = parse_form_date(line, zone, now())
            if isinstance(found, str):
                print(f"Ошибка: {found}", file=out)
            else:
                form_date = found
        answers: dict[str, Answer] = dict(preset or {})
        blank: set[str] = set()
        history: list[tuple[dict[str, Answer], set[str]]] = []
        cancelled = False
        while (step := blanks.next_step(q, answers, blank)) is not None:
            line = ask("\n" + prompt_text(q, step))
            if line is None:
                return _eof(out, saved)
            word = normalize(line)
            if word in CANCEL_WORDS:
                cancelled = True
                break
            if word in BACK_WORDS:
                if not history:
                    print("Нечего исправлять: это первый вопрос.", file=out)
                else:
                    answers, blank = history.pop()
                continue
            if not line.strip():
                history.append((answers, blank))
                blank = blank | {step.key}
                print(f"— {NO_ANSWER}", file=out)
                continue
            outcome = apply_paper_step(q, answers, step, line)
            if isinstance(outcome, Rejected):
                print(f"Ошибка: {outcome.message}", file=out)
                continue
            assert isinstance(outcome, Accepted)
            history.append((answers, blank))
            answers = outcome.answers
        if cancelled:
            print("Анкета не сохранена.", file=out)
        elif not has_answers(q, answers):
            print("В анкете нет ни одного ответа — сохранять нечего. Анкета не сохранена.", file=out)
        else:
            print("\nАнкета заполнена:\n" + "\n".join(summary_lines(q, answers)), file=out)
            final = blanks.finalize(q, answers, blank, form_date)
            digest = form_fingerprint(q, final, form_date)
            async with storage.transaction() as conn:
                same = await paper_forms.already_stored(conn, [digest])
            question = "Сохранить анкету? (да/нет)"
            if same:
                question = (
                    f"Такая же анкета (те же ответы и дата) уже сохранена под номером {same[digest]}. "
                    "Это другой бланк с такими же ответами? Сохранить? (да/нет)"
                )
            line = ask(question)
            if line is None:
                return _eof(out, saved)
            if normalize(line) in YES:
                async with storage.transaction() as conn:
                    session_id = await save_paper(conn, q, final, form_date, digest, now())
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
    answers: dict[str, Answer]  # as stored: blanks absent, the date 7(18) included
    filled_at: datetime
    fingerprint: str


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        # isoformat keeps four digits of any year (strftime writes year 1 as "1").
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def read_table(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of a CSV (`;` or `,`, UTF-8) or XLSX file (first sheet)."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        try:
            workbook = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise ReportError(f"Не удалось открыть {path}: {exc}") from None
        for number, row in enumerate(workbook.worksheets[0].iter_rows(values_only=True), start=1):
            yield number, [_cell(v) for v in row]
        workbook.close()
        return
    if suffix != ".csv":
        raise ReportError(f"Импорт из {path.name}: поддерживаются файлы .csv и .xlsx")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"Не удалось прочитать {path} как UTF-8: {exc}") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    first_line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ReportError(_csv_problem(path, first_line, exc)) from None
        # A quoted cell may span lines: report the line the record starts on.
        yield first_line, [cell.strip() for cell in row]
        first_line = reader.line_num + 1


def _csv_problem(path: Path, line: int, exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        reason = (
            f"ячейка длиннее {csv.field_size_limit()} символов — в анкете таких ответов не бывает, "
            "вероятно, не закрыта кавычка"
        )
    else:
        reason = f"таблица CSV повреждена ({exc})"
    return f"Файл {path.name} не импортирован, ничего не сохранено: строка {line}: {reason}"


def parse_rows(
    q: Questionnaire,
    rows: Iterator[tuple[int, list[str]]],
    zone: ZoneInfo,
    now: datetime,
    *,
    filled_at: datetime | None = None,
) -> tuple[list[PaperRow], list[RowError]]:
    """Rows of a table; `filled_at` is the date of every form whose column 18 is empty."""
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
    date_code = next(x.platform_code for x in questions if not x.asked)
    if filled_at is None and date_code not in columns:
        errors.append(
            RowError(
                header_line,
                date_code,
                "нет столбца с датой анкеты 7(18): добавьте его или укажите дату всех анкет --date",
            )
        )
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
        result = parse_row(q, line, values, zone, now, filled_at)
        if isinstance(result, RowError):
            errors.append(result)
        else:
            parsed.append(result)
    return parsed, errors


def parse_row(
    q: Questionnaire,
    line: int,
    values: dict[str, str],
    zone: ZoneInfo,
    now: datetime,
    filled_at: datetime | None = None,
) -> PaperRow | RowError:
    answers: dict[str, Answer] = {}
    blank: set[str] = set()
    while (step := blanks.next_step(q, answers, blank)) is not None:
        column = column_of(step)
        value = values.get(column, "")
        if not value:
            blank.add(step.key)  # no answer: the order makes none mandatory
            continue
        outcome = apply_paper_step(q, answers, step, value)
        if isinstance(outcome, Rejected):
            return RowError(line, column, outcome.message)
        assert isinstance(outcome, Accepted)
        answers = outcome.answers
    date_code = ""
    for column in values:
        code = column.removesuffix("_text")
        question = next(x for x in q.questions if x.platform_code == code)
        if not question.asked:
            date_code = code
            continue
        answer = answers.get(question.code)
        if column.endswith("_text") and (answer is None or answer.followup is None):
            return RowError(line, column, "сложности указываются только после оценки 1–3")
        if answer is None:
            return RowError(line, column, "вопрос не задается при ответах этой анкеты (лишний ответ)")
    if not answers:
        return RowError(line, "—", "в анкете нет ни одного ответа")
    if date_code:
        found = parse_form_date(values[date_code], zone, now)
        if isinstance(found, str):
            return RowError(line, date_code, found)
        filled_at = found
    if filled_at is None:
        code = next(x.platform_code for x in q.questions if not x.asked)
        return RowError(line, code, "не указана дата анкеты (заполните ячейку или укажите --date)")
    final = blanks.finalize(q, answers, blank, filled_at)
    return PaperRow(line, final, filled_at, form_fingerprint(q, final, filled_at))


async def import_paper(
    storage: Storage,
    q: Questionnaire,
    path: Path,
    zone: ZoneInfo,
    now: datetime,
    *,
    filled_at: datetime | None = None,
    allow_duplicates: bool = False,
    progress: Progress | None = None,
) -> int:
    """All or nothing: any bad row raises ReportError listing every problem; nothing is saved.

    A row whose answers and date equal a stored paper questionnaire's is refused (the file was
    probably imported already) unless `allow_duplicates`.
    """
    rows, errors = parse_rows(q, read_table(path), zone, now, filled_at=filled_at)
    if errors:
        listing = "\n".join(f"  {error}" for error in errors)
        raise ReportError(
            f"Файл {path.name} не импортирован, ничего не сохранено. Ошибок: {len(errors)}\n{listing}"
        )
    if not rows:
        raise ReportError(f"В файле {path.name} нет анкет")
    async with storage.transaction() as conn:
        if not allow_duplicates:
            same = await paper_forms.already_stored(conn, [row.fingerprint for row in rows])
            repeated = [row for row in rows if row.fingerprint in same]
            if repeated:
                listing = "\n".join(
                    f"  строка {row.line}: такая анкета (те же ответы и дата) уже сохранена "
                    f"под номером {same[row.fingerprint]}"
                    for row in repeated
                )
                raise ReportError(
                    f"Файл {path.name} не импортирован, ничего не сохранено. Уже импортированных анкет: "
                    f"{len(repeated)}\n{listing}\nЕсли это другие бланки с такими же ответами, "
                    "повторите импорт с --allow-duplicates."
                )
        if progress is not None:
            progress.set_total(len(rows))
        for row in rows:
            await save_paper(conn, q, row.answers, row.filled_at, row.fingerprint, now)
            # Per row: each is several database writes, beside which an update costs nothing.
            if progress is not None:
                progress.update(1)
    return len(rows)
