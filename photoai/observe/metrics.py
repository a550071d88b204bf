"""Prometheus metrics: what every process counts, and what a scrape reads from the database.

Counters and histograms live in each process (web backends, RQ workers). With the standard
`PROMETHEUS_MULTIPROC_DIR` set before start-up, prometheus-client keeps them in files in that
folder and a scrape of any web backend adds up all processes. Queue depth and job age are not
counted at all: they are read from the jobs table at scrape time, so they are exact whichever
process answers.
"""

import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import Job, JobStatus, utcnow

HTTP_REQUEST_SECONDS = Histogram(
    "photoai_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["method", "route", "status"],
)
UI_EVENT_SECONDS = Histogram(
    "photoai_ui_event_duration_seconds",
    "Time a Reflex event handler ran, from taking the state lock to its last update.",
    ["handler", "outcome"],
)
UI_EVENTS_THROTTLED = Counter(
    "photoai_ui_events_throttled_total",
    "Websocket events dropped for coming too fast, by the limit that dropped them (tab, user).",
    ["limit"],
)
JOB_ATTEMPTS = Counter(
    "photoai_job_attempts_total",
    "Job attempts by what they ended in (succeeded, failed, waiting, retry, skipped).",
    ["kind", "outcome"],
)
JOB_ATTEMPT_SECONDS = Histogram(
    "photoai_job_attempt_duration_seconds",
    "Time one job attempt ran in a worker.",
    ["kind", "outcome"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
JOBS_FINISHED = Counter(
    "photoai_jobs_finished_total",
    "Jobs that reached a final state, by provider.",
    ["kind", "provider", "status"],
)
PROVIDER_REQUEST_SECONDS = Histogram(
    "photoai_provider_request_duration_seconds",
    "Calls to AI providers by host and result (ok, rate_limited, unavailable, rejected).",
    ["host", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
CREDITS_MOVED = Counter(
    "photoai_credits_total",
    "Credits held for jobs, captured for delivered results and released back (committed).",
    ["movement"],
)
WEBHOOKS_RECEIVED = Counter(
    "photoai_webhooks_received_total", "Webhook deliveries received.", ["source"]
)
WEBHOOKS_REJECTED = Counter(
    "photoai_webhooks_rejected_total",
    "Webhook deliveries answered with an error (4xx refused, 5xx to be retried).",
    ["source", "status"],
)
ANALYTICS_EVENTS = Counter(
    "photoai_analytics_events_total",
    "Product-analytics events queued for PostHog, and those dropped (queue full, endpoint down).",
    ["result"],
)
ERROR_REPORTS_DROPPED = Counter(
    "photoai_error_reports_dropped_total",
    "Error reports the Sentry SDK could not deliver (endpoint down, queue full, rate limited).",
    ["reason"],
)

_PENDING_CREDITS = "photoai_pending_credit_counts"


def credits_moved(session: Session, movement: str, amount: int) -> None:
    """Count credits once the transaction that moved them commits (never a rolled-back one)."""
    session.info.setdefault(_PENDING_CREDITS, []).append((movement, amount))


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    for movement, amount in session.info.pop(_PENDING_CREDITS, []):
        CREDITS_MOVED.labels(movement).inc(amount)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING_CREDITS, None)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class JobQueueCollector(Collector):
    """Queued and running jobs per kind, and the age of the oldest of each, read at scrape time.

    The query only touches unfinished rows through the index that leads with `status`
    (ix_jobs_status_heartbeat), so it stays fast however many finished jobs the table holds.
    """

    def __init__(self, kinds: Sequence[str]) -> None:
        self.kinds = list(kinds)

    def collect(self) -> Iterable[Metric]:
        active = [JobStatus.QUEUED.value, JobStatus.RUNNING.value]
        with session_scope() as s:
            rows = s.execute(
                select(
                    col(Job.kind),
                    col(Job.status),
                    func.count(),
                    func.min(col(Job.created_at)),
                    func.min(col(Job.started_at)),
                )
                .where(col(Job.status).in_(active))
                .group_by(col(Job.kind), col(Job.status))
            ).all()
        now = utcnow()
        depth = GaugeMetricFamily(
            "photoai_jobs_active", "Jobs queued or running now.", labels=["kind", "status"]
        )
        age = GaugeMetricFamily(
            "photoai_job_oldest_age_seconds",
            "Age of the oldest queued job (since created) or running job (since started).",
            labels=["kind", "status"],
        )
        found = {
            (kind, status): (count, created, started)
            for kind, status, count, created, started in rows
        }
        for kind in sorted({*self.kinds, *(kind for kind, _ in found)}):
            for status in active:
                count, created, started = found.get((kind, status), (0, None, None))
                depth.add_metric([kind, status], count)
                since = created if status == JobStatus.QUEUED.value else started or created
                age.add_metric(
                    [kind, status], (now - _aware(since)).total_seconds() if since else 0
                )
        yield depth
        yield age


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render(kinds: Sequence[str]) -> bytes:
    """The text exposition of every process's metrics plus the database-derived gauges."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    registry.register(JobQueueCollector(kinds))
    return generate_latest(registry)


class _Forward(Collector):
    """This process's own metrics, for a single-process run without a multiprocess folder."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        return self.source.collect()
