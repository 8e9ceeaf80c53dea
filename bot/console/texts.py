"""The console's own wording where the chat wording does not fit a terminal.

The conversation speaks the chat's language (buttons, messages, «send /start»); in a terminal there
are numbers to type, and once the session ends the program has exited, so nothing can be «sent»
and no button pressed afterwards. Each phrase is replaced where it occurs in a message; the chat
texts for Telegram and VK stay as they are.
"""

from __future__ import annotations

from bot.core import texts
from bot.core.conversation import Commands

AGAIN = "запустите эту же команду снова"
# Printed when the person leaves mid-survey: Ctrl+C or the end of input (Ctrl+D).
STOPPED = f"Опрос остановлен. Ответы сохранены; чтобы продолжить, {AGAIN}."
PAUSED = f"Опрос приостановлен. Ваши ответы сохранены. Чтобы продолжить, {AGAIN}."
NO_SURVEY = f"Сейчас у Вас нет начатой анкеты. Чтобы пройти опрос, {AGAIN}."
# Withdrawal is not offered as the program quits: there would be nobody left to type «стоп» to.
CONSENT_GRANTED = "Спасибо! Ваше согласие записано."
CONSENT_REPEAT = "Пожалуйста, ответьте «Да» или «Нет»: введите номер варианта или слово."
FOLLOWUP_HINT = "Введите ответ и нажмите Enter. Если добавить нечего, введите 1 («Пропустить»)."
STALE = "Этот номер уже неактуален. Ответьте, пожалуйста, на последний вопрос."
UNSUPPORTED = "Пожалуйста, введите номер варианта или напишите ответ."
# survey_flow.engine.parse_choice's advice after an unrecognised answer.
ENGINE_CHOICE_ADVICE = "Выберите вариант кнопкой или напишите его номер"
CHOICE_ADVICE = "Введите номер варианта из списка или его название"


def replacements(commands: Commands) -> tuple[tuple[str, str], ...]:
    """(chat phrase, terminal phrase) pairs, chat texts formatted with the console's commands."""
    return (
        (texts.PAUSED.format(start=commands.start), PAUSED),
        (texts.NO_SURVEY.format(start=commands.start), NO_SURVEY),
        (texts.CONSENT_GRANTED.format(stop=commands.stop), CONSENT_GRANTED),
        (texts.CONSENT_REPEAT, CONSENT_REPEAT),
        (texts.FOLLOWUP_HINT, FOLLOWUP_HINT),
        (texts.STALE_BUTTON, STALE),
        (texts.UNSUPPORTED, UNSUPPORTED),
        (ENGINE_CHOICE_ADVICE, CHOICE_ADVICE),
    )


def to_terminal(text: str, pairs: tuple[tuple[str, str], ...]) -> str:
    for chat, terminal in pairs:
        text = text.replace(chat, terminal)
    return text
