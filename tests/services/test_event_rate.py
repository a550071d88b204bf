"""Websocket event limits: a tab gets a burst then a steady rate; a user's tabs share one count,
in Redis across processes, or in this process without Redis."""

import time
from collections import OrderedDict

import pytest
import redis

from photoai.services import event_rate
from photoai.services.event_rate import Verdict
from photoai.settings import get_settings
from tests import async_support


@pytest.fixture(autouse=True)
def fresh_counts(monkeypatch: pytest.MonkeyPatch, settings_env: None) -> None:
    monkeypatch.setattr(event_rate, "_tabs", OrderedDict())
    monkeypatch.setattr(event_rate, "_users", {})
    monkeypatch.setenv("PHOTOAI_EVENT_BURST", "5")
    monkeypatch.setenv("PHOTOAI_EVENT_RATE", "2")
    monkeypatch.setenv("PHOTOAI_USER_EVENT_LIMIT", "8")
    get_settings.cache_clear()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def _verdicts(token: str, user_id: int | None, n: int) -> list[Verdict]:
    async def run() -> list[Verdict]:
        return [(await event_rate.admit(token, user_id))[0] for _ in range(n)]

    return async_support.run(run())


def test_a_tab_gets_its_burst_then_the_steady_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(event_rate.time, "monotonic", clock.monotonic)
    first = _verdicts("tab-1", None, 8)
    assert first[:5] == [Verdict.ALLOW] * 5
    # Over the limit: told once, then dropped quietly until the notice may repeat.
    assert first[5:] == [Verdict.DROP_AND_TELL, Verdict.DROP, Verdict.DROP]
    clock.now += 1.0  # two more at 2 a second
    assert _verdicts("tab-1", None, 3) == [Verdict.ALLOW, Verdict.ALLOW, Verdict.DROP]
    assert _verdicts("tab-2", None, 5) == [Verdict.ALLOW] * 5  # another tab is unaffected
    clock.now += 60.0  # never more than the burst after a long pause
    assert _verdicts("tab-1", None, 6)[-1] is Verdict.DROP_AND_TELL


def test_a_users_tabs_share_one_count(redis_conn: redis.Redis) -> None:
    verdicts = _verdicts("tab-a", 7, 5) + _verdicts("tab-b", 7, 5)
    assert verdicts.count(Verdict.ALLOW) == 8
    assert verdicts[-1] in {Verdict.DROP, Verdict.DROP_AND_TELL}
    assert list(redis_conn.scan_iter("photoai:event-rate:user:7:*"))  # the batch went there
    assert _verdicts("tab-c", 8, 5) == [Verdict.ALLOW] * 5  # other users are unaffected


def test_the_user_count_adds_up_the_events_other_backends_sent(
    redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_rate, "FLUSH_EVERY", 1)
    monkeypatch.setenv("PHOTOAI_USER_EVENT_WINDOW_SECONDS", "3600")
    get_settings.cache_clear()
    redis_conn.incrby(f"photoai:event-rate:user:7:{int(time.time() // 3600)}", 6)
    assert _verdicts("tab-a", 7, 4).count(Verdict.ALLOW) == 2


def test_without_redis_the_user_count_lives_in_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PHOTOAI_REDIS_URL", "")
    get_settings.cache_clear()
    verdicts = _verdicts("tab-a", 7, 5) + _verdicts("tab-b", 7, 5)
    assert verdicts.count(Verdict.ALLOW) == 8


def test_when_redis_fails_the_user_count_falls_back_to_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PHOTOAI_REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    verdicts = _verdicts("tab-a", 7, 5) + _verdicts("tab-b", 7, 5)
    assert verdicts.count(Verdict.ALLOW) == 8
