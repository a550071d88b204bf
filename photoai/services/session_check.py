"""Sessions resolved once per connection and re-checked for the price of one Redis GET.

Resolving the session cookie against the database on every event was the largest share of an
event's cost. Instead a page keeps what it resolved (`Resolved`) and, on each later event, reads
only the session's revocation epoch in Redis: a key per session (by its token hash) that is
created when the session is first resolved and incremented by every revocation after the
database commits it (sign-out, sign-out everywhere, password change or reset, account
deletion). An unchanged epoch means the session is as the database said; a changed or missing
one (a revocation, Redis restarted or flushed, the key expired) sends the page back to the
database. The epoch is read BEFORE the database, so a revocation that commits in between is
seen at the next event. Every process reads the same key, so a revocation takes effect on the
next event on every backend.

Without Redis, or when it does not answer, every event resolves from the database as before.
A cached resolution is also re-read from the database after `MAX_AGE_SECONDS` whatever Redis
says, which bounds the effect of a revocation whose increment was lost (Redis down just then).
"""

import asyncio
import time
from dataclasses import dataclass

from photoai.services import accounts, session_epochs
from photoai.services.accounts import SessionUser

MAX_AGE_SECONDS = 60.0
MAX_TOKEN_CHARS = 200


@dataclass(frozen=True)
class Resolved:
    """A session as the database last said it was, and the epoch seen just before."""

    key: str  # the token's hash: a page whose cookie changed has another key
    user: SessionUser
    expires_at: float  # unix time
    epoch: int
    resolved_at: float  # unix time


async def check(token: str | None, known: Resolved | None) -> Resolved | None:
    """The session behind `token`, from `known` when its epoch has not moved, else from the
    database. None: signed out (unknown, expired or revoked token)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    key = accounts.token_hash(token)
    now = time.time()
    if (
        known is not None
        and known.key == key
        and now < known.expires_at
        and now - known.resolved_at < MAX_AGE_SECONDS
        and await session_epochs.read(key, create=False) == known.epoch
    ):
        return known
    epoch = await session_epochs.read(key, create=True)
    found = await asyncio.to_thread(accounts.resolve_session_until, token)
    if found is None:
        return None
    user, expires_at = found
    if epoch is None:  # no Redis: nothing to check against later, so nothing is kept
        return Resolved(key, user, expires_at, -1, 0.0)
    return Resolved(key, user, expires_at, epoch, now)
