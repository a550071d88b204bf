from concurrent.futures import ThreadPoolExecutor

from photoai.db import session_scope
from photoai.services.processed_events import claim, was_claimed


def _claim(key: str) -> bool:
    with session_scope() as s:
        return claim(s, "test", key, "thing.happened")


def test_a_delivery_is_claimed_once(any_db: str) -> None:
    assert not was_claimed("test", "evt_1")
    assert _claim("evt_1") is True
    assert _claim("evt_1") is False
    assert was_claimed("test", "evt_1")
    assert not was_claimed("other-source", "evt_1")


def test_parallel_twins_claim_once_on_postgresql(pg: str) -> None:
    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(_claim, ["evt_twin"] * 40))
    assert outcomes.count(True) == 1
