"""The Gallery page: its sort and filters, the selection, the detail modal, deletion.

The pictures themselves are not here: the grid fetches its pages over HTTP
(photoai/components/gallery_grid.py), so this state stays a few kilobytes however many
pictures a user has, and scrolling sends it no event at all. What it holds for the grid is
bounded: the selection (at most `MAX_SELECTED`), the ids deleted since the grid's list was
fetched (at most `MAX_REMOVED`, then the list starts over) and the favourite marks changed
since (likewise).
"""

import asyncio
from urllib.parse import urlencode

import reflex as rx
from reflex.event import EventSpec

from photoai.api.gallery_routes import PAGE_ROUTE
from photoai.services import gallery
from photoai.services.gallery import ImageView, Sort
from photoai.settings import get_settings
from photoai.state.display import when
from photoai.state.session import SessionState

MAX_SELECTED = gallery.MAX_IDS
# Past this many deletions or favourite changes the grid is told to fetch its list afresh.
MAX_REMOVED = 500


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
    model_filter: rx.Field[str] = rx.field("all")
    style_filter: rx.Field[str] = rx.field("all")
    favourites_only: rx.Field[bool] = rx.field(False)
    sort: rx.Field[str] = rx.field(Sort.NEWEST.value)
    hide_not_you: rx.Field[bool] = rx.field(False)
    model_options: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    style_options: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    selected: rx.Field[list[str]] = rx.field(default_factory=list)
    # For the grid: bumped to make it fetch its list afresh; what changed since it did.
    reload: rx.Field[int] = rx.field(0)
    removed: rx.Field[list[str]] = rx.field(default_factory=list)
    favourite_marks: rx.Field[dict[str, bool]] = rx.field(default_factory=dict)
    current: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    modal_open: rx.Field[bool] = rx.field(False)
    error: rx.Field[str] = rx.field("")
    # Deleting asks first (`pending_delete`, shown in a dialog), then offers Undo for the
    # pictures just deleted (`undo_ids`) until the next deletion or a dismissal.
    pending_delete: rx.Field[list[str]] = rx.field(default_factory=list)
    undo_ids: rx.Field[list[str]] = rx.field(default_factory=list)
    undo_message: rx.Field[str] = rx.field("")

    @rx.var
    def page_url(self) -> str:
        """The grid's page route with this sort, these filters and the operator's page size
        (the grid adds the cursor). Read here, at run time, not compiled into the page."""
        params = {"sort": self.sort, "limit": str(get_settings().gallery_page_size)}
        if self.model_filter != "all":
            params["model"] = self.model_filter
        if self.style_filter != "all":
            params["style"] = self.style_filter
        if self.favourites_only:
            params["favourites"] = "1"
        if self.hide_not_you:
            params["hide_not_you"] = "1"
        return f"{PAGE_ROUTE}?{urlencode(params)}"

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

    def _start_over(self) -> None:
        """Make the grid fetch its list from the top; nothing it was told about still holds."""
        self.removed = []
        self.favourite_marks = {}
        self.reload += 1

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
        self.removed = []
        self.favourite_marks = {}
        models, used_styles = await asyncio.to_thread(gallery.filters, user.user_id)
        self.model_options = [{"value": str(i), "label": n} for i, n in models]
        self.style_options = [{"value": i, "label": n} for i, n in used_styles]
        return None

    @rx.event
    def set_filter(self, name: str, value: str) -> None:
        """Change the sort or a filter; values not on offer are ignored (the grid's page
        route checks them again)."""
        if name == "model" and (value == "all" or value.isdigit()):
            self.model_filter = value
        elif name == "style" and (value == "all" or len(value) <= 64):
            self.style_filter = value
        elif name == "favourites":
            self.favourites_only = value == "yes"
        elif name == "hide_not_you":
            self.hide_not_you = value == "yes"
        elif name == "sort" and value in {s.value for s in Sort}:
            self.sort = value
        else:
            return
        self.selected = []
        self.removed = []
        self.favourite_marks = {}

    @rx.event
    def toggle_select(self, image_id: str) -> None:
        if image_id in self.selected:
            self.selected = [i for i in self.selected if i != image_id]
        elif len(self.selected) < MAX_SELECTED and image_id.isdigit():
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

    @rx.event
    async def toggle_favourite(self) -> EventSpec | None:
        """(Un)favourite the picture open in the details view."""
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        image_id = self.current.get("id", "")
        now = not self.current.get("favourite")
        try:
            await asyncio.to_thread(gallery.set_favourite, user.user_id, int(image_id), now)
        except (gallery.GalleryError, ValueError):
            self.error = "Image not found."
            return None
        self.current = {**self.current, "favourite": "yes" if now else ""}
        if len(self.favourite_marks) >= MAX_REMOVED:
            self._start_over()
        else:
            self.favourite_marks = {**self.favourite_marks, image_id: now}
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
        self.selected = [i for i in self.selected if i not in gone]
        if len(self.removed) + len(ids) > MAX_REMOVED:
            self._start_over()
        else:
            self.removed = [*self.removed, *ids]
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
        self._start_over()
        return None

    @rx.event
    def dismiss_undo(self) -> None:
        self.undo_ids, self.undo_message = [], ""
