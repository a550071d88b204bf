"""The operator console's page states: thin, every handler asks the server who is calling.

Each page load and each event resolves the session cookie and the admin role on the server
(`access.admin_for_session`) before anything is read or changed. Anyone else, signed in or
not, gets the not-found view and nothing else: no data is loaded, no action runs.
"""

import asyncio
import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import reflex as rx

from photoai.models import utcnow
from photoai.services.accounts import SessionUser
from photoai.services.admin import (
    access,
    audit,
    jobs_admin,
    metrics,
    provider_health,
    stripe_events,
    users_admin,
)
from photoai.services.admin.audit import AdminError
from photoai.state.display import ledger_row
from photoai.state.session import SessionState
from photoai.wording import counted

Row = dict[str, str]
T = TypeVar("T")
JOB_KINDS = jobs_admin.KINDS
JOB_STATUSES = jobs_admin.STATUSES
PAGE = 50
DEFAULT_DAYS = 30


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f} %"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _id_of(raw: Any) -> int | None:
    text = str(raw)
    return int(text) if text.isdigit() and len(text) < 12 else None


class AdminState(SessionState):
    """What every console page shares: whether the caller is an admin, and messages."""

    checked: rx.Field[bool] = rx.field(False)
    allowed: rx.Field[bool] = rx.field(False)
    error: rx.Field[str] = rx.field("")
    notice: rx.Field[str] = rx.field("")

    async def _admin(self) -> SessionUser | None:
        """The calling admin, or None after turning the page into the not-found view."""
        admin = await asyncio.to_thread(access.admin_for_session, self._session_token())
        self.checked = True
        self.allowed = admin is not None
        self.error = self.notice = ""
        if admin is None:
            self._forget()
            return None
        await self._refresh_profile(admin)
        return admin

    def _forget(self) -> None:
        """Drop whatever the page showed; pages with data override it."""

    def _refused(self, exc: AdminError) -> None:
        self.error = str(exc)


class AdminOverviewState(AdminState):
    start: rx.Field[str] = rx.field("")
    end: rx.Field[str] = rx.field("")
    figures: rx.Field[list[Row]] = rx.field(default_factory=list)
    series: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)

    def _forget(self) -> None:
        self.figures, self.series = [], []

    @rx.event
    async def on_load(self) -> None:
        if await self._admin() is None:
            return
        today = utcnow().date()
        await self._show(today - timedelta(days=DEFAULT_DAYS - 1), today)

    @rx.event
    async def choose_period(self, form: dict[str, Any]) -> None:
        if await self._admin() is None:
            return
        try:
            start = date.fromisoformat(str(form.get("start", "")))
            end = date.fromisoformat(str(form.get("end", "")))
        except ValueError:
            self.error = "Enter both dates as YYYY-MM-DD."
            return
        await self._show(start, end)

    async def _show(self, start: date, end: date) -> None:
        try:
            span = metrics.period(start, end)
        except AdminError as exc:
            self._refused(exc)
            return
        found = await asyncio.to_thread(metrics.compute, span)
        self.start, self.end = start.isoformat(), end.isoformat()
        self.figures = _figures(found)
        self.series = [
            {
                "day": day.day.strftime("%m-%d"),
                "registrations": day.registrations,
                "images": day.images,
                "generations ok": day.generations_succeeded,
                "generations failed": day.generations_failed,
                "trainings ok": day.trainings_succeeded,
                "trainings failed": day.trainings_failed,
            }
            for day in found.series
        ]


def _target(share: float | None, goal: float) -> str:
    if share is None:
        return ""
    return "meets target" if share > goal else "below target"


