"""Revocation epochs of sessions in Redis: one counter per session (by its token hash).

A page that resolved its session keeps the result and re-checks only this counter on later
events (`photoai.services.session_check`). Every revocation increments the counters of the
sessions it ended once the database has committed it, from whichever process revoked them, so
the next event on every backend sees the change.
"""

import logging

import redis
from sqlalchemy import event
from sqlmodel import Session

from photoai.services.redis_conn import event_loop_client, get_redis, report_failure
from photoai.settings import get_settings

log = logging.getLogger(__name__)

KEY_TTL_SECONDS = 24 * 3600  # a counter outlives no idle session by more than a day


def _epoch_key(key: str) -> str:
    return f"{get_settings().queue_name}:session-epoch:{key}"


async def read(key: str, create: bool) -> int | None:
    """The session's epoch; None when Redis is not there or the key is missing (and not
    `create`d), which means: ask the database."""
    client = event_loop_client()
    if client is None:
        return None
    name = _epoch_key(key)
    try:
        if create:
            async with client.pipeline(transaction=False) as pipe:
                pipe.set(name, 0, nx=True, ex=KEY_TTL_SECONDS)
                pipe.get(name)
                _, raw = await pipe.execute()
        else:
            raw = await client.get(name)
    except (redis.RedisError, OSError) as exc:
        log.warning("session check: Redis did not answer (%s); using the database", exc)
        return None
    return int(raw) if raw is not None else None


def bump(token_hashes: list[str]) -> None:
    """Revoked sessions: every page that cached one goes back to the database at its next
    event. Never raises; a lost increment is bounded by the checker's maximum age."""
    conn = get_redis()
    if conn is None or not token_hashes:
        return
    try:
        with conn.pipeline(transaction=False) as pipe:
            for key in token_hashes:
                pipe.incr(_epoch_key(key))
                pipe.expire(_epoch_key(key), KEY_TTL_SECONDS)
            pipe.execute()
    except redis.RedisError as exc:
        report_failure(exc)


def bump_after_commit(session: Session, token_hashes: list[str]) -> None:
    """Bump once the transaction that revoked these sessions has committed (bumping earlier
    would let a page re-read the still valid row and cache it under the new epoch)."""
    if token_hashes:
        event.listen(session, "after_commit", lambda _s: bump(token_hashes), once=True)
