"""Provider health from finished jobs, and the Stripe events that were applied."""

from datetime import timedelta

from photoai.db import session_scope
from photoai.models import Job, JobStatus, ProcessedEvent, utcnow
from photoai.services.admin import provider_health, stripe_events


def _finished(provider: str, status: JobStatus, ago: timedelta, took: float) -> None:
    done = utcnow() - ago
    with session_scope() as s:
        s.add(
            Job(
                kind="generation",
                status=status.value,
                provider=provider,
                started_at=done - timedelta(seconds=took),
                finished_at=done,
            )
        )


def test_success_rate_and_latency_per_provider_over_hour_and_day(any_db: str) -> None:
    minutes = timedelta(minutes=10)
    hours = timedelta(hours=5)
    _finished("together", JobStatus.SUCCEEDED, minutes, 4)
    _finished("together", JobStatus.SUCCEEDED, minutes, 6)
    _finished("together", JobStatus.FAILED, minutes, 30)
    _finished("together", JobStatus.SUCCEEDED, hours, 8)
    _finished("fal", JobStatus.SUCCEEDED, hours, 10)
    _finished("", JobStatus.FAILED, minutes, 2)
    _finished("fal", JobStatus.SUCCEEDED, timedelta(days=2), 1)  # too old for both windows
    rows = {(h.window, h.provider): h for h in provider_health.health()}
    assert set(rows) == {
        ("hour", "together"),
        ("hour", provider_health.NO_PROVIDER),
        ("day", "together"),
        ("day", "fal"),
        ("day", provider_health.NO_PROVIDER),
    }
    hour = rows[("hour", "together")]
    assert (hour.succeeded, hour.failed, hour.median_seconds) == (2, 1, 6)
    assert hour.success_rate == 2 / 3
    day = rows[("day", "together")]
    assert (day.succeeded, day.failed, day.median_seconds) == (3, 1, 7)
    assert rows[("day", "fal")].success_rate == 1.0


def test_stripe_events_newest_first_without_other_sources(any_db: str) -> None:
    with session_scope() as s:
        s.add(ProcessedEvent(source="stripe", event_id="evt_1", event_type="invoice.paid"))
        s.add(ProcessedEvent(source="fal", event_id="req_1", event_type="training"))
        s.add(
            ProcessedEvent(
                source="stripe", event_id="evt_2", event_type="checkout.session.completed"
            )
        )
    found = stripe_events.recent()
    assert [(e.event_id, e.event_type) for e in found] == [
        ("evt_2", "checkout.session.completed"),
        ("evt_1", "invoice.paid"),
    ]
    assert [e.event_id for e in stripe_events.recent(before_id=found[0].id)] == ["evt_1"]
