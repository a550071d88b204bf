"""The Account page: name, password, signing out everywhere, and deleting the account.

While a data export is prepared, a background task of the tab follows the user's job events
(`photoai.state.live_jobs`) and shows its progress as it is pushed; nothing polls.
"""

import asyncio
import time
from collections.abc import AsyncIterator

import reflex as rx
from reflex.event import EventSpec

from photoai import db
from photoai.services import accounts
from photoai.services.privacy import deletion, export
from photoai.services.privacy.export import ExportView
from photoai.state import live_jobs
from photoai.state.display import when
from photoai.state.session import SessionState


class AccountState(SessionState):
    name_message: rx.Field[str] = rx.field("")
    password_error: rx.Field[str] = rx.field("")
    password_message: rx.Field[str] = rx.field("")
    delete_error: rx.Field[str] = rx.field("")
    export_status: rx.Field[str] = rx.field("")
    export_url: rx.Field[str] = rx.field("")
    export_running: rx.Field[bool] = rx.field(False)
    deleting: rx.Field[bool] = rx.field(False)
    _watch_id: str = ""
    _watch_alive_at: float = 0.0

    @rx.event
    async def on_load(self) -> EventSpec | None:
        self.name_message = self.password_error = self.password_message = ""
        self.delete_error = ""
        self.deleting = False
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        profile, view = await asyncio.to_thread(self._read, user.user_id)
        self._show_profile(profile)
        self._show_export(view)
        return self._follow(restart=not live_jobs.following_here(self._watch_id))

    @staticmethod
    def _read(user_id: int) -> tuple[accounts.Profile, ExportView | None]:
        """The navigation bar's profile and the latest export in one database session."""
        with db.one_session():
            return accounts.get_profile(user_id), export.latest_export(user_id)

    def _show_export(self, view: ExportView | None) -> None:
        self.export_running = view is not None and view.status in ("queued", "running")
        self.export_url = view.download_url if view else ""
        if view is None:
            self.export_status = ""
        elif self.export_running:
            self.export_status = f"Preparing your data… {round(view.progress * 100)}%"
        elif self.export_url:
            self.export_status = f"Your data is ready until {when(view.expires_at)}."
        elif view.status == "succeeded":
            self.export_status = "Your last export has expired; prepare a new one."
        else:
            self.export_status = "Your last export failed; please try again."

    def _follow(self, restart: bool = False) -> EventSpec | None:
        """Follow the user's job events while an export is being prepared (one per tab)."""
        if not self.export_running:
            return None
        if not restart and self._watch_id and live_jobs.watch_alive(self._watch_alive_at):
            return None
        self._watch_id = live_jobs.new_watch_id()
        self._watch_alive_at = time.time()
        return AccountState.follow_export(self._watch_id)  # type: ignore[misc]

    @rx.event(background=True)
    async def follow_export(self, watch_id: str) -> None:
        """Show the export's progress and its link as its job's events arrive."""
        async with self:
            token = self._session_token()

        async def load(user_id: int) -> ExportView | None:
            return await asyncio.to_thread(export.latest_export, user_id)

        def show(view: ExportView | None) -> bool:
            if self._watch_id != watch_id:
                return False
            self._show_export(view)
            self._watch_alive_at = time.time()
            if not self.export_running:
                self._watch_id = ""
            return bool(self._watch_id)

        await live_jobs.follow_jobs(self, watch_id, token, load, show)

    @rx.event
    async def request_export(self) -> EventSpec | None:
        """One export at a time: asking while one is prepared shows that one."""
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        await asyncio.to_thread(export.request_export, user.user_id)
        self._show_export(await asyncio.to_thread(export.latest_export, user.user_id))
        return self._follow()

    @rx.event
    async def save_name(self, form: dict[str, str]) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        try:
            self.user_name = await asyncio.to_thread(
                accounts.update_name, user.user_id, form.get("name", "")
            )
            self.name_message = "Name saved."
        except accounts.AccountError as exc:
            self.name_message = str(exc)
        return None

    @rx.event
    async def change_password(self, form: dict[str, str]) -> AsyncIterator[EventSpec | None]:
        user = await self._current_user()
        if user is None:
            yield self._login_redirect()
            return
        self.password_error = self.password_message = ""
        if form.get("new_password", "") != form.get("confirm", ""):
            self.password_error = "The two new passwords do not match."
            return
        try:
            await asyncio.to_thread(
                accounts.change_password,
                user.user_id,
                form.get("current_password", ""),
                form.get("new_password", ""),
                keep_session_id=user.session_id,
            )
        except accounts.AccountError as exc:
            self.password_error = str(exc)
            return
        self.password_message = "Password changed. Other devices were signed out."
        yield rx.call_script("document.getElementById('password-form').reset()")

    @rx.event
    async def logout_everywhere(self) -> EventSpec:
        user = await self._current_user()
        if user is not None:
            await asyncio.to_thread(accounts.revoke_all_sessions, user.user_id)
        return self._signed_out()

    @rx.event
    async def delete_account(self, form: dict[str, str]) -> AsyncIterator[EventSpec | None]:
        """Disable the account now (the service revokes every session) and sign out; the
        erasing goes on in a background job."""
        if self.deleting:
            return
        user = await self._current_user()
        if user is None:
            yield self._login_redirect()
            return
        self.deleting = True
        self.delete_error = ""
        yield None
        try:
            await asyncio.to_thread(
                deletion.request_deletion, user.user_id, form.get("delete_password", "")
            )
        except deletion.DeletionError as exc:
            self.delete_error = str(exc)
            self.deleting = False
            return
        yield self._signed_out()
