"""The gallery: a user's generated images, page by page, with favourites, deletion and ZIPs.

No Reflex here. Every function takes the signed-in user's id and checks ownership in its own
query, so another user's image looks exactly like a missing one ("Image not found.").

Pages are keyset-paginated on (created_at, id), newest first: a page costs the same at image
50 as at image 50,000, and images generated while someone scrolls neither repeat nor vanish
(OFFSET would shift under them). The cursor is opaque to the UI but not secret: whatever it
says, the query stays inside the user's own rows, so it is only checked to be well formed.

Sorted by likeness, pages walk (likeness, id) upwards (lower is more alike) on the
(user_id, likeness, id) index, then the unscored pictures newest first on the same index
(`likeness IS NULL`, id downwards): each cursor names the last picture and which of the two
walks it came from, so no OFFSET there either.

Flagged images (refused by a provider's or our own safety check after the fact) come with
empty links, so the UI shows a notice instead; `get_image(..., reveal=True)` gives the links
when the user asks to see one anyway. ZIP downloads leave them out.

Links are made by one storage object per call (local HMAC or S3 presigning, no network), and
model names come from the same query as the images, so a page is one database round trip.

Deleting is soft: a deleted picture gets `deleted_at`, vanishes from every query here at once,
and can be restored (the page's "Undo") for `picture_undo_seconds`. Upkeep then purges it: the
row goes, then its files. Usage figures never count rows (they come from the ledger), so
neither deleting nor purging changes what a user was shown as generated.
"""

import base64
import binascii
import logging
import math
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Row, Select, delete, exists, or_, select, tuple_, update
from sqlmodel import Session, col

from photoai.db import session_scope
from photoai.models import GeneratedImage, PersonalModel, utcnow
from photoai.services import maintenance, styles
from photoai.services.likeness_score import badge
from photoai.services.storage import ObjectNotFound, S3Storage, Storage, get_storage
from photoai.settings import get_settings

__all__ = [
    "MAX_IDS",
    "GalleryError",
    "GalleryPage",
    "ImageView",
    "Sort",
    "delete_images",
    "filters",
    "get_image",
    "iter_zip",
    "page",
    "purge_deleted",
    "restore_images",
    "set_favourite",
]

log = logging.getLogger(__name__)

MAX_PAGE = 100
MAX_IDS = 200  # per delete or ZIP: one request, one bounded query
PURGE_BATCH = 500  # rows per purge transaction; upkeep comes back for the rest
PURGE_EVERY_SECONDS = 60.0
ZIP_CHUNK = 64 * 1024
NOT_FOUND = "Image not found."
BAD_CURSOR = "Bad page cursor."
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"(\d{1,16}):(\d{1,19})")
# After a scored picture: "s:<its likeness, as repr()>:<id>"; after an unscored one: "u:<id>".
_SCORED_CURSOR = re.compile(r"s:(\d{1,3}(?:\.\d{1,20})?(?:e-\d{1,3})?):(\d{1,19})")
_UNSCORED_CURSOR = re.compile(r"u:(\d{1,19})")
_CURSOR_MAX_CHARS = 64
_MAX_ID = 2**63 - 1
_SLUG = re.compile(r"[^a-z0-9]+")


class GalleryError(ValueError):
    """A refusal with a message meant for the user."""


class Sort(StrEnum):
    NEWEST = "newest"
    LIKENESS = "likeness"  # most alike first, then the pictures that have no score


@dataclass(frozen=True)
class ImageView:
    """One picture as the user sees it. `prompt` is the user's own words ("" when a style was
    chosen without any): the prompt sent to the provider never leaves this module."""

    id: int
    thumb_url: str
    original_url: str
    download_url: str
    prompt: str
    negative_prompt: str
    style_id: str
    style_name: str
    seed: int | None
    width: int
    height: int
    aspect_ratio: str
    model_id: int | None
    model_name: str
    provider: str
    is_demo: bool
    favourite: bool
    flagged: bool
    created_at: datetime
    # The picture's likeness score (lower is more alike) and its plain badge; None and "" when
    # it was not scored.
    likeness: float | None = None
    likeness_badge: str = ""

    @property
    def alt(self) -> str:
        """What a screen reader says for the picture: the user's words, else its style."""
        return self.prompt or self.style_name or "Generated picture"