def _figures(m: metrics.ConsoleMetrics) -> list[Row]:
    money = f"{m.mrr_cents / 100:,.2f} {m.mrr_currency}".strip()
    rows = [
        ("Registrations", f"{m.registrations:,}", ""),
        (
            "Model-creation completion",
            percent(m.model_completion),
            f"{m.models_trained:,} trained of {m.models_created:,} created",
        ),
        (
            "Images per user",
            "—" if m.images_per_user is None else f"{m.images_per_user:.1f}",
            f"{counted(m.images, 'image')}, {counted(m.image_users, 'user')}",
        ),
        (
            "Image generation success",
            percent(m.generation_success),
            f"{m.generations_succeeded:,} ok, {m.generations_failed:,} failed; target > 95 % "
            f"({_target(m.generation_success, 0.95) or 'no jobs'})",
        ),
        (
            "Training completion",
            percent(m.training_completion),
            f"{m.trainings_succeeded:,} ok, {m.trainings_failed:,} failed; target > 90 % "
            f"({_target(m.training_completion, 0.90) or 'no jobs'})",
        ),
        (
            "Subscription conversion",
            percent(m.subscription_conversion),
            f"{m.new_subscribers:,} of {m.registrations:,} new users subscribed",
        ),
        ("MRR (now)", money, counted(m.active_subscriptions, "paying subscription")),
        ("Time to first image (median)", duration(m.median_seconds_to_first_image), ""),
        ("Training time (median)", duration(m.median_training_seconds), ""),
        (
            "Styles adoption",
            percent(m.adoption(m.style_users)),
            f"{m.style_users:,} of {m.generating_users:,} generating users",
        ),
        (
            "Packs adoption",
            percent(m.adoption(m.pack_users)),
            f"{m.pack_users:,} of {m.generating_users:,} generating users",
        ),
        (
            "Instant adoption",
            percent(m.adoption(m.instant_users)),
            f"{m.instant_users:,} of {m.generating_users:,} generating users",
        ),
    ]
    return [
        {"id": f"metric-{n}", "label": label, "value": value, "note": note}
        for n, (label, value, note) in enumerate(rows)
    ]


class AdminPager(rx.State, mixin=True):
    """ "First page" and "Older" for a console list: the page's `_list(before)` fills its rows
    with up to PAGE entries older than `before` and sets `next_before` (0: no older ones)."""

    next_before: rx.Field[int] = rx.field(0)

    if TYPE_CHECKING:  # provided by AdminState and the page, which come later in the MRO

        async def _admin(self) -> SessionUser | None: ...

        async def _list(self, before: int | None) -> None: ...

    @rx.event
    async def next_page(self) -> None:
        if await self._admin() is None:
            return
        await self._list(self.next_before or None)

    @rx.event
    async def first_page(self) -> None:
        if await self._admin() is None:
            return
        await self._list(None)


class AdminJobsState(AdminPager, AdminState):
    kind: rx.Field[str] = rx.field("")
    status: rx.Field[str] = rx.field("")
    provider: rx.Field[str] = rx.field("")
    providers: rx.Field[list[str]] = rx.field(default_factory=list)
    rows: rx.Field[list[Row]] = rx.field(default_factory=list)

    def _forget(self) -> None:
        self.rows, self.providers, self.next_before = [], [], 0

    @rx.event
    async def on_load(self) -> None:
        if await self._admin() is None:
            return
        self.providers = await asyncio.to_thread(jobs_admin.providers_seen)
        await self._list(None)

    @rx.event
    async def filter(self, form: dict[str, Any]) -> None:
        if await self._admin() is None:
            return
        self.kind = str(form.get("kind", ""))[:40]
        self.status = str(form.get("status", ""))[:40]
        self.provider = str(form.get("provider", ""))[:40]
        await self._list(None)

    async def _list(self, before: int | None) -> None:
        where = jobs_admin.JobFilter(self.kind, self.status, self.provider)
        try:
            found = await asyncio.to_thread(
                jobs_admin.list_jobs, where, before_id=before, limit=PAGE
            )
        except AdminError as exc:
            self.rows, self.next_before = [], 0
            self._refused(exc)
            return
        self.rows = [
            {
                "id": str(j.id),
                "user": j.user_email or "—",
                "user_id": str(j.user_id or ""),
                "kind": j.kind,
                "status": j.status,
                "provider": j.provider or "—",
                "attempts": str(j.attempts),
                "credits": str(j.credits_held),
                "error": j.error,
                "created": when(j.created_at),
                "finished": when(j.finished_at),
            }
            for j in found
        ]
        self.next_before = found[-1].id if len(found) == PAGE else 0

    @rx.event
    async def retry(self, form: dict[str, Any]) -> None:
        await self._on_job(form, jobs_admin.retry, "Job #{job} retried as job #{result}.")

    @rx.event
    async def cancel(self, form: dict[str, Any]) -> None:
        notice = "Job #{job} canceled; its credits went back to its owner."
        await self._on_job(form, jobs_admin.cancel, notice)

    async def _on_job(
        self, form: dict[str, Any], action: Callable[[int, int, str], object], notice: str
    ) -> None:
        """Run a job action for the calling admin with the form's reason, then list again."""
        admin = await self._admin()
        if admin is None:
            return
        job_id = _id_of(form.get("job_id", ""))
        if job_id is None:
            self.error = "Unknown job."
            return
        reason = str(form.get("reason", ""))
        try:
            result = await asyncio.to_thread(action, admin.user_id, job_id, reason)
        except AdminError as exc:
            self._refused(exc)
            return
        self.notice = notice.format(job=job_id, result=result)
        await self._list(None)


