"""POST /api/webhooks/fal and /api/webhooks/replicate: training news, verified, applied once.

The signature is checked over the raw body; anything unsigned, forged or older than five
minutes gets a 400 and changes nothing. A verified event is applied before answering, in a
worker thread so the event loop never blocks, and recorded in the same transaction as its
effect, so a redelivery is acknowledged without being applied twice. Trainings we do not know
(another deployment's, or one deleted here) are acknowledged and ignored: refusing them would
only make the provider retry. A failure while applying answers 500 so the provider retries,
and the reconciler polls anyway.
"""

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from photoai.api.request_body import BodyRefused, read_body
from photoai.providers.base import ProviderError, WebhookRejected
from photoai.services import training
from photoai.services.training_runs import trainer_for

log = logging.getLogger(__name__)


def _answer(body: dict[str, object], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


async def _receive(request: Request, provider: str) -> Response:
    try:
        raw_body = await read_body(request)
    except BodyRefused as exc:
        return exc.response
    try:
        trainer = trainer_for(provider)
        event = await asyncio.to_thread(trainer.verify_webhook, request.headers, raw_body)
    except WebhookRejected as exc:
        return _answer({"error": str(exc)}, 400)
    except ProviderError as exc:
        # JWKS unreachable or no secret configured: not 4xx, so the provider retries and the
        # events arrive once verification works again.
        log.warning("cannot verify a %s webhook now: %s", provider, exc)
        return _answer({"error": "cannot verify now, retry later"}, 503)
    try:
        result = await asyncio.to_thread(training.handle_webhook, provider, event)
    except Exception:
        log.exception("%s webhook %s failed; the provider will retry", provider, event.event_id)
        return _answer({"error": "processing failed, retry later"}, 500)
    return _answer({"received": True, "status": result})


async def fal_webhook(request: Request) -> Response:
    return await _receive(request, "fal")


async def replicate_webhook(request: Request) -> Response:
    return await _receive(request, "replicate")


routes = [
    Route("/api/webhooks/fal", fal_webhook, methods=["POST"]),
    Route("/api/webhooks/replicate", replicate_webhook, methods=["POST"]),
]