@dataclass(frozen=True)
class GalleryPage:
    items: tuple[ImageView, ...]
    next_cursor: str | None


# --- cursors -----------------------------------------------------------------------------------


def encode_cursor(created_at: datetime, image_id: int) -> str:
    """The position after an image: its time in whole microseconds (exact, unlike floats)."""
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return _pack(f"{micros}:{image_id}")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Undo `encode_cursor`; anything else is `GalleryError(BAD_CURSOR)`."""
    match = _CURSOR.fullmatch(_unpack(cursor))
    if match is None or int(match[2]) > _MAX_ID:
        raise GalleryError(BAD_CURSOR)
    try:
        created_at = _EPOCH + timedelta(microseconds=int(match[1]))
    except OverflowError as exc:
        raise GalleryError(BAD_CURSOR) from exc
    return created_at, int(match[2])


def _unpack(cursor: str) -> str:
    """The text inside a cursor; `GalleryError(BAD_CURSOR)` for anything not one of ours."""
    if len(cursor) > _CURSOR_MAX_CHARS or not cursor.isascii():
        raise GalleryError(BAD_CURSOR)
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError) as exc:
        raise GalleryError(BAD_CURSOR) from exc


def _pack(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def encode_likeness_cursor(likeness: float | None, image_id: int) -> str:
    """The position after a picture in the likeness order (repr() of a float round-trips)."""
    return _pack(f"u:{image_id}" if likeness is None else f"s:{likeness!r}:{image_id}")


def decode_likeness_cursor(cursor: str) -> tuple[float | None, int]:
    """Undo `encode_likeness_cursor`: (likeness or None for an unscored picture, id)."""
    raw = _unpack(cursor)
    scored, unscored = _SCORED_CURSOR.fullmatch(raw), _UNSCORED_CURSOR.fullmatch(raw)
    if scored is not None and math.isfinite(float(scored[1])) and int(scored[2]) <= _MAX_ID:
        return float(scored[1]), int(scored[2])
    if unscored is not None and int(unscored[1]) <= _MAX_ID:
        return None, int(unscored[1])
    raise GalleryError(BAD_CURSOR)


# --- views -------------------------------------------------------------------------------------


def file_name(image: GeneratedImage) -> str:
    """What a download or ZIP entry is called: photoai-<id>[-<style>].<ext of the original>."""
    base = image.storage_key.rpartition("/")[2]
    suffix = f".{base.rpartition('.')[2].lower()}" if "." in base else ".jpg"
    style = _SLUG.sub("-", image.style_id.lower()).strip("-")
    return f"photoai-{image.id}-{style}{suffix}" if style else f"photoai-{image.id}{suffix}"


def _download_url(storage: Storage, key: str, original_url: str, filename: str) -> str:
    """A link that makes the browser save the original instead of showing it.

    S3 is asked to send the Content-Disposition itself (a signed response override). Our
    /files route reads an unsigned `download` parameter, so the original's own link serves.
    """
    if isinstance(storage, S3Storage):
        url: str = storage.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": storage.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=get_settings().signed_url_seconds,
        )
        return url
    return f"{original_url}&{urlencode({'download': filename})}"


def _style_name(style_id: str) -> str:
    """The catalogue's name; a style since removed from the catalogue shows its id."""
    if not style_id:
        return ""
    style = styles.get_style(style_id)
    return style.name if style is not None else style_id


def _view(
    image: GeneratedImage, model_name: str | None, storage: Storage, *, reveal: bool
) -> ImageView:
    assert image.id is not None
    thumb_url = original_url = download_url = ""
    if image.storage_key and (reveal or not image.flagged):
        key, user_id = image.storage_key, image.user_id
        thumb_url = storage.signed_url(image.thumb_key or key, user_id)
        original_url = storage.signed_url(key, user_id)
        download_url = _download_url(storage, key, original_url, file_name(image))
    return ImageView(
        id=image.id,
        thumb_url=thumb_url,
        original_url=original_url,
        download_url=download_url,
        prompt=image.user_prompt,
        negative_prompt=image.negative_prompt,
        style_id=image.style_id,
        style_name=_style_name(image.style_id),
        seed=image.seed,
        width=image.width,
        height=image.height,
        aspect_ratio=image.aspect_ratio,
        model_id=image.model_id,
        model_name=model_name or "",
        provider=image.provider,
        is_demo=image.provider == "demo",
        favourite=image.favourite,
        flagged=image.flagged,
        created_at=image.created_at,
        likeness=image.likeness,
        likeness_badge=(
            ""
            if image.likeness is None
            else badge(image.likeness, get_settings().likeness_threshold).value
        ),
    )


