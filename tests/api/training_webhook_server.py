"""The training webhooks and file routes alone as an ASGI app, served over real HTTP in tests."""

from starlette.applications import Starlette

from photoai.api import files, training_webhooks

app = Starlette(routes=[*training_webhooks.routes, *files.routes])
