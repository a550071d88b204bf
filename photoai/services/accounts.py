"""Accounts: registration, passwords, server-side sessions and password resets.

Tokens (sessions, login tickets, sign-up and reset links) are random strings handed to the
browser or mailbox once; the database keeps only an HMAC of each, keyed by the operator's
secret, so a leaked database holds no usable token. Messages shown to the user never reveal
whether an email is registered: registration answers every address alike and creates the
account only when the emailed link is opened.
"""

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit

import bcrypt
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from photoai.db import session_scope
from photoai.models import (
    AuthSession,
    LedgerKind,
    LoginTicket,
    PasswordResetToken,
    PendingRegistration,
    User,
    utcnow,
)
from photoai.services import analytics, credits, session_epochs, throttle
from photoai.services.email import send_email
from photoai.settings import get_settings

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_RE = re.compile(rf"^[^@\s]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")
MAX_PASSWORD_LENGTH = 128
MAX_NAME_LENGTH = 100
BAD_LOGIN = "Email or password is incorrect."
TOO_MANY_ATTEMPTS = "Too many sign-in attempts. Please wait a few minutes and try again."
RESET_SENT = "If an account exists for that email, we have sent a link to reset the password."
RESET_INVALID = "This reset link is invalid or has expired. Please ask for a new one."
TICKET_EXPIRED = "This sign-in link has expired. Please sign in again."
SIGNUP_LINK_INVALID = "This sign-up link is invalid or has expired. Please register again."
SIGNUP_LINK_USED = "This sign-up link was already used. Sign in with your email and password."
ACCOUNT_BLOCKED = (
    "This account is blocked by the site's operators, so it cannot sign in. "
    "Contact support if you think this is a mistake."
)
# The login page shows an error named in its address only through these codes, so a crafted
# link cannot make the site display words of someone else's choosing.
LOGIN_PAGE_ERRORS = {
    "ticket_expired": TICKET_EXPIRED,
    "signup_link_invalid": SIGNUP_LINK_INVALID,
    "signup_link_used": SIGNUP_LINK_USED,
    "blocked": ACCOUNT_BLOCKED,
}
# Sign-up emails one address receives per throttle window; more requests get the same answer
# but send nothing, so the form cannot be used to flood someone's mailbox.
SIGNUP_EMAILS_PER_WINDOW = 5


class AccountError(Exception):
    """A refusal with a message meant for the user."""


class SignupLinkUsed(AccountError):
    """The sign-up link worked before: the account exists, its owner should sign in."""


class AccountBlocked(AccountError):
    """An operator blocked the account; said only to someone who knows its password."""


@dataclass(frozen=True)
class SessionUser:
    user_id: int
    session_id: int
    email: str
    name: str


@dataclass(frozen=True)
class Profile:
    user_id: int
    email: str
    name: str
    credit_balance: int
    spending_blocked: bool
    created_at: datetime
    is_admin: bool = False


def normalize_email(raw: str) -> str:
    email = (raw or "").strip().lower()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise AccountError("Please enter a valid email address.")
    return email


def password_problems(password: str) -> list[str]:
    settings = get_settings()
    problems = []
    if len(password) < settings.password_min_length:
        problems.append(f"Use at least {settings.password_min_length} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    if password.strip() != password:
        problems.append("Do not start or end the password with a space.")
    if password.isalpha() or password.isdigit():
        problems.append("Mix letters with numbers or symbols.")
    if len(set(password)) < 5:
        problems.append("Use more different characters.")
    return problems


def check_password_rules(password: str) -> None:
    problems = password_problems(password)
    if problems:
        raise AccountError("Password too weak: " + " ".join(problems))


def _prehash(password: str) -> bytes:
    """bcrypt reads only 72 bytes; a SHA-256 digest first lets every character count."""
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_password(password: str) -> str:
    rounds = get_settings().bcrypt_rounds
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))
    except ValueError:
        return False


@lru_cache
def _dummy_hash(rounds: int) -> str:
    """Compared against when the email is unknown, so both paths cost the same time."""
    return bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(rounds)).decode("ascii")