def _live() -> ColumnElement[bool]:
    """Pictures the user has not deleted; every read here goes through it."""
    return col(GeneratedImage.deleted_at).is_(None)


def _with_model_name() -> Select[GeneratedImage, str]:
    """Images with their model's name: the join costs one index probe per row of a page."""
    return (
        select(GeneratedImage, col(PersonalModel.name))
        .outerjoin(PersonalModel, col(PersonalModel.id) == col(GeneratedImage.model_id))
        .where(_live())
    )


# --- reading -----------------------------------------------------------------------------------


def page(
    user_id: int,
    *,
    cursor: str | None = None,
    limit: int = 50,
    model_id: int | None = None,
    style_id: str | None = None,
    favourites: bool = False,
    sort: Sort = Sort.NEWEST,
    hide_not_you: bool = False,
) -> GalleryPage:
    """One page of the user's images and the cursor of the next (None at the end).

    Newest first by default; `Sort.LIKENESS` puts the most alike first (see the module's
    note). `hide_not_you` leaves out the pictures scored past the likeness threshold (the
    ones marked "doesn't look like you"); unscored pictures stay. The filters narrow the
    same walk: a model filter uses the (user_id, model_id, created_at, id) index, the others
    the (user_id, created_at, id) one. Favourites are asked for as plain `WHERE favourite`
    (not `IS true`) so that a partial index `WHERE favourite` can serve them (see
    bench/gallery_queries.py).
    """
    limit = max(1, min(limit, MAX_PAGE))
    query = _with_model_name().where(col(GeneratedImage.user_id) == user_id)
    if model_id is not None:
        query = query.where(col(GeneratedImage.model_id) == model_id)
    if style_id is not None:
        query = query.where(col(GeneratedImage.style_id) == style_id)
    if favourites:
        query = query.where(col(GeneratedImage.favourite))
    if hide_not_you:
        likeness = col(GeneratedImage.likeness)
        query = query.where(or_(likeness.is_(None), likeness <= get_settings().likeness_threshold))
    if sort == Sort.LIKENESS:
        rows = _by_likeness(query, cursor, limit)
    else:
        rows = _by_time(query, cursor, limit)
    storage = get_storage()
    items = tuple(_view(image, name, storage, reveal=False) for image, name in rows[:limit])
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = (
            encode_likeness_cursor(last.likeness, last.id)
            if sort == Sort.LIKENESS
            else encode_cursor(last.created_at, last.id)
        )
    return GalleryPage(items=items, next_cursor=next_cursor)


_Rows = list[Row[GeneratedImage, str]]


def _by_time(query: Select[GeneratedImage, str], cursor: str | None, limit: int) -> _Rows:
    """Up to limit + 1 rows newest first (the extra one says whether a next page exists)."""
    if cursor is not None:
        after = decode_cursor(cursor)
        query = query.where(
            tuple_(col(GeneratedImage.created_at), col(GeneratedImage.id)) < tuple_(*after)
        )
    query = query.order_by(
        col(GeneratedImage.created_at).desc(), col(GeneratedImage.id).desc()
    ).limit(limit + 1)
    with session_scope() as s:
        return list(s.execute(query).all())


def _by_likeness(query: Select[GeneratedImage, str], cursor: str | None, limit: int) -> _Rows:
    """Up to limit + 1 rows: scored ones by (likeness, id) upwards, then unscored ones by id
    downwards. The second query runs only on the page where the scored ones run out."""
    likeness, image_id = col(GeneratedImage.likeness), col(GeneratedImage.id)
    after_score, after_id = decode_likeness_cursor(cursor) if cursor else (0.0, None)
    rows: _Rows = []
    with session_scope() as s:
        if after_score is not None:
            scored = query.where(likeness.is_not(None))
            if after_id is not None:
                scored = scored.where(tuple_(likeness, image_id) > tuple_(after_score, after_id))
            rows = list(s.execute(scored.order_by(likeness, image_id).limit(limit + 1)).all())
            after_id = None  # the unscored walk starts at the top
        if len(rows) <= limit:
            unscored = query.where(likeness.is_(None))
            if after_id is not None:
                unscored = unscored.where(image_id < after_id)
            rows += s.execute(unscored.order_by(image_id.desc()).limit(limit + 1 - len(rows)))
    return rows


