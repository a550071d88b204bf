"""The Account page: name, password, signing out everywhere, and deleting the account."""

import asyncio
from collections.abc import AsyncIterator

import reflex as rx
from reflex.event import EventSpec

from photoai.services import accounts
from photoai.services.privacy import deletion, export
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

    @rx.event
    async def on_load(self) -> EventSpec | None:
        self.name_message = self.password_error = self.password_message = ""
        self.delete_error = ""
        self.deleting = False
        redirect = await self._ensure_signed_in()
        return redirect or await self._load_export()

    async def _load_export(self) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        view = await asyncio.to_thread(export.latest_export, user.user_id)
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
        return None

    @rx.event
    async def export_tick(self, _now: str = "") -> EventSpec | None:
        return await self._load_export()

    @rx.event
    async def request_export(self) -> EventSpec | None:
        """One export at a time: asking while one is prepared shows that one."""
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        await asyncio.to_thread(export.request_export, user.user_id)
        return await self._load_export()

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
