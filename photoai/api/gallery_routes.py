"""The gallery's HTTP routes: its pages as JSON and its ZIP downloads.

`GET /api/gallery/page?cursor=&limit=&sort=&model=&style=&favourites=&hide_not_you=` is one
page of the signed-in user's pictures, as the gallery grid (assets/gallery_grid.js) asks for
them while the user scrolls. Pages come over HTTP rather than through page state because a
Reflex list var is sent whole whenever it changes: appending page N re-sent pages 1..N
(3.2 MB at page 105) and kept the whole history in every tab's state. Here a page costs the
same bytes at any depth, and the tab's state holds no pictures at all. Every parameter is
checked before the query; anything malformed is a 400 naming what to send.

`GET /api/gallery/zip?ids=1,2,3` is the chosen images as one ZIP download. A plain HTTP route
rather than a Reflex event, because the browser must receive a file: the archive is built
while it is sent (see `gallery.iter_zip`), so even 200 full-size originals never sit in
memory together. Everything is checked before the first byte goes out: no session is 401, a
malformed or oversized list is 400, and if any id is not the user's the whole request is 404
without saying which.

Both know the caller only by the session cookie, and both read only the caller's rows.
"""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from photoai.services import accounts, gallery
from photoai.services.gallery import ImageView
from photoai.settings import get_settings

PAGE_ROUTE = "/api/gallery/page"
ZIP_ROUTE = "/api/gallery/zip"
_MAX_ID_DIGITS = 18  # keeps every id inside a 64-bit integer
_MAX_STYLE_CHARS = 64  # the column's length
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_SORTS = ", ".join(s.value for s in gallery.Sort)


@dataclass(frozen=True)
class PageQuery:
    cursor: str | None
    limit: int
    sort: gallery.Sort
    model_id: int | None
    style_id: str | None
    favourites: bool
    hide_not_you: bool


def _flag(raw: str | None) -> bool | None:
    """`1`/`0` (or absent) as a bool; None for anything else."""
    return {None: False, "": False, "0": False, "1": True}.get(raw)


def parse_page_query(params: Mapping[str, str]) -> PageQuery | str:
    """The page asked for, or what is wrong with the request, in words for a 400."""
    limit_raw = params.get("limit", "48")
    if not (
        limit_raw.isascii() and limit_raw.isdigit() and 1 <= int(limit_raw) <= gallery.MAX_PAGE
    ):
        return f"limit must be a whole number from 1 to {gallery.MAX_PAGE}."
    sort_raw = params.get("sort") or gallery.Sort.NEWEST.value
    if sort_raw not in {s.value for s in gallery.Sort}:
        return f"sort must be one of: {_SORTS}."
    model_raw = params.get("model") or ""
    if model_raw and not (
        model_raw.isascii() and model_raw.isdigit() and len(model_raw) <= _MAX_ID_DIGITS
    ):
        return "model must be a model id."
    style = params.get("style") or ""
    if len(style) > _MAX_STYLE_CHARS:
        return f"style must be at most {_MAX_STYLE_CHARS} characters."
    favourites, hide_not_you = _flag(params.get("favourites")), _flag(params.get("hide_not_you"))
    if favourites is None or hide_not_you is None:
        return "favourites and hide_not_you must be 0 or 1."
    return PageQuery(
        cursor=params.get("cursor") or None,
        limit=int(limit_raw),
        sort=gallery.Sort(sort_raw),
        model_id=int(model_raw) if model_raw else None,
        style_id=style or None,
        favourites=favourites,
        hide_not_you=hide_not_you,
    )


def tile(view: ImageView) -> dict[str, object]:
    """What the grid needs to draw one picture; the details view asks for the rest."""
    return {
        "id": str(view.id),
        "thumb": view.thumb_url,
        "alt": view.alt,
        "favourite": view.favourite,
        "flagged": view.flagged,
        "likeness": view.likeness_badge,
    }


async def _signed_in_user(request: Request) -> int | None:
    token = request.cookies.get(get_settings().session_cookie_name)
    user = await asyncio.to_thread(accounts.resolve_session, token) if token else None
    return None if user is None else user.user_id


async def gallery_page(request: Request) -> Response:
    user_id = await _signed_in_user(request)
    if user_id is None:
        return JSONResponse({"error": "Sign in to see your pictures."}, 401, _NO_STORE)
    query = parse_page_query(request.query_params)
    if isinstance(query, str):
        return JSONResponse({"error": query}, 400, _NO_STORE)
    try:
        result = await asyncio.to_thread(
            gallery.page,
            user_id,
            cursor=query.cursor,
            limit=query.limit,
            model_id=query.model_id,
            style_id=query.style_id,
            favourites=query.favourites,
            sort=query.sort,
            hide_not_you=query.hide_not_you,
        )
    except gallery.GalleryError as exc:
        return JSONResponse({"error": str(exc)}, 400, _NO_STORE)
    body = {"items": [tile(v) for v in result.items], "next": result.next_cursor}
    return JSONResponse(body, headers=_NO_STORE)


def parse_ids(raw: str) -> list[int] | None:
    """`1,2,3` as distinct ints in the order given; None for anything malformed or too long."""
    parts = raw.split(",") if raw else []
    if not 1 <= len(parts) <= gallery.MAX_IDS:
        return None
    if not all(p.isascii() and p.isdigit() and len(p) <= _MAX_ID_DIGITS for p in parts):
        return None
    return list(dict.fromkeys(int(p) for p in parts))


async def download_zip(request: Request) -> Response:
    user_id = await _signed_in_user(request)
    if user_id is None:
        return PlainTextResponse("Sign in to download your images.", status_code=401)
    ids = parse_ids(request.query_params.get("ids", ""))
    if ids is None:
        return PlainTextResponse(
            f"Give between 1 and {gallery.MAX_IDS} image ids, comma-separated.", status_code=400
        )
    try:
        chunks = await asyncio.to_thread(gallery.iter_zip, user_id, ids)
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


routes = [
    Route(PAGE_ROUTE, gallery_page, methods=["GET"]),
    Route(ZIP_ROUTE, download_zip, methods=["GET"]),
]
