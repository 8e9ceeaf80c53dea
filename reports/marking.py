"""The internal-use marking of point 11 of the order, on every sheet and chart of the analysis."""

from __future__ import annotations

MARKING = "Для внутреннего пользования, не подлежит опубликованию"
