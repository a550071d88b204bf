"""`GET /api/gallery/zip?ids=1,2,3`: the signed-in user's chosen images as one ZIP download.

A plain HTTP route rather than a Reflex event, because the browser must receive a file: the
archive is built while it is sent (see `gallery.iter_zip`), so even 200 full-size originals
never sit in memory together. Everything is checked before the first byte goes out: no
session is 401, a malformed or oversized list is 400, and if any id is not the user's the
whole request is 404 without saying which.
"""

import asyncio

from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from photoai.services import accounts, gallery
from photoai.settings import get_settings

ZIP_ROUTE = "/api/gallery/zip"
_MAX_ID_DIGITS = 18  # keeps every id inside a 64-bit integer


def parse_ids(raw: str) -> list[int] | None:
    """`1,2,3` as distinct ints in the order given; None for anything malformed or too long."""
    parts = raw.split(",") if raw else []
    if not 1 <= len(parts) <= gallery.MAX_IDS:
        return None
    if not all(p.isascii() and p.isdigit() and len(p) <= _MAX_ID_DIGITS for p in parts):
        return None
    return list(dict.fromkeys(int(p) for p in parts))


async def download_zip(request: Request) -> Response:
    token = request.cookies.get(get_settings().session_cookie_name)
    user = await asyncio.to_thread(accounts.resolve_session, token) if token else None
    if user is None:
        return PlainTextResponse("Sign in to download your images.", status_code=401)
    ids = parse_ids(request.query_params.get("ids", ""))
    if ids is None:
        return PlainTextResponse(
            f"Give between 1 and {gallery.MAX_IDS} image ids, comma-separated.", status_code=400
        )
    try:
        chunks = await asyncio.to_thread(gallery.iter_zip, user.user_id, ids)
    except gallery.GalleryError:
        return PlainTextResponse("Not found", status_code=404)
    return StreamingResponse(
        iterate_in_threadpool(chunks),
        media_type="application/zip",
        headers={
            "Content-Disposition": 'attachment; filename="photoai-images.zip"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


routes = [Route(ZIP_ROUTE, download_zip, methods=["GET"])]
