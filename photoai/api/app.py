"""The Starlette app Reflex mounts itself under: our own HTTP routes come first, and the
upload guard wraps everything, Reflex's `/_upload` included."""

from starlette.applications import Starlette
from starlette.middleware import Middleware

from photoai.api import auth_routes, files, gallery_routes, stripe_webhook, training_webhooks
from photoai.api.upload_guard import UploadGuard


def build_api() -> Starlette:
    return Starlette(
        middleware=[Middleware(UploadGuard)],
        routes=[
            *auth_routes.routes,
            *files.routes,
            *gallery_routes.routes,
            *stripe_webhook.routes,
            *training_webhooks.routes,
        ],
    )
