"""The whole photoai ASGI app (Reflex plus our routes) in this process, and a browser tab.

`TestClient` runs the app's lifespan (Reflex's event processor) and speaks HTTP and websockets
to it without a network. A `Tab` is what a browser tab is to Reflex: a socket.io connection on
`/_event` carrying the browser's cookie, whose events Reflex runs against the tab's state; its
client token is what Reflex's `/_upload` takes to find that state.
"""

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from starlette.testclient import TestClient, WebSocketTestSession

from photoai.services import accounts
from photoai.settings import get_settings

NAMESPACE = "/_event"
STATE = "reflex___state____state.photoai___state___session____session_state"
MODEL_DETAIL = f"{STATE}.photoai___state___models____model_detail_state"
RECEIVE_PHOTOS = f"{MODEL_DETAIL}.receive_photos"


@cache
def asgi_app() -> Any:
    """Compiled once per test session (a second of Python-side compiling, no frontend build)."""
    from photoai.photoai import app

    return app()


@contextmanager
def site() -> Iterator[TestClient]:
    with TestClient(asgi_app(), base_url="http://localhost") as client:
        yield client


def signed_in_cookie(client: TestClient, user_id: int) -> str:
    """The HttpOnly session cookie, as `/auth/complete` sets it after a login."""
    ticket = accounts.create_login_ticket(user_id, "/dashboard")
    response = client.get(f"/auth/complete?ticket={ticket}", follow_redirects=False)
    assert response.status_code == 303
    name = get_settings().session_cookie_name
    token = response.cookies[name]
    client.cookies.clear()  # each request below says whose cookie it carries
    return f"{name}={token}"


@dataclass
class Tab:
    token: str
    socket: WebSocketTestSession

    def send(self, handler: str, path: str, payload: dict[str, object] | None = None) -> None:
        event = {
            "name": handler,
            "payload": payload or {},
            "router_data": {"pathname": path, "asPath": path},
        }
        self.socket.send_text(f"42{NAMESPACE}," + json.dumps(["event", event]))

    def wait_for(self, text: str, timeout: float = 20) -> None:
        """Read the tab's updates until one contains `text`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.socket.receive_text()
            if frame == "2":  # engine.io ping
                self.socket.send_text("3")
            elif text in frame:
                return
        raise AssertionError(f"no update with {text!r}")


@contextmanager
def open_tab(client: TestClient, cookie: str | None) -> Iterator[Tab]:
    """Connect a tab the way Reflex's frontend does, with the browser's cookie (if any)."""
    token = str(uuid.uuid4())
    headers = {"upgrade": "websocket", **({"cookie": cookie} if cookie else {})}
    url = f"{NAMESPACE}/?EIO=4&transport=websocket&token={token}"
    with client.websocket_connect(url, headers=headers) as socket:
        assert socket.receive_text().startswith("0")
        socket.send_text(f"40{NAMESPACE},")
        assert socket.receive_text().startswith(f"40{NAMESPACE},")
        yield Tab(token, socket)
