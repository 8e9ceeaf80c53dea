"""The one wall clock: timezone-aware UTC, injected as `clock=` wherever time matters to a test."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
