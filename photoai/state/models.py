"""Models pages: the list of personal models, a new draft, and one model's photos and training.

Live status: while a model is queued or training, a background task of the tab waits for the
user's job events (`photoai.state.live_jobs`) and re-reads the model when one arrives, so the
status changes on screen without a reload and without polling; it ends once nothing runs.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from tempfile import SpooledTemporaryFile
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from photoai import db
from photoai.services import accounts, credits, direct_uploads, training
from photoai.services.photo_decode import check_pool
from photoai.services.privacy import consent, retention
from photoai.services.queue import QueueUnavailable
from photoai.services.training import ModelDetail, ModelView, PhotoView
from photoai.settings import get_settings
from photoai.state import live_jobs
from photoai.state.display import day, photo_range, when
from photoai.state.privacy import disclosure_rows
from photoai.state.session import SessionState

ACTIVE = ("queued", "training")
STATUS_LABELS = {
    "draft": "Draft",
    "queued": "Queued",
    "training": "Training",
    "ready": "Ready",
    "failed": "Failed",
}
USER_ERRORS = (training.TrainingError, credits.CreditError, QueueUnavailable)
TRAINING_STARTED = "Training started. This page updates by itself."
RETRAIN_STARTED = (
    "Your training credits were refunded and a new training started. This page updates by itself."
)
# What replaces TRAINING_STARTED once the training ends (a failure shows its own error).
TRAINING_ENDED = {"ready": "Training finished: your model is ready to generate photos."}
PROGRESS_STEP_BYTES = 256 * 1024
SPOOL_IN_MEMORY_BYTES = 512 * 1024


def model_row(view: ModelView) -> dict[str, str]:
    return {
        "id": str(view.id),
        "name": view.name,
        "subject": view.subject,
        "subject_label": view.subject.capitalize(),
        "status": view.status,
        "status_label": STATUS_LABELS.get(view.status, view.status),
        "progress": str(round(view.progress * 100)),
        "photos": str(view.photo_count),
        "cost": str(view.cost_credits),
        "provider": view.provider,
        "demo": "yes" if view.is_demo else "",
        "error": view.error,
        "created": when(view.created_at),
        "updated": when(view.updated_at),
        "trained": when(view.trained_at),
        "quality": view.quality_line,
        "quality_weak": "yes" if view.quality_weak else "",
        "retrain_free": "yes" if view.can_retrain_free else "",
        "quality_pending": "yes" if view.quality_pending else "",
    }


def photo_row(view: PhotoView) -> dict[str, str]:
    return {
        "id": str(view.id),
        "filename": view.filename,
        "accepted": "yes" if view.accepted else "",
        "reason": view.reason,
        "thumb": view.thumb_url,
        "size": f"{view.width} x {view.height}" if view.width else "",
    }


def _new_spool() -> SpooledTemporaryFile[bytes]:
    return SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)


def _add_spooled_photo(
    user_id: int, model_id: int, name: str, spool: SpooledTemporaryFile[bytes]
) -> PhotoView:
    """Read a received file back and check it, on a photo-check thread.

    Until a check slot is free the file waits in a spooled temporary file (on disk past
    SPOOL_IN_MEMORY_BYTES), so twenty uploads waiting for their turn hold next to no memory;
    only the files being checked are in memory, at most the per-file limit each.
    """
    with spool:
        spool.seek(0)
        data = spool.read()
    return training.add_photo(user_id, model_id, name, data)


def _retention_note(view: ModelView) -> str:
    """When retention removes this model's photos (or the whole draft), for the model page."""
    settings = get_settings()
    if view.status == "draft":
        return (
            "This draft is deleted with its photos on "
            f"{day(retention.draft_removed_at(view.updated_at, settings))} if it is not "
            "changed or trained by then."
        )
    removed_at = retention.photos_removed_at(view.trained_at, settings)
    if view.status != "ready" or removed_at is None:
        return ""
    if view.photo_count == 0:
        return "The training photos have been deleted; the model keeps working without them."
    return (
        f"The training photos are deleted on {day(removed_at)}; "
        "the model keeps working without them."
    )


def _read_list(user_id: int) -> tuple[accounts.Profile, list[ModelView]]:
    """The navigation bar's profile and the user's models in one database session."""
    with db.one_session():
        return accounts.get_profile(user_id), training.list_models(user_id)


