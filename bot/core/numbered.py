"""Buttons as a numbered list in the message text, for screens without buttons.

The console and VK clients that cannot show inline keyboards (`client_info.inline_keyboard` is
false) read the options in the text and answer by number; navigation is typed as a word.
"""

from __future__ import annotations

from bot.core.messages import Action, Button, Message

_NAV_WORDS = {Action.BACK: "назад", Action.ABORT: "прервать"}


def render(message: Message) -> tuple[str, list[Button]]:
    """The text with the numbered buttons (navigation as typed words, no paging buttons)."""
    lines = [message.text]
    numbered: list[Button] = []
    hints: list[str] = []
    for row in message.buttons:
        for button in row:
            if button.action in _NAV_WORDS:
                hints.append(f"«{_NAV_WORDS[button.action]}» — {button.label.lstrip('◀✖ ').lower()}")
            elif button.action == Action.PAGE:
                continue  # whole lists are shown
            else:
                numbered.append(button)
    if numbered and all(b.action == Action.ANSWER and b.label == str(i) for i, b in enumerate(numbered, 1)):
        lines += ["", "  " + "  ".join(f"[{b.label}]" for b in numbered)]  # a 1–5 scale
    elif numbered:
        lines.append("")
        lines += [f"  {index}. {button.label}" for index, button in enumerate(numbered, start=1)]
    if hints:
        lines.append("(" + "; ".join(hints) + ")")
    return "\n".join(lines), numbered


def pick(text: str, numbered: list[Button]) -> Button | None:
    """The button whose number was typed, or None (then the text is an ordinary answer)."""
    stripped = text.strip()
    if stripped.isdigit() and 1 <= int(stripped) <= len(numbered):
        return numbered[int(stripped) - 1]
    return None
