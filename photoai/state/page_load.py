"""A page load in two websocket events instead of three.

Reflex runs every navigation as a chain: `on_load_internal` (which looks up the page's on_load
handlers), then each handler, then `set_is_hydrated(True)`. Each link is a whole event: the
tab's state lock, a state load and save, middleware and a reply over the websocket. Measured
with bench/load_ws.py, a navigation to a page without on_load (one event) cost 2.9 ms of server
CPU, one whose on_load only reads the profile 9.2 ms: the two links after the first were most of
a page load's cost.

A page whose only on_load handler is wrapped in `hydrates` marks the page hydrated itself when it
ends, so the chain stops there: `load_events_for_page` replaces Reflex's own, and for such a page
leaves the final `set_is_hydrated` out. The browser sees the same thing as before: the page's
data and `is_hydrated` turning true, now in one update. When the handler raises, the
`set_is_hydrated` event is queued as Reflex would have queued it, so a failed load still leaves
the page usable (forms are disabled until it is hydrated). Pages with several handlers, or an
unwrapped one, keep Reflex's chain.
"""

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import reflex.state as reflex_state
from reflex.state import BaseState, OnLoadInternalState, State
from reflex_base.event import Event, EventHandler, EventSpec
from reflex_base.event.context import EventContext
from reflex_base.registry import RegistrationContext

S = TypeVar("S", bound=BaseState)
P = ParamSpec("P")
R = TypeVar("R")

_HYDRATES = "_photoai_hydrates"
_reflex_load_events_for_page = reflex_state._load_events_for_page


def hydrates(
    fn: Callable[Concatenate[S, P], Awaitable[R]],
) -> Callable[Concatenate[S, P], Awaitable[R]]:
    """Wrap a page's on_load handler (an `async def`, under `@rx.event`) so that it ends the
    page load itself."""
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"{fn.__qualname__}: only an async def on_load can end a page load.")

    @functools.wraps(fn)
    async def run(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = await fn(self, *args, **kwargs)
        except BaseException:
            await EventContext.get().enqueue(
                *Event.from_event_type(OnLoadInternalState.set_is_hydrated(True))
            )
            raise
        root = self._get_root_state()
        if isinstance(root, State):
            root.is_hydrated = True
        return result

    setattr(run, _HYDRATES, True)
    return run


def _hydrating(load_event: Any) -> bool:
    if isinstance(load_event, EventSpec):
        load_event = load_event.handler
    return isinstance(load_event, EventHandler) and getattr(load_event.fn, _HYDRATES, False)


def load_events_for_page(state: State) -> list[Any] | None:
    """The page's on_load events, without Reflex's closing `set_is_hydrated` when the page's
    single handler ends the load itself (see `hydrates`)."""
    app = RegistrationContext.get().app
    load_events = app.get_load_events(state.rx_router_url.path)
    if len(load_events) == 1 and _hydrating(load_events[0]):
        state.is_hydrated = False
        return list(Event.from_event_type(load_events))
    return _reflex_load_events_for_page(state)


# `OnLoadInternalState.on_load_internal` looks the function up in its module at each call.
reflex_state._load_events_for_page = load_events_for_page
