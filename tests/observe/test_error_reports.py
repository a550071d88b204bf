"""Sentry: exceptions from jobs, HTTP routes and UI event handlers reach a local envelope
endpoint tagged with ids, and no email, prompt, body or local variable goes with them unless
the operator opts in."""

import asyncio
import socket
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import redis
import sentry_sdk
from prometheus_client import REGISTRY
from reflex_base.event.context import EventContext
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from photoai.observe import context, errors
from photoai.observe.ui_events import EventObserver, handler_label, report_backend_exception
from photoai.observe.web import RequestObserver
from photoai.services import jobs
from photoai.settings import get_settings
from tests import async_support
from tests.factories import make_user
from tests.fakes.monitoring_servers import FakeSentry
from tests.training_support import work_burst

LEAKY = "test-leaky"
EMAIL = "ada.lovelace@example.com"
PROMPT = "portrait of me in the secret garden"


def _leaky(job_id: int) -> jobs.Outcome:
    """Fails the way a careless handler would: an email in the message, a prompt in a local."""
    view = jobs.get(job_id)
    assert view is not None
    prompt = str(view.payload["prompt"])
    raise RuntimeError(f"provider failed for {EMAIL} after {len(prompt)} characters")


jobs.register(LEAKY, _leaky)


@pytest.fixture
def sentry(settings_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSentry]:
    with FakeSentry() as fake:
        monkeypatch.setenv("PHOTOAI_SENTRY_DSN", fake.dsn)
        monkeypatch.setenv("PHOTOAI_SENTRY_ENVIRONMENT", "test")
        get_settings.cache_clear()
        assert errors.init(get_settings())
        yield fake
    sentry_sdk.init()  # no DSN: reporting is off again for the tests that follow


def sent(fake: FakeSentry) -> list[dict]:  # type: ignore[type-arg]
    sentry_sdk.flush(timeout=5)
    return fake.events()


def test_no_dsn_means_no_reporting(settings_env: None) -> None:
    assert errors.init(get_settings()) is False


def test_a_failing_job_is_reported_with_its_ids_and_nothing_personal(
    pg: str, redis_conn: redis.Redis, sentry: FakeSentry
) -> None:
    uid = make_user(email=EMAIL)
    job_id = jobs.create(LEAKY, user_id=uid, payload={"prompt": PROMPT})
    work_burst()

    view = jobs.get(job_id)
    assert view is not None and view.status == "queued"  # to be retried by RQ
    events = [e for e in sent(sentry) if e["tags"].get("job_id") == str(job_id)]
    assert events, "the failed attempt reached Sentry"
    event = events[0]
    assert event["tags"]["job_kind"] == LEAKY
    assert event["tags"]["user_id"] == str(uid)
    assert event["user"] == {"id": str(uid)}
    values = [v["value"] for v in event["exception"]["values"]]
    assert any("provider failed for [email]" in value for value in values)
    raw = sentry.raw()
    assert EMAIL.encode() not in raw and PROMPT.encode() not in raw
    frames = [f for v in event["exception"]["values"] for f in v["stacktrace"]["frames"]]
    assert not any("vars" in frame for frame in frames), "no local variables are sent"


async def _boom(request: Request) -> Response:
    context.bind_user(42)
    await request.body()
    raise ValueError(f"could not save the profile of {EMAIL}")


def test_an_http_route_exception_is_reported_without_the_body(sentry: FakeSentry) -> None:
    routes = [Route("/api/boom", _boom, methods=["POST"])]
    app = Starlette(routes=routes, middleware=[Middleware(RequestObserver, routes=routes)])
    client = TestClient(app, raise_server_exceptions=False)

    answer = client.post("/api/boom", json={"email": EMAIL, "prompt": PROMPT})

    assert answer.status_code == 500
    (event,) = sent(sentry)
    assert event["tags"]["user_id"] == "42"
    assert len(event["tags"]["request_id"]) == 32
    assert event["request"]["url"].endswith("/api/boom")
    assert "data" not in event["request"] and "cookies" not in event["request"]
    raw = sentry.raw()
    assert EMAIL.encode() not in raw and PROMPT.encode() not in raw


