"""How each AI provider did lately, from the jobs table: outcomes and run time of the jobs
that finished in the last hour and the last day (served by the index on jobs.finished_at).

A job's provider is the one that trained it or delivered its pictures; a generation that no
provider delivered (every one in the chain failed) has none and is shown as such. Finer
per-request figures (rate limits, each fallback) are in /metrics.
"""

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import Job, JobStatus, utcnow

WINDOWS = (("hour", timedelta(hours=1)), ("day", timedelta(days=1)))
NO_PROVIDER = "(none delivered)"


@dataclass(frozen=True)
class ProviderHealth:
    window: str
    provider: str
    kind: str
    succeeded: int
    failed: int
    median_seconds: float | None
    p95_seconds: float | None

    @property
    def success_rate(self) -> float | None:
        done = self.succeeded + self.failed
        return self.succeeded / done if done else None


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def health(now: datetime | None = None) -> list[ProviderHealth]:
    """One row per window, provider and job kind, busiest first within a window."""
    now = now or utcnow()
    since = now - max(span for _, span in WINDOWS)
    with session_scope() as s:
        rows = s.execute(
            select(
                col(Job.provider),
                col(Job.kind),
                col(Job.status),
                col(Job.started_at),
                col(Job.finished_at),
            ).where(
                col(Job.finished_at) >= since,
                col(Job.status).in_([JobStatus.SUCCEEDED.value, JobStatus.FAILED.value]),
            )
        ).all()
    found: list[ProviderHealth] = []
    for window, span in WINDOWS:
        groups: dict[tuple[str, str], tuple[list[str], list[float]]] = {}
        for provider, kind, status, started, finished in rows:
            if finished < now - span:
                continue
            statuses, times = groups.setdefault((provider or NO_PROVIDER, kind), ([], []))
            statuses.append(status)
            if started is not None:
                times.append((finished - started).total_seconds())
        for (provider, kind), (statuses, times) in groups.items():
            found.append(
                ProviderHealth(
                    window=window,
                    provider=provider,
                    kind=kind,
                    succeeded=statuses.count(JobStatus.SUCCEEDED.value),
                    failed=statuses.count(JobStatus.FAILED.value),
                    median_seconds=statistics.median(times) if times else None,
                    p95_seconds=_p95(times),
                )
            )
    order = {name: n for n, (name, _) in enumerate(WINDOWS)}
    return sorted(found, key=lambda h: (order[h.window], -(h.succeeded + h.failed), h.provider))
