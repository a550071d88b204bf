"""The Generate page: pick a source, a style or pack or prompt, see the cost, submit, watch.

A double click must not start two requests: each submit carries a request key the service
dedupes on, and the same options sent again within a few seconds reuse the previous key.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import reflex as rx
from reflex.event import EventSpec

from photoai import db
from photoai.services import accounts, credits, gallery, generation, styles
from photoai.services.gallery import GalleryPage, ImageView
from photoai.services.generation import GenerationOptions, RequestView
from photoai.services.queue import QueueUnavailable
from photoai.state import live_jobs
from photoai.state.session import SessionState

DOUBLE_SUBMIT_SECONDS = 3.0
RECENT_IMAGES = 12
USER_ERRORS = (generation.GenerationError, credits.CreditError, QueueUnavailable)
EDITABLE_OPTIONS = frozenset(
    {"source", "prompt", "negative_prompt", "aspect_ratio", "count", "seed"}
)


def request_row(view: RequestView) -> dict[str, str]:
    return {
        "id": str(view.job_id),
        "status": view.status,
        "label": view.label,
        "source": view.source_label,
        "progress": str(round(view.progress * 100)),
        "count": str(view.count),
        "delivered": str(view.delivered),
        "flagged": str(view.flagged),
        "error": view.error,
        "when": view.created_at.strftime("%H:%M"),
    }


@dataclass(frozen=True)
class QueueData:
    """What the page shows of the user's work: requests, newest pictures, the balance."""

    views: list[RequestView]
    latest: GalleryPage
    profile: accounts.Profile


def read_queue(user_id: int) -> QueueData:
    """Requests, pictures and balance in one database session (run in a thread)."""
    with db.one_session():
        return QueueData(
            generation.recent_requests(user_id, 10),
            gallery.page(user_id, limit=RECENT_IMAGES),
            accounts.get_profile(user_id),
        )


def read_page(
    user_id: int, from_image: int | None
) -> tuple[QueueData, list[generation.SourceOption], ImageView | None]:
    """Everything the page load needs, in one database session (run in a thread)."""
    with db.one_session():
        image = None
        if from_image is not None:
            try:
                image = gallery.get_image(user_id, from_image)
            except gallery.GalleryError:
                image = None
        return read_queue(user_id), generation.sources(user_id), image


# The same for everyone: compiled into the page, not kept in each tab's state.
STYLE_CARDS = [
    {"id": s.id, "name": s.name, "description": s.description, "preview": s.preview_path}
    for s in styles.STYLES
]
PACK_CARDS = [
    {
        "id": p.id,
        "name": p.name,
        "styles": ", ".join(s.name for s in styles.pack_styles(p)),
        "size": str(len(p.style_ids)),
    }
    for p in styles.PACKS
]


def source_label(option: generation.SourceOption) -> str:
    """The name in the "Who" list; one marker says a demo source makes no real AI picture."""
    return f"{option.label} (demo)" if option.is_demo else option.label


