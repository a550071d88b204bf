"""A local fake of the Stripe API: real HTTP on 127.0.0.1, reached by the real stripe SDK.

It reproduces the endpoints photoai uses with Stripe's shapes (form-encoded bracket params in,
JSON objects, lists and `{"error": {...}}` out), checks the Bearer key and honours
Idempotency-Key. Tests drive it through methods that act like Stripe's side of the world
(a customer pays, a subscription renews, a charge is refunded), each recording the events
Stripe would send and, when `webhook_url` is set, delivering them with real signatures.
A hosted page at /checkout/{id} with a "Pay" button lets a browser test walk the whole flow.
"""

import copy
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import stripe

from photoai.settings import get_settings

Obj = dict[str, Any]
API_VERSION = "2026-10-28.endive"
MONTH = 30 * 86400


class StripeFailure(Exception):
    """Raised inside a handler; becomes a Stripe-shaped error response."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.kind, self.code, self.param = status, kind, code, param

    def body(self) -> Obj:
        error: Obj = {"type": self.kind, "message": str(self)}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


def missing(kind: str, object_id: str, param: str = "id") -> StripeFailure:
    return StripeFailure(
        404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param
    )


def parse_params(pairs: list[tuple[str, str]]) -> Obj:
    """`a[b][0][c]=v` pairs to nested dicts; dicts keyed 0..n become lists, as Stripe reads them."""
    root: Obj = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head] + (re.findall(r"([^\[\]]*)\]", "[" + rest) if rest else [])
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


@dataclass
class Recorded:
    method: str
    path: str
    params: Obj
    idempotency_key: str | None
    status: int = 0


@dataclass
class Injected:
    status: int
    times: int
    path_prefix: str
    should_retry: bool | None


class FakeStripe:
    """The fake's state and Stripe-side actions; use as a context manager to serve it."""

    def __init__(
        self,
        api_key: str = "sk_test_photoai",
        webhook_secret: str = "whsec_test_photoai",
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url: str | None = None
        self.objects: dict[str, Obj] = {}
        self.events: list[Obj] = []
        self.delivered: dict[str, bool] = {}
        self.requests: list[Recorded] = []
        self._private: dict[str, Obj] = {}
        self._prices: dict[str, Obj] = {}
        self._idempotent: dict[str, tuple[str, int, bytes]] = {}
        self._injected: list[Injected] = []
        self._seq = 0
        self._lock = threading.RLock()
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> "FakeStripe":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- test controls ---------------------------------------------------------------------

    def add_price(
        self, price_id: str, unit_amount: int, currency: str = "usd", *, monthly: bool = False
    ) -> None:
        self._prices[price_id] = self._price(price_id, unit_amount, currency, monthly)

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        path_prefix: str = "/v1/",
        should_retry: bool | None = None,
    ) -> None:
        """The next `times` API calls under `path_prefix` answer `status` (429, 500, ...)."""
        with self._lock:
            self._injected.append(Injected(status, times, path_prefix, should_retry))

    def clear_failures(self) -> None:
        with self._lock:
            self._injected.clear()

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def sign(self, payload: str, *, timestamp: int | None = None, secret: str | None = None) -> str:
        return stripe.WebhookSignature.generate_signature_header(
            payload, secret or self.webhook_secret, timestamp=timestamp
        )

    def deliver(self, event: Obj, url: str | None = None) -> int:
        """POST the event, signed like Stripe does, to the app; records whether it got a 2xx."""
        target = url or self.webhook_url
        if not target:
            raise RuntimeError("no webhook_url to deliver to")
        payload = json.dumps(event)
        response = httpx.post(
            target,
            content=payload,
            headers={"Content-Type": "application/json", "Stripe-Signature": self.sign(payload)},
            timeout=30,
        )
        self.delivered[event["id"]] = response.is_success
        return response.status_code

    def emit(self, kind: str, obj: Obj, *, deliver: bool = True) -> Obj:
        """Record an event carrying a snapshot of `obj`; deliver it if a webhook URL is set."""
        with self._lock:
            event = {
                "id": self._new_id("evt"),
                "object": "event",
                "api_version": API_VERSION,
                "created": int(time.time()),
                "data": {"object": copy.deepcopy(obj)},
                "livemode": False,
                "pending_webhooks": 1 if self.webhook_url else 0,
                "request": {"id": None, "idempotency_key": None},
                "type": kind,
            }
            self.events.append(event)
            self._private[event["id"]] = {"seq": self._next_seq()}
            self.delivered[event["id"]] = False
        if deliver and self.webhook_url:
            self.deliver(event)
        return event

    def complete_checkout(
        self, session_id: str, *, deliver: bool = True, async_payment: bool = False
    ) -> list[Obj]:
        """The customer pays on the hosted page. Events in Stripe's usual order."""
        with self._lock:
            session = self._get("checkout.session", session_id)
            if session["status"] != "open":
                raise StripeFailure(400, "This Checkout Session is no longer active.")
            private = self._private[session_id]
            session["status"] = "complete"
            pending: list[tuple[str, Obj]] = []
            if session["mode"] == "payment":
                intent = self._payment(
                    session["customer"],
                    session["amount_total"],
                    session["currency"],
                    private.get("payment_intent_data", {}).get("metadata", {}),
                    succeeded=not async_payment,
                )
                session["payment_intent"] = intent["id"]
                session["payment_status"] = "unpaid" if async_payment else "paid"
            else:
                subscription, invoice = self._start_subscription(session, private)
                session["subscription"], session["invoice"] = subscription["id"], invoice["id"]
                session["payment_status"] = "paid"
                pending += [("customer.subscription.created", subscription)]
                pending += [("invoice.paid", invoice)]
            pending.append(("checkout.session.completed", session))
            events = [self.emit(kind, obj, deliver=False) for kind, obj in pending]
        return self._deliver_all(events, deliver)

    def settle_async_payment(
        self, session_id: str, *, succeeded: bool = True, deliver: bool = True
    ) -> Obj:
        """A delayed payment method (bank debit) clears or fails days after checkout."""
        with self._lock:
            session = self._get("checkout.session", session_id)
            intent = self._get("payment_intent", session["payment_intent"])
            if succeeded:
                intent["status"] = "succeeded"
                intent["latest_charge"] = self._charge(intent)["id"]
                session["payment_status"] = "paid"
            else:
                intent["status"] = "requires_payment_method"
            kind = "succeeded" if succeeded else "failed"
            event = self.emit(f"checkout.session.async_payment_{kind}", session, deliver=False)
        return self._deliver_all([event], deliver)[0]

    def renew_subscription(self, subscription_id: str, *, deliver: bool = True) -> Obj:
        """A new period starts and its invoice is paid; returns the invoice.paid event."""
        with self._lock:
            subscription = self._get("subscription", subscription_id)
            for item in subscription["items"]["data"]:
                item["current_period_start"] = item["current_period_end"]
                item["current_period_end"] += MONTH
            invoice = self._invoice(subscription, "subscription_cycle", paid=True)
            event = self.emit("invoice.paid", invoice, deliver=False)
        return self._deliver_all([event], deliver)[0]

    def fail_renewal(self, subscription_id: str, *, deliver: bool = True) -> list[Obj]:
        with self._lock:
            subscription = self._get("subscription", subscription_id)
            invoice = self._invoice(subscription, "subscription_cycle", paid=False)
            subscription["status"] = "past_due"
            events = [
                self.emit("invoice.payment_failed", invoice, deliver=False),
                self.emit("customer.subscription.updated", subscription, deliver=False),
            ]
        return self._deliver_all(events, deliver)

    def cancel_subscription(
        self, subscription_id: str, *, at_period_end: bool = False, deliver: bool = True
    ) -> Obj:
        with self._lock:
            subscription = self._get("subscription", subscription_id)
            if at_period_end:
                subscription["cancel_at_period_end"] = True
                kind = "customer.subscription.updated"
            else:
                subscription["status"] = "canceled"
                subscription["canceled_at"] = int(time.time())
                kind = "customer.subscription.deleted"
            event = self.emit(kind, subscription, deliver=False)
        return self._deliver_all([event], deliver)[0]

    def delete_subscription(self, _params: Obj, subscription_id: str) -> Obj:
        """DELETE /v1/subscriptions/{id}: cancel at once, as Stripe's API does (the event is
        recorded, not delivered, like every API call's side effect here)."""
        subscription = self._get("subscription", subscription_id)
        if subscription["status"] != "canceled":
            subscription["status"] = "canceled"
            subscription["canceled_at"] = int(time.time())
            self.emit("customer.subscription.deleted", subscription, deliver=False)
        return subscription

    def refund(self, charge_id: str, amount: int | None = None, *, deliver: bool = True) -> Obj:
        """Refund part or all of a charge; returns the charge.refunded event."""
        with self._lock:
            charge = self._get("charge", charge_id)
            amount = amount or charge["amount"] - charge["amount_refunded"]
            if amount <= 0 or charge["amount_refunded"] + amount > charge["amount"]:
                raise StripeFailure(400, "Refund amount is greater than unrefunded amount.")
            self._store(
                {
                    "id": self._new_id("re"),
                    "object": "refund",
                    "amount": amount,
                    "charge": charge_id,
                    "payment_intent": charge["payment_intent"],
                    "currency": charge["currency"],
                    "status": "succeeded",
                    "created": int(time.time()),
                    "metadata": {},
                }
            )
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            event = self.emit("charge.refunded", charge, deliver=False)
        return self._deliver_all([event], deliver)[0]

    def dispute(self, charge_id: str, amount: int | None = None, *, deliver: bool = True) -> Obj:
        with self._lock:
            charge = self._get("charge", charge_id)
            charge["disputed"] = True
            dispute = self._store(
                {
                    "id": self._new_id("dp"),
                    "object": "dispute",
                    "amount": amount or charge["amount"],
                    "charge": charge_id,
                    "payment_intent": charge["payment_intent"],
                    "currency": charge["currency"],
                    "reason": "fraudulent",
                    "status": "needs_response",
                    "created": int(time.time()),
                    "metadata": {},
                }
            )
            event = self.emit("charge.dispute.created", dispute, deliver=False)
        return self._deliver_all([event], deliver)[0]

    def charge_for(self, payment_intent_id: str) -> str:
        return str(self._get("payment_intent", payment_intent_id)["latest_charge"])

    # --- Stripe-side object making (call with the lock held) -------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_test_{secrets.token_hex(12)}"

    def _store(self, obj: Obj) -> Obj:
        self.objects[obj["id"]] = obj
        self._private.setdefault(obj["id"], {})["seq"] = self._next_seq()
        return obj

    def _get(self, kind: str, object_id: str | None) -> Obj:
        found = self.objects.get(object_id or "")
        if found is None or found["object"] != kind:
            raise missing(kind.split(".")[-1], str(object_id))
        return found

    def _deliver_all(self, events: list[Obj], deliver: bool) -> list[Obj]:
        """Deliver outside the lock: the app calls back into this fake while handling them."""
        if deliver and self.webhook_url:
            for event in events:
                self.deliver(event)
        return events

    def _price(self, price_id: str, unit_amount: int, currency: str, monthly: bool) -> Obj:
        return {
            "id": price_id,
            "object": "price",
            "currency": currency,
            "unit_amount": unit_amount,
            "type": "recurring" if monthly else "one_time",
            "recurring": {"interval": "month", "interval_count": 1} if monthly else None,
        }

    def _line_price(self, item: Obj) -> Obj:
        if "price" in item:
            price = self._prices.get(item["price"])
            if price is None:
                raise missing("price", item["price"], "line_items[0][price]")
            return price
        data = item.get("price_data")
        if not isinstance(data, dict) or "currency" not in data or "unit_amount" not in data:
            raise StripeFailure(400, "Missing required param: line_items[0][price].")
        monthly = bool(data.get("recurring"))
        amount = int(data["unit_amount"])
        return self._price(self._new_id("price"), amount, data["currency"], monthly)

    def _payment(
        self, customer: str | None, amount: int, currency: str, meta: Obj, *, succeeded: bool
    ) -> Obj:
        intent = self._store(
            {
                "id": self._new_id("pi"),
                "object": "payment_intent",
                "amount": amount,
                "currency": currency,
                "customer": customer,
                "metadata": dict(meta),
                "status": "succeeded" if succeeded else "processing",
                "latest_charge": None,
                "created": int(time.time()),
            }
        )
        if succeeded:
            intent["latest_charge"] = self._charge(intent)["id"]
        return intent

    def _charge(self, intent: Obj) -> Obj:
        """A charge carries no metadata of the PaymentIntent, as with Stripe."""
        return self._store(
            {
                "id": self._new_id("ch"),
                "object": "charge",
                "amount": intent["amount"],
                "amount_refunded": 0,
                "currency": intent["currency"],
                "customer": intent["customer"],
                "payment_intent": intent["id"],
                "paid": True,
                "refunded": False,
                "disputed": False,
                "status": "succeeded",
                "metadata": {},
                "created": int(time.time()),
            }
        )

    def _start_subscription(self, session: Obj, private: Obj) -> tuple[Obj, Obj]:
        now = int(time.time())
        price = private["prices"][0]
        subscription = self._store(
            {
                "id": self._new_id("sub"),
                "object": "subscription",
                "customer": session["customer"],
                "status": "active",
                "metadata": dict(private.get("subscription_data", {}).get("metadata", {})),
                "cancel_at_period_end": False,
                "canceled_at": None,
                "created": now,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": self._new_id("si"),
                            "object": "subscription_item",
                            "price": price,
                            "quantity": 1,
                            "current_period_start": now,
                            "current_period_end": now + MONTH,
                        }
                    ],
                    "has_more": False,
                },
            }
        )
        return subscription, self._invoice(subscription, "subscription_create", paid=True)

    def _invoice(self, subscription: Obj, reason: str, *, paid: bool) -> Obj:
        item = subscription["items"]["data"][0]
        price = item["price"]
        invoice = self._store(
            {
                "id": self._new_id("in"),
                "object": "invoice",
                "customer": subscription["customer"],
                "status": "paid" if paid else "open",
                "billing_reason": reason,
                "amount_due": price["unit_amount"],
                "amount_paid": price["unit_amount"] if paid else 0,
                "currency": price["currency"],
                "period_start": item["current_period_start"],
                "period_end": item["current_period_end"],
                "parent": {
                    "type": "subscription_details",
                    "quote_details": None,
                    "subscription_details": {
                        "subscription": subscription["id"],
                        "metadata": dict(subscription["metadata"]),
                    },
                },
                "lines": {
                    "object": "list",
                    "data": [
                        {
                            "id": self._new_id("il"),
                            "object": "line_item",
                            "amount": price["unit_amount"],
                            "pricing": {
                                "type": "price_details",
                                "price_details": {"price": price["id"], "product": "prod_x"},
                            },
                        }
                    ],
                    "has_more": False,
                },
                "created": int(time.time()),
            }
        )
        if paid:
            intent = self._payment(
                subscription["customer"],
                price["unit_amount"],
                price["currency"],
                {},
                succeeded=True,
            )
            self._store(
                {
                    "id": self._new_id("inpay"),
                    "object": "invoice_payment",
                    "invoice": invoice["id"],
                    "status": "paid",
                    "payment": {"type": "payment_intent", "payment_intent": intent["id"]},
                    "amount_paid": price["unit_amount"],
                    "created": int(time.time()),
                }
            )
        return invoice

    # --- API endpoints ---------------------------------------------------------------------

    def create_customer(self, params: Obj) -> Obj:
        return self._store(
            {
                "id": self._new_id("cus"),
                "object": "customer",
                "email": params.get("email"),
                "name": params.get("name"),
                "metadata": params.get("metadata", {}),
                "created": int(time.time()),
            }
        )

    def create_checkout_session(self, params: Obj) -> Obj:
        mode = params.get("mode")
        if mode not in ("payment", "subscription"):
            raise StripeFailure(400, "Invalid mode: must be payment or subscription", param="mode")
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise StripeFailure(400, "Missing required param: line_items.", param="line_items")
        if params.get("customer"):
            self._get("customer", params["customer"])
        prices = [self._line_price(item) for item in items]
        if mode == "subscription" and not all(p["recurring"] for p in prices):
            raise StripeFailure(400, "You must provide at least one recurring price.")
        session_id = f"cs_test_{secrets.token_hex(16)}"
        pairs = zip(prices, items, strict=True)
        total = sum(price["unit_amount"] * int(item.get("quantity", 1)) for price, item in pairs)
        session = self._store(
            {
                "id": session_id,
                "object": "checkout.session",
                "mode": mode,
                "status": "open",
                "payment_status": "unpaid",
                "url": f"{self.url}/checkout/{session_id}",
                "success_url": params.get("success_url"),
                "cancel_url": params.get("cancel_url"),
                "client_reference_id": params.get("client_reference_id"),
                "customer": params.get("customer"),
                "metadata": params.get("metadata", {}),
                "amount_total": total,
                "amount_subtotal": total,
                "currency": prices[0]["currency"],
                "payment_intent": None,
                "subscription": None,
                "invoice": None,
                "livemode": False,
                "created": int(time.time()),
                "expires_at": int(time.time()) + 86400,
            }
        )
        self._private[session_id].update(
            prices=prices,
            payment_intent_data=params.get("payment_intent_data", {}),
            subscription_data=params.get("subscription_data", {}),
        )
        return session

    def create_portal_session(self, params: Obj) -> Obj:
        self._get("customer", params.get("customer"))
        portal_id = self._new_id("bps")
        return self._store(
            {
                "id": portal_id,
                "object": "billing_portal.session",
                "customer": params["customer"],
                "return_url": params.get("return_url"),
                "url": f"{self.url}/portal/{portal_id}",
                "created": int(time.time()),
            }
        )

    def _listing(self, path: str, items: list[Obj], params: Obj) -> Obj:
        """Newest first, `limit` (1-100) and `starting_after` paging, like Stripe lists."""
        window = params.get("created")
        if isinstance(window, dict):
            for op, test in (
                ("gte", int.__ge__),
                ("gt", int.__gt__),
                ("lte", int.__le__),
                ("lt", int.__lt__),
            ):
                if op in window:
                    items = [i for i in items if test(int(i["created"]), int(window[op]))]
        items = sorted(items, key=lambda i: self._private[i["id"]]["seq"], reverse=True)
        after = params.get("starting_after")
        if after:
            ids = [i["id"] for i in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        limit = int(params.get("limit", 10))
        if not 1 <= limit <= 100:
            raise StripeFailure(400, "Invalid limit: must be between 1 and 100", param="limit")
        page, more = items[:limit], len(items) > limit
        return {"object": "list", "url": path, "data": page, "has_more": more}

    def _of_kind(self, kind: str, **equal: Any) -> list[Obj]:
        return [
            o
            for o in self.objects.values()
            if o["object"] == kind and all(v is None or o.get(k) == v for k, v in equal.items())
        ]

    def list_checkout_sessions(self, params: Obj) -> Obj:
        found = self._of_kind(
            "checkout.session",
            payment_intent=params.get("payment_intent"),
            status=params.get("status"),
            customer=params.get("customer"),
        )
        return self._listing("/v1/checkout/sessions", found, params)

    def list_refunds(self, params: Obj) -> Obj:
        found = self._of_kind(
            "refund", charge=params.get("charge"), payment_intent=params.get("payment_intent")
        )
        return self._listing("/v1/refunds", found, params)

    def list_invoice_payments(self, params: Obj) -> Obj:
        payment = params.get("payment") or {}
        found = [
            p
            for p in self._of_kind("invoice_payment", invoice=params.get("invoice"))
            if not payment.get("payment_intent")
            or p["payment"]["payment_intent"] == payment["payment_intent"]
        ]
        return self._listing("/v1/invoice_payments", found, params)

    def list_events(self, params: Obj) -> Obj:
        types = params.get("types") or ([params["type"]] if params.get("type") else None)
        found = [e for e in self.events if types is None or e["type"] in types]
        return self._listing("/v1/events", found, params)

    def routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., Obj]]]:
        def get(kind: str) -> Callable[[Obj, str], Obj]:
            return lambda _params, object_id: self._get(kind, object_id)

        table: list[tuple[str, str, Callable[..., Obj]]] = [
            ("POST", "/v1/customers", self.create_customer),
            ("POST", "/v1/checkout/sessions", self.create_checkout_session),
            ("GET", "/v1/checkout/sessions", self.list_checkout_sessions),
            ("GET", "/v1/checkout/sessions/(?P<id>[^/]+)", get("checkout.session")),
            ("POST", "/v1/billing_portal/sessions", self.create_portal_session),
            ("GET", "/v1/subscriptions/(?P<id>[^/]+)", get("subscription")),
            ("DELETE", "/v1/subscriptions/(?P<id>[^/]+)", self.delete_subscription),
            ("GET", "/v1/invoices/(?P<id>[^/]+)", get("invoice")),
            ("GET", "/v1/invoice_payments", self.list_invoice_payments),
            ("GET", "/v1/charges/(?P<id>[^/]+)", get("charge")),
            ("GET", "/v1/refunds", self.list_refunds),
            ("GET", "/v1/events", self.list_events),
        ]
        return [(method, re.compile(f"^{path}$"), fn) for method, path, fn in table]

    # --- request plumbing ------------------------------------------------------------------

    def take_injected(self, path: str) -> Injected | None:
        with self._lock:
            for injected in self._injected:
                if path.startswith(injected.path_prefix) and injected.times > 0:
                    injected.times -= 1
                    return injected
        return None

    def api(self, method: str, path: str, params: Obj) -> tuple[int, Obj]:
        """Dispatch one authenticated /v1 call."""
        for verb, pattern, fn in self.routes():
            found = pattern.match(path)
            if verb == method and found:
                with self._lock:
                    result = fn(params, *found.groups())
                    return 200, copy.deepcopy(result)
        raise StripeFailure(404, f"Unrecognized request URL ({method}: {path}).")

    def idempotent(
        self, key: str | None, fingerprint: str, run: Callable[[], tuple[int, bytes]]
    ) -> tuple[int, bytes, bool]:
        """Replay the first answer to a key; refuse the key with other parameters, as Stripe."""
        if not key:
            status, body = run()
            return status, body, False
        with self._lock:
            saved = self._idempotent.get(key)
            if saved is not None:
                if saved[0] != fingerprint:
                    failure = StripeFailure(
                        400,
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                        kind="idempotency_error",
                    )
                    return 400, json.dumps(failure.body()).encode(), False
                return saved[1], saved[2], True
            status, body = run()
            if status < 500:
                self._idempotent[key] = (fingerprint, status, body)
            return status, body, False

    def checkout_page(self, session_id: str) -> str:
        session = self._get("checkout.session", session_id)
        amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
        if session["status"] != "open":
            action = "<p>This checkout is complete.</p>"
        else:
            action = (
                f'<form method="post" action="/checkout/{session_id}/pay">'
                '<button type="submit" id="pay">Pay</button></form>'
                f'<a href="{html.escape(session["cancel_url"] or "/")}">Cancel</a>'
            )
        return (
            "<!doctype html><html><head><title>Fake Stripe Checkout</title></head><body>"
            f"<h1>Fake Stripe Checkout</h1><p>{html.escape(session['mode'])}: "
            f"<strong id='amount'>{amount}</strong></p>{action}</body></html>"
        )

    def pay_and_redirect(self, session_id: str) -> str:
        self.complete_checkout(session_id)
        target = str(self._get("checkout.session", session_id)["success_url"] or "/")
        return target.replace("{CHECKOUT_SESSION_ID}", session_id)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeStripe

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows failures, not every request."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", f"req_{secrets.token_hex(8)}")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        pairs = parse_qsl(raw if method == "POST" else split.query, keep_blank_values=True)
        params = parse_params(pairs)
        if split.path.startswith("/v1/"):
            self._api(method, split.path, params, raw)
        else:
            self._hosted(method, split.path)

    def _api(self, method: str, path: str, params: Obj, raw: str) -> None:
        key = self.headers.get("Idempotency-Key")
        record = Recorded(method, path, params, key)
        self.fake.requests.append(record)
        injected = self.fake.take_injected(path)
        if injected is not None:
            kind = "rate_limit_error" if injected.status == 429 else "api_error"
            body = json.dumps(StripeFailure(injected.status, "Injected failure", kind=kind).body())
            extra = {}
            if injected.should_retry is not None:
                extra["Stripe-Should-Retry"] = str(injected.should_retry).lower()
            record.status = injected.status
            self._send(injected.status, body.encode(), "application/json", extra)
            return

        if self.headers.get("Authorization") != f"Bearer {self.fake.api_key}":
            failure = StripeFailure(401, "Invalid API Key provided.", kind="invalid_request_error")
            record.status = 401
            self._send(401, json.dumps(failure.body()).encode(), "application/json", {})
            return

        def run() -> tuple[int, bytes]:
            try:
                status, obj = self.fake.api(method, path, params)
            except StripeFailure as failure:
                status, obj = failure.status, failure.body()
            return status, json.dumps(obj).encode()

        if method == "POST":
            status, body, replayed = self.fake.idempotent(key, f"{path}?{raw}", run)
        else:
            (status, body), replayed = run(), False
        record.status = status
        extra = {"Idempotent-Replayed": "true"} if replayed else {}
        self._send(status, body, "application/json", extra)

    def _hosted(self, method: str, path: str) -> None:
        parts = path.strip("/").split("/")
        try:
            if method == "GET" and len(parts) == 2 and parts[0] == "checkout":
                page = self.fake.checkout_page(parts[1])
                self._send(200, page.encode(), "text/html; charset=utf-8", {})
            elif method == "POST" and len(parts) == 3 and parts[::2] == ["checkout", "pay"]:
                target = self.fake.pay_and_redirect(parts[1])
                self._send(303, b"", "text/plain", {"Location": target})
            elif method == "GET" and len(parts) == 2 and parts[0] == "portal":
                portal = self.fake._get("billing_portal.session", parts[1])
                back = html.escape(str(portal["return_url"]))
                page = f'<!doctype html><h1>Fake billing portal</h1><a href="{back}">Return</a>'
                self._send(200, page.encode(), "text/html; charset=utf-8", {})
            else:
                self._send(404, b"not found", "text/plain", {})
        except StripeFailure as failure:
            self._send(failure.status, str(failure).encode(), "text/plain", {})


def use_fake_stripe(monkeypatch: pytest.MonkeyPatch, fake: FakeStripe, **env: str) -> None:
    """Point photoai's billing settings at `fake` (call after the database fixture)."""
    settings = {
        "PHOTOAI_STRIPE_SECRET_KEY": fake.api_key,
        "PHOTOAI_STRIPE_WEBHOOK_SECRET": fake.webhook_secret,
        "PHOTOAI_STRIPE_API_BASE": fake.url,
        "PHOTOAI_BASE_URL": "http://photoai.test",
        **env,
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