def token_hash(token: str) -> str:
    key = get_settings().signing_key.encode("utf-8")
    return hmac.new(key, token.encode("utf-8"), hashlib.sha256).hexdigest()


def _clean_name(name: str) -> str:
    cleaned = " ".join((name or "").split())
    if len(cleaned) > MAX_NAME_LENGTH:
        raise AccountError(f"Names can be at most {MAX_NAME_LENGTH} characters.")
    return cleaned


def login_page_error(code: str) -> str:
    """The message for an error code in the login page's address; unknown codes show nothing."""
    return LOGIN_PAGE_ERRORS.get(code, "")


def _create_account(s: Session, email: str, name: str, password_hash: str) -> int:
    """Insert the user and grant the configured starter credits through the ledger."""
    user = User(email=email, name=name, password_hash=password_hash)
    s.add(user)
    s.flush()
    assert user.id is not None
    starter = get_settings().starter_credits
    if starter > 0:
        credits.grant(
            user.id,
            starter,
            kind=LedgerKind.STARTER,
            reference=f"starter:{user.id}",
            description="Welcome credits",
            session=s,
        )
    return user.id


def register(email: str, password: str, name: str = "") -> int:
    """Create an account at once, for operators and tests; visitors use request_registration,
    whose answer does not depend on whether the email is taken."""
    normalized = normalize_email(email)
    check_password_rules(password)
    clean_name = _clean_name(name)
    password_hash = hash_password(password)
    try:
        with session_scope() as s:
            user_id = _create_account(s, normalized, clean_name, password_hash)
    except IntegrityError as exc:
        raise AccountError(
            "An account with this email already exists. Sign in or reset the password."
        ) from exc
    analytics.track(user_id, analytics.Funnel.REGISTERED)
    return user_id


def signup_sent_message(email: str) -> str:
    return (
        f"We sent an email to {email}. Open the link in it to finish signing up. "
        "Nothing there? Look in your spam folder, or register again for a new link."
    )


def request_registration(email: str, password: str, name: str = "") -> str:
    """Start a sign-up and return what to show, which is the same whether or not the email has
    an account. A new email gets a single-use link that creates the account; the owner of an
    existing one is told someone tried, and nothing about the account changes. The password
    is hashed on both paths so the answer takes as long either way."""
    normalized = normalize_email(email)
    check_password_rules(password)
    clean_name = _clean_name(name)
    password_hash = hash_password(password)
    settings = get_settings()
    with session_scope() as s:
        # Expired sign-ups go as new ones come, so unused password hashes do not pile up.
        s.execute(delete(PendingRegistration).where(col(PendingRegistration.expires_at) < utcnow()))
        exists = s.execute(
            select(col(User.id)).where(col(User.email) == normalized)
        ).scalar_one_or_none()
        token = secrets.token_urlsafe(32)
        if exists is None:
            s.add(
                PendingRegistration(
                    email=normalized,
                    name=clean_name,
                    password_hash=password_hash,
                    token_hash=token_hash(token),
                    expires_at=utcnow() + timedelta(hours=settings.signup_link_hours),
                )
            )
    sent = throttle.record_failure(
        f"signup:mail:{normalized}", settings.login_throttle_window_seconds
    )
    if sent <= SIGNUP_EMAILS_PER_WINDOW:
        if exists is None:
            _send_signup_link(normalized, token)
        else:
            _send_signup_warning(normalized)
    return signup_sent_message(normalized)


def _send_signup_link(email: str, token: str) -> None:
    settings = get_settings()
    link = f"{settings.base_url.rstrip('/')}/auth/finish-signup?token={token}"
    send_email(
        email,
        f"Finish signing up for {settings.app_name}",
        f"Someone, hopefully you, asked to create a {settings.app_name} account with this "
        f"address.\n\nOpen this link within {settings.signup_link_hours} hours to finish "
        f"signing up:\n{link}\n\nIf it was not you, ignore this email: no account is made.\n",
    )


