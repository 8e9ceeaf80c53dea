"""The error reports raise for a bad request; its message is shown to the user as is."""

from __future__ import annotations


class ReportError(Exception):
    """A bad request (an unknown option, an empty period, an unreadable file); the message is shown as is."""
