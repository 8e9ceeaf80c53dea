"""The paper route: blank answers, the form's date, repeated imports, oversized CSV cells."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from openpyxl import load_workbook
from sqlalchemy import column, func, insert, select, table
from sqlalchemy.engine import Connection

from reports.analysis import analyse
from reports.errors import ReportError
from reports.export import export_file
from reports.paper import PaperRow, import_paper, parse_form_date, parse_row
from reports.period import date_range, quarter_period
from storage import repository as repo
from storage.db import alembic_config, create_engine
from storage.schema import answers, paper_forms, survey_sessions
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.conftest import REPO, Database

NSK = ZoneInfo("Asia/Novosibirsk")
NOW = datetime(2025, 10, 2, 3, 0, tzinfo=UTC)  # 10:00 on 2 October 2025 in Novosibirsk
PREVIOUS = "0005_mailing"  # the revision before paper fingerprints
# answers as that revision has it: `followup_skipped` came later (0008_chat)
ANSWERS_BEFORE = table(
    "answers", *(column(c.name, c.type) for c in answers.columns if c.name not in {"id", "followup_skipped"})
)

HEADER = "11;12;13;14;15;17;19;22;21;23;23_text;24;24_text;25;25_text;26;26_text;27;27_text;28;28_text;29;29_text;18"


def write(path: Path, *rows: str) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


async def count(storage: Storage, table: object = survey_sessions) -> int:
    async with storage.transaction() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def stored_codes(storage: Storage) -> list[dict[str, tuple[str, str | None]]]:
    """Per stored questionnaire (in id order): platform code -> (option platform code, difficulty)."""
    async with storage.transaction() as conn:
        rows = await conn.execute(
            select(
                answers.c.session_id,
                answers.c.platform_code,
                answers.c.option_platform_code,
                answers.c.followup_text,
            ).order_by(answers.c.session_id, answers.c.id)
        )
        found: dict[int, dict[str, tuple[str, str | None]]] = {}
        for session_id, code, option, followup in rows:
            found.setdefault(session_id, {})[code] = (option, followup)
    return [found[key] for key in sorted(found)]


# Three in-person forms of 2025Q3 with blanks: A leaves 29 empty, B leaves 21 empty and gives no
# difficulty text after a 2, C leaves 23 and 24 empty and 15 (so 25–28 are undecided) empty.
BLANK_A = "1;1;1;1;1;1;1;;1;5;;4;;5;;5;;;;;;;;15.08.2025"
BLANK_B = "1;1;1;1;1;1;1;;;2;;4;;4;;;;;;;;4;;16.08.2025"
BLANK_C = "1;1;1;1;;1;1;;2;;;;;3;;;;;;;;1;Долго;17.08.2025"


async def test_blank_cells_are_no_answer_stored_absent_and_empty_in_exports(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    path = write(tmp_path / "blanks.csv", BLANK_A, BLANK_B, BLANK_C)
    assert await import_paper(storage, questionnaire, path, NSK, NOW) == 3
    a, b, c = await stored_codes(storage)
    assert "29" not in a and a["23"] == ("5", None)
    assert "21" not in b and b["23"] == ("2", None)  # a low score without a written reason
    assert "15" not in c and "23" not in c and "24" not in c and c["25"] == ("3", None)
    assert c["29"] == ("1", "Долго")
    assert "26" not in c and "27" not in c  # undecided by the blank 15, left empty: absent
    out = tmp_path / "export.xlsx"
    await export_file(
        storage, questionnaire, period=date_range(None, None, NSK), unit=None, out=out, fmt="xlsx"
    )
    rows = list(load_workbook(out, read_only=True).active.iter_rows(values_only=True))
    first, second, third = (dict(zip(rows[0], row, strict=False)) for row in rows[2:])
    assert (first["29"], second["21"], second["23_text"]) == (None, None, None)
    assert (third["15"], third["23"], third["24"], third["25"], third["29"]) == (None, None, None, 3, 1)


async def test_report_figures_use_who_answered_each_question_as_n(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    path = write(tmp_path / "blanks.csv", BLANK_A, BLANK_B, BLANK_C)
    await import_paper(storage, questionnaire, path, NSK, NOW)
    analysis = await analyse(storage, questionnaire, quarter_period("2025Q3", NSK), None, "3 квартал")
    assert analysis.questionnaires == 3
    by_number = {item.parameter.number: item for item in analysis.parameters}
    satisfaction = by_number[1]  # 9(21): A «1», C «2», B blank
    assert (satisfaction.count, satisfaction.positive_share, satisfaction.distribution) == (
        2,
        50.0,
        [("1", 1), ("2", 1)],
    )
    information = by_number[2]  # 11(23): A 5, B 2, C blank
    assert (information.count, information.mean, information.positive_share) == (2, 3.5, 50.0)
    documents = by_number[3]  # 12(24): A 4, B 4, C blank
    assert (documents.count, documents.mean, documents.positive_share) == (2, 4.0, 100.0)
    politeness = by_number[5]  # 13(25): A 5, B 4, C 3 (its 15 is blank: nothing excludes 25)
    assert (politeness.count, politeness.mean) == (3, 4.0)
    location = by_number[6]  # 14(26): A 5, B and C blank
    assert (location.count, location.mean) == (1, 5.0)
    terms = by_number[8]  # 17(29): A blank, B 4, C 1
    assert (terms.count, terms.mean, terms.positive_share) == (2, 2.5, 50.0)
    assert terms.difficulties == [("1", "Долго", 1)]
    assert by_number[7].count == 0 and by_number[7].mean is None  # 15(27): nobody answered


FILLED_BAD = [
    # a code that is not on the form, beside blanks
    ("1;1;1;1;1;1;3;;;;;;;;;;;;;;;;;15.08.2025", "19", "Нет варианта с кодом 3 в вопросе 19; коды: 1, 2"),
    # a score out of 1–5 beside blanks
    ("1;1;1;1;1;1;1;;;7;;;;;;;;;;;;;;15.08.2025", "23", "Пожалуйста, поставьте оценку от 1 до 5, где 1 – самая низкая оценка, 5 – самая высокая."),
    # 27 is for online clients; 15 says in person
    ("1;1;1;1;1;1;1;;;;;;;;;;;4;;;;;;15.08.2025", "27", "вопрос не задается при ответах этой анкеты (лишний ответ)"),
    # 22 is for refused clients; 19 says the measure was provided
    ("1;1;1;1;1;1;1;1;;;;;;;;;;;;;;;;15.08.2025", "22", "вопрос не задается при ответах этой анкеты (лишний ответ)"),
    # a difficulty text after a blank score
    (";;;;;;;;;;;;Справки;;;;;;;;;;;15.08.2025", "24_text", "сложности указываются только после оценки 1–3"),
    # only the date: a form without a single answer
    (";;;;;;;;;;;;;;;;;;;;;;;15.08.2025", "—", "в анкете нет ни одного ответа"),
]  # fmt: skip


async def test_filled_cells_are_still_checked_all_or_nothing(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    path = write(tmp_path / "bad.csv", BLANK_A, *[row for row, _c, _r in FILLED_BAD], BLANK_B)
    with pytest.raises(ReportError) as caught:
        await import_paper(storage, questionnaire, path, NSK, NOW)
    assert str(caught.value).splitlines()[1:] == [
        f"  строка {line}, столбец {column}: {reason}"
        for line, (_row, column, reason) in enumerate(FILLED_BAD, start=3)
    ]
    assert await count(storage) == 0


DATE_BAD = [
    ("01.01.0001", "дата 01.01.0001 раньше приказа № 152-НПА от 23.09.2024: проверьте год"),
    ("0001-01-01 03:00", "дата 01.01.0001 раньше приказа № 152-НПА от 23.09.2024: проверьте год"),
    ("0001-01-01T00:00:00+14:00", "дата 01.01.0001 раньше приказа № 152-НПА от 23.09.2024: проверьте год"),
    ("15.08.1990", "дата 15.08.1990 раньше приказа № 152-НПА от 23.09.2024: проверьте год"),
    ("22.09.2024", "дата 22.09.2024 раньше приказа № 152-НПА от 23.09.2024: проверьте год"),
    ("31.12.9999", "дата 31.12.9999 еще не наступила: проверьте дату"),
    ("9999-12-31T23:59:00-12:00", "дата 31.12.9999 еще не наступила: проверьте дату"),
    ("03.10.2025", "дата 03.10.2025 еще не наступила: проверьте дату"),
    ("02.10.2025 10:30", "дата 02.10.2025 еще не наступила: проверьте дату"),  # half an hour ahead
]


def test_form_dates_before_the_order_or_in_the_future_are_refused() -> None:
    for text, reason in DATE_BAD:
        assert parse_form_date(text, NSK, NOW) == reason, text
    assert parse_form_date("23.09.2024", NSK, NOW) == datetime(2024, 9, 23, 5, tzinfo=UTC)
    assert parse_form_date("02.10.2025", NSK, NOW) == datetime(2025, 10, 2, 5, tzinfo=UTC)  # today
    assert parse_form_date("02.10.2025 09:55", NSK, NOW) == datetime(2025, 10, 2, 2, 55, tzinfo=UTC)


async def test_every_form_needs_its_date_from_the_file_or_date_option(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    undated = BLANK_A.removesuffix("15.08.2025")
    path = write(tmp_path / "p.csv", undated, "1;1;1;1;1;1;1;;1;5;;4;;5;;5;;;;;;;;31.12.9999")
    with pytest.raises(ReportError) as caught:
        await import_paper(storage, questionnaire, path, NSK, NOW)
    assert str(caught.value).splitlines()[1:] == [
        "  строка 2, столбец 18: не указана дата анкеты (заполните ячейку или укажите --date)",
        "  строка 3, столбец 18: дата 31.12.9999 еще не наступила: проверьте дату",
    ]
    no_column = tmp_path / "no18.csv"
    no_column.write_text(HEADER.removesuffix(";18") + "\n" + undated.removesuffix(";") + "\n", "utf-8")
    with pytest.raises(ReportError) as caught:
        await import_paper(storage, questionnaire, no_column, NSK, NOW)
    assert "строка 1, столбец 18: нет столбца с датой анкеты 7(18)" in str(caught.value)
    assert await count(storage) == 0

    stack = datetime(2025, 9, 1, 5, tzinfo=UTC)
    path = write(tmp_path / "p.csv", undated, BLANK_B)  # the file's date fills the empty cell only
    assert await import_paper(storage, questionnaire, path, NSK, NOW, filled_at=stack) == 2
    async with storage.transaction() as conn:
        dates = (await conn.execute(select(survey_sessions.c.completed_at).order_by("id"))).scalars().all()
    assert [d.replace(tzinfo=UTC) if d.tzinfo is None else d for d in dates] == [
        stack,
        datetime(2025, 8, 16, 5, tzinfo=UTC),
    ]


async def test_importing_the_same_forms_again_is_refused_naming_the_lines(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    first = write(tmp_path / "first.csv", BLANK_A, BLANK_B)
    assert await import_paper(storage, questionnaire, first, NSK, NOW) == 2
    # The second file repeats B, adds C, and has A with another date: a different form.
    other_a = BLANK_A.replace("15.08.2025", "18.08.2025")
    second = write(tmp_path / "second.csv", BLANK_C, other_a, BLANK_B)
    with pytest.raises(ReportError) as caught:
        await import_paper(storage, questionnaire, second, NSK, NOW)
    assert str(caught.value).splitlines() == [
        "Файл second.csv не импортирован, ничего не сохранено. Уже импортированных анкет: 1",
        "  строка 4: такая анкета (те же ответы и дата) уже сохранена под номером 2",
        "Если это другие бланки с такими же ответами, повторите импорт с --allow-duplicates.",
    ]
    assert (await count(storage), await count(storage, paper_forms)) == (2, 2)
    with pytest.raises(ReportError, match="строка 2: такая анкета"):
        await import_paper(storage, questionnaire, first, NSK, NOW)
    # Two identical forms within one stack are two forms; a real second one is let through.
    assert await import_paper(storage, questionnaire, second, NSK, NOW, allow_duplicates=True) == 3
    assert (await count(storage), await count(storage, paper_forms)) == (5, 5)
    twins = write(
        tmp_path / "twins.csv", other_a.replace("18.08", "19.08"), other_a.replace("18.08", "19.08")
    )
    assert await import_paper(storage, questionnaire, twins, NSK, NOW) == 2


def run_cli(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli.main",
            "--database",
            f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
            *args,
        ],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )


def test_a_128_kb_csv_cell_is_one_clear_line_and_stores_nothing(tmp_path: Path) -> None:
    path = write(
        tmp_path / "big.csv", BLANK_A, BLANK_B.replace(";4;;16.08", ";4;" + "ы" * 131_073 + ";16.08")
    )
    done = run_cli(tmp_path, "import-paper", str(path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "Файл big.csv не импортирован, ничего не сохранено: строка 3: ячейка длиннее 131072 символов — "
        "в анкете таких ответов не бывает, вероятно, не закрыта кавычка"
    ]
    assert "Traceback" not in done.stderr + done.stdout
    assert run_cli(tmp_path, "export", "--out", "all.csv").stdout.startswith("Выгружено анкет: 0")


def test_cli_date_option_and_duplicates_flag(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(HEADER.removesuffix(";18") + "\n" + BLANK_A.removesuffix(";15.08.2025") + "\n", "utf-8")
    done = run_cli(tmp_path, "import-paper", str(path), "--date", "01.01.0001")
    assert (done.returncode, done.stderr.splitlines()) == (
        2,
        ["--date: дата 01.01.0001 раньше приказа № 152-НПА от 23.09.2024: проверьте год"],
    )
    assert run_cli(tmp_path, "import-paper", str(path), "--date", "01.09.2025").returncode == 0
    again = run_cli(tmp_path, "import-paper", str(path), "--date", "01.09.2025")
    assert again.returncode == 2 and "строка 2: такая анкета" in again.stderr
    forced = run_cli(tmp_path, "import-paper", str(path), "--date", "01.09.2025", "--allow-duplicates")
    assert (forced.returncode, forced.stdout.strip()) == (0, "Импортировано бумажных анкет: 1")


async def test_typed_forms_with_blanks_and_a_repeated_form(tmp_path: Path) -> None:
    typed = [
        "1", "1", "1", "1",
        "",  # 15 left blank: 25–28 are asked, nothing excludes them
        "1", "1", "",  # 17, 19, 21 blank
        "2", "",  # 23 = 2 without a difficulty text
        "", "назад", "5",  # 24 blank, then corrected to 5
        "", "", "", "", "",  # 25–29 blank
        "да", "да",
        "1", "1", "1", "1", "", "1", "1", "", "2", "", "5", "", "", "", "", "",  # the same form again
        "нет",  # not saved after the repeated-form warning
        "нет",
    ]  # fmt: skip
    done = run_cli(tmp_path, "paper", "--date", "15.08.2025", stdin="\n".join(typed) + "\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Пустая строка — на вопрос нет ответа" in out
    assert "Дата заполнения анкеты" not in out  # the stack's date is given
    assert "  21: без ответа\n" in out and "  24: 5\n" in out and "  15: без ответа\n" in out
    assert "Такая же анкета (те же ответы и дата) уже сохранена под номером 1." in out
    assert out.rstrip().endswith("Сохранено анкет: 1.")
    storage = await Storage.open(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    try:
        (form,) = await stored_codes(storage)
        assert await count(storage, paper_forms) == 1
    finally:
        await storage.close()
    assert sorted(form, key=int) == ["11", "12", "13", "14", "17", "18", "19", "23", "24"]
    assert form["23"] == ("2", None) and form["18"] == ("2025-08-15T05:00:00+00:00", None)


async def test_the_migration_fingerprints_forms_entered_before_it(
    database: Database, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    """A file imported before fingerprints were kept is still refused when imported again."""
    engine = create_engine(database.url, schema=database.schema)

    def upgrade_to_previous(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, PREVIOUS)

    path = write(tmp_path / "old.csv", BLANK_C)
    cells = {code: value for code, value in zip(HEADER.split(";"), BLANK_C.split(";"), strict=True) if value}
    row = parse_row(questionnaire, 2, cells, NSK, NOW)
    assert isinstance(row, PaperRow)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade_to_previous)
            # Stored as the import before this revision did: a session and its answers only.
            session_id = (
                await conn.execute(
                    insert(survey_sessions)
                    .values(
                        channel="offline",
                        status="completed",
                        source="paper",
                        prefill={},
                        questionnaire_version=questionnaire.version,
                        started_at=row.filled_at,
                        updated_at=row.filled_at,
                        completed_at=row.filled_at,
                    )
                    .returning(survey_sessions.c.id)
                )
            ).scalar_one()
            for code, answer in row.answers.items():
                values = repo.answer_values(questionnaire, code, answer)
                values.pop("followup_skipped", None)
                await conn.execute(
                    insert(ANSWERS_BEFORE).values(session_id=session_id, answered_at=NOW, **values)
                )
    finally:
        await engine.dispose()
    storage = await database.open()  # migrates to the head
    try:
        assert await count(storage, paper_forms) == 1
        with pytest.raises(ReportError, match=r"строка 2: такая анкета .* под номером 1"):
            await import_paper(storage, questionnaire, path, NSK, NOW)
        assert await count(storage) == 1
    finally:
        await storage.close()