def _send_signup_warning(email: str) -> None:
    settings = get_settings()
    base = settings.base_url.rstrip("/")
    send_email(
        email,
        f"Someone tried to create a {settings.app_name} account with your address",
        f"Someone just tried to create an account with this address, which already has a "
        f"{settings.app_name} account. Nothing about your account changed.\n\n"
        f"If it was you, sign in at {base}/login, or reset your password at "
        f"{base}/forgot-password if you have forgotten it.\n\n"
        "If it was not you, you can ignore this email.\n",
    )


def complete_registration(token: str) -> int:
    """Use an emailed sign-up link once: create the account it describes and return its id."""
    now = utcnow()
    digest = token_hash(token or "")
    try:
        with session_scope() as s:
            row = s.execute(
                update(PendingRegistration)
                .where(
                    col(PendingRegistration.token_hash) == digest,
                    col(PendingRegistration.used_at).is_(None),
                    col(PendingRegistration.expires_at) > now,
                )
                .values(used_at=now)
                .returning(
                    col(PendingRegistration.email),
                    col(PendingRegistration.name),
                    col(PendingRegistration.password_hash),
                )
            ).one_or_none()
            if row is None:
                used = s.execute(
                    select(col(PendingRegistration.id)).where(
                        col(PendingRegistration.token_hash) == digest,
                        col(PendingRegistration.used_at).is_not(None),
                    )
                ).scalar_one_or_none()
                if used is None:
                    raise AccountError(SIGNUP_LINK_INVALID)
                raise SignupLinkUsed(SIGNUP_LINK_USED)
            user_id = _create_account(s, row.email, row.name, row.password_hash)
            s.execute(
                update(PendingRegistration)
                .where(col(PendingRegistration.token_hash) == digest)
                .values(password_hash="")
            )
    except IntegrityError as exc:
        # Another link for the same email finished first; this one has nothing left to do.
        raise SignupLinkUsed(SIGNUP_LINK_USED) from exc
    analytics.track(user_id, analytics.Funnel.REGISTERED)
    return user_id


def _throttle_keys(email: str, client_ip: str) -> tuple[str, str]:
    return f"login:acct:{email}", f"login:ip:{client_ip or 'unknown'}"


def authenticate(email: str, password: str, client_ip: str) -> int:
    """Check credentials; the same message for every failure.

    An account that keeps failing is locked for the throttle window. An address that keeps
    failing is never refused, since many people may share it (an office, a carrier, a proxy):
    the caller waits `login_delay_seconds` first instead, which slows down guessing across
    accounts while the others behind that address still sign in with their passwords.
    """
    settings = get_settings()
    try:
        normalized = normalize_email(email)
    except AccountError:
        normalized = (email or "").strip().lower()[:254]
    account_key, ip_key = _throttle_keys(normalized, client_ip)
    if throttle.failures(account_key) >= settings.login_max_failures_per_account:
        raise AccountError(TOO_MANY_ATTEMPTS)
    with session_scope() as s:
        user = s.execute(select(User).where(col(User.email) == normalized)).scalar_one_or_none()
        stored_hash = user.password_hash if user else None
        user_id = user.id if user else None
        blocked = user is not None and user.blocked_at is not None
    ok = verify_password(password, stored_hash or _dummy_hash(settings.bcrypt_rounds))
    if not ok or user_id is None:
        window = settings.login_throttle_window_seconds
        throttle.record_failure(account_key, window)
        throttle.record_failure(ip_key, window)
        raise AccountError(BAD_LOGIN)
    throttle.clear(account_key)
    if blocked:
        raise AccountBlocked(ACCOUNT_BLOCKED)
    return user_id


