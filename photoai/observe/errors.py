"""Error reports to Sentry, tagged with ids and scrubbed of personal data.

`init` turns reporting on only when a DSN is configured. Web routes are covered by the
Starlette integration, jobs by the RQ integration and by error log lines (a job's last failed
attempt is logged, not raised), Reflex event handlers by `capture` from the app's backend
exception handler. Every event is tagged with the job id, job kind, provider, user id and
request id bound in `observe.context`. Unless the operator opts in with
`sentry_send_personal_data`, no email, prompt, photo, request body, cookie or local variable
leaves the process: the SDK is told not to collect them, and `scrub` removes what slips through.
"""

import logging
import re
from typing import TYPE_CHECKING, Any

import sentry_sdk
from sentry_sdk.integrations.logging import LoggingIntegration, ignore_logger
from sentry_sdk.integrations.rq import RqIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_sdk.transport import HttpTransport
from sentry_sdk.types import Event, Hint

from photoai.observe.metrics import ERROR_REPORTS_DROPPED

if TYPE_CHECKING:
    from sentry_sdk._types import DataCollectionUserOptions, EventDataCategory
    from sentry_sdk.envelope import Item

from photoai.observe import context
from photoai.settings import Settings

TAGS = ("job_id", "job_kind", "provider", "user_id", "request_id", "ui_event")
PRIVATE_KEYS = frozenset(
    {"email", "emails", "prompt", "prompts", "negative_prompt", "password", "photo", "photos"}
)
FILTERED = "[Filtered]"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")

_send_personal_data = False


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return _EMAIL.sub("[email]", value)
    if isinstance(value, bytes | bytearray):
        return FILTERED
    if isinstance(value, dict):
        return {
            key: FILTERED if str(key).lower() in PRIVATE_KEYS else _redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    return value


def scrub(event: Event, hint: Hint) -> Event:
    """Sentry's before_send: add our ids as tags, then keep only ids of the person involved."""
    tags = event.setdefault("tags", {})
    for key, value in context.current().items():
        if key in TAGS:
            tags.setdefault(key, str(value))
    if _send_personal_data:
        return event
    user_id = tags.get("user_id")
    if user_id:
        event["user"] = {"id": str(user_id)}
    else:
        event.pop("user", None)
    request = event.get("request")
    if isinstance(request, dict):
        for private in ("data", "cookies", "query_string"):
            request.pop(private, None)
    redacted: Event = _redact(event)
    return redacted


class CountingTransport(HttpTransport):
    """Sentry's own HTTP transport (a background queue and thread, so capturing never waits on
    the network) that also counts the error reports it had to drop, for /metrics."""

    def record_lost_event(
        self,
        reason: str,
        data_category: "EventDataCategory | None" = None,
        item: "Item | None" = None,
        *,
        quantity: int = 1,
    ) -> None:
        category = item.data_category if item is not None else data_category
        if category == "error":
            ERROR_REPORTS_DROPPED.labels(reason).inc(1 if item is not None else quantity)
        super().record_lost_event(reason, data_category, item, quantity=quantity)


def _data_collection(personal: bool) -> "DataCollectionUserOptions":
    """What the SDK's integrations collect: ids only unless the operator opted in."""
    if personal:
        return {"user_info": True, "database_query_data": True, "queues": True}
    return {
        "user_info": False,
        "http_bodies": [],
        "stack_frame_variables": False,
        "database_query_data": False,
        "queues": False,
        "gen_ai": {"inputs": False, "outputs": False},
    }


def init(settings: Settings) -> bool:
    """Start the SDK when a DSN is set; returns whether reporting is on."""
    global _send_personal_data
    if not settings.sentry_dsn:
        return False
    _send_personal_data = settings.sentry_send_personal_data
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.sentry_environment,
        release=settings.sentry_release or None,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        integrations=[
            StarletteIntegration(),
            RqIntegration(),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        ],
        data_collection=_data_collection(_send_personal_data),
        before_send=scrub,
        transport=CountingTransport,
    )
    # Reflex logs each handler exception it passes to our handler, which reports it already.
    ignore_logger("reflex.app")
    return True


def capture(exception: BaseException, fields: context.Fields) -> None:
    """Report an exception caught outside a Sentry integration, with the ids of its work."""
    with sentry_sdk.new_scope() as scope:
        for key, value in fields.items():
            if key in TAGS:
                scope.set_tag(key, str(value))
        sentry_sdk.capture_exception(exception)


def tag_request_scope(fields: context.Fields) -> None:
    """Keep a failing request's ids for the Starlette integration, which reports the exception
    after our middleware has left the request's unit of work (its scope is per request)."""
    scope = sentry_sdk.get_isolation_scope()
    for key, value in fields.items():
        if key in TAGS:
            scope.set_tag(key, str(value))
