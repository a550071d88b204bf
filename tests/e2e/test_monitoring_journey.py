"""Monitoring across the real processes: a visitor registers in the browser and creates a
model; the UI events and routes show in /metrics (web and worker counters added up), the
funnel reaches PostHog without the email, and the worker logs JSON lines with job ids."""

import json
import time

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import METRICS_TOKEN, RunningApp, shoot
from tests.e2e.journeys import create_model, new_email, register
from tests.fakes.monitoring_servers import FakePostHog, FakeSentry, parse_metrics, sample


def wait_for_events(posthog: FakePostHog, names: set[str], timeout: float = 30) -> list[dict]:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = posthog.events()
        if names <= {event["event"] for event in events}:
            return events
        time.sleep(0.5)
    raise AssertionError(f"PostHog got only {[e['event'] for e in posthog.events()]}")


def test_a_visit_shows_in_metrics_analytics_and_logs(
    page: Page, app_server: RunningApp, monitoring: tuple[FakeSentry, FakePostHog]
) -> None:
    _, posthog = monitoring
    email = new_email()
    register(page, email)
    expect(page.locator("#profile-email")).to_have_text(email)
    create_model(page, "Monitored")
    shoot(page, "monitoring-new-model")

    metrics_url = f"{app_server.base_url}/metrics"
    assert httpx.get(metrics_url, timeout=10).status_code == 401
    scrape = httpx.get(
        metrics_url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    )
    assert scrape.status_code == 200
    samples = parse_metrics(scrape.text)
    handlers = {
        dict(labels)["handler"]
        for name, labels in samples
        if name == "photoai_ui_event_duration_seconds_count"
    }
    assert handlers, "Reflex event handlers are timed"
    routes = {
        dict(labels)["route"]
        for name, labels in samples
        if name == "photoai_http_request_duration_seconds_count"
    }
    assert "/auth/complete" in routes
    assert sample(samples, "photoai_credits_total", movement="held") >= 0
    assert (
        "photoai_jobs_active",
        frozenset({("kind", "training"), ("status", "queued")}),
    ) in samples
    print("timed UI handlers:", sorted(handlers))
    print("timed routes:", sorted(routes))

    events = wait_for_events(posthog, {"registered", "model_created"})
    registered = next(event for event in events if event["event"] == "registered")
    assert registered["distinct_id"] != email and email.encode() not in posthog.raw()

    assert app_server.worker_log is not None
    lines = [
        json.loads(line)
        for line in app_server.worker_log.read_text().splitlines()
        if line.startswith("{")
    ]
    assert lines, "the worker logs JSON lines"
    assert all({"ts", "level", "logger", "msg"} <= line.keys() for line in lines)
