"""Sentry: exceptions from jobs, HTTP routes and UI event handlers reach a local envelope
endpoint tagged with ids, and no email, prompt, body or local variable goes with them unless
the operator opts in."""

from collections.abc import Iterator

import pytest
import redis
import sentry_sdk
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from photoai.observe import context, errors
from photoai.observe.ui_events import handler_label, report_backend_exception
from photoai.observe.web import RequestObserver
from photoai.services import jobs
from photoai.settings import get_settings
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
