"""PostHog: the funnel events a user's journey produces reach a local capture endpoint under
an id that is not their email; an endpoint that is down or slow never holds a request up."""

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from prometheus_client import REGISTRY

from photoai.db import session_scope
from photoai.services import accounts, analytics, generation, training
from photoai.services.billing import effects as billing_effects
from photoai.services.generation import GenerationOptions
from photoai.services.privacy import consent
from photoai.settings import get_settings
from tests.fakes.monitoring_servers import FakePostHog
from tests.training_support import (
    demo_clock,
    draft_with_photos,
    training_settings,
    work_burst,
)

EMAIL = "grace.hopper@example.com"


def dropped() -> float:
    return REGISTRY.get_sample_value("photoai_analytics_events_total", {"result": "dropped"}) or 0


def use_posthog(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    monkeypatch.setenv("PHOTOAI_POSTHOG_API_KEY", "phc_test")
    monkeypatch.setenv("PHOTOAI_POSTHOG_HOST", host)
    get_settings.cache_clear()


@pytest.fixture
def posthog(settings_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePostHog]:
    with FakePostHog() as fake:
        use_posthog(monkeypatch, fake.url)
        yield fake
        analytics.shutdown()


def test_without_a_key_nothing_is_queued(settings_env: None) -> None:
    before = REGISTRY.get_sample_value("photoai_analytics_events_total", {"result": "queued"})
    analytics.track(1, analytics.Funnel.REGISTERED)
    after = REGISTRY.get_sample_value("photoai_analytics_events_total", {"result": "queued"})
    assert before == after


def test_a_journey_sends_the_funnel_without_the_email(
    pg: str, redis_conn: redis.Redis, posthog: FakePostHog, monkeypatch: pytest.MonkeyPatch
) -> None:
    training_settings(monkeypatch)
    monkeypatch.setenv("PHOTOAI_STARTER_CREDITS", "50")
    get_settings.cache_clear()
    clock = demo_clock(monkeypatch)
    uid = accounts.register(EMAIL, "correct horse battery", "Grace")
    consent.record_consent(uid)
    model_id = draft_with_photos(uid)
    training.start_training(uid, model_id)
    work_burst()
    clock.now += 1
    training.reconcile_trainings()
    options = GenerationOptions(f"model:{model_id}", style_id="linkedin", count=2)
    generation.submit(uid, options, "click-0001")
    generation.submit(uid, options, "click-0002")
    work_burst()
    with session_scope() as s:
        checkout = {
            "id": "cs_test_1",
            "mode": "payment",
            "payment_status": "paid",
            "client_reference_id": str(uid),
            "metadata": {"user_id": str(uid), "pack": "starter", "credits": "50"},
        }
        billing_effects.grant_checkout(s, checkout)
        subscription = {"id": "sub_1", "status": "active", "metadata": {"user_id": str(uid)}}
        billing_effects.upsert_subscription(s, subscription)
        billing_effects.upsert_subscription(s, {**subscription, "status": "canceled"})
    analytics.flush()

    events = posthog.events()
    assert [e["event"] for e in events] == [
        "registered",
        "consented",
        "model_created",
        "training_started",
        "training_finished",
        "first_image",
        "image_generated",
        "image_generated",
        "checkout_completed",
        "subscription_started",
        "subscription_canceled",
    ]
    person = analytics.distinct_id(uid)
    assert {e["distinct_id"] for e in events} == {person}
    assert len(person) == 32 and str(uid) != person
    assert events[4]["properties"]["provider"] == "demo"
    assert events[6]["properties"]["images"] == 2
    raw = posthog.raw()
    assert EMAIL.encode() not in raw and b"Grace" not in raw


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_down_endpoint_costs_requests_nothing_and_drops_are_counted(
    settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_posthog(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    before = dropped()
    started = time.perf_counter()
    for _ in range(200):
        analytics.track(5, analytics.Funnel.IMAGE_GENERATED, {"images": 1})
    assert time.perf_counter() - started < 2, "track() only queues (10 ms a call at most)"
    analytics.flush()
    analytics.shutdown()
    assert dropped() - before == 200


def test_a_slow_endpoint_and_a_full_queue_never_block(
    posthog: FakePostHog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOAI_POSTHOG_MAX_QUEUE_SIZE", "5")
    get_settings.cache_clear()
    posthog.delay_next(2, path_prefix="/batch/")
    analytics.track(6, analytics.Funnel.REGISTERED)
    sender = threading.Thread(target=analytics.flush)
    sender.start()
    while not posthog.calls:  # the SDK's sender is now stuck waiting on a slow PostHog
        time.sleep(0.01)
    before = dropped()
    started = time.perf_counter()
    for _ in range(50):
        analytics.track(6, analytics.Funnel.IMAGE_GENERATED)
    assert time.perf_counter() - started < 1, "a slow PostHog (2 s an answer) never slows track()"
    sender.join()
    analytics.flush()
    lost = dropped() - before
    assert lost >= 40, "beyond the queue's room, events are dropped"
    assert len(posthog.events()) + lost == 51, "every event is either sent or counted as dropped"
