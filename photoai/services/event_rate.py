"""How many websocket events a tab and a signed-in user may send: floods are dropped.

Two limits, each O(1) per event:
- Per tab (client token): a token bucket in this process, no I/O. A tab's websocket is attached
  to one backend at a time, so its events all pass through one process; a tab that reconnects
  to another backend starts a full bucket there, which at most multiplies its allowance by the
  number of backends (and every reconnect costs it a full state load, which is slow anyway).
- Per user: a fixed-window counter in Redis, since a user's tabs can sit on several backends.
  Each process adds to it in batches (INCRBY + EXPIRE, pipelined: one round trip per
  `FLUSH_EVERY` events of that user), so a person's occasional clicks cost no Redis at all and
  a flood costs a round trip per ten events; each backend's view lags by less than a batch.
  Without Redis, or when it fails, it counts in this process, which is exact for the
  single-process default.

The limits are generous for a person (a burst of 30 clicks, then 10 a second) and far below
what a script sends.
"""

import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum

import redis

from photoai.services.redis_conn import event_loop_client
from photoai.settings import get_settings

log = logging.getLogger(__name__)

MAX_TABS = 100_000  # buckets kept; the least recently used full ones go first
FLUSH_EVERY = 10  # a user's events counted here before they are added to Redis
NOTICE_EVERY_SECONDS = 2.0  # a throttled tab is told at most this often


class Verdict(Enum):
    ALLOW = "allow"
    DROP = "drop"  # over a limit, already told recently
    DROP_AND_TELL = "drop_and_tell"  # over a limit: show the tab why


@dataclass
class _Bucket:
    tokens: float
    at: float  # monotonic time of the last refill
    told_at: float = -math.inf


_tabs: "OrderedDict[str, _Bucket]" = OrderedDict()


@dataclass
class _UserCount:
    window: int  # index of the fixed window counted
    shared: int = 0  # the counter in Redis when this process last added to it
    pending: int = 0  # this process's events not yet added there


_users: dict[int, _UserCount] = {}


def _user_key(user_id: int, window: int) -> str:
    return f"{get_settings().queue_name}:event-rate:user:{user_id}:{window}"


def _tab_allows(token: str, now: float) -> bool:
    """Take one token from the tab's bucket, if it has one."""
    settings = get_settings()
    bucket = _tabs.get(token)
    if bucket is None:
        bucket = _tabs[token] = _Bucket(float(settings.event_burst), now)
        if len(_tabs) > MAX_TABS:
            _tabs.popitem(last=False)
    else:
        _tabs.move_to_end(token)
        refill = (now - bucket.at) * settings.event_rate
        bucket.tokens = min(float(settings.event_burst), bucket.tokens + refill)
        bucket.at = now
    if bucket.tokens < 1.0:
        return False
    bucket.tokens -= 1.0
    return True


async def _count_user_event(user_id: int) -> int:
    """This event's number in the user's current window, across every backend when Redis is
    there: this process adds its events to the shared counter in batches of `FLUSH_EVERY`, so
    only one event in that many costs a round trip (and each backend's view lags by fewer than
    that many events). Without Redis, or while it fails, the batch just keeps growing here."""
    seconds = get_settings().user_event_window_seconds
    window = int(time.time() // seconds)
    count = _users.get(user_id)
    if count is None or count.window != window:
        if len(_users) > MAX_TABS:
            _users.clear()  # a new window for everyone: errs on the generous side
        count = _users[user_id] = _UserCount(window)
    count.pending += 1
    client = event_loop_client()
    if client is not None and count.pending >= FLUSH_EVERY:
        name = _user_key(user_id, window)
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.incrby(name, count.pending)
                pipe.expire(name, seconds * 2)
                total, _ = await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.warning("event rate: Redis did not answer (%s); counting in this process", exc)
        else:
            count.shared, count.pending = int(total), 0
    return count.shared + count.pending


def _tell(token: str, now: float) -> Verdict:
    bucket = _tabs.get(token)
    if bucket is None or now - bucket.told_at >= NOTICE_EVERY_SECONDS:
        if bucket is not None:
            bucket.told_at = now
        return Verdict.DROP_AND_TELL
    return Verdict.DROP


async def admit(token: str, user_id: int | None) -> tuple[Verdict, str]:
    """Whether the tab's next event may run, and which limit refused it ("tab" or "user")."""
    now = time.monotonic()
    if not _tab_allows(token, now):
        return _tell(token, now), "tab"
    if user_id is not None and await _count_user_event(user_id) > get_settings().user_event_limit:
        return _tell(token, now), "user"
    return Verdict.ALLOW, ""
