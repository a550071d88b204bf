"""The Starlette app Reflex mounts itself under: our own HTTP routes come first, and the
upload and console guards wrap everything, Reflex's `/_upload` and compiled pages included."""

from starlette.applications import Starlette
from starlette.middleware import Middleware

from photoai.api import (
    auth_routes,
    files,
    gallery_routes,
    stripe_webhook,
    training_webhooks,
    upload_routes,
)
from photoai.api.console_guard import ConsoleGuard
from photoai.api.upload_guard import UploadGuard
from photoai.observe.web import RequestObserver, metrics_endpoint
from photoai.services.generation_runs import KIND as GENERATION
from photoai.services.training_runs import KIND as TRAINING


def build_api() -> Starlette:
    routes = [
        *auth_routes.routes,
        *files.routes,
        *gallery_routes.routes,
        *stripe_webhook.routes,
        *training_webhooks.routes,
        *upload_routes.routes,
        metrics_endpoint([GENERATION, TRAINING]),
    ]
    # The observer wraps the Reflex app mounted under this one too: every request gets an id.
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestObserver, routes=routes),
            Middleware(UploadGuard),
            Middleware(ConsoleGuard),
        ],
    )
