"""Errors whose message is shown to the user as is (no traceback)."""

from __future__ import annotations


class UsageError(Exception):
    """A bad command-line value or an impossible request; the message is shown as is."""
