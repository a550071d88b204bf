"""POST /api/stripe/webhook: Stripe's events, verified, applied once, acknowledged.

The signature is checked over the raw body (any re-serialisation would break it) with a
five-minute tolerance against replays. Anything unverifiable gets a 400 and changes nothing.
The event is applied before answering, in a worker thread so the event loop never blocks:
a 200 then means it is in our database, and a failure answers 500 so Stripe delivers again.
"""

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import stripe
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from photoai.api.request_body import BodyRefused, read_body
from photoai.services.billing import sync
from photoai.settings import get_settings

log = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_SECONDS = 300


def _refuse(reason: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


def _well_formed(event: Mapping[str, Any]) -> bool:
    data = event.get("data")
    return (
        isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(data, Mapping)
        and isinstance(data.get("object"), Mapping)
    )


async def stripe_webhook(request: Request) -> Response:
    secret = get_settings().stripe_webhook_secret
    if not secret:
        # Not 4xx: Stripe keeps retrying for days, so events arrive once the operator sets it.
        return _refuse("webhook secret not configured", 503)
    try:
        payload = await read_body(request)
    except BodyRefused as exc:
        return exc.response
    signature = request.headers.get("stripe-signature")
    if not signature:
        return _refuse("missing Stripe-Signature header")
    try:
        event = stripe.Webhook.construct_event(
            payload, signature, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS
        ).to_dict()
    except stripe.SignatureVerificationError:
        return _refuse("invalid or expired signature")
    except ValueError:
        return _refuse("malformed payload")
    if not _well_formed(event):
        return _refuse("malformed event")
    try:
        result = await asyncio.to_thread(sync.handle_event, event)
    except Exception:
        log.exception("stripe event %s (%s) failed; Stripe will retry", event["id"], event["type"])
        return _refuse("processing failed, retry later", 500)
    return JSONResponse({"received": True, "status": result.status})


routes = [Route("/api/stripe/webhook", stripe_webhook, methods=["POST"])]
