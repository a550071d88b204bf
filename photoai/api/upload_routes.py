"""Direct uploads to S3 for the model page: a ticket per photo, then "it is there, check it".

`POST /api/uploads/ticket` `{"model_id", "size", "content_type"}` answers `{"key", "url",
"headers"}`: the browser PUTs the file to `url` with those headers. `POST /api/uploads/done`
`{"model_id", "key", "filename"}` checks the photo (see `direct_uploads`) and answers the
photo's verdict. Both need the signed-in session's HttpOnly cookie and a JSON body (a
cross-site form cannot send one); with local storage both answer 404 and the page uploads
through Reflex as before. Photo checks run on the photo-check threads, as uploads through
the page do, so their memory bound holds for both paths.
"""

import asyncio
import json
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from photoai.api.request_body import BodyRefused, read_body
from photoai.services import accounts, direct_uploads
from photoai.services.photo_decode import check_pool
from photoai.services.training import TrainingError
from photoai.settings import get_settings

TICKET_ROUTE = "/api/uploads/ticket"
DONE_ROUTE = "/api/uploads/done"
_MAX_ID = 2**63 - 1


class _BadRequest(Exception):
    pass


async def _json(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise _BadRequest("Send JSON (Content-Type: application/json).")
    try:
        body = json.loads(await read_body(request))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _BadRequest("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _BadRequest("The body must be a JSON object.")
    return body


def _int(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if type(value) is not int or not 0 < value <= _MAX_ID:
        raise _BadRequest(f"{name} must be a positive whole number.")
    return value


def _text(body: dict[str, Any], name: str, most: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= most:
        raise _BadRequest(f"{name} must be text of 1 to {most} characters.")
    return value


async def _handle(request: Request, step: str) -> Response:
    if not direct_uploads.enabled():
        return JSONResponse({"error": "Not found"}, status_code=404)
    token = request.cookies.get(get_settings().session_cookie_name)
    user = await asyncio.to_thread(accounts.resolve_session, token) if token else None
    if user is None:
        return JSONResponse({"error": "Sign in to upload photos."}, status_code=403)
    try:
        body = await _json(request)
        model_id = _int(body, "model_id")
        if step == "ticket":
            ticket = await asyncio.to_thread(
                direct_uploads.issue,
                user.user_id,
                model_id,
                _int(body, "size"),
                _text(body, "content_type", 100),
            )
            return JSONResponse(asdict(ticket), headers={"Cache-Control": "no-store"})
        key, filename = _text(body, "key", 500), _text(body, "filename", 1000)
        pool = check_pool(get_settings().photo_check_concurrency)
        view = await asyncio.get_running_loop().run_in_executor(
            pool, direct_uploads.accept, user.user_id, model_id, key, filename
        )
        return JSONResponse({"photo": asdict(view)}, headers={"Cache-Control": "no-store"})
    except BodyRefused as exc:
        return exc.response
    except _BadRequest as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    except TrainingError as exc:
        return JSONResponse({"error": str(exc)}, status_code=422)


async def ticket(request: Request) -> Response:
    return await _handle(request, "ticket")


async def done(request: Request) -> Response:
    return await _handle(request, "done")


routes = [
    Route(TICKET_ROUTE, ticket, methods=["POST"]),
    Route(DONE_ROUTE, done, methods=["POST"]),
]