def get_image(user_id: int, image_id: int, *, reveal: bool = False) -> ImageView:
    """One of the user's images; `reveal` gives a flagged image's links all the same."""
    query = _with_model_name().where(
        col(GeneratedImage.id) == image_id, col(GeneratedImage.user_id) == user_id
    )
    with session_scope() as s:
        row = s.execute(query).one_or_none()
    if row is None:
        raise GalleryError(NOT_FOUND)
    return _view(row[0], row[1], get_storage(), reveal=reveal)


def filters(user_id: int) -> tuple[list[tuple[int, str]], list[tuple[str, str]]]:
    """The models and the styles the user has images of, by name, for the filter menus."""
    has_images = exists().where(
        col(GeneratedImage.user_id) == user_id,
        col(GeneratedImage.model_id) == col(PersonalModel.id),
        _live(),
    )
    with session_scope() as s:
        models = s.execute(
            select(col(PersonalModel.id), col(PersonalModel.name))
            .where(col(PersonalModel.user_id) == user_id, has_images)
            .order_by(col(PersonalModel.name), col(PersonalModel.id))
        ).all()
        style_ids = s.scalars(
            select(col(GeneratedImage.style_id))
            .where(
                col(GeneratedImage.user_id) == user_id,
                col(GeneratedImage.style_id) != "",
                _live(),
            )
            .distinct()
        ).all()
    named = sorted(((sid, _style_name(sid)) for sid in style_ids), key=lambda p: p[1].lower())
    return [(mid, name) for mid, name in models], named


# --- changing ----------------------------------------------------------------------------------


