"""Reading a request body with a hard cap, whatever its headers say.

Webhook routes take bodies from anyone, before any authentication. Starlette's
`request.body()` buffers everything the client sends, and a chunked request has no
Content-Length to refuse up front: a 64 MB chunked POST was read whole before being turned
away. So a body is read chunk by chunk and the reading stops one chunk past the limit; a
Content-Length above the limit is refused before reading anything.
"""

from starlette.requests import Request
from starlette.responses import JSONResponse

from photoai.settings import get_settings


class BodyRefused(Exception):
    """The body is too large (or its length header is nonsense); `response` says so."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.response = JSONResponse({"error": error}, status_code=status)


async def read_body(request: Request) -> bytes:
    """The whole body if it fits the operator's limit (PHOTOAI_MAX_REQUEST_BODY_BYTES);
    raises BodyRefused (413) as soon as it does not."""
    limit = get_settings().max_request_body_bytes
    too_large = f"request body too large (limit {limit} bytes)"
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BodyRefused(400, "invalid Content-Length header")
        if int(declared) > limit:
            raise BodyRefused(413, too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyRefused(413, too_large)
    return bytes(body)
