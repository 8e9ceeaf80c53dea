"""The assessment note of point 9 of the order for the ministry's letters.

The order prescribes the text and its link word for word; links to the chat bots (with a prefill
key) may follow it, never replace it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

LETTER_TEXT = (
    "Для оценки уровня Вашей удовлетворенности при взаимодействии с Минэкономразвития НСО при подаче и "
    "рассмотрении Вашего обращения просим Вас пройти краткий опрос удобным для Вас способом: {link}"
)
BOT_TEXT = "Опрос можно пройти и в чат-боте: {links}"


class BotLink(Protocol):
    @property
    def title(self) -> str: ...

    @property
    def url(self) -> str: ...


def letter_footer(link: str, bot_links: Sequence[BotLink] = ()) -> str:
    """The prescribed line with `link`, then (optionally) one line with the chat-bot links."""
    lines = [LETTER_TEXT.format(link=link)]
    if bot_links:
        shown = " или ".join(f"{item.url} ({item.title})" for item in bot_links)
        lines.append(BOT_TEXT.format(links=shown))
    return "\n".join(lines)
