"""What every messenger's keyboard rendering shares: fitting rows of buttons into the platform's
limits, and reading our own button payload back. Each adapter keeps its limits and wire format."""

from __future__ import annotations

from typing import Any

from bot.core.messages import Action, Button


def fit_rows(
    rows: tuple[tuple[Button, ...], ...], *, per_row: int, max_rows: int, max_buttons: int
) -> list[list[Button]]:
    """Rows longer than `per_row` are split. When the result is still too big, rows of answer
    buttons (a long list of search candidates) are dropped from the end: navigation, «Другое» and
    typing still work."""
    split: list[list[Button]] = []
    for row in rows:
        for start in range(0, len(row), per_row):
            split.append(list(row[start : start + per_row]))

    while len(split) > max_rows or sum(len(r) for r in split) > max_buttons:
        answer_rows = [i for i, r in enumerate(split) if all(b.action == Action.ANSWER for b in r)]
        if answer_rows:
            del split[answer_rows[-1]]
            continue
        flat = [b for r in split for b in r][:max_buttons]
        split = [flat[i : i + per_row] for i in range(0, len(flat), per_row)]
        split = split[:max_rows]
    return split


def payload_fields(data: Any) -> tuple[str, str, str] | None:
    """(token, action, value) from a decoded payload of one of our buttons; None for anything else
    (a forged or foreign payload is never taken as an answer)."""
    if not isinstance(data, dict):
        return None
    token, action, value = data.get("t"), data.get("a"), data.get("v", "")
    if not isinstance(token, str) or action not in Action.ALL or not isinstance(value, str):
        return None
    return token, str(action), value