def set_favourite(user_id: int, image_id: int, favourite: bool) -> bool:
    """Mark or unmark a favourite; returns the new state."""
    with session_scope() as s:
        result = s.execute(
            update(GeneratedImage)
            .where(
                col(GeneratedImage.id) == image_id,
                col(GeneratedImage.user_id) == user_id,
                _live(),
            )
            .values(favourite=favourite)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise GalleryError(NOT_FOUND)
    return favourite


def delete_images(user_id: int, image_ids: list[int]) -> int:
    """Delete the user's images among `image_ids`; returns how many were deleted.

    They disappear at once and stay restorable with `restore_images` until `purge_deleted`
    removes them after `picture_undo_seconds`. Ids that are not the user's, or already
    deleted, are ignored, as they are for a missing image.
    """
    wanted = _checked_ids(image_ids, allow_empty=True)
    if not wanted:
        return 0
    with session_scope() as s:
        result = s.execute(
            update(GeneratedImage)
            .where(
                col(GeneratedImage.user_id) == user_id,
                col(GeneratedImage.id).in_(wanted),
                _live(),
            )
            .values(deleted_at=utcnow())
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def restore_images(user_id: int, image_ids: list[int]) -> int:
    """Undo a deletion still inside its window; returns how many came back.

    A picture whose window has passed is not restored even if upkeep has not purged it yet,
    so what "Undo" can do never depends on when upkeep last ran.
    """
    wanted = _checked_ids(image_ids, allow_empty=True)
    if not wanted:
        return 0
    since = utcnow() - timedelta(seconds=get_settings().picture_undo_seconds)
    with session_scope() as s:
        result = s.execute(
            update(GeneratedImage)
            .where(
                col(GeneratedImage.user_id) == user_id,
                col(GeneratedImage.id).in_(wanted),
                col(GeneratedImage.deleted_at) >= since,
            )
            .values(deleted_at=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def purge_deleted(older_than_seconds: float | None = None) -> int:
    """Remove for good the pictures deleted longer ago than the undo window; how many went.

    Rows go first, files after the commit: a crash in between leaves unreachable files (which
    cost storage), never rows pointing at missing files (which break pages). Run by upkeep;
    `older_than_seconds` overrides the window (0 purges every deleted picture).
    """
    window = older_than_seconds
    if window is None:
        window = get_settings().picture_undo_seconds
    cutoff = utcnow() - timedelta(seconds=window)
    with session_scope() as s:
        doomed = (
            select(col(GeneratedImage.id))
            .where(
                col(GeneratedImage.deleted_at).is_not(None),
                col(GeneratedImage.deleted_at) <= cutoff,
            )
            .limit(PURGE_BATCH)
        )
        rows = s.execute(
            delete(GeneratedImage)
            .where(col(GeneratedImage.id).in_(doomed.scalar_subquery()))
            .returning(col(GeneratedImage.storage_key), col(GeneratedImage.thumb_key))
        ).all()
    storage = get_storage()
    for key in {key for row in rows for key in row if key}:
        try:
            storage.delete(key)
        except Exception:
            log.exception("could not delete %s of a purged image", key)
    return len(rows)


def _checked_ids(image_ids: Iterable[int], *, allow_empty: bool = False) -> list[int]:
    unique = list(dict.fromkeys(image_ids))
    if len(unique) > MAX_IDS:
        raise GalleryError(f"Choose at most {MAX_IDS} images at a time.")
    if not unique and not allow_empty:
        raise GalleryError("Choose at least one image.")
    return unique


# --- ZIP downloads -----------------------------------------------------------------------------


class _Sink:
    """A write-only, unseekable file: zipfile streams into it and we drain it as we go.

    Because it has no `tell`/`seek`, zipfile writes each entry's sizes and CRC in a data
    descriptor after the data instead of going back to patch the header.
    """

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to push further: `drain` hands the bytes on."""

    def close(self) -> None:
        """The chunks stay drainable: the central directory arrives as zipfile closes."""

    def drain(self) -> Iterator[bytes]:
        if self._chunks:
            data = b"".join(self._chunks)
            self._chunks.clear()
            yield data


def iter_zip(user_id: int, image_ids: list[int]) -> Iterator[bytes]:
    """A ZIP of the user's images, made while it is sent.

    Checks everything before returning, so a caller can still answer with an error: every
    id must be the user's (`GalleryError(NOT_FOUND)` otherwise, naming none), at most
    `MAX_IDS`. The returned iterator does blocking reads; run it off the event loop.
    """
    wanted = _checked_ids(image_ids)
    with session_scope() as s:
        images = _owned(s, user_id, wanted)
    if len(images) != len(wanted):
        raise GalleryError(NOT_FOUND)
    by_id = {image.id: image for image in images}
    chosen = [by_id[i] for i in wanted if not by_id[i].flagged and by_id[i].storage_key]
    return _zip_stream(chosen, get_storage().get)


def _owned(s: Session, user_id: int, image_ids: list[int]) -> list[GeneratedImage]:
    return list(
        s.scalars(
            select(GeneratedImage).where(
                col(GeneratedImage.user_id) == user_id,
                col(GeneratedImage.id).in_(image_ids),
                _live(),
            )
        ).all()
    )


def _zip_stream(images: list[GeneratedImage], read: Callable[[str], bytes]) -> Iterator[bytes]:
    """Yield the archive in pieces of about `ZIP_CHUNK` bytes, one original in memory at a time.

    Entries are stored, not deflated: JPEG, PNG and WebP are compressed already. An original
    missing from storage is left out (and logged) since the archive is already on its way.
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        for image in images:
            try:
                data = read(image.storage_key)
            except ObjectNotFound:
                log.warning("image %s is missing from storage; left out of a ZIP", image.id)
                continue
            info = zipfile.ZipInfo(file_name(image), date_time=_zip_time(image.created_at))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            info.file_size = len(data)  # lets zipfile choose ZIP64 up front if it must
            view = memoryview(data)
            with archive.open(info, "w") as entry:
                for start in range(0, len(view), ZIP_CHUNK):
                    entry.write(view[start : start + ZIP_CHUNK])
                    yield from sink.drain()
            del data, view
        yield from sink.drain()
    yield from sink.drain()  # the central directory, written on close


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    """ZIP keeps local wall-clock time from 1980 on; UTC is what we have."""
    moment = max(moment.astimezone(UTC), datetime(1980, 1, 1, tzinfo=UTC))
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


maintenance.register("purge deleted pictures", purge_deleted, PURGE_EVERY_SECONDS)