class AdminUsersState(AdminState):
    query: rx.Field[str] = rx.field("")
    rows: rx.Field[list[Row]] = rx.field(default_factory=list)

    def _forget(self) -> None:
        self.rows = []

    @rx.event
    async def on_load(self) -> None:
        if await self._admin() is None:
            return
        await self._search()

    @rx.event
    async def search(self, form: dict[str, Any]) -> None:
        if await self._admin() is None:
            return
        self.query = str(form.get("query", ""))[:254]
        await self._search()

    async def _search(self) -> None:
        found = await asyncio.to_thread(users_admin.search, self.query, limit=PAGE)
        self.rows = [
            {
                "id": str(u.id),
                "email": u.email,
                "name": u.name,
                "balance": f"{u.credit_balance:,}",
                "role": "admin" if u.is_admin else "",
                "state": "blocked" if u.blocked else "active",
                "created": when(u.created_at),
            }
            for u in found
        ]


class AdminUserState(AdminState):
    user: rx.Field[Row] = rx.field(default_factory=dict)
    blocked: rx.Field[bool] = rx.field(False)
    ledger: rx.Field[list[Row]] = rx.field(default_factory=list)
    history: rx.Field[list[Row]] = rx.field(default_factory=list)
    request_key: rx.Field[str] = rx.field("")

    def _forget(self) -> None:
        self.user, self.ledger, self.history, self.blocked = {}, [], [], False

    def _user_id(self) -> int | None:
        return _id_of(self.router.url.path.rstrip("/").rsplit("/", 1)[-1])

    @rx.event
    async def on_load(self) -> None:
        if await self._admin() is None:
            return
        await self._read()

    async def _read(self) -> None:
        user_id = self._user_id()
        self.request_key = secrets.token_urlsafe(12)
        try:
            if user_id is None:
                raise AdminError("No such account.")
            found, entries = await asyncio.to_thread(_read_user, user_id)
        except AdminError as exc:
            self._forget()
            self._refused(exc)
            return
        u = found.user
        self.blocked = u.blocked
        self.user = {
            "id": str(u.id),
            "email": u.email,
            "name": u.name or "—",
            "balance": f"{u.credit_balance:,}",
            "plan_credits": f"{found.plan_credits:,}",
            "role": "admin" if u.is_admin else "user",
            "state": f"blocked since {when(found.blocked_at)}" if u.blocked else "active",
            "spending": "paused (refund or dispute)" if found.spending_blocked else "allowed",
            "created": when(u.created_at),
        }
        # The users' own ledger wording, with the console's compact time.
        self.ledger = [{**ledger_row(e), "when": when(e.created_at)} for e in found.ledger]
        self.history = [_audit_row(a) for a in entries]

    @rx.event
    async def adjust(self, form: dict[str, Any]) -> None:
        raw = str(form.get("delta", "")).strip().replace(",", "")
        try:
            delta = int(raw)
        except ValueError:
            if await self._admin() is not None:
                self.error = "Enter a whole number of credits, e.g. 25 or -10."
            return
        reason, key = str(form.get("adjust-reason", "")), self.request_key
        done = await self._on_user(
            lambda admin, user: users_admin.adjust_credits(admin, user, delta, reason, key)
        )
        if done is not None:
            (balance,) = done
            self.notice = f"Credits adjusted by {delta:+,}; the balance is {balance:,}."

    @rx.event
    async def set_blocked(self, form: dict[str, Any]) -> None:
        block = str(form.get("block", "")) == "1"
        reason = str(form.get("block-reason", ""))
        done = await self._on_user(
            lambda admin, user: users_admin.set_blocked(admin, user, block, reason)
        )
        if done is not None:
            self.notice = (
                "Account blocked; its sessions are signed out." if block else "Account unblocked."
            )

    async def _on_user(self, action: Callable[[int, int], T]) -> tuple[T] | None:
        """Run an action on this page's account for the calling admin, then read it again.
        Its result comes back in a 1-tuple; None when the caller is not an admin or the action
        was refused (the error says why)."""
        admin = await self._admin()
        if admin is None:
            return None
        user_id = self._user_id()
        try:
            if user_id is None:
                raise AdminError("No such account.")
            result = await asyncio.to_thread(action, admin.user_id, user_id)
        except AdminError as exc:
            self._refused(exc)
            return None
        await self._read()
        return (result,)


