"""`GET /files/{key}`: private files from local storage, for the signed-in user they were for.

A link from `LocalStorage.signed_url` carries `exp` and `sig`; the signature covers the key,
the expiry and the user id. The user id is not in the link: it comes from the session cookie,
so a link copied to another browser or another account is refused (403), and a genuine link
past its time is gone (410). With S3 storage the links point at the bucket and this route
has nothing to serve. An extra `download=<name>` parameter (the gallery's download links)
asks for the file as an attachment under that name; it is not signed because it changes only
how the same user's browser saves the same file.

`GET /provider-files/{key}` is the one session-less exception: a training provider downloads
the zip of training photos from it. Its links are signed for that purpose only (a /files link
does not work there, nor the reverse), and only training zips are ever served.
"""

import asyncio
import mimetypes
import re
import time
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from photoai.services import accounts
from photoai.services.storage import InvalidKey, LinkCheck, LocalStorage, get_storage, verify_link
from photoai.services.training_runs import PROVIDER_FILES_ROUTE, verify_provider_link
from photoai.settings import get_settings

# Python's table varies by version and platform; these are the types we write.
CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".zip": "application/zip",
    ".safetensors": "application/octet-stream",
}


# What a download may be called: a plain file name, nothing a browser could misread.
_DOWNLOAD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def content_type_for(path: Path) -> str:
    known = CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    return known or "application/octet-stream"


async def serve_file(request: Request) -> Response:
    settings = get_settings()
    storage = get_storage(settings)
    if not isinstance(storage, LocalStorage):
        return PlainTextResponse("Not found", status_code=404)
    key = request.path_params["key"]
    expires_at = request.query_params.get("exp", "")
    token = request.cookies.get(settings.session_cookie_name)
    user = await asyncio.to_thread(accounts.resolve_session, token) if token else None
    check = verify_link(
        settings.signing_key,
        key,
        expires_at,
        request.query_params.get("sig", ""),
        user.user_id if user else None,
    )
    if check is LinkCheck.INVALID:
        return PlainTextResponse("Forbidden", status_code=403)
    if check is LinkCheck.EXPIRED:
        return PlainTextResponse("This link has expired; reload the page.", status_code=410)
    try:
        path = storage.path_for(key)
    except InvalidKey:
        return PlainTextResponse("Not found", status_code=404)
    if not path.is_file():
        return PlainTextResponse("Not found", status_code=404)
    # Browsers may reuse the file until the link dies, never shared caches.
    max_age = max(0, int(expires_at) - int(time.time()))
    download = request.query_params.get("download")
    if download is not None and not _DOWNLOAD_NAME.fullmatch(download):
        download = path.name
    return FileResponse(
        path,
        media_type=content_type_for(path),
        filename=download,
        content_disposition_type="attachment",
        headers={
            "Cache-Control": f"private, max-age={max_age}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


async def serve_provider_file(request: Request) -> Response:
    settings = get_settings()
    storage = get_storage(settings)
    if not isinstance(storage, LocalStorage):
        return PlainTextResponse("Not found", status_code=404)
    key = request.path_params["key"]
    check = verify_provider_link(
        settings.signing_key,
        key,
        request.query_params.get("exp", ""),
        request.query_params.get("sig", ""),
    )
    if check is LinkCheck.INVALID:
        return PlainTextResponse("Forbidden", status_code=403)
    if check is LinkCheck.EXPIRED:
        return PlainTextResponse("This link has expired.", status_code=410)
    path = storage.path_for(key)  # the link check admits only the well-formed keys providers need
    if not path.is_file():
        return PlainTextResponse("Not found", status_code=404)
    return FileResponse(
        path,
        media_type=content_type_for(path),
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


routes = [
    Route("/files/{key:path}", serve_file, methods=["GET"]),
    Route(f"{PROVIDER_FILES_ROUTE}/{{key:path}}", serve_provider_file, methods=["GET"]),
]
