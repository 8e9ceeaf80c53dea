"""The quarterly analysis charts (matplotlib, Agg): every image names its unit and carries the
internal-use marking of point 11, counts have whole-number ticks, and a chart without answers says
«нет данных» instead of showing an empty axis."""

from __future__ import annotations

import io
import textwrap
from typing import TYPE_CHECKING, Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from reports.marking import MARKING

if TYPE_CHECKING:
    from reports.figures import Analysis

NO_DATA = "нет данных"
MARKING_COLOR = "#C00000"


def _marked(figure: Figure) -> None:
    """The marking in the bottom margin, kept clear of the axes by the layout engine's rect."""
    figure.text(0.5, 0.01, MARKING, ha="center", va="bottom", fontsize=9, color=MARKING_COLOR)
    engine: Any = figure.get_layout_engine()
    engine.set(rect=(0, 0.05, 1, 0.95))


def _no_data(ax: Any, fontsize: int = 12) -> None:
    ax.text(
        0.5,
        0.5,
        NO_DATA,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=fontsize,
        color="#666666",
    )
    ax.set_xticks([])
    ax.set_yticks([])


def png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def shares_figure(analysis: Analysis, unit_label: str) -> Figure:
    figure = Figure(figsize=(9, 4.8), layout="constrained")
    ax: Any = figure.add_subplot()
    ax.set_title(f"{unit_label}\n{analysis.title}: доля положительных ответов по параметрам", fontsize=11)
    items = list(reversed(analysis.parameters))
    if all(p.positive_share is None for p in items):
        _no_data(ax)
    else:
        values = [p.positive_share or 0.0 for p in items]
        bars = ax.barh([f"{p.parameter.number}. {p.parameter.short}" for p in items], values, color="#3a7ebf")
        for bar, item in zip(bars, items, strict=True):
            text = "нет ответов" if item.positive_share is None else f"{item.positive_share:.1f}%"
            ax.text(bar.get_width() + 1, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=8)
        ax.set_xlim(0, 110)
        ax.set_xlabel("Доля положительных ответов, %")
    _marked(figure)
    return figure


def distribution_figure(analysis: Analysis, unit_label: str) -> Figure:
    figure = Figure(figsize=(12, 9.5), layout="constrained")
    axes: Any = figure.subplots(3, 3)
    for ax, item in zip(axes.flat, analysis.parameters, strict=True):
        ax.set_title(f"{item.parameter.number}. {item.parameter.short} — {item.question}", fontsize=9)
        if item.count == 0:
            _no_data(ax, fontsize=10)
            continue
        # Option texts on two lines: «Скорее удовлетворен» and «Скорее не удовлетворен» side by
        # side overlapped on one.
        labels = (
            [code for code, _ in item.distribution]
            if item.scale
            else [textwrap.fill(text, 14) for text in item.option_labels]
        )
        ax.bar(labels, [n for _, n in item.distribution], color="#6aa84f")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # numbers of answers: no 0.5
        ax.set_xlabel("оценка" if item.scale else "вариант ответа", fontsize=8)
        ax.set_ylabel("ответов", fontsize=8)
    figure.suptitle(f"{unit_label}\n{analysis.title}: распределение ответов")
    _marked(figure)
    return figure


def shares_chart(analysis: Analysis, unit_label: str) -> bytes:
    return png(shares_figure(analysis, unit_label))


def distribution_chart(analysis: Analysis, unit_label: str) -> bytes:
    return png(distribution_figure(analysis, unit_label))
