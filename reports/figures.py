"""What the quarterly analysis computes: the nine parameters of point 11 of the order, each tied to
its question of Appendix 1, and their figures. Charts and the workbook both read these."""

from __future__ import annotations

from dataclasses import dataclass, field

from reports.period import Period
from reports.responsiveness import Responsiveness

POSITIVE_SCORES = ("4", "5")


@dataclass(frozen=True)
class Parameter:
    number: int
    title: str
    short: str
    question: str  # the form's question code


# Point 11 of the order, in its order, each with its question of Appendix 1.
PARAMETERS: tuple[Parameter, ...] = (
    Parameter(1, "Общая удовлетворенность внешних клиентов при взаимодействии с министерством в рамках "
              "предоставления мер государственной поддержки", "Общая удовлетворенность", "9"),
    Parameter(2, "Доступность информации о мерах государственной поддержки для внешних клиентов",
              "Доступность информации", "11"),
    Parameter(3, "Простота сбора документов и оформления заявки для получения мер государственной поддержки",
              "Документы и заявка", "12"),
    Parameter(4, "Информирование внешних клиентов о статусе получения мер государственной поддержки",
              "Информирование о статусе", "16"),
    Parameter(5, "Вежливость и компетентность сотрудников при взаимодействии с внешними клиентами в рамках "
              "предоставления мер государственной поддержки", "Вежливость и компетентность", "13"),
    Parameter(6, "Удобство расположения места получения мер государственной поддержки (при личном обращении "
              "внешних клиентов)", "Расположение места", "14"),
    Parameter(7, "Удобство интерфейса (при онлайн обращении внешних клиентов)", "Удобство интерфейса", "15"),
    Parameter(8, "Сроки предоставления внешним клиентам мер государственной поддержки", "Сроки", "17"),
    Parameter(9, "Предоставление информации о необходимых действиях для устранения причин непредоставления мер "
              "государственной поддержки (при отказе)", "Информация после отказа", "10"),
)  # fmt: skip


@dataclass
class ParameterFigures:
    parameter: Parameter
    question: str  # printed code, e.g. 9(21)
    scale: bool
    count: int
    mean: float | None
    positive_share: float | None  # percent, one decimal
    positive_label: str
    distribution: list[tuple[str, int]]  # (option code, answers), in option order
    difficulties: list[tuple[str, str, int]] = field(default_factory=list)  # (score, text, times)
    option_labels: list[str] = field(default_factory=list)  # chart labels of a yes/no question


@dataclass
class Analysis:
    title: str
    unit: str
    period: Period
    questionnaires: int
    parameters: list[ParameterFigures]
    responsiveness: Responsiveness | None = None  # the cases section (point 3 «реагирование»)


def share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 1)
