"""`/auth/complete` and `/auth/finish-signup`: session cookies, client addresses, error codes."""

import os
import re
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from reflex.config import reload_config
from sqlalchemy import select
from sqlmodel import col
from starlette.applications import Starlette
from starlette.testclient import TestClient

from photoai.api import auth_routes
from photoai.db import session_scope
from photoai.models import AuthSession
from photoai.services import accounts
from photoai.settings import get_settings

PEER = "198.51.100.7"
GOOD = "correct horse 9"


@pytest.fixture
def client(sqlite_db: str) -> Iterator[TestClient]:
    app = Starlette(routes=auth_routes.routes)
    with TestClient(app, client=(PEER, 40000), follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def proxy_hops() -> Iterator[Callable[[int], None]]:
    """Set REFLEX_TRUSTED_PROXY_HOPS as an operator would, and reload Reflex's config."""
    before = os.environ.get("REFLEX_TRUSTED_PROXY_HOPS")

    def use(hops: int) -> None:
        os.environ["REFLEX_TRUSTED_PROXY_HOPS"] = str(hops)
        reload_config()

    yield use
    if before is None:
        os.environ.pop("REFLEX_TRUSTED_PROXY_HOPS", None)
    else:
        os.environ["REFLEX_TRUSTED_PROXY_HOPS"] = before
    reload_config()


def session_ips() -> list[str]:
    with session_scope() as s:
        return list(s.execute(select(col(AuthSession.ip)).order_by(col(AuthSession.id))).scalars())


def sign_in_via_ticket(client: TestClient, forwarded_for: str | None) -> None:
    uid = accounts.user_id_for_email("ada@example.com") or accounts.register(
        "ada@example.com", GOOD
    )
    ticket = accounts.create_login_ticket(uid, "/account")
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response = client.get(f"/auth/complete?ticket={ticket}", headers=headers)
    assert (response.status_code, response.headers["location"]) == (303, "/account")
    assert get_settings().session_cookie_name in response.cookies


def test_forwarded_for_is_ignored_without_trusted_proxies(client: TestClient) -> None:
    sign_in_via_ticket(client, forwarded_for="203.0.113.66")
    assert session_ips() == [PEER]


def test_forwarded_for_names_the_client_behind_trusted_proxies(
    client: TestClient, proxy_hops: Callable[[int], None]
) -> None:
    proxy_hops(1)
    # The client wrote the first entry itself; our proxy appended the address it saw.
    sign_in_via_ticket(client, forwarded_for="10.6.6.6, 203.0.113.5")
    sign_in_via_ticket(client, forwarded_for=None)  # nothing forwarded: the peer
    proxy_hops(2)
    sign_in_via_ticket(client, forwarded_for="10.6.6.6, 203.0.113.9, 192.0.2.1")
    sign_in_via_ticket(client, forwarded_for="203.0.113.9")  # fewer entries than hops
    assert session_ips() == ["203.0.113.5", PEER, "203.0.113.9", PEER]


def test_a_used_sign_in_ticket_goes_back_to_login_with_a_code(client: TestClient) -> None:
    response = client.get("/auth/complete?ticket=forged")
    assert (response.status_code, response.headers["location"]) == (
        303,
        "/login?error=ticket_expired",
    )


def test_sign_up_link_creates_the_account_and_signs_in_once(
    client: TestClient, data_dir: Path
) -> None:
    accounts.request_registration("nia@example.com", GOOD, "Nia")
    [path] = (data_dir / "outbox").glob("*.eml")
    body = message_from_bytes(path.read_bytes(), policy=policy.default).get_content()  # type: ignore[attr-defined]
    token = re.search(r"finish-signup\?token=([\w-]+)", body).group(1)  # type: ignore[union-attr]
    first = client.get(f"/auth/finish-signup?token={token}")
    assert (first.status_code, first.headers["location"]) == (303, "/dashboard")
    session = accounts.resolve_session(first.cookies[get_settings().session_cookie_name])
    assert session is not None and session.email == "nia@example.com"
    assert session_ips() == [PEER]
    again = client.get(f"/auth/finish-signup?token={token}")
    assert again.headers["location"] == "/login?error=signup_link_used"
    forged = client.get("/auth/finish-signup?token=forged")
    assert forged.headers["location"] == "/login?error=signup_link_invalid"
