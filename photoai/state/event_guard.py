"""Every websocket event passes here before its handler: floods are dropped, and a tab's data is
bound to the session of the connection that sends it.

Reflex calls middleware `preprocess` with the tab's state loaded and locked; returning a
`StateUpdate` skips the handler and sends only that update. Events a handler chained on the
server (page loads after a hydrate, `yield`ed events) are not counted: only what the client
sent is.
"""

import functools
from typing import Any

import reflex as rx
from reflex.state import BaseState, State, StateUpdate
from reflex_base.constants import CompileVars
from reflex_base.event import Event
from reflex_base.event.context import EventContext
from reflex_base.utils.format import format_event_handler

from photoai.observe import metrics
from photoai.services import event_rate
from photoai.services.event_rate import Verdict
from photoai.state.session import SessionState, session_key_in

THROTTLED = "Too many actions at once — slow down a little."


@functools.cache
def _connect_events() -> frozenset[str]:
    """The events a (re)connecting tab sends first; they load the whole tab."""
    return frozenset(
        format_event_handler(State.event_handlers[name])
        for name in (CompileVars.HYDRATE, CompileVars.HYDRATE_AND_LOAD)
    )


async def _session_of(root: BaseState, event_name: str) -> SessionState | None:
    """The tab's SessionState when this event loaded it (every page event does), or for a
    connect; other events (Reflex's internal ones) are left without an extra load."""
    session = root.substates.get(SessionState.get_name())
    if session is None and event_name in _connect_events():
        session = await root.get_state(SessionState)
    return session if isinstance(session, SessionState) else None


def _user_id(session: SessionState | None) -> int | None:
    """The signed-in user, when the tab resolved the session this connection presents."""
    if session is None or session._auth is None:
        return None
    if session._auth.key != session_key_in(session.router.headers.cookie):
        return None
    return session._auth.user.user_id


class EventGuard(rx.Middleware):
    async def preprocess(self, app: Any, state: BaseState, event: Event) -> StateUpdate | None:
        ctx = EventContext.get()
        session = await _session_of(state._get_root_state(), event.name)
        if ctx.parent_txid is None:
            verdict, limit = await event_rate.admit(ctx.token, _user_id(session))
            if verdict is not Verdict.ALLOW:
                metrics.UI_EVENTS_THROTTLED.labels(limit).inc()
                if verdict is Verdict.DROP_AND_TELL:
                    toast = rx.toast.warning(THROTTLED, id="events-throttled")
                    return StateUpdate(events=Event.from_event_type(toast))
                return StateUpdate()
        if session is not None:
            await session._bind_to_connection()
        return None