def login_delay_seconds(client_ip: str) -> float:
    """How long a sign-in from this address waits before its password is checked: nothing
    until the address reaches PHOTOAI_LOGIN_MAX_FAILURES_PER_IP failures within the window,
    then 1 s, doubling with every 10 further failures, up to PHOTOAI_LOGIN_IP_MAX_DELAY_SECONDS.
    """
    settings = get_settings()
    over = throttle.failures(_throttle_keys("", client_ip)[1]) - settings.login_max_failures_per_ip
    if over < 0:
        return 0.0
    return float(min(settings.login_ip_max_delay_seconds, 2.0 ** (over // 10)))


def safe_next_path(next_path: str | None) -> str:
    """Only same-site absolute paths, so a login link cannot bounce users to another site."""
    if not next_path:
        return "/dashboard"
    parts = urlsplit(next_path)
    if parts.scheme or parts.netloc or not next_path.startswith("/") or next_path.startswith("//"):
        return "/dashboard"
    if parts.path in ("/login", "/register", "/auth/complete", "/auth/logout"):
        return "/dashboard"
    return next_path[:500]


def create_login_ticket(user_id: int, next_path: str | None) -> str:
    ticket = secrets.token_urlsafe(32)
    with session_scope() as s:
        s.add(
            LoginTicket(
                user_id=user_id,
                token_hash=token_hash(ticket),
                next_path=safe_next_path(next_path),
                expires_at=utcnow() + timedelta(seconds=get_settings().login_ticket_seconds),
            )
        )
    return ticket


@dataclass(frozen=True)
class NewSession:
    token: str
    expires_at: datetime
    next_path: str


def redeem_login_ticket(ticket: str, user_agent: str, client_ip: str) -> NewSession:
    """Swap a one-use ticket for a session; a reused or late ticket is refused."""
    now = utcnow()
    with session_scope() as s:
        row = s.execute(
            update(LoginTicket)
            .where(
                col(LoginTicket.token_hash) == token_hash(ticket),
                col(LoginTicket.used_at).is_(None),
                col(LoginTicket.expires_at) > now,
            )
            .values(used_at=now)
            .returning(col(LoginTicket.user_id), col(LoginTicket.next_path))
        ).one_or_none()
        if row is None:
            raise AccountError(TICKET_EXPIRED)
        if s.execute(select(col(User.blocked_at)).where(col(User.id) == row.user_id)).scalar():
            raise AccountBlocked(ACCOUNT_BLOCKED)
        return _add_session(s, row.user_id, user_agent, client_ip, row.next_path)


def finish_signup(token: str, user_agent: str, client_ip: str) -> NewSession:
    """Open an emailed sign-up link: create the account and sign its owner in."""
    user_id = complete_registration(token)
    with session_scope() as s:
        return _add_session(s, user_id, user_agent, client_ip, "/dashboard")


def _add_session(
    s: Session, user_id: int, user_agent: str, client_ip: str, next_path: str
) -> NewSession:
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(days=get_settings().session_days)
    s.add(
        AuthSession(
            user_id=user_id,
            token_hash=token_hash(token),
            expires_at=expires_at,
            user_agent=user_agent[:300],
            ip=client_ip[:64],
        )
    )
    return NewSession(token=token, expires_at=expires_at, next_path=next_path)


def resolve_session(token: str | None) -> SessionUser | None:
    """The user behind a session token, or None if it is unknown, expired or revoked."""
    found = resolve_session_until(token)
    return found[0] if found else None


def resolve_session_until(token: str | None) -> tuple[SessionUser, float] | None:
    """The user behind a session token and when the session expires (unix time)."""
    if not token or len(token) > 200:
        return None
    with session_scope() as s:
        row = s.execute(
            select(
                col(AuthSession.id),
                col(User.id),
                col(User.email),
                col(User.name),
                col(AuthSession.expires_at),
            )
            .join(User, col(User.id) == col(AuthSession.user_id))
            .where(
                col(AuthSession.token_hash) == token_hash(token),
                col(AuthSession.revoked_at).is_(None),
                col(AuthSession.expires_at) > utcnow(),
                col(User.blocked_at).is_(None),
            )
        ).one_or_none()
    if row is None:
        return None
    user = SessionUser(user_id=row[1], session_id=row[0], email=row[2], name=row[3])
    expires_at: datetime = row[4]
    # SQLite hands back naive datetimes; every stored time is UTC
    return user, (expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)).timestamp()


def revoke_session(token: str) -> None:
    with session_scope() as s:
        revoked = s.execute(
            update(AuthSession)
            .where(col(AuthSession.token_hash) == token_hash(token))
            .values(revoked_at=utcnow())
            .returning(col(AuthSession.token_hash))
        )
        session_epochs.bump_after_commit(s, list(revoked.scalars()))


def revoke_all_sessions(user_id: int, *, except_session_id: int | None = None) -> int:
    with session_scope() as s:
        query = update(AuthSession).where(
            col(AuthSession.user_id) == user_id,
            col(AuthSession.revoked_at).is_(None),
        )
        if except_session_id is not None:
            query = query.where(col(AuthSession.id) != except_session_id)
        revoked = list(
            s.execute(
                query.values(revoked_at=utcnow()).returning(col(AuthSession.token_hash))
            ).scalars()
        )
        session_epochs.bump_after_commit(s, revoked)
        return len(revoked)


def get_profile(user_id: int) -> Profile:
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            raise AccountError("Account not found.")
        assert user.id is not None
        return Profile(
            user_id=user.id,
            email=user.email,
            name=user.name,
            credit_balance=user.credit_balance,
            spending_blocked=user.spending_blocked,
            created_at=user.created_at,
            is_admin=user.is_admin,
        )


def user_id_for_email(email: str) -> int | None:
    try:
        normalized = normalize_email(email)
    except AccountError:
        return None
    with session_scope() as s:
        found = s.execute(select(col(User.id)).where(col(User.email) == normalized))
        return found.scalar_one_or_none()


def update_name(user_id: int, name: str) -> str:
    clean = _clean_name(name)
    with session_scope() as s:
        s.execute(
            update(User).where(col(User.id) == user_id).values(name=clean, updated_at=utcnow())
        )
    return clean


def change_password(user_id: int, current: str, new: str, *, keep_session_id: int) -> None:
    """Requires the current password; signs out every other session."""
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None or not verify_password(current, user.password_hash):
            raise AccountError("The current password is not correct.")
    check_password_rules(new)
    with session_scope() as s:
        s.execute(
            update(User)
            .where(col(User.id) == user_id)
            .values(password_hash=hash_password(new), updated_at=utcnow())
        )
    revoke_all_sessions(user_id, except_session_id=keep_session_id)


def request_password_reset(email: str) -> None:
    """Email a single-use link if the account exists; the caller always shows RESET_SENT."""
    try:
        normalized = normalize_email(email)
    except AccountError:
        return
    settings = get_settings()
    with session_scope() as s:
        user_id = s.execute(
            select(col(User.id)).where(col(User.email) == normalized)
        ).scalar_one_or_none()
        if user_id is None:
            return
        token = secrets.token_urlsafe(32)
        s.add(
            PasswordResetToken(
                user_id=user_id,
                token_hash=token_hash(token),
                expires_at=utcnow() + timedelta(minutes=settings.reset_token_minutes),
            )
        )
    link = f"{settings.base_url.rstrip('/')}/reset-password?token={token}"
    send_email(
        normalized,
        f"Reset your {settings.app_name} password",
        f"Someone asked to reset the password of your {settings.app_name} account.\n\n"
        f"Open this link within {settings.reset_token_minutes} minutes to choose a new one:\n"
        f"{link}\n\nIf it was not you, ignore this email; your password stays the same.\n",
    )


def reset_password(token: str, new_password: str) -> None:
    """Use a reset link once: sets the password and signs out every session."""
    check_password_rules(new_password)
    now = utcnow()
    with session_scope() as s:
        user_id = s.execute(
            update(PasswordResetToken)
            .where(
                col(PasswordResetToken.token_hash) == token_hash(token or ""),
                col(PasswordResetToken.used_at).is_(None),
                col(PasswordResetToken.expires_at) > now,
            )
            .values(used_at=now)
            .returning(col(PasswordResetToken.user_id))
        ).scalar_one_or_none()
        if user_id is None:
            raise AccountError(RESET_INVALID)
        s.execute(
            update(User)
            .where(col(User.id) == user_id)
            .values(password_hash=hash_password(new_password), updated_at=now)
        )
        s.execute(
            update(PasswordResetToken)
            .where(
                col(PasswordResetToken.user_id) == user_id,
                col(PasswordResetToken.used_at).is_(None),
            )
            .values(used_at=now)
        )
    revoke_all_sessions(user_id)
    throttle.clear(_throttle_keys(get_profile(user_id).email, "")[0])
