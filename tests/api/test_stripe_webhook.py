"""The Stripe webhook endpoint: signatures over the raw body, exactly-once effects, fast answers.

Most tests go through Starlette's TestClient; the last one serves the route with granian over
real HTTP and lets the fake Stripe's hosted checkout page deliver the signed event itself.
"""

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from photoai.api import stripe_webhook
from photoai.db import session_scope
from photoai.models import CreditEntry, ProcessedEvent
from photoai.services import credits
from photoai.services.billing import checkout, overview, sync
from photoai.services.billing.sync import EventResult
from photoai.settings import get_settings
from tests import async_support
from tests.factories import make_user, purchase_attempt
from tests.fakes.stripe_api import FakeStripe, Obj, use_fake_stripe
from tests.local_servers import free_port, served_by_granian

URL = "/api/stripe/webhook"


@pytest.fixture
def fake(pg: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        use_fake_stripe(monkeypatch, fake)
        yield fake


@pytest.fixture
def client(fake: FakeStripe) -> TestClient:
    return TestClient(Starlette(routes=stripe_webhook.routes))


def paid_pack_event(fake: FakeStripe, user_id: int, pack: str = "starter") -> Obj:
    sid = checkout.create_pack_checkout(user_id, pack, attempt=purchase_attempt()).rsplit("/", 1)[1]
    events = fake.complete_checkout(sid, deliver=False)
    return next(e for e in events if e["type"] == "checkout.session.completed")


def post(client: TestClient, fake: FakeStripe, event: Obj) -> httpx.Response:
    payload = json.dumps(event)
    return client.post(URL, content=payload, headers={"Stripe-Signature": fake.sign(payload)})


def recorded_events() -> int:
    with session_scope() as s:
        return int(s.execute(select(func.count()).select_from(ProcessedEvent)).scalar_one())


def ledger_rows() -> int:
    with session_scope() as s:
        return int(s.execute(select(func.count()).select_from(CreditEntry)).scalar_one())


def test_unsigned_forged_stale_and_malformed_deliveries_change_nothing(
    fake: FakeStripe, client: TestClient
) -> None:
    uid = make_user()
    event = paid_pack_event(fake, uid)
    payload = json.dumps(event)
    tampered = payload.replace('"credits": "50"', '"credits": "5000"')
    assert tampered != payload
    stale = int(time.time()) - 301
    attempts = {
        "unsigned": (payload, None),
        "forged": (payload, fake.sign(payload, secret="whsec_attacker")),
        "tampered body": (tampered, fake.sign(payload)),
        "stale": (payload, fake.sign(payload, timestamp=stale)),
        "garbage header": (payload, "t=yesterday,v1=abc"),
        "not json": ("{not json", fake.sign("{not json")),
        "not an event": ('{"hello": 1}', fake.sign('{"hello": 1}')),
    }
    for name, (body, signature) in attempts.items():
        headers = {"Stripe-Signature": signature} if signature else {}
        response = client.post(URL, content=body, headers=headers)
        assert response.status_code == 400, name
        assert set(response.json()) == {"error"} and len(response.json()["error"]) < 60, name

    assert (credits.balance(uid), recorded_events(), ledger_rows()) == (0, 0, 0)
    assert post(client, fake, event).json() == {"received": True, "status": "applied"}
    assert credits.balance(uid) == 50


def test_same_event_ten_times_grants_once(fake: FakeStripe, client: TestClient) -> None:
    uid = make_user()
    event = paid_pack_event(fake, uid, "studio")
    answers = [post(client, fake, event) for _ in range(10)]
    assert [a.status_code for a in answers] == [200] * 10
    assert [a.json()["status"] for a in answers] == ["applied"] + ["duplicate"] * 9
    assert credits.balance(uid) == 150 == credits.ledger_sum(uid)
    assert recorded_events() == 1


def test_unknown_events_are_acknowledged(fake: FakeStripe, client: TestClient) -> None:
    event = fake.emit("payout.paid", {"id": "po_1", "object": "payout"}, deliver=False)
    response = post(client, fake, event)
    assert (response.status_code, response.json()["status"]) == (200, "ignored")
    assert recorded_events() == 0


def test_without_a_webhook_secret_stripe_is_told_to_retry_later(
    fake: FakeStripe, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = make_user()
    event = paid_pack_event(fake, uid)
    monkeypatch.setenv("PHOTOAI_STRIPE_WEBHOOK_SECRET", "")
    get_settings.cache_clear()
    assert post(client, fake, event).status_code == 503
    assert credits.balance(uid) == 0
    assert client.get(URL).status_code == 405


def test_processing_failure_answers_500_and_the_redelivery_applies(
    fake: FakeStripe, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOAI_STRIPE_MAX_NETWORK_RETRIES", "0")
    get_settings.cache_clear()
    uid = make_user()
    sid = checkout.create_plan_checkout(uid, "creator", attempt=purchase_attempt()).rsplit("/", 1)[
        1
    ]
    events = fake.complete_checkout(sid, deliver=False)
    invoice_paid = next(e for e in events if e["type"] == "invoice.paid")

    fake.fail_next(500, path_prefix="/v1/subscriptions/")
    failed = post(client, fake, invoice_paid)
    assert failed.status_code == 500 and "retry" in failed.json()["error"]
    assert (credits.balance(uid), recorded_events()) == (0, 0)

    assert post(client, fake, invoice_paid).json()["status"] == "applied"
    assert credits.balance(uid) == 120, "default creator plan, found by subscription metadata"
    view = overview.current_subscription(uid)
    assert view is not None and view.plan_id == "creator"


def test_events_are_applied_off_the_event_loop(
    fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three slow (blocking) applications overlap instead of queueing on the loop."""

    def slow(event: Obj) -> EventResult:
        time.sleep(0.4)
        return EventResult("applied")

    monkeypatch.setattr(sync, "handle_event", slow)
    app = Starlette(routes=stripe_webhook.routes)
    bodies = [json.dumps({"id": f"evt_{i}", "type": "x", "data": {"object": {}}}) for i in range(3)]

    async def deliver_all() -> tuple[list[int], float, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            tick_task = asyncio.create_task(ticker())
            started = time.monotonic()
            answers = await asyncio.gather(
                *(
                    http.post(URL, content=body, headers={"Stripe-Signature": fake.sign(body)})
                    for body in bodies
                )
            )
            elapsed = time.monotonic() - started
            tick_task.cancel()
        return [a.status_code for a in answers], elapsed, ticks

    statuses, elapsed, ticks = async_support.run(deliver_all())
    assert statuses == [200, 200, 200]
    assert elapsed < 1.0, f"took {elapsed:.2f}s: the applications ran one after another"
    assert ticks >= 10, "the event loop kept running while events were applied"


@pytest.fixture
def served_webhook(fake: FakeStripe) -> Iterator[str]:
    """The webhook route served by granian in a child process, as in production."""
    port = free_port()
    with served_by_granian("tests.api.webhook_server:app", port):
        yield f"http://127.0.0.1:{port}{URL}"


def test_hosted_checkout_delivers_a_signed_webhook_over_real_http(
    fake: FakeStripe, served_webhook: str
) -> None:
    fake.webhook_url = served_webhook
    uid = make_user()
    checkout_url = checkout.create_pack_checkout(uid, "starter", attempt=purchase_attempt())
    sid = checkout_url.rsplit("/", 1)[1]

    page = httpx.get(checkout_url)
    assert page.status_code == 200 and 'id="pay"' in page.text
    paid = httpx.post(f"{fake.url}/checkout/{sid}/pay", follow_redirects=False)
    assert paid.status_code == 303
    assert paid.headers["location"] == f"http://photoai.test/billing/success?session_id={sid}"
    [event] = [e for e in fake.events if e["type"] == "checkout.session.completed"]
    assert fake.delivered[event["id"]] is True
    assert credits.balance(uid) == 50, "the webhook applied the payment"

    shown = checkout.confirm_checkout(uid, sid)
    assert (shown.status, shown.credits_added, shown.balance) == ("paid", 50, 50)
    assert credits.balance(uid) == credits.ledger_sum(uid) == 50
    assert "complete" in httpx.get(checkout_url).text
