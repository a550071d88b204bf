"""A page's own on_load ends its page load: the page is hydrated when the handler is done, and a
handler that fails still leaves the page hydrated, through the event Reflex would have sent."""

from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from reflex.state import OnLoadInternalState

from photoai.routes import PAGES
from photoai.state import page_load
from photoai.state.privacy import PrivacyState
from tests.async_support import run


def privacy_state() -> PrivacyState:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {"headers": {"cookie": ""}, "pathname": "/privacy", "asPath": "/privacy"}
    )
    state = root.get_substate(PrivacyState.get_full_name().split("."))
    assert isinstance(state, PrivacyState)
    return state


class _Context:
    def __init__(self) -> None:
        self.queued: list[Any] = []

    async def enqueue(self, *events: Any) -> None:
        self.queued.extend(events)


def test_the_handler_marks_the_page_hydrated_when_it_is_done(sqlite_db: str) -> None:
    state = privacy_state()
    root = state._get_root_state()
    assert isinstance(root, rx.State)
    assert not root.is_hydrated
    run(state.on_load())
    assert state.rows
    assert root.is_hydrated


def test_a_failed_load_still_hydrates_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    context = _Context()
    monkeypatch.setattr(page_load.EventContext, "get", staticmethod(lambda: context))

    @page_load.hydrates
    async def broken(_state: PrivacyState) -> None:
        raise RuntimeError("database down")

    state = privacy_state()
    with pytest.raises(RuntimeError):
        run(broken(state))
    (event,) = context.queued
    assert event.name == OnLoadInternalState.get_full_name() + ".set_is_hydrated"
    assert event.payload == {"value": True}


def test_every_page_with_one_async_on_load_ends_its_own_load() -> None:
    """A page left on Reflex's chain pays a third event per navigation."""
    chained = [
        route.path
        for route in PAGES
        if route.on_load is not None
        and not isinstance(route.on_load, list)
        and not page_load._hydrating(route.on_load)
    ]
    assert chained == ["/billing/success"]  # its on_load yields: it streams its progress
