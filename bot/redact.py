"""Keep secrets (bot tokens, webhook secrets) out of every log line, whatever logged them."""

from __future__ import annotations

import logging

from bot.config import Settings

MASK = "***"


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, redacted, so no handler formats the raw one later.
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redact(text)
            record.exc_info = None
            cleaned = cleaned if not record.exc_text else f"{cleaned}\n{record.exc_text}"
            record.exc_text = None
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


def settings_secrets(settings: Settings) -> list[str]:
    found = []
    for value in (settings.telegram.token, settings.telegram.webhook_secret, settings.vk.token):
        if value is not None:
            found.append(value.get_secret_value())
    return found


def install(settings: Settings) -> RedactSecrets:
    """Attach the filter to every root handler (filters on loggers don't see child records)."""
    redactor = RedactSecrets(settings_secrets(settings))
    root = logging.getLogger()
    for handler in root.handlers:
        handler.addFilter(redactor)
    return redactor