class ModelsState(SessionState):
    models: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)
    photo_range: rx.Field[str] = rx.field("")
    _watch_id: str = ""

    @rx.var
    def any_active(self) -> bool:
        return any(m["status"] in ACTIVE for m in self.models)

    def _show(self, views: list[ModelView]) -> None:
        models = [model_row(v) for v in views]
        if models != self.models:  # an unchanged list is not sent to the browser again
            self.models = models
        if not self.loaded:
            self.photo_range = photo_range()
            self.loaded = True

    @rx.event
    async def on_load(self) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        profile, views = await asyncio.to_thread(_read_list, user.user_id)
        self._show_profile(profile)
        self._show(views)
        if not self.any_active or live_jobs.following_here(self._watch_id):
            return None
        self._watch_id = live_jobs.new_watch_id()
        return ModelsState.follow_jobs(self._watch_id)  # type: ignore[misc]

    @rx.event(background=True)
    async def follow_jobs(self, watch_id: str) -> None:
        """Re-read the list whenever one of the user's jobs changes, while any model trains."""
        async with self:
            token = self._session_token()

        async def load(user_id: int) -> list[ModelView]:
            return await asyncio.to_thread(training.list_models, user_id)

        def show(views: list[ModelView]) -> bool:
            if self._watch_id != watch_id:
                return False
            self._show(views)
            return self.any_active

        await live_jobs.follow_jobs(self, watch_id, token, load, show)


class NewModelState(SessionState):
    error: rx.Field[str] = rx.field("")
    busy: rx.Field[bool] = rx.field(False)

    @rx.event
    async def on_load(self) -> EventSpec | None:
        self.error = ""
        self.busy = False
        return await self._ensure_signed_in()

    @rx.event
    async def create(self, form: dict[str, str]) -> AsyncIterator[EventSpec | None]:
        if self.busy:
            return
        user = await self._current_user()
        if user is None:
            yield self._login_redirect()
            return
        self.busy = True
        self.error = ""
        yield None
        try:
            model_id = await asyncio.to_thread(
                training.create_draft,
                user.user_id,
                form.get("name", ""),
                form.get("subject", ""),
            )
        except training.TrainingError as exc:
            self.error = str(exc)
            self.busy = False
            return
        yield rx.redirect(f"/models/{model_id}")


def _read_detail(user_id: int, model_id: int | None) -> tuple[ModelDetail | None, bool]:
    """A model and whether its owner consented, in one database session."""
    with db.one_session():
        try:
            if model_id is None:
                raise training.TrainingError("Model not found.")
            detail = training.get_model(user_id, model_id)
        except training.TrainingError:
            return None, False
        return detail, not detail.can_edit_photos or consent.has_consented(user_id)


def _read_detail_page(
    user_id: int, model_id: int | None
) -> tuple[accounts.Profile, tuple[ModelDetail | None, bool]]:
    with db.one_session():
        return accounts.get_profile(user_id), _read_detail(user_id, model_id)


