"""What the current unit of work is about (request, UI event, job, user), for logs and errors.

One mutable mapping per unit of work lives in a context variable. It is mutated in place, so a
value bound inside `asyncio.to_thread` (which runs in a copy of the context that shares the
mapping) is still there for the caller, and a task's done-callback that kept the mapping sees
what the task learnt while it ran. Only ids go in here: never emails, prompts or photos.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Fields = dict[str, str | int]

_fields: ContextVar[Fields | None] = ContextVar("photoai_context", default=None)


def current() -> Fields:
    """A copy of what is bound now (empty outside any unit of work)."""
    return dict(_fields.get() or {})


def start(**values: str | int) -> Fields:
    """Begin a new unit of work in this context (a request, a UI event, a job attempt)."""
    fields: Fields = dict(values)
    _fields.set(fields)
    return fields


@contextmanager
def unit(**values: str | int) -> Iterator[Fields]:
    """A unit of work for the length of a block; what was bound before comes back after."""
    token = _fields.set(dict(values))
    try:
        yield _fields.get() or {}
    finally:
        _fields.reset(token)


def bind(**values: str | int | None) -> None:
    """Add ids to the current unit of work; None values are skipped."""
    fields = _fields.get()
    if fields is None:
        fields = start()
    fields.update({key: value for key, value in values.items() if value is not None})


def bind_user(user_id: int | None) -> None:
    """Whose request or event this is, once the session cookie has been resolved."""
    bind(user_id=user_id)
