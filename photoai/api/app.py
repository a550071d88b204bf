"""The Starlette app Reflex mounts itself under: our own HTTP routes come first."""

from starlette.applications import Starlette

from photoai.api import auth_routes, files, gallery_routes, stripe_webhook, training_webhooks


def build_api() -> Starlette:
    return Starlette(
        routes=[
            *auth_routes.routes,
            *files.routes,
            *gallery_routes.routes,
            *stripe_webhook.routes,
            *training_webhooks.routes,
        ]
    )
