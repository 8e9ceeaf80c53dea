"""Keep secrets (bot tokens, webhook secrets) out of every log line and error, whatever printed them.

The configured secrets are masked wherever they appear, and so is anything shaped like a Telegram
bot token (`123456:AA…`): a proxy's error page echoes the request path `/bot<token>/getMe`, and
an error can be raised before the configuration (and so the token) is known.
"""

from __future__ import annotations

import logging
import re

from bot.config import Settings

MASK = "***"
# A Telegram bot token: the bot id, a colon, 35 URL-safe characters (30+ to be safe).
TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]{30,}")


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.add(secrets or [])

    def add(self, secrets: list[str]) -> None:
        # Longest first, so a secret containing another is masked whole.
        known = set(self.secrets) | {s for s in secrets if len(s) >= 4}
        self.secrets = sorted(known, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if hasattr(record, "redacted_message"):  # already done (the filter is on every handler)
            return True
        message = record.getMessage()
        cleaned = self.redact(message)
        exception: str | None = None
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, redacted, so no handler formats the raw one later.
            exception = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            exception = self.redact(record.exc_text)
        # For structured output (bot/runtime/logs.py JsonFormatter): the two parts, apart and redacted.
        record.redacted_message = cleaned
        record.redacted_exception = exception
        if exception is not None:
            cleaned = f"{cleaned}\n{exception}"
        record.exc_text = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return TOKEN_SHAPE.sub(MASK, text)


def settings_secrets(settings: Settings) -> list[str]:
    found = []
    for value in (
        settings.telegram.token,
        settings.telegram.webhook_secret,
        settings.vk.token,
        settings.max.token,
    ):
        if value is not None:
            found.append(value.get_secret_value())
    return found


def install(settings: Settings | None = None) -> RedactSecrets:
    """Attach the filter to every root handler (filters on loggers don't see child records).

    Called again (once the settings are known), it adds their secrets to the filter already
    attached instead of stacking a second one.
    """
    root = logging.getLogger()
    found = [f for handler in root.handlers for f in handler.filters if isinstance(f, RedactSecrets)]
    redactor = found[0] if found else RedactSecrets()
    if settings is not None:
        redactor.add(settings_secrets(settings))
    for handler in root.handlers:
        if redactor not in handler.filters:
            handler.addFilter(redactor)
    return redactor
