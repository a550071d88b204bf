"""The Gallery page: every picture newest first, filters, a detail modal, bulk actions."""

import asyncio

import reflex as rx
from reflex.event import EventSpec

from photoai.services import gallery
from photoai.services.gallery import ImageView
from photoai.settings import get_settings
from photoai.state.display import when
from photoai.state.session import SessionState

PAGE_SIZE = 48
MAX_SELECTED = 200


def image_row(view: ImageView) -> dict[str, str]:
    return {
        "id": str(view.id),
        "thumb": view.thumb_url,
        "original": view.original_url,
        "download": view.download_url,
        "prompt": view.prompt,
        "alt": view.alt,
        "negative_prompt": view.negative_prompt,
        "style": view.style_name or "Own prompt",
        "seed": "" if view.seed is None else str(view.seed),
        "size": f"{view.width} x {view.height}",
        "aspect": view.aspect_ratio,
        "model": view.model_name or "Instant",
        "provider": view.provider,
        "demo": "yes" if view.is_demo else "",
        "favourite": "yes" if view.favourite else "",
        "flagged": "yes" if view.flagged else "",
        "likeness": (
            ""
            if view.likeness is None
            else f"{view.likeness_badge} (face distance {view.likeness:.2f})"
        ),
        "when": when(view.created_at),
    }


