"""A page's state as one browser tab would have it: a root state with the tab's route and
session cookie, and the page's substate in it."""

from typing import TypeVar

import reflex as rx
from reflex.istate.data import RouterData

from photoai.settings import get_settings

S = TypeVar("S", bound=rx.State)


def tab_state(cls: type[S], token: str | None, path: str) -> S:
    root = rx.State(_reflex_internal_init=True)
    headers = {"cookie": f"{get_settings().session_cookie_name}={token}"} if token else {}
    root.router = RouterData.from_router_data(
        {"headers": headers, "pathname": path, "asPath": path}
    )
    state = root.get_substate(cls.get_full_name().split("."))
    assert isinstance(state, cls)
    return state
