"""The webhook route alone as an ASGI app, for serving it over real HTTP in tests."""

from starlette.applications import Starlette

from photoai.api import stripe_webhook

app = Starlette(routes=stripe_webhook.routes)