class GalleryState(SessionState):
    items: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    has_more: rx.Field[bool] = rx.field(False)
    loading: rx.Field[bool] = rx.field(False)
    model_filter: rx.Field[str] = rx.field("all")
    style_filter: rx.Field[str] = rx.field("all")
    favourites_only: rx.Field[bool] = rx.field(False)
    model_options: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    style_options: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    selected: rx.Field[list[str]] = rx.field(default_factory=list)
    current: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    modal_open: rx.Field[bool] = rx.field(False)
    error: rx.Field[str] = rx.field("")
    # Deleting asks first (`pending_delete`, shown in a dialog), then offers Undo for the
    # pictures just deleted (`undo_ids`) until the next deletion or a dismissal.
    pending_delete: rx.Field[list[str]] = rx.field(default_factory=list)
    undo_ids: rx.Field[list[str]] = rx.field(default_factory=list)
    undo_message: rx.Field[str] = rx.field("")
    _cursor: str | None = None

    @rx.var
    def zip_url(self) -> str:
        return "/api/gallery/zip?ids=" + ",".join(self.selected)

    @rx.var
    def confirm_open(self) -> bool:
        return bool(self.pending_delete)

    @rx.var
    def confirm_title(self) -> str:
        count = len(self.pending_delete)
        return "Delete this picture?" if count == 1 else f"Delete {count} pictures?"

    @rx.var
    def undo_minutes(self) -> str:
        minutes = max(1, get_settings().picture_undo_seconds // 60)
        return "1 minute" if minutes == 1 else f"{minutes} minutes"

    async def _load(self, user_id: int, *, more: bool) -> None:
        cursor = self._cursor if more else None
        result = await asyncio.to_thread(
            gallery.page,
            user_id,
            cursor=cursor,
            limit=PAGE_SIZE,
            model_id=int(self.model_filter) if self.model_filter.isdigit() else None,
            style_id=None if self.style_filter == "all" else self.style_filter,
            favourites=self.favourites_only,
        )
        rows = [image_row(i) for i in result.items]
        self.items = [*self.items, *rows] if more else rows
        self._cursor = result.next_cursor
        self.has_more = result.next_cursor is not None

    @rx.event
    async def on_load(self) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        await self._refresh_profile(user)
        self.selected = []
        self.modal_open = False
        self.error = ""
        self.pending_delete = []
        self.undo_ids = []
        self.undo_message = ""
        models, used_styles = await asyncio.to_thread(gallery.filters, user.user_id)
        self.model_options = [{"value": str(i), "label": n} for i, n in models]
        self.style_options = [{"value": i, "label": n} for i, n in used_styles]
        await self._load(user.user_id, more=False)
        return None

    @rx.event
    async def load_more(self) -> EventSpec | None:
        if self.loading or not self.has_more:
            return None
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        self.loading = True
        try:
            await self._load(user.user_id, more=True)
        finally:
            self.loading = False
        return None

    @rx.event
    async def set_filter(self, name: str, value: str) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        if name == "model":
            self.model_filter = value
        elif name == "style":
            self.style_filter = value
        elif name == "favourites":
            self.favourites_only = value == "yes"
        self.selected = []
        await self._load(user.user_id, more=False)
        return None

    @rx.event
    def toggle_select(self, image_id: str) -> None:
        if image_id in self.selected:
            self.selected = [i for i in self.selected if i != image_id]
        elif len(self.selected) < MAX_SELECTED:
            self.selected = [*self.selected, image_id]

    @rx.event
    def clear_selection(self) -> None:
        self.selected = []

    @rx.event
    async def open_image(self, image_id: str) -> EventSpec | None:
        return await self._open(image_id, reveal=False)

    @rx.event
    async def reveal_image(self, image_id: str) -> EventSpec | None:
        """Show a picture the provider's safety check flagged, at the user's request."""
        return await self._open(image_id, reveal=True)

    async def _open(self, image_id: str, *, reveal: bool) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        try:
            view = await asyncio.to_thread(
                gallery.get_image, user.user_id, int(image_id), reveal=reveal
            )
        except (gallery.GalleryError, ValueError):
            self.error = "Image not found."
            return None
        self.current = image_row(view)
        self.modal_open = True
        return None

    @rx.event
    def set_modal_open(self, is_open: bool) -> None:
        self.modal_open = is_open

    def _replace_row(self, image_id: str, **changes: str) -> None:
        self.items = [{**i, **changes} if i["id"] == image_id else i for i in self.items]
        if self.current.get("id") == image_id:
            self.current = {**self.current, **changes}

    @rx.event
    async def toggle_favourite(self, image_id: str) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        now = not any(i["id"] == image_id and i["favourite"] for i in self.items)
        if self.current.get("id") == image_id:
            now = not self.current.get("favourite")
        try:
            await asyncio.to_thread(gallery.set_favourite, user.user_id, int(image_id), now)
        except (gallery.GalleryError, ValueError):
            self.error = "Image not found."
            return None
        self._replace_row(image_id, favourite="yes" if now else "")
        return None

    @rx.event
    def ask_delete_current(self) -> None:
        """Close the picture and ask before deleting it (one dialog at a time)."""
        image_id = self.current.get("id", "")
        if image_id:
            self.modal_open = False
            self.pending_delete = [image_id]

    @rx.event
    def ask_delete_selected(self) -> None:
        self.pending_delete = list(self.selected)

    @rx.event
    def set_confirm_open(self, is_open: bool) -> None:
        if not is_open:
            self.pending_delete = []

    @rx.event
    async def confirm_delete(self) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        ids, self.pending_delete = self.pending_delete, []
        numbers = [int(i) for i in ids if i.isdigit()]
        try:
            deleted = await asyncio.to_thread(gallery.delete_images, user.user_id, numbers)
        except gallery.GalleryError as exc:
            self.error = str(exc)
            return None
        gone = set(ids)
        self.items = [i for i in self.items if i["id"] not in gone]
        self.selected = [i for i in self.selected if i not in gone]
        self.undo_ids = [str(n) for n in numbers]
        self.undo_message = "Picture deleted." if deleted == 1 else f"{deleted} pictures deleted."
        return None

    @rx.event
    async def undo_delete(self) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        numbers = [int(i) for i in self.undo_ids]
        self.undo_ids, self.undo_message = [], ""
        restored = await asyncio.to_thread(gallery.restore_images, user.user_id, numbers)
        if restored < len(numbers):
            self.error = "Too late to undo: deleted pictures are removed for good after a while."
        await self._load(user.user_id, more=False)
        return None

    @rx.event
    def dismiss_undo(self) -> None:
        self.undo_ids, self.undo_message = [], ""
