"""Prometheus metrics of one `otklik run` process, served at `/metrics` on the health listener.

One `Metrics` per process, created with its own `CollectorRegistry` and passed to whatever counts
(never prometheus-client's global default registry: two services in one test process, or a
restart inside one, would share and corrupt their numbers). Code that must stay free of
prometheus-client (the channel-neutral conversation) gets the small `SurveyEvents` port instead.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "UpdateOutcome"]


class UpdateOutcome(enum.StrEnum):
    HANDLED = "handled"  # answered and committed
    FAILED = "failed"  # a defect while handling: logged, the person got an apology
    DEAD_LETTER = "dead_letter"  # could not be parsed: kept in dead_letters for the operator


# Seconds to handle one update, database transaction and replies included.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.updates = Counter(
            "otklik_updates",
            "Updates (Telegram) and events (VK) by outcome",
            ["channel", "outcome"],
            registry=r,
        )
        self.duplicates = Counter(
            "otklik_updates_duplicate",
            "Updates delivered again by the platform and recognised as already handled",
            ["channel"],
            registry=r,
        )
        self.latency = Histogram(
            "otklik_update_handling_seconds",
            "Time to handle one update, replies included",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.started = Counter(
            "otklik_questionnaires_started",
            "Questionnaires started in the chat bots",
            ["channel"],
            registry=r,
        )
        self.completed = Counter(
            "otklik_questionnaires_completed",
            "Questionnaires completed in the chat bots",
            ["channel"],
            registry=r,
        )
        self.mailing = Counter(
            "otklik_mailing_messages",
            "Invitations and reminders by result (sent, failed, unreachable, unknown)",
            ["channel", "kind", "status"],
            registry=r,
        )
        self.rate_limited = Counter(
            "otklik_mailing_rate_limited",
            "Answers 429 Too Many Requests to a mailing send (the send waits and is retried)",
            ["channel"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "otklik_mailing_queue_depth",
            "Invitations waiting to be sent (outbox rows not sent yet)",
            registry=r,
        )
        self.database_errors = Counter(
            "otklik_database_errors",
            "Database operations that failed (unavailable, locked, timed out) and were retried or skipped",
            ["component"],
            registry=r,
        )
        self.leader = Gauge(
            "otklik_mailing_leader",
            "1 when this process runs the scheduler and the mailing sender",
            registry=r,
        )
        # Computed at each scrape (a cheap COUNT), so the number is never stale.
        self.queue_probe: Callable[[], Awaitable[int]] | None = None

    # The conversation's port (SurveyEvents).
    def survey_started(self, channel: str) -> None:
        self.started.labels(channel).inc()

    def survey_completed(self, channel: str) -> None:
        self.completed.labels(channel).inc()

    def update_duplicate(self, channel: str) -> None:
        self.duplicates.labels(channel).inc()

    def update(self, channel: str, outcome: UpdateOutcome, seconds: float | None = None) -> None:
        self.updates.labels(channel, outcome.value).inc()
        if seconds is not None:
            self.latency.labels(channel).observe(seconds)

    def mailing_result(self, channel: str, kind: str, status: str) -> None:
        self.mailing.labels(channel, kind, status).inc()

    def mailing_rate_limited(self, channel: str) -> None:
        self.rate_limited.labels(channel).inc()

    def database_error(self, component: str) -> None:
        self.database_errors.labels(component).inc()

    def set_leader(self, leading: bool) -> None:
        self.leader.set(1 if leading else 0)

    async def render(self) -> bytes:
        """The exposition text, with the queue depth counted now."""
        if self.queue_probe is not None:
            try:
                self.queue_depth.set(await self.queue_probe())
            except (SQLAlchemyError, OSError):  # the database is away: the scrape still answers
                self.database_error("metrics")
        return generate_latest(self.registry)
