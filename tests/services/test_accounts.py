import contextlib
import re
import uuid
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import redis
from sqlalchemy import select, update

from photoai.db import session_scope
from photoai.models import (
    AuthSession,
    LoginTicket,
    PasswordResetToken,
    PendingRegistration,
    User,
)
from photoai.services import accounts, credits
from photoai.services import redis_conn as redis_probe
from photoai.services.accounts import AccountError

GOOD = "correct horse 9"


def outbox_messages(data_dir: Path) -> list[str]:
    """Bodies of the messages in the outbox, decoded as a mail client would."""
    folder = data_dir / "outbox"
    paths = sorted(folder.glob("*.eml")) if folder.exists() else []
    return [
        message_from_bytes(p.read_bytes(), policy=policy.default).get_content()  # type: ignore[attr-defined]
        for p in paths
    ]


def sign_in(email: str, password: str = GOOD, ip: str = "10.0.0.1") -> accounts.NewSession:
    user_id = accounts.authenticate(email, password, ip)
    ticket = accounts.create_login_ticket(user_id, "/account")
    return accounts.redeem_login_ticket(ticket, "pytest", ip)


def test_register_normalises_email_and_grants_starter_credits(any_db: str) -> None:
    uid = accounts.register("  Ada@Example.COM ", GOOD, "  Ada   Lovelace ")
    profile = accounts.get_profile(uid)
    assert (profile.email, profile.name, profile.credit_balance) == (
        "ada@example.com",
        "Ada Lovelace",
        20,
    )
    [entry] = credits.recent_entries(uid)
    assert (entry.kind, entry.amount, entry.reference) == ("starter", 20, f"starter:{uid}")


def mails_to(data_dir: Path, to: str) -> list[str]:
    folder = data_dir / "outbox"
    messages = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in folder.glob("*")]
    return [m.get_content() for m in messages if m["To"] == to]  # type: ignore[attr-defined]


def signup_tokens(data_dir: Path, to: str) -> set[str]:
    """Tokens of the finish-signing-up links emailed to `to`."""
    pattern = re.compile(r"/auth/finish-signup\?token=([\w-]+)")
    return {found for body in mails_to(data_dir, to) for found in pattern.findall(body)}


def test_registration_answers_the_same_for_new_and_existing_emails(
    any_db: str, redis_conn: redis.Redis, data_dir: Path
) -> None:
    """Registering never tells a stranger whether an email has an account: both get the same
    answer, and only the mailbox's owner learns more, by email."""
    ada = accounts.register("ada@example.com", GOOD, "Ada")
    existing = accounts.request_registration("ADA@example.com", "intruder pass 1", "Eve")
    new = accounts.request_registration("nia@example.com", "nias own pass 2", "Nia")
    assert existing.replace("ada@", "nia@") == new
    assert "nia@example.com" in new and "already" not in new

    [warning] = mails_to(data_dir, "ada@example.com")
    assert "tried to create an account" in warning and "reset" in warning
    assert signup_tokens(data_dir, "ada@example.com") == set()
    [invitation] = mails_to(data_dir, "nia@example.com")
    assert "finish signing up" in invitation
    assert accounts.authenticate("ada@example.com", GOOD, "ip") == ada  # password unchanged
    with pytest.raises(AccountError, match="incorrect"):
        accounts.authenticate("nia@example.com", "nias own pass 2", "ip")  # not yet an account

    [token] = signup_tokens(data_dir, "nia@example.com")
    nia = accounts.complete_registration(token)
    profile = accounts.get_profile(nia)
    assert (profile.email, profile.name, profile.credit_balance) == ("nia@example.com", "Nia", 20)
    assert accounts.authenticate("nia@example.com", "nias own pass 2", "ip") == nia
    with pytest.raises(AccountError, match="already used"):
        accounts.complete_registration(token)
    with pytest.raises(AccountError, match="invalid or has expired"):
        accounts.complete_registration("forged-token")


