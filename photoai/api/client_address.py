"""The address a request comes from, resolved the way Reflex resolves it for event handlers.

Behind reverse proxies the connection's peer is the proxy. Reflex takes the client from
X-Forwarded-For only when the operator sets `REFLEX_TRUSTED_PROXY_HOPS` (rx.Config's
`trusted_proxy_hops`) to the number of proxies in front of the app: the entry that many places
from the right is the one the outermost trusted proxy saw. Anything further left was written by
the client and could be forged. Our own routes follow the same rule, so sign-in throttling and
the addresses recorded on sessions agree between pages and HTTP routes.
"""

from reflex.config import get_config
from starlette.requests import Request


def client_address(request: Request) -> str:
    peer = request.client.host if request.client else ""
    hops = get_config().trusted_proxy_hops
    if not hops:
        return peer
    forwarded = [
        entry.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for entry in header.split(",")
        if entry.strip()
    ]
    return forwarded[-hops] if len(forwarded) >= hops else peer
