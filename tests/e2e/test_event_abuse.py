"""What a network peer can do with Reflex's websocket (issue 9, "Bad input and faults"), against
two real `reflex run --env prod --backend-only` processes sharing Redis state:
- a tab that floods events is throttled (told so, and its state moves at most by what the limit
  allows) while another user's events go on working;
- a connection presenting another tab's client token gets its own account's data or a fresh
  state, never the other account's;
- an event naming a handler that does not exist, or an admin page's handler from a user who is
  not an admin, changes nothing.
"""

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest

from photoai.db import session_scope
from photoai.models import LedgerKind, User
from photoai.services import accounts, credits
from photoai.settings import get_settings
from photoai.state.admin import AdminUserState
from photoai.state.event_guard import THROTTLED
from photoai.state.generate import GenerateState
from photoai.state.session import SessionState
from tests import async_support
from tests.e2e.reflex_ws import Cluster, Tab, backend_cluster, signed_in_cookie

GENERATE = GenerateState.get_full_name()
SESSION = SessionState.get_full_name()
FLOOD = 500


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        backend_cluster(tmp_path_factory.mktemp("abuse"), monkeypatch, backends=2) as running,
    ):
        yield running


def _user(tag: str) -> tuple[int, str]:
    email = f"{tag}-{uuid.uuid4().hex[:8]}@example.com"
    uid = accounts.register(email, uuid.uuid4().hex)
    credits.grant(uid, 7, kind=LedgerKind.ADJUSTMENT, reference=f"seed:{uid}")
    return uid, email


def _toasts(tab: Tab) -> int:
    # The toast's text reaches the page inside a script (its dash escaped): match its start.
    return sum(THROTTLED.split(" —")[0] in repr(event) for event in tab.events)


async def _flood_beside_a_human(cluster: Cluster) -> None:
    flooder, human = _user("flooder"), _user("human")
    ftab = Tab(await signed_in_cookie(cluster.backends[0], flooder[0]))
    htab = Tab(await signed_in_cookie(cluster.backends[0], human[0]))
    await asyncio.gather(ftab.open(cluster.backends[0]), htab.open(cluster.backends[0]))
    await asyncio.gather(ftab.until(GENERATE, "source"), htab.until(GENERATE, "source"))
    await asyncio.sleep(3.5)  # the page load's events are refilled: a full burst to start

    async def flood() -> None:
        for n in range(FLOOD):
            await ftab.send(f"{GENERATE}.set_option", {"name": "prompt", "value": f"flood {n}"})

    async def work_as_a_human() -> None:
        for n in range(20):  # 5 a second: brisk for a person
            await htab.send(f"{GENERATE}.set_option", {"name": "prompt", "value": f"human {n}"})
            await htab.until(GENERATE, "prompt", f"human {n}", within=30)
            await asyncio.sleep(0.2)

    started = time.monotonic()
    await asyncio.gather(flood(), work_as_a_human())
    await ftab.until(GENERATE, "prompt", within=60)
    # Every flood event has been handled once the last one would have been answered.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        before = len(ftab.deltas) + len(ftab.events)
        await asyncio.sleep(1.0)
        if len(ftab.deltas) + len(ftab.events) == before:
            break
    elapsed = time.monotonic() - started
    changed = {v for v in ftab.seen(GENERATE, "prompt") if v.startswith("flood ")}
    settings = get_settings()
    allowed = settings.event_burst + settings.event_rate * elapsed
    assert 1 <= len(changed) <= allowed, (len(changed), elapsed)
    assert len(changed) < FLOOD / 2
    assert _toasts(ftab) >= 1  # told why
    assert _toasts(htab) == 0
    assert set(htab.seen(GENERATE, "prompt")) >= {f"human {n}" for n in range(20)}
    await asyncio.gather(ftab.close(), htab.close())


def test_a_flooding_tab_is_throttled_and_other_users_are_not(cluster: Cluster) -> None:
    async_support.run(_flood_beside_a_human(cluster))


async def _steal_a_tab(cluster: Cluster) -> None:
    (a_id, a_email), (b_id, b_email) = _user("alice"), _user("bob")
    secret = f"alice secret {uuid.uuid4().hex}"
    atab = Tab(await signed_in_cookie(cluster.backends[0], a_id))
    await atab.open(cluster.backends[0])
    await atab.until(SESSION, "user_email", a_email)
    await atab.until(GENERATE, "source")
    await atab.send(f"{GENERATE}.set_option", {"name": "prompt", "value": secret})
    await atab.until(GENERATE, "prompt", secret)
    await atab.close()

    # Bob connects with Alice's client token (and his own cookie), on either backend.
    for backend in cluster.backends:
        btab = Tab(await signed_in_cookie(backend, b_id), token=atab.token)
        await btab.open(backend)
        await btab.until(SESSION, "user_email", b_email)
        await btab.until(GENERATE, "source")
        await btab.send(f"{GENERATE}.set_option", {"name": "count", "value": "2"})
        await btab.until(GENERATE, "count", "2")
        received = btab.received_text()
        assert a_email not in received
        assert secret not in received
        assert btab.seen(SESSION, "balance")[-1] == credits.balance(b_id)
        await btab.close()

    # Alice, back on her tab, finds her own account (her draft was forgotten with Bob's visit).
    atab.deltas.clear()
    await atab.open(cluster.backends[1])
    await atab.until(SESSION, "user_email", a_email)
    assert b_email not in atab.received_text()
    await atab.close()


def test_another_tabs_token_never_shows_that_tabs_account(cluster: Cluster) -> None:
    async_support.run(_steal_a_tab(cluster))


async def _forbidden_events(cluster: Cluster) -> None:
    uid, _ = _user("mallory")
    before = (credits.balance(uid), credits.ledger_sum(uid))
    cookie = await signed_in_cookie(cluster.backends[0], uid)
    tab = Tab(cookie, path=f"/admin/users/{uid}")
    await tab.open(cluster.backends[0])
    admin = AdminUserState.get_full_name()
    await tab.send(f"{admin}.adjust", {"form": {"delta": "1000", "adjust-reason": "free"}})
    await tab.send(f"{admin}.set_blocked", {"form": {"block": "1", "block-reason": "x"}})
    await tab.send(f"{GENERATE}.no_such_handler", {})
    await tab.send("reflex___state____state.no_such_state.handler", {})
    # The connection still works, and nothing above had an effect.
    page = Tab(cookie)
    await page.open(cluster.backends[0])
    await page.send(f"{GENERATE}.set_option", {"name": "prompt", "value": "still here"})
    await page.until(GENERATE, "prompt", "still here")
    await tab.send(f"{GENERATE}.set_option", {"name": "count", "value": "3"})
    await tab.until(GENERATE, "count", "3")
    assert (credits.balance(uid), credits.ledger_sum(uid)) == before
    with session_scope() as s:
        user = s.get(User, uid)
        assert user is not None and user.blocked_at is None
    assert not any(tab.seen(admin, "user"))  # no account's details were read
    await asyncio.gather(tab.close(), page.close())


def test_events_for_missing_or_admin_handlers_change_nothing(cluster: Cluster) -> None:
    async_support.run(_forbidden_events(cluster))
