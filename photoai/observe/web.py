"""HTTP observation: a request id and latency for every request, webhook counts, /metrics.

`RequestObserver` is plain ASGI middleware around the whole Starlette app (our routes and the
Reflex app mounted under it); websocket traffic passes straight through.
"""

import asyncio
import hmac
import re
import time
import uuid
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from photoai.observe import context, errors, metrics
from photoai.settings import get_settings

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_WEBHOOK_SOURCES = {
    "/api/stripe/webhook": "stripe",
    "/api/webhooks/fal": "fal",
    "/api/webhooks/replicate": "replicate",
}


def _request_id(scope: Scope) -> str:
    """The proxy's id when it sent a sane one (to follow a request across hops), else ours."""
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


class RequestObserver:
    """Binds a request id for the logs, times the request, counts webhook deliveries."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = list(routes)

    def _route(self, scope: Scope) -> str:
        """The route template (bounded label values); `reflex` for anything Reflex answers."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL and isinstance(route, Route):
                return route.path
        return "reflex"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        started = time.perf_counter()
        with context.unit(request_id=request_id) as fields:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                errors.tag_request_scope(fields)
                raise
            finally:
                self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = self._route(scope)
        metrics.HTTP_REQUEST_SECONDS.labels(scope["method"], route, str(status)).observe(seconds)
        source = _WEBHOOK_SOURCES.get(scope["path"])
        if source is not None and scope["method"] == "POST":
            metrics.WEBHOOKS_RECEIVED.labels(source).inc()
            if status >= 400:
                metrics.WEBHOOKS_REJECTED.labels(source, str(status)).inc()


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


def metrics_endpoint(kinds: Sequence[str]) -> Route:
    """GET /metrics for Prometheus: 404 unless a token is configured, 401 without it."""

    async def serve(request: Request) -> Response:
        token = get_settings().metrics_token
        if not token:
            return PlainTextResponse("Not Found", status_code=404)
        if not _authorized(request, token):
            return PlainTextResponse(
                "Unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        body = await asyncio.to_thread(metrics.render, kinds)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    return Route("/metrics", serve, methods=["GET"])
