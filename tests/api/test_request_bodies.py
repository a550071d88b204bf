"""Routes that read a body stop reading at a limit, whatever the headers say.

The routes run under granian in a child process, as in production, and a raw socket sends a
64 MB body in chunks (no Content-Length, so nothing announces its size): the answer must be a
413 that arrives long before the sender is done, which shows the server stopped reading.
"""

import json
import select
import socket
from collections.abc import Iterator

import pytest

from photoai.settings import get_settings
from tests.local_servers import free_port, served_by_granian

WEBHOOKS = ["/api/stripe/webhook", "/api/webhooks/fal", "/api/webhooks/replicate"]
BODY_BYTES = 64 * 1024 * 1024
CHUNK = b"x" * 65536
LIMIT = 1024 * 1024


@pytest.fixture
def server(settings_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("PHOTOAI_STRIPE_WEBHOOK_SECRET", "whsec_test")
    monkeypatch.setenv("PHOTOAI_MAX_REQUEST_BODY_BYTES", str(LIMIT))
    get_settings.cache_clear()
    port = free_port()
    with served_by_granian("tests.api.api_server:app", port):
        yield port


def read_response(sock: socket.socket) -> tuple[int, dict[str, object]]:
    """Status and JSON body of the answer (the routes answer small JSON bodies)."""
    sock.settimeout(10)
    raw = b""
    while b"\r\n\r\n" not in raw or not raw.rstrip().endswith(b"}"):
        part = sock.recv(65536)
        if not part:
            break
        raw += part
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    start = body.find(b"{")
    return status, json.loads(body[start : body.rfind(b"}") + 1])


def post_chunked(port: int, path: str) -> tuple[int, dict[str, object], int]:
    """POST a 64 MB chunked body, stopping as soon as an answer arrives or the server stops
    taking bytes. Returns the status, the JSON answer and how many body bytes were sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    with sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Stripe-Signature: t=1,v1=00\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(head.encode())
        frame = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK)
        sent = 0
        while sent < BODY_BYTES and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(frame)
            except OSError:  # the server answered and closed, or stopped reading
                break
            sent += len(CHUNK)
        else:
            if sent >= BODY_BYTES:
                sock.sendall(b"0\r\n\r\n")
        status, answer = read_response(sock)
    return status, answer, sent


@pytest.mark.parametrize("path", WEBHOOKS)
def test_a_chunked_body_without_length_is_cut_off_at_the_limit(server: int, path: str) -> None:
    status, answer, sent = post_chunked(server, path)
    assert (status, answer) == (413, {"error": f"request body too large (limit {LIMIT} bytes)"})
    # The answer came while the sender was still sending: far less than 64 MB went out.
    assert sent < LIMIT + 16 * 1024 * 1024


@pytest.mark.parametrize("path", WEBHOOKS)
def test_an_announced_body_over_the_limit_is_refused_before_reading(server: int, path: str) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {BODY_BYTES}\r\n"
            "Content-Type: application/json\r\n\r\n".encode()
        )
        status, answer = read_response(sock)
    assert status == 413
    assert "too large" in str(answer["error"])
