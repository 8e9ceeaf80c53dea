"""Log output: plain text lines (default) or one JSON object per line for log collectors.

`[service] log_format = "json"` gives each record as {"time", "level", "logger", "message"} plus
"exception" (the traceback) when there is one. The secrets filter (bot/runtime/redact.py) runs before
any formatter, so JSON lines are redacted like text lines.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from bot.config import LogFormat

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # The redaction filter keeps the message and the traceback apart for us (already redacted).
        message = getattr(record, "redacted_message", None)
        exception = getattr(record, "redacted_exception", None)
        if message is None:
            message = record.getMessage()
            if record.exc_info:
                exception = self.formatException(record.exc_info)
            elif record.exc_text:
                exception = record.exc_text
        data: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        if exception:
            data["exception"] = exception
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, ensure_ascii=False)


def formatter(kind: LogFormat) -> logging.Formatter:
    return JsonFormatter() if kind is LogFormat.JSON else logging.Formatter(TEXT_FORMAT)


def apply(kind: LogFormat) -> None:
    """Give every root handler the formatter of `kind` (its filters, the redaction among them, stay)."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter(kind))


class DemoteToDebug(logging.Filter):
    """Turns a chatty library's INFO records into DEBUG ones (dropped unless DEBUG is on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger().isEnabledFor(logging.DEBUG)


# APScheduler logs every run of every job at INFO ("Running job …", "… executed successfully"):
# the mailing scheduler's poll every few seconds would fill the log with two idle lines per poll.
CHATTY_LOGGERS = ("apscheduler.executors.default",)


def quiet_chatty_loggers() -> None:
    for name in CHATTY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DemoteToDebug) for f in logger.filters):
            logger.addFilter(DemoteToDebug())