def test_a_ui_event_exception_is_reported_with_the_event_and_user(sentry: FakeSentry) -> None:
    with context.unit(ui_event="generate_state.submit", user_id=7):
        try:
            raise KeyError(f"no style for {EMAIL}")
        except KeyError as exc:
            toast = report_backend_exception(exc)

    assert toast is not None  # the user still sees Reflex's error toast
    (event,) = sent(sentry)
    assert event["tags"]["ui_event"] == "generate_state.submit"
    assert event["tags"]["user_id"] == "7"
    assert EMAIL.encode() not in sentry.raw()


def test_personal_data_is_sent_only_when_the_operator_opts_in(
    sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOAI_SENTRY_SEND_PERSONAL_DATA", "true")
    get_settings.cache_clear()
    assert errors.init(get_settings())
    try:
        raise ValueError(f"could not save the profile of {EMAIL}")
    except ValueError as exc:
        errors.capture(exc, {"user_id": 3})
    (event,) = sent(sentry)
    assert EMAIL in event["exception"]["values"][0]["value"]


def test_ui_event_labels_are_short_and_readable() -> None:
    name = "reflex___state____state.photoai___state___auth_forms____register_state.submit"
    assert handler_label(name) == "auth_forms.register_state.submit"
    hydrate = "reflex___state____state.hydrate_and_load"
    assert handler_label(hydrate) == "state.state.hydrate_and_load"


async def _failing_event(observer: EventObserver, context_of_event: EventContext) -> None:
    """What Reflex does for one event: its own task, with its EventContext, then the handler."""
    EventContext.set(context_of_event)
    name = "reflex___state____state.photoai___state___generate____generate_state.submit"
    await observer.preprocess(app=None, state=None, event=SimpleNamespace(name=name))
    context.bind_user(11)  # what SessionState._current_user does once the cookie resolves
    raise RuntimeError(f"generation refused for {EMAIL}")


async def _run_like_reflex() -> object:
    event_context = EventContext(token="tab-1", state_manager=None, enqueue_impl=None)  # type: ignore[arg-type]
    task = asyncio.create_task(_failing_event(EventObserver(), event_context))
    await asyncio.wait([task])
    await asyncio.sleep(0)  # the done-callbacks run before Reflex's exception handler task
    error = task.exception()
    assert isinstance(error, RuntimeError)

    async def handler_task() -> object:  # Reflex calls the handler in a task of its own
        EventContext.set(event_context)
        return report_backend_exception(error)

    return await asyncio.create_task(handler_task())


def test_a_reflex_handler_exception_carries_the_event_and_user_of_its_task(
    sentry: FakeSentry,
) -> None:
    async_support.run(_run_like_reflex())
    (event,) = sent(sentry)
    assert event["tags"]["ui_event"] == "generate.generate_state.submit"
    assert event["tags"]["user_id"] == "11"
    assert EMAIL.encode() not in sentry.raw()
    errors_timed = REGISTRY.get_sample_value(
        "photoai_ui_event_duration_seconds_count",
        {"handler": "generate.generate_state.submit", "outcome": "error"},
    )
    assert errors_timed is not None and errors_timed >= 1


def test_an_unreachable_sentry_never_blocks_and_drops_are_counted(
    settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("PHOTOAI_SENTRY_DSN", f"http://publickey@127.0.0.1:{port}/1")
    get_settings.cache_clear()
    assert errors.init(get_settings())

    def dropped() -> float:
        value = REGISTRY.get_sample_value(
            "photoai_error_reports_dropped_total", {"reason": "network_error"}
        )
        return value or 0

    before = dropped()
    started = time.perf_counter()
    try:
        for number in range(5):
            try:
                raise ValueError(f"failure {number}")
            except ValueError as exc:
                errors.capture(exc, {"job_id": number})
        assert time.perf_counter() - started < 1, "capturing only queues the report"
        sentry_sdk.flush(timeout=10)
        assert dropped() - before == 5
    finally:
        sentry_sdk.init()
