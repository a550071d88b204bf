"""Plumbing shared by the fake AI providers: a threaded HTTP server on 127.0.0.1 with
injectable failures (status codes with Retry-After, slow answers) and a request log.

Each fake subclasses `FakeProvider` and implements `route(method, path, query, headers, body)`
returning (status, json_body | bytes, extra_headers); everything else lives here.
"""

import io
import json
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

Reply = tuple[int, Any, dict[str, str]]


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0


@dataclass
class Injected:
    """The next `times` matching requests answer `status` (after sleeping `delay` seconds);
    status 0 with a delay only slows the real answer down, and `garble` does the real work but
    answers its status with an unreadable body (a proxy mangling a 200, a truncated reply)."""

    path_prefix: str
    method: str | None
    times: int
    status: int = 0
    delay: float = 0.0
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    garble: bool = False


class FakeProvider:
    """Use as a context manager; `url` is valid inside it."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.url = ""
        self._injected: list[Injected] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self.files: dict[str, bytes] = {}  # served at /files/{name}, like a provider's CDN

    # --- what subclasses implement -------------------------------------------------------------

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> Any:
        return {"detail": message}

    def _serve_file(self, path: str) -> Reply:
        """What a provider's file host answers for `/files/{name}`: what the fake put in
        `files`, for every provider alike, so `route` only speaks the provider's API."""
        data = self.files.get(path.removeprefix("/files/"))
        return (200, data, {}) if data is not None else (404, self.error_body(404, "no file"), {})

    # --- test controls --------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        path_prefix: str = "",
        method: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        with self._lock:
            self._injected.append(
                Injected(path_prefix, method, times, status=status, body=body, headers=headers)
            )

    def delay_next(
        self, seconds: float, *, times: int = 1, path_prefix: str = "", method: str | None = None
    ) -> None:
        with self._lock:
            self._injected.append(Injected(path_prefix, method, times, delay=seconds))

    def garble_next(
        self, *, times: int = 1, path_prefix: str = "", method: str | None = None
    ) -> None:
        """Carry out the next matching requests for real, but answer each with garbage."""
        with self._lock:
            self._injected.append(Injected(path_prefix, method, times, garble=True))

    def calls_to(self, method: str, path_prefix: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    def post_webhook(self, url: str, headers: dict[str, str], body: bytes) -> int:
        """Deliver like the provider does: one POST, the answer's status is all it sees
        (0 when nobody answered)."""
        try:
            response = httpx.post(
                url,
                content=body,
                headers={**headers, "Content-Type": "application/json"},
                timeout=30,
            )
        except httpx.TransportError:
            return 0
        return response.status_code

    # --- serving --------------------------------------------------------------------------------

    def _take_injected(self, method: str, path: str) -> Injected | None:
        with self._lock:
            for item in self._injected:
                if path.startswith(item.path_prefix) and item.method in (None, method):
                    item.times -= 1
                    if item.times <= 0:
                        self._injected.remove(item)
                    return item
        return None

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        call = Call(method, parts.path, parse_qs(parts.query), headers, body)
        with self._lock:
            self.calls.append(call)
        injected = self._take_injected(method, parts.path)
        if injected is not None and injected.delay:
            time.sleep(injected.delay)
        if injected is not None and injected.status:
            reply: Reply = (
                injected.status,
                injected.body
                if injected.body is not None
                else self.error_body(injected.status, "injected failure"),
                injected.headers,
            )
        else:
            with self._lock:
                if method == "GET" and parts.path.startswith("/files/"):
                    reply = self._serve_file(parts.path)
                else:
                    reply = self.route(method, parts.path, call.query, headers, body)
        status, payload, extra = reply
        if injected is not None and injected.garble:
            payload = b"<html><body>502 Bad Gat"
        call.status = status
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            handler.send_response(status)
            kind = "application/octet-stream" if isinstance(payload, bytes) else "application/json"
            handler.send_header("Content-Type", kind)
            handler.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test)

    def __enter__(self) -> "FakeProvider":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


def json_body(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


def fetch_zip_images(url: str) -> int:
    """Download a training zip like a provider does and count the images in it; raises on
    anything a provider would refuse (unreachable link, not a zip)."""
    response = httpx.get(url, timeout=10, follow_redirects=True)
    response.raise_for_status()
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return sum(
            1
            for name in archive.namelist()
            if name.lower().endswith((".jpg", ".jpeg", ".png", ".webp"))
        )