def test_second_signup_link_for_one_email_creates_no_second_account(
    any_db: str, redis_conn: redis.Redis, data_dir: Path
) -> None:
    accounts.request_registration("nia@example.com", "first pass 1", "Nia")
    [first] = signup_tokens(data_dir, "nia@example.com")
    accounts.request_registration("nia@example.com", "second pass 2", "Nia")
    [second] = signup_tokens(data_dir, "nia@example.com") - {first}
    nia = accounts.complete_registration(second)
    with pytest.raises(AccountError, match="already used"):
        accounts.complete_registration(first)
    assert accounts.authenticate("nia@example.com", "second pass 2", "ip") == nia
    with session_scope() as s:
        assert len(s.query(User).all()) == 1


def test_expired_signup_link_is_refused(
    any_db: str, redis_conn: redis.Redis, data_dir: Path
) -> None:
    accounts.request_registration("nia@example.com", GOOD, "Nia")
    [token] = signup_tokens(data_dir, "nia@example.com")
    with session_scope() as s:
        s.execute(
            update(PendingRegistration).values(
                expires_at=PendingRegistration.expires_at - timedelta(days=2)
            )
        )
    with pytest.raises(AccountError, match="invalid or has expired"):
        accounts.complete_registration(token)
    assert accounts.user_id_for_email("nia@example.com") is None
    accounts.request_registration("zoe@example.com", GOOD, "Zoe")
    [token] = signup_tokens(data_dir, "zoe@example.com")
    accounts.complete_registration(token)
    with session_scope() as s:
        rows = s.execute(select(PendingRegistration)).scalars().all()
        # The expired sign-up is gone; the used one keeps no password hash.
        assert [(r.email, r.password_hash) for r in rows] == [("zoe@example.com", "")]


def test_registration_checks_input_before_anything_is_sent(any_db: str, data_dir: Path) -> None:
    with pytest.raises(AccountError, match="too weak"):
        accounts.request_registration("nia@example.com", "password", "Nia")
    with pytest.raises(AccountError, match="valid email"):
        accounts.request_registration("nia@", GOOD, "Nia")
    assert outbox_messages(data_dir) == []


def test_login_page_shows_only_messages_chosen_by_the_server() -> None:
    assert accounts.login_page_error("Call +1-555-0100") == ""
    assert accounts.login_page_error("") == ""
    assert accounts.login_page_error("ticket_expired") == accounts.TICKET_EXPIRED
    assert accounts.login_page_error("signup_link_used") == accounts.SIGNUP_LINK_USED


def test_duplicate_registration_is_refused_case_insensitively(any_db: str) -> None:
    accounts.register("ada@example.com", GOOD)
    with pytest.raises(AccountError, match="already exists"):
        accounts.register("ADA@example.com", "another pass 1")
    with session_scope() as s:
        assert len(s.query(User).all()) == 1


@pytest.mark.parametrize(
    "email", ["", "ada", "ada@", "@example.com", "a b@c.de", "a@b", "x" * 250 + "@e.com"]
)
def test_invalid_email_is_refused(any_db: str, email: str) -> None:
    with pytest.raises(AccountError, match="valid email"):
        accounts.register(email, GOOD)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1!", "at least 10"),
        ("onlyletterspassword", "Mix letters"),
        ("1234567890123", "Mix letters"),
        (" padded pass 1 ", "start or end"),
        ("ab1ab1ab1ab1", "more different"),
        ("x1" * 70, "at most 128"),
    ],
)
def test_weak_passwords_get_clear_reasons(any_db: str, password: str, message: str) -> None:
    with pytest.raises(AccountError, match=message):
        accounts.register("ada@example.com", password)
    with session_scope() as s:
        assert s.query(User).count() == 0


def test_long_passwords_use_every_character(any_db: str) -> None:
    long_pw = "p4ss-" + "x" * 90
    uid = accounts.register("long@example.com", long_pw)
    assert accounts.authenticate("long@example.com", long_pw, "ip") == uid
    with pytest.raises(AccountError):
        accounts.authenticate("long@example.com", long_pw[:-1] + "y", "ip")


def test_wrong_password_and_unknown_email_say_the_same(any_db: str) -> None:
    accounts.register("ada@example.com", GOOD)
    with pytest.raises(AccountError) as wrong:
        accounts.authenticate("ada@example.com", "wrong password 1", "ip")
    with pytest.raises(AccountError) as unknown:
        accounts.authenticate("nobody@example.com", "wrong password 1", "ip")
    assert str(wrong.value) == str(unknown.value) == accounts.BAD_LOGIN