def _read_user(user_id: int) -> tuple[users_admin.UserDetail, list[audit.AuditView]]:
    """An account with its ledger and the console's recent actions on it, in one thread hop."""
    found = users_admin.detail(user_id)
    return found, audit.recent(limit=20, target=("user", str(user_id)))


class AdminProvidersState(AdminState):
    rows: rx.Field[list[Row]] = rx.field(default_factory=list)

    def _forget(self) -> None:
        self.rows = []

    @rx.event
    async def on_load(self) -> None:
        if await self._admin() is None:
            return
        found = await asyncio.to_thread(provider_health.health)
        self.rows = [
            {
                "key": f"{h.window}-{h.provider}-{h.kind}",
                "window": f"last {h.window}",
                "provider": h.provider,
                "kind": h.kind,
                "success": percent(h.success_rate),
                "done": f"{h.succeeded:,} ok, {h.failed:,} failed",
                "median": duration(h.median_seconds),
                "p95": duration(h.p95_seconds),
            }
            for h in found
        ]


class AdminStripeState(AdminState):
    rows: rx.Field[list[Row]] = rx.field(default_factory=list)

    def _forget(self) -> None:
        self.rows = []

    @rx.event
    async def on_load(self) -> None:
        if await self._admin() is None:
            return
        found = await asyncio.to_thread(stripe_events.recent, limit=PAGE)
        self.rows = [
            {
                "id": str(e.id),
                "event": e.event_id,
                "type": e.event_type,
                "when": when(e.processed_at),
            }
            for e in found
        ]


def _audit_row(entry: audit.AuditView) -> Row:
    details = ", ".join(f"{k}: {v}" for k, v in sorted(entry.details.items()))
    return {
        "id": str(entry.id),
        "when": when(entry.created_at),
        "actor": entry.actor,
        "action": entry.action,
        "target": f"{entry.target_type} #{entry.target_id}",
        "reason": entry.reason,
        "details": details,
    }


class AdminAuditState(AdminPager, AdminState):
    rows: rx.Field[list[Row]] = rx.field(default_factory=list)

    def _forget(self) -> None:
        self.rows, self.next_before = [], 0

    @rx.event
    async def on_load(self) -> None:
        if await self._admin() is None:
            return
        await self._list(None)

    async def _list(self, before: int | None) -> None:
        found = await asyncio.to_thread(audit.recent, limit=PAGE, before_id=before)
        self.rows = [_audit_row(a) for a in found]
        self.next_before = found[-1].id if len(found) == PAGE else 0
