"""Reflex event handlers: how long each ran, and their exceptions reported with ids.

Reflex runs every event in its own asyncio task and calls middleware `preprocess` inside it,
once the state lock is held. `EventObserver` starts a unit of work there (so the user id the
handler resolves lands in it) and times the task until it is done. When a handler raises,
Reflex calls the app's backend exception handler in another task, with the same
`EventContext`; `report_backend_exception` finds the unit of work by the event's txid.
"""

import asyncio
import time
from typing import Any

import reflex as rx
from reflex.app import default_backend_exception_handler
from reflex.event import EventSpec
from reflex_base.event.context import EventContext

from photoai.observe import context, errors, metrics

# Units of work of failed events, kept until the backend exception handler has reported them.
_failed: dict[str, context.Fields] = {}
_MAX_FAILED = 1000


def handler_label(event_name: str) -> str:
    """`module.state.handler` from Reflex's mangled event name; bounded by the app's handlers.

    `reflex___state____state.photoai___state___auth_forms____register_state.submit` becomes
    `auth_forms.register_state.submit`.
    """
    path, _, handler = event_name.rpartition(".")
    module, _, state = path.rpartition(".")[2].rpartition("____")
    return ".".join(part for part in (module.rpartition("___")[2], state, handler) if part)


def _finished(txid: str, label: str, fields: context.Fields, started: float, task: Any) -> None:
    failed = not task.cancelled() and task.exception() is not None
    outcome = "error" if failed else "ok"
    metrics.UI_EVENT_SECONDS.labels(label, outcome).observe(time.perf_counter() - started)
    if failed and len(_failed) < _MAX_FAILED:
        _failed[txid] = fields


class EventObserver(rx.Middleware):
    async def preprocess(self, app: Any, state: Any, event: Any) -> None:
        task = asyncio.current_task()
        if task is None:
            return
        label = handler_label(event.name)
        fields = context.start(ui_event=label)
        txid = EventContext.get().txid
        started = time.perf_counter()
        task.add_done_callback(lambda done: _finished(txid, label, fields, started, done))


def report_backend_exception(exception: Exception) -> EventSpec:
    """Report to Sentry with the event's ids, then show Reflex's usual error toast."""
    try:
        fields = _failed.pop(EventContext.get().txid, {})
    except LookupError:
        fields = context.current()
    errors.capture(exception, fields)
    return default_backend_exception_handler(exception)