class ModelDetailState(SessionState):
    model: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    photos: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    refusals: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    transfers: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    min_photos: rx.Field[int] = rx.field(0)
    max_photos: rx.Field[int] = rx.field(0)
    accepted: rx.Field[int] = rx.field(0)
    can_edit: rx.Field[bool] = rx.field(False)
    can_train: rx.Field[bool] = rx.field(False)
    identity_problem: rx.Field[str] = rx.field("")
    cost: rx.Field[int] = rx.field(0)
    error: rx.Field[str] = rx.field("")
    need_credits: rx.Field[bool] = rx.field(False)
    notice: rx.Field[str] = rx.field("")
    not_found: rx.Field[bool] = rx.field(False)
    checking: rx.Field[bool] = rx.field(False)
    upload_percent: rx.Field[int] = rx.field(0)
    busy: rx.Field[bool] = rx.field(False)
    consent_needed: rx.Field[bool] = rx.field(False)
    consent_rows: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    consent_error: rx.Field[str] = rx.field("")
    photos_removed: rx.Field[str] = rx.field("")
    direct_uploads: rx.Field[bool] = rx.field(False)
    _watch_id: str = ""
    _watch_alive_at: float = 0.0

    @rx.var
    def active(self) -> bool:
        """Training, or ready with its quality sample still being made: the page follows."""
        return self.model.get("status", "") in ACTIVE or self.model.get("quality_pending") == "yes"

    def _model_id(self) -> int | None:
        raw = self.router.url.path.rstrip("/").rsplit("/", 1)[-1]
        return int(raw) if raw.isdigit() and len(raw) < 12 else None

    @staticmethod
    async def _read(user_id: int, model_id: int | None) -> tuple[ModelDetail | None, bool]:
        """The model (None: not this user's, or gone) and whether the user consented."""
        return await asyncio.to_thread(_read_detail, user_id, model_id)

    def _show(self, detail: ModelDetail | None, consented: bool) -> None:
        if detail is None:
            self.not_found = True
            self.model = {}
            self.photos = []
            return
        self.not_found = False
        shown = self.model
        self.model = model_row(detail.model)
        ended = shown.get("status") in ACTIVE and self.model["status"] not in ACTIVE
        if ended and shown.get("id") == self.model["id"]:
            self.notice = TRAINING_ENDED.get(self.model["status"], "")
        self.photos = [photo_row(p) for p in detail.photos]
        self.min_photos = detail.min_photos
        self.max_photos = detail.max_photos
        self.accepted = detail.model.photo_count
        self.can_edit = detail.can_edit_photos
        self.can_train = detail.can_train
        self.identity_problem = detail.identity_problem
        self.cost = detail.training_cost
        self.photos_removed = _retention_note(detail.model)
        self.consent_needed = detail.can_edit_photos and not consented
        if self.consent_needed and not self.consent_rows:
            self.consent_rows = disclosure_rows()

    async def _reload(self) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        self._show(*await self._read(user.user_id, self._model_id()))
        self.direct_uploads = direct_uploads.enabled()
        return self._follow()

    @rx.event
    async def direct_upload_done(self, form: dict[str, Any]) -> EventSpec | None:
        """The page's script uploaded one photo to the bucket and had it checked
        (`/api/uploads/done`); a refusal it reports is shown like any other, then the photos
        are read again from the database, which is what counts."""
        try:
            result = json.loads(str(form.get("result", "")))
        except json.JSONDecodeError:
            result = {}
        if isinstance(result, dict) and isinstance(result.get("error"), str):
            name = str(result.get("filename", "photo"))[:255]
            self.refusals = [{"filename": name, "reason": result["error"][:300]}, *self.refusals]
        return await self._reload()

    def _follow(self) -> EventSpec | None:
        """Start following the user's jobs while this model is queued or training."""
        if not self.active:
            return None
        if self._watch_id and live_jobs.watch_alive(self._watch_alive_at):
            return None
        self._watch_id = live_jobs.new_watch_id()
        self._watch_alive_at = time.time()
        return ModelDetailState.follow_jobs(self._watch_id)  # type: ignore[misc]

    @rx.event(background=True)
    async def follow_jobs(self, watch_id: str) -> None:
        """Re-read the model whenever one of the user's jobs changes, while it trains."""
        async with self:
            token = self._session_token()
            model_id = self._model_id()

        async def load(user_id: int) -> tuple[ModelDetail | None, bool]:
            return await self._read(user_id, model_id)

        def show(data: tuple[ModelDetail | None, bool]) -> bool:
            if self._watch_id != watch_id or self._model_id() != model_id:
                return False
            self._show(*data)
            self._watch_alive_at = time.time()
            if not self.active:
                self._watch_id = ""
            return bool(self._watch_id)

        await live_jobs.follow_jobs(self, watch_id, token, load, show)

    @rx.event
    async def give_consent(self, form: dict[str, Any]) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        # Reflex sends a checkbox with an id as its checked state, else the form's "yes".
        if form.get("consent") not in (True, "yes"):
            self.consent_error = "Tick the box to agree before adding photos."
            return None
        self.consent_error = ""
        await asyncio.to_thread(consent.record_consent, user.user_id)
        return await self._reload()

    @rx.event
    async def on_load(self) -> EventSpec | None:
        self.error = self.notice = ""
        self.refusals = []
        self.transfers = []
        self.busy = self.checking = False
        self._watch_id = ""  # a new page load starts its own follower
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        profile, found = await asyncio.to_thread(_read_detail_page, user.user_id, self._model_id())
        self._show_profile(profile)
        self._show(*found)
        return self._follow()

    @rx.event
    def upload_progress(self, progress: dict[str, float | int | bool]) -> None:
        self.upload_percent = round(float(progress.get("progress", 0)) * 100)

    @rx.event(background=True)
    async def receive_photos(self, chunks: rx.UploadChunkIterator) -> None:
        """Take the upload as it streams in: each file shows its own progress, then its
        verdict the moment it has been checked, while the next file is still arriving."""
        async with self:
            user = await self._current_user()
            model_id = self._model_id()
            if user is None or model_id is None:
                return
            self.checking = True
            self.error = ""
            self.transfers = []
        limit = get_settings().max_upload_bytes
        name: str | None = None
        spool = _new_spool()
        size = shown = 0
        async for chunk in chunks:
            if name is None or chunk.offset == 0:  # every file's first chunk starts at 0
                if name is not None:
                    await self._check_received(user.user_id, model_id, name, spool)
                    spool = _new_spool()
                name, size, shown = chunk.filename or "photo", 0, 0
                async with self:
                    self.transfers = [*self.transfers, {"filename": name, "received": "0 KB"}]
            # One byte past the limit is enough for the service to refuse an oversized file.
            piece = chunk.data[: max(0, limit + 1 - size)]
            if piece:
                await asyncio.to_thread(spool.write, piece)
                size += len(piece)
            received = chunk.offset + len(chunk.data)
            if received - shown >= PROGRESS_STEP_BYTES:
                shown = received
                async with self:
                    self._set_transfer(name, f"{received / 1_048_576:.1f} MB")
        if name is not None:
            await self._check_received(user.user_id, model_id, name, spool)
        spool.close()
        async with self:
            self.checking = False
            self.upload_percent = 0
            await self._reload()

    def _set_transfer(self, name: str, received: str) -> None:
        self.transfers = [
            {**t, "received": received} if t["filename"] == name else t for t in self.transfers
        ]

    async def _check_received(
        self, user_id: int, model_id: int, name: str, spool: SpooledTemporaryFile[bytes]
    ) -> None:
        async with self:
            self._set_transfer(name, "checking…")
        # On the photo-check threads, not the shared pool: a burst of uploads waits there for
        # a check slot without holding threads every other request needs.
        pool = check_pool(get_settings().photo_check_concurrency)
        try:
            view = await asyncio.get_running_loop().run_in_executor(
                pool, _add_spooled_photo, user_id, model_id, name, spool
            )
        except training.TrainingError as exc:
            async with self:
                self.refusals = [{"filename": name, "reason": str(exc)}, *self.refusals]
        else:
            async with self:
                self.photos = [*self.photos, photo_row(view)]
                self.accepted += 1 if view.accepted else 0
        async with self:
            self.transfers = [t for t in self.transfers if t["filename"] != name]

    @rx.event
    async def remove_photo(self, photo_id: str) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        try:
            await asyncio.to_thread(training.remove_photo, user.user_id, int(photo_id))
        except (training.TrainingError, ValueError) as exc:
            self.error = str(exc) if isinstance(exc, training.TrainingError) else "Bad photo id."
        return await self._reload()

    @rx.var
    def refused_count(self) -> int:
        return sum(1 for p in self.photos if not p["accepted"])

    @rx.event
    async def clear_refused(self) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        model_id = self._model_id()
        if model_id is None:
            return None
        try:
            await asyncio.to_thread(training.clear_refused, user.user_id, model_id)
        except training.TrainingError as exc:
            self.error = str(exc)
        self.refusals = []
        return await self._reload()

    @rx.event
    async def start_training(self) -> AsyncIterator[EventSpec | None]:
        # Events of one tab run in order: a double click's second event finds the model
        # already queued (can_train is off after the first one's reload) and does nothing.
        if self.busy or not self.can_train:
            return
        failed = self.model.get("status") == "failed"
        start = training.retry_training if failed else training.start_training
        async for update in self._train(start, TRAINING_STARTED):
            yield update

    @rx.event
    async def retrain_for_free(self) -> AsyncIterator[EventSpec | None]:
        """Refund a weak model's training and train it again (see services/model_quality)."""
        if self.busy or self.model.get("retrain_free") != "yes":
            return
        async for update in self._train(training.retrain_for_free, RETRAIN_STARTED):
            yield update

    async def _train(
        self, start: Callable[[int, int], object], started: str
    ) -> AsyncIterator[EventSpec | None]:
        """Run a training service for this page's model, showing busy, then its outcome."""
        user = await self._current_user()
        if user is None:
            yield self._login_redirect()
            return
        model_id = self._model_id()
        if model_id is None:
            return
        self.busy = True
        self.error = self.notice = ""
        self.need_credits = False
        yield None
        try:
            await asyncio.to_thread(start, user.user_id, model_id)
            self.notice = started
        except USER_ERRORS as exc:
            self.error = str(exc)
            self.need_credits = isinstance(exc, credits.InsufficientCredits)
        self.busy = False
        await self._refresh_profile(user)
        yield await self._reload()

    @rx.event
    async def delete_model(self) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        model_id = self._model_id()
        if model_id is not None:
            try:
                await asyncio.to_thread(training.delete_model, user.user_id, model_id)
            except training.TrainingError as exc:
                self.error = str(exc)
                return None
        return rx.redirect("/models")
