"""All of photoai's own HTTP routes (Reflex's app aside) as one ASGI app, for granian in tests."""

from photoai.api.app import build_api

app = build_api()
