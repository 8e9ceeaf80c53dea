"""Charts of the quarterly analysis: the unit's name in the title, whole-number ticks for counts,
«нет данных» instead of an empty axis, the internal-use marking on every image; and the report's
print set-up."""

from __future__ import annotations

import io
from pathlib import Path
from zoneinfo import ZoneInfo

from matplotlib.backends.backend_agg import FigureCanvasAgg
from openpyxl import load_workbook
from PIL import Image

from reports.analysis import MARKING, analyse, write_report
from reports.charts import NO_DATA, distribution_figure, png, shares_figure
from reports.period import quarter_period
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.reports.data import fill_quarter

NSK = ZoneInfo("Asia/Novosibirsk")
UNIT1 = "Управление развития малого и среднего предпринимательства"


def texts(figure: object) -> list[str]:
    return [t.get_text() for t in figure.findobj(lambda a: hasattr(a, "get_text") and a.get_text())]  # type: ignore[attr-defined]


async def test_charts_name_the_unit_mark_and_count_in_whole_numbers(
    storage: Storage, questionnaire: Questionnaire
) -> None:
    await fill_quarter(storage, questionnaire)
    analysis = await analyse(storage, questionnaire, quarter_period("2025Q3", NSK), "1", "3 квартал 2025 г.")
    shares = shares_figure(analysis, UNIT1)
    assert MARKING in texts(shares)
    assert shares.axes[0].get_title().startswith(UNIT1)
    figure = distribution_figure(analysis, UNIT1)
    assert MARKING in texts(figure)
    assert figure.get_suptitle().startswith(UNIT1)
    FigureCanvasAgg(figure).draw()
    for ax in figure.axes:
        ticks = ax.get_yticks()
        assert len(ticks) > 1 and all(float(t).is_integer() for t in ticks), (ax.get_title(), ticks)
    assert NO_DATA not in texts(figure)  # every parameter has answers for unit 1
    image = Image.open(io.BytesIO(png(figure)))
    assert image.format == "PNG"


async def test_an_empty_quarter_says_no_data(storage: Storage, questionnaire: Questionnaire) -> None:
    await fill_quarter(storage, questionnaire)
    # Unit 2 (F only): nobody refused, nobody came in person: 10(22), 13(25), 14(26) have no answers.
    unit2 = await analyse(storage, questionnaire, quarter_period("2025Q3", NSK), "2", "3 квартал 2025 г.")
    figure = distribution_figure(unit2, "Управление инвестиционной политики")
    empty = [ax for ax in figure.axes if any(t.get_text() == NO_DATA for t in ax.texts)]
    assert sorted(ax.get_title() for ax in empty) == [
        "5. Вежливость и компетентность — 13(25)",
        "6. Расположение места — 14(26)",
        "9. Информация после отказа — 10(22)",
    ]
    for ax in empty:
        assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []
    nothing = await analyse(storage, questionnaire, quarter_period("2024Q1", NSK), None, "1 квартал 2024 г.")
    shares = shares_figure(nothing, "все структурные подразделения")
    assert [t.get_text() for t in shares.axes[0].texts] == [NO_DATA]
    assert MARKING in texts(shares)
    assert sum(NO_DATA in texts(ax) for ax in distribution_figure(nothing, "все").axes) == 9


async def test_report_prints_readably(storage: Storage, questionnaire: Questionnaire, tmp_path: Path) -> None:
    await fill_quarter(storage, questionnaire)
    out = tmp_path / "r.xlsx"
    await write_report(
        storage,
        questionnaire,
        period=quarter_period("2025Q3", NSK),
        unit="1",
        unit_label=UNIT1,
        title="3 квартал 2025 г.",
        out=out,
    )
    book = load_workbook(out)
    analysis, difficulties, pictures = book["Анализ"], book["Сложности"], book["Диаграммы"]
    for sheet, orientation in ((analysis, "landscape"), (difficulties, "landscape"), (pictures, "portrait")):
        assert sheet.page_setup.orientation == orientation
        assert sheet.sheet_properties.pageSetUpPr.fitToPage is True
        assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
    assert analysis.print_title_rows == "$6:$6"
    assert difficulties.print_title_rows == "$3:$3"
    assert all(cell.alignment.wrap_text for cell in analysis[6])
    assert analysis["B7"].alignment.wrap_text and analysis["G7"].alignment.wrap_text
    assert difficulties["E4"].alignment.wrap_text and difficulties.column_dimensions["E"].width == 80