class GenerateState(SessionState):
    sources: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    source: rx.Field[str] = rx.field("")
    style_id: rx.Field[str] = rx.field("")
    pack_id: rx.Field[str] = rx.field("")
    prompt: rx.Field[str] = rx.field("")
    negative_prompt: rx.Field[str] = rx.field("")
    aspect_ratio: rx.Field[str] = rx.field("1:1")
    count: rx.Field[str] = rx.field("1")
    seed: rx.Field[str] = rx.field("")
    error: rx.Field[str] = rx.field("")
    need_credits: rx.Field[bool] = rx.field(False)
    notice: rx.Field[str] = rx.field("")
    requests: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    recent: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    busy: rx.Field[bool] = rx.field(False)
    cost: rx.Field[int] = rx.field(0)
    _last_submit: tuple[GenerationOptions, float, str] | None = None
    _watch_id: str = ""
    _watch_alive_at: float = 0.0

    @rx.var
    def any_active(self) -> bool:
        return any(r["status"] in ("queued", "running") for r in self.requests)

    def _update_cost(self) -> None:
        """The price shown next to the button, recomputed whenever an option changes."""
        try:
            self.cost = generation.quote(self._options())
        except generation.GenerationError:
            self.cost = 0

    def _options(self) -> GenerationOptions:
        seed = self.seed.strip()
        return GenerationOptions(
            source=self.source,
            prompt=self.prompt,
            style_id=self.style_id,
            pack_id=self.pack_id,
            aspect_ratio=self.aspect_ratio,
            count=int(self.count) if self.count.isdigit() else 0,
            seed=int(seed) if seed.lstrip("-").isdigit() else None,
            negative_prompt=self.negative_prompt,
        )

    def _show_queue(self, data: QueueData) -> None:
        """Assign only what changed: an unchanged list is not sent to the browser again."""
        requests = [request_row(v) for v in data.views]
        recent = [
            {"id": str(i.id), "thumb": i.thumb_url, "alt": i.alt, "flagged": str(i.flagged)}
            for i in data.latest.items
        ]
        if requests != self.requests:
            self.requests = requests
        if recent != self.recent:
            self.recent = recent
        self._show_profile(data.profile)

    async def _refresh_queue(self, user_id: int) -> None:
        self._show_queue(await asyncio.to_thread(read_queue, user_id))

    def _follow(self, restart: bool = False) -> EventSpec | None:
        """Start following the user's jobs while any is active (one follower per tab)."""
        if not self.any_active:
            return None
        if not restart and self._watch_id and live_jobs.watch_alive(self._watch_alive_at):
            return None
        self._watch_id = live_jobs.new_watch_id()
        self._watch_alive_at = time.time()
        return GenerateState.follow_jobs(self._watch_id)  # type: ignore[misc]

    @rx.event(background=True)
    async def follow_jobs(self, watch_id: str) -> None:
        """Refresh the queue, the recent pictures and the balance whenever a job changes."""
        async with self:
            token = self._session_token()

        async def load(user_id: int) -> QueueData:
            return await asyncio.to_thread(read_queue, user_id)

        def show(data: QueueData) -> bool:
            if self._watch_id != watch_id:
                return False
            self._show_queue(data)
            self._watch_alive_at = time.time()
            if not self.any_active:
                self._watch_id = ""
            return bool(self._watch_id)

        await live_jobs.follow_jobs(self, watch_id, token, load, show)

    @rx.event
    async def on_load(self) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        self.error = self.notice = ""
        self.need_credits = self.busy = False
        again = self.router.url.query_parameters.get("from", "")
        from_image = int(again) if again.isdigit() and len(again) < 12 else None
        queue, options, image = await asyncio.to_thread(read_page, user.user_id, from_image)
        sources = [{"value": o.value, "label": source_label(o)} for o in options]
        if sources != self.sources:
            self.sources = sources
        if self.source not in {o.value for o in options}:
            self.source = options[0].value if options else ""
        if image is not None:
            self._prefill_from(image)
        self._update_cost()
        self._show_queue(queue)
        return self._follow(restart=not live_jobs.following_here(self._watch_id))

    def _prefill_from(self, image: ImageView) -> None:
        """Copy a picture's settings, for "Generate again with these settings"."""
        self.prompt = image.prompt
        self.style_id, self.pack_id = image.style_id, ""
        self.negative_prompt = image.negative_prompt
        self.aspect_ratio = image.aspect_ratio
        self.seed = str(image.seed) if image.seed is not None else ""
        self.count = "1"
        wanted = f"model:{image.model_id}" if image.model_id else "instant"
        if any(s["value"] == wanted for s in self.sources):
            self.source = wanted
        self.notice = "Settings copied from the picture you chose."

    @rx.event
    def set_option(self, name: str, value: str) -> None:
        """One setter for the form's plain text options; anything else is ignored."""
        if name in EDITABLE_OPTIONS:
            setattr(self, name, value[:5000])
            self._update_cost()

    @rx.event
    def pick_style(self, style_id: str) -> None:
        self.style_id = "" if self.style_id == style_id else style_id
        self.pack_id = ""
        style = styles.get_style(self.style_id)
        if style is not None:
            self.aspect_ratio = style.aspect_ratio  # each style is tuned for its own framing
        self._update_cost()

    @rx.event
    def pick_pack(self, pack_id: str) -> None:
        self.pack_id = "" if self.pack_id == pack_id else pack_id
        self.style_id = ""
        self._update_cost()

    def _request_key(self, options: GenerationOptions) -> str:
        last = self._last_submit
        if last and last[0] == options and time.monotonic() - last[1] < DOUBLE_SUBMIT_SECONDS:
            return last[2]
        return uuid.uuid4().hex

    @rx.event
    async def submit(self) -> AsyncIterator[EventSpec | None]:
        user = await self._current_user()
        if user is None:
            yield self._login_redirect()
            return
        options = self._options()
        key = self._request_key(options)
        self.busy = True
        self.error = self.notice = ""
        self.need_credits = False
        yield None
        try:
            job_ids = await asyncio.to_thread(generation.submit, user.user_id, options, key)
        except USER_ERRORS as exc:
            self.error = str(exc)
            self.need_credits = isinstance(exc, credits.InsufficientCredits)
        else:
            self._last_submit = (options, time.monotonic(), key)
            self.notice = (
                f"{len(job_ids)} requests queued." if len(job_ids) > 1 else "Request queued."
            )
        self.busy = False
        await self._refresh_queue(user.user_id)
        yield self._follow()

    @rx.event
    async def cancel(self, job_id: str) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        if job_id.isdigit() and not await asyncio.to_thread(
            generation.cancel, user.user_id, int(job_id)
        ):
            self.error = "Only a request still waiting in the queue can be canceled."
        await self._refresh_queue(user.user_id)
        return None