@pytest.mark.parametrize("with_redis", [True, False])
def test_hundreds_of_rapid_attempts_are_throttled(
    any_db: str, with_redis: bool, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if with_redis:
        request.getfixturevalue("redis_conn")
    else:
        monkeypatch.setenv("PHOTOAI_REDIS_URL", "redis://127.0.0.1:1/0")
        accounts.get_settings.cache_clear()
    redis_probe.reset_cache()
    accounts.register("ada@example.com", GOOD)
    messages = []
    for i in range(300):
        try:
            accounts.authenticate("ada@example.com", f"guess number {i}", "203.0.113.7")
        except AccountError as exc:
            messages.append(str(exc))
    assert messages.count(accounts.BAD_LOGIN) == 5
    assert messages.count(accounts.TOO_MANY_ATTEMPTS) == 295
    with pytest.raises(AccountError, match="Too many"):
        accounts.authenticate("ada@example.com", GOOD, "198.51.100.1")  # account is locked
    # Guessing across accounts from one address slows that address down.
    accounts.register("bob@example.com", GOOD)
    for i in range(60):
        with contextlib.suppress(AccountError):
            accounts.authenticate(f"nobody{i}@example.com", "guess 123456", "203.0.113.9")
    assert accounts.login_delay_seconds("203.0.113.9") == 2.0
    assert accounts.login_delay_seconds("198.51.100.2") == 0.0
    redis_probe.reset_cache()


def test_failures_from_a_shared_address_do_not_lock_out_other_accounts(
    any_db: str, redis_conn: redis.Redis
) -> None:
    """Behind a proxy every user has the proxy's address: an attacker there must not lock
    everyone out, only wait longer and longer between guesses."""
    bob = accounts.register("bob@example.com", GOOD)
    for i in range(60):
        with pytest.raises(AccountError, match="incorrect"):
            accounts.authenticate(f"victim{i}@example.com", "guess 123456", "10.0.0.1")
    assert accounts.authenticate("bob@example.com", GOOD, "10.0.0.1") == bob


def test_failures_from_one_address_slow_it_down_step_by_step(
    any_db: str, redis_conn: redis.Redis
) -> None:
    def fail(times: int) -> float:
        for _ in range(times):
            with pytest.raises(AccountError):
                accounts.authenticate(f"{uuid.uuid4().hex}@example.com", "guess 1234", "10.0.0.2")
        return accounts.login_delay_seconds("10.0.0.2")

    assert fail(49) == 0.0
    assert fail(1) == 1.0  # the 50th failure (PHOTOAI_LOGIN_MAX_FAILURES_PER_IP)
    assert fail(9) == 1.0
    assert fail(1) == 2.0
    assert fail(100) == 8.0  # PHOTOAI_LOGIN_IP_MAX_DELAY_SECONDS
    assert accounts.login_delay_seconds("10.0.0.3") == 0.0


def test_login_ticket_is_single_use_and_expires(any_db: str) -> None:
    uid = accounts.register("ada@example.com", GOOD)
    ticket = accounts.create_login_ticket(uid, "/account")
    new = accounts.redeem_login_ticket(ticket, "ua", "ip")
    assert new.next_path == "/account"
    assert accounts.resolve_session(new.token).user_id == uid  # type: ignore[union-attr]
    with pytest.raises(AccountError, match="expired"):
        accounts.redeem_login_ticket(ticket, "ua", "ip")
    late = accounts.create_login_ticket(uid, None)
    with session_scope() as s:
        s.execute(
            update(LoginTicket).values(expires_at=LoginTicket.expires_at - timedelta(hours=1))
        )
    with pytest.raises(AccountError):
        accounts.redeem_login_ticket(late, "ua", "ip")


def test_forged_expired_and_revoked_sessions_resolve_to_nobody(any_db: str) -> None:
    accounts.register("ada@example.com", GOOD)
    session = sign_in("ada@example.com")
    assert accounts.resolve_session(session.token) is not None
    assert accounts.resolve_session(session.token + "x") is None
    assert accounts.resolve_session("forged-token") is None
    assert accounts.resolve_session("") is None
    assert accounts.resolve_session("x" * 5000) is None
    with session_scope() as s:
        s.execute(
            update(AuthSession).values(expires_at=AuthSession.expires_at - timedelta(days=31))
        )
    assert accounts.resolve_session(session.token) is None
    other = sign_in("ada@example.com")
    accounts.revoke_session(other.token)
    assert accounts.resolve_session(other.token) is None


def test_database_holds_only_token_hashes(any_db: str) -> None:
    accounts.register("ada@example.com", GOOD)
    session = sign_in("ada@example.com")
    with session_scope() as s:
        stored = [row.token_hash for row in s.query(AuthSession).all()]
    assert session.token not in stored and accounts.token_hash(session.token) in stored


def test_log_out_everywhere(any_db: str) -> None:
    uid = accounts.register("ada@example.com", GOOD)
    first, second = sign_in("ada@example.com"), sign_in("ada@example.com")
    assert accounts.revoke_all_sessions(uid) == 2
    assert accounts.resolve_session(first.token) is None
    assert accounts.resolve_session(second.token) is None


def test_change_password_keeps_this_session_only(any_db: str) -> None:
    uid = accounts.register("ada@example.com", GOOD)
    here, elsewhere = sign_in("ada@example.com"), sign_in("ada@example.com")
    here_user = accounts.resolve_session(here.token)
    assert here_user is not None
    with pytest.raises(AccountError, match="current password"):
        accounts.change_password(uid, "nope nope 1", "brand new pass 2", keep_session_id=1)
    with pytest.raises(AccountError, match="too weak"):
        accounts.change_password(uid, GOOD, "weak", keep_session_id=here_user.session_id)
    accounts.change_password(uid, GOOD, "brand new pass 2", keep_session_id=here_user.session_id)
    assert accounts.resolve_session(here.token) is not None
    assert accounts.resolve_session(elsewhere.token) is None
    assert accounts.authenticate("ada@example.com", "brand new pass 2", "ip") == uid


def test_update_name_limits_length(any_db: str) -> None:
    uid = accounts.register("ada@example.com", GOOD)
    assert accounts.update_name(uid, "  Grace   Hopper ") == "Grace Hopper"
    with pytest.raises(AccountError, match="at most 100"):
        accounts.update_name(uid, "x" * 10_000)
    assert accounts.get_profile(uid).name == "Grace Hopper"


def test_password_reset_by_emailed_single_use_link(any_db: str, data_dir: Path) -> None:
    uid = accounts.register("ada@example.com", GOOD)
    session = sign_in("ada@example.com")
    accounts.request_password_reset("nobody@example.com")
    accounts.request_password_reset("not an email")
    assert outbox_messages(data_dir) == []
    accounts.request_password_reset("ADA@example.com")
    [mail] = outbox_messages(data_dir)
    token = re.search(r"reset-password\?token=([\w-]+)", mail).group(1)  # type: ignore[union-attr]
    with pytest.raises(AccountError, match="too weak"):
        accounts.reset_password(token, "weak")
    accounts.reset_password(token, "a fresh pass 3")
    assert accounts.authenticate("ada@example.com", "a fresh pass 3", "ip") == uid
    assert accounts.resolve_session(session.token) is None
    with pytest.raises(AccountError, match="invalid or has expired"):
        accounts.reset_password(token, "another pass 4")


def test_expired_reset_link_is_refused(any_db: str, data_dir: Path) -> None:
    accounts.register("ada@example.com", GOOD)
    accounts.request_password_reset("ada@example.com")
    [mail] = outbox_messages(data_dir)
    token = re.search(r"token=([\w-]+)", mail).group(1)  # type: ignore[union-attr]
    with session_scope() as s:
        s.execute(
            update(PasswordResetToken).values(
                expires_at=PasswordResetToken.expires_at - timedelta(hours=2)
            )
        )
    with pytest.raises(AccountError, match="invalid or has expired"):
        accounts.reset_password(token, "a fresh pass 3")
    assert accounts.authenticate("ada@example.com", GOOD, "ip")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/account", "/account"),
        ("/gallery?model=3", "/gallery?model=3"),
        ("https://evil.example/x", "/dashboard"),
        ("//evil.example", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
        ("/login", "/dashboard"),
        (None, "/dashboard"),
    ],
)
def test_next_path_stays_on_site(given: str | None, expected: str) -> None:
    assert accounts.safe_next_path(given) == expected


def test_redis_fixture_is_isolated(redis_conn: redis.Redis) -> None:
    assert redis_conn.dbsize() == 0
