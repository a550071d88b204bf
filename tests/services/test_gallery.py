"""The gallery service on real databases and real local storage."""

import io
import os
import re
import tracemalloc
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from moto.server import ThreadedMotoServer
from sqlmodel import select

from photoai.db import session_scope
from photoai.models import GeneratedImage, PersonalModel
from photoai.services import gallery
from photoai.services.storage import S3Storage, get_storage
from photoai.settings import get_settings
from tests.factories import make_user

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NOT_FOUND = re.escape(gallery.NOT_FOUND)


def add_image(
    user_id: int,
    *,
    at: datetime = T0,
    model_id: int | None = None,
    style_id: str = "",
    favourite: bool = False,
    flagged: bool = False,
    data: bytes | None = None,
    provider: str = "demo",
) -> int:
    """A generated image as the product stores it: a row, an original and a thumbnail."""
    with session_scope() as s:
        image = GeneratedImage(
            user_id=user_id,
            model_id=model_id,
            style_id=style_id,
            prompt="a portrait",
            seed=42,
            width=1024,
            height=1024,
            provider=provider,
            favourite=favourite,
            flagged=flagged,
            created_at=at,
        )
        s.add(image)
        s.flush()
        assert image.id is not None
        image_id = image.id
        image.storage_key = f"users/{user_id}/images/{image_id}.jpg"
        image.thumb_key = f"users/{user_id}/images/{image_id}-thumb.webp"
        keys = (image.storage_key, image.thumb_key)
    storage = get_storage()
    storage.put(keys[0], data if data is not None else os.urandom(64), "image/jpeg")
    storage.put(keys[1], b"thumb", "image/webp")
    return image_id


def add_model(user_id: int, name: str) -> int:
    with session_scope() as s:
        model = PersonalModel(user_id=user_id, name=name, status="ready")
        s.add(model)
        s.flush()
        assert model.id is not None
        return model.id


def walk(
    user_id: int,
    *,
    limit: int = 50,
    model_id: int | None = None,
    style_id: str | None = None,
    favourites: bool = False,
) -> Iterator[gallery.GalleryPage]:
    """Every page, following cursors to the end."""
    cursor: str | None = None
    while True:
        result = gallery.page(
            user_id,
            cursor=cursor,
            limit=limit,
            model_id=model_id,
            style_id=style_id,
            favourites=favourites,
        )
        yield result
        if result.next_cursor is None:
            return
        cursor = result.next_cursor


def ids_of(pages: Iterator[gallery.GalleryPage]) -> list[int]:
    return [item.id for p in pages for item in p.items]


# --- pages -------------------------------------------------------------------------------------


def test_keyset_pages_are_newest_first_and_stable_with_equal_times(any_db: str) -> None:
    user = make_user()
    older = [add_image(user, at=T0 - timedelta(minutes=1)) for _ in range(2)]
    same_time = [add_image(user, at=T0) for _ in range(7)]
    newest = add_image(user, at=T0 + timedelta(microseconds=1))
    pages = list(walk(user, limit=3))
    expected = [newest, *sorted(same_time, reverse=True), *sorted(older, reverse=True)]
    assert [item.id for p in pages for item in p.items] == expected
    assert [len(p.items) for p in pages] == [3, 3, 3, 1]
    assert pages[-1].next_cursor is None


def test_a_page_that_ends_exactly_has_no_next_cursor(any_db: str) -> None:
    user = make_user()
    for _ in range(4):
        add_image(user)
    first = gallery.page(user, limit=4)
    assert len(first.items) == 4
    assert first.next_cursor is None


def test_images_made_while_scrolling_neither_repeat_nor_vanish(any_db: str) -> None:
    user = make_user()
    made = [add_image(user, at=T0 + timedelta(seconds=n)) for n in range(6)]
    first = gallery.page(user, limit=3)
    add_image(user, at=T0 + timedelta(hours=1))  # lands on top, not in the next page
    assert first.next_cursor is not None
    second = gallery.page(user, limit=3, cursor=first.next_cursor)
    seen = [i.id for i in first.items] + [i.id for i in second.items]
    assert seen == made[::-1]


def test_limit_is_capped(sqlite_db: str) -> None:
    user = make_user()
    for _ in range(3):
        add_image(user)
    assert len(gallery.page(user, limit=0).items) == 1
    assert len(gallery.page(user, limit=-5).items) == 1
    assert gallery.MAX_PAGE == 100
    assert len(gallery.page(user, limit=10_000).items) == 3


def test_only_the_users_own_images(any_db: str) -> None:
    me, other = make_user(), make_user()
    mine = add_image(me)
    add_image(other)
    assert ids_of(walk(me)) == [mine]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage!",
        "bm90IGEgY3Vyc29y",  # "not a cursor"
        "MTIzOg",  # "123:"
        "LTE6MQ",  # "-1:1"
        "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OjE",  # a time past any calendar
        "MTo5OTk5OTk5OTk5OTk5OTk5OTk5",  # an id past 64 bits
        "x" * 65,
        "MToxé",
    ],
)
def test_forged_cursors_are_refused(sqlite_db: str, cursor: str) -> None:
    user = make_user()
    with pytest.raises(gallery.GalleryError, match=re.escape(gallery.BAD_CURSOR)):
        gallery.page(user, cursor=cursor)


def test_cursor_round_trips_to_the_microsecond() -> None:
    moment = datetime(2031, 7, 9, 3, 4, 5, 678901, tzinfo=UTC)
    assert gallery.decode_cursor(gallery.encode_cursor(moment, 2**40)) == (moment, 2**40)


# --- filters and favourites --------------------------------------------------------------------


def test_filters_by_model_style_and_favourite(any_db: str) -> None:
    user, other = make_user(), make_user()
    alpha, beta, unused = add_model(user, "Alpha"), add_model(user, "beta"), add_model(user, "Z")
    a1 = add_image(user, model_id=alpha, style_id="noir", at=T0)
    a2 = add_image(user, model_id=alpha, favourite=True, at=T0 + timedelta(seconds=1))
    b1 = add_image(user, model_id=beta, style_id="noir", favourite=True, at=T0)
    plain = add_image(user, style_id="beach", at=T0 + timedelta(seconds=2))
    add_image(other, model_id=add_model(other, "theirs"), style_id="theirs", favourite=True)

    assert ids_of(walk(user, model_id=alpha, limit=1)) == [a2, a1]
    assert ids_of(walk(user, style_id="noir", limit=1)) == [b1, a1]
    assert ids_of(walk(user, favourites=True, limit=1)) == [a2, b1]
    assert ids_of(walk(user, model_id=beta, favourites=True)) == [b1]
    assert ids_of(walk(user, model_id=unused)) == []
    assert len(ids_of(walk(user))) == 4

    models, styles = gallery.filters(user)
    assert models == [(alpha, "Alpha"), (beta, "beta")]
    assert sorted(styles) == [("beach", "beach"), ("noir", "noir")]
    view = gallery.get_image(user, a1)
    assert (view.model_id, view.model_name, view.style_id) == (alpha, "Alpha", "noir")
    assert gallery.get_image(user, plain).model_name == ""


def test_set_favourite_round_trip(any_db: str) -> None:
    user = make_user()
    image = add_image(user)
    assert gallery.set_favourite(user, image, True) is True
    assert gallery.get_image(user, image).favourite
    assert ids_of(walk(user, favourites=True)) == [image]
    assert gallery.set_favourite(user, image, False) is False
    assert ids_of(walk(user, favourites=True)) == []


# --- ownership ---------------------------------------------------------------------------------


def test_another_users_image_is_not_found(any_db: str) -> None:
    me, owner = make_user(), make_user()
    theirs = add_image(owner)
    for image_id in (theirs, 987654):
        with pytest.raises(gallery.GalleryError, match=NOT_FOUND):
            gallery.get_image(me, image_id)
        with pytest.raises(gallery.GalleryError, match=NOT_FOUND):
            gallery.set_favourite(me, image_id, True)
    assert gallery.delete_images(me, [theirs]) == 0
    assert not gallery.get_image(owner, theirs).favourite
    assert get_storage().exists(f"users/{owner}/images/{theirs}.jpg")


def test_delete_hides_at_once_and_purge_removes_rows_and_files(any_db: str) -> None:
    user, other = make_user(), make_user()
    doomed = [add_image(user) for _ in range(3)]
    kept = add_image(user, style_id="linkedin")
    theirs = add_image(other)
    storage = get_storage()

    assert gallery.delete_images(user, [*doomed, doomed[0], theirs]) == 3
    assert gallery.delete_images(user, doomed) == 0, "already deleted"

    assert ids_of(walk(user)) == [kept]
    for image_id in doomed:
        with pytest.raises(gallery.GalleryError, match=NOT_FOUND):
            gallery.get_image(user, image_id)
        with pytest.raises(gallery.GalleryError, match=NOT_FOUND):
            gallery.set_favourite(user, image_id, True)
    with pytest.raises(gallery.GalleryError, match=NOT_FOUND):
        gallery.iter_zip(user, [doomed[0]])
    # Inside the window the files stay, so Undo brings the picture back whole.
    assert gallery.purge_deleted() == 0
    assert storage.exists(f"users/{user}/images/{doomed[0]}.jpg")

    assert gallery.purge_deleted(older_than_seconds=0) == 3
    assert ids_of(walk(user)) == [kept]
    for image_id in doomed:
        assert not storage.exists(f"users/{user}/images/{image_id}.jpg")
        assert not storage.exists(f"users/{user}/images/{image_id}-thumb.webp")
    assert gallery.restore_images(user, doomed) == 0, "purged for good"
    assert storage.exists(f"users/{user}/images/{kept}.jpg")
    assert storage.exists(f"users/{other}/images/{theirs}.jpg")
    with session_scope() as s:
        assert s.exec(select(GeneratedImage).where(GeneratedImage.id == theirs)).one()
        assert not s.exec(select(GeneratedImage).where(GeneratedImage.id == doomed[0])).first()


def test_undo_restores_within_the_window_only(any_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    user, other = make_user(), make_user()
    early, late, model_made = add_image(user), add_image(user), add_image(user, style_id="linkedin")
    gallery.delete_images(user, [early, late, model_made])
    assert gallery.filters(user) == ([], [])
    assert gallery.restore_images(other, [early]) == 0, "only the owner can undo"

    assert gallery.restore_images(user, [late, model_made]) == 2
    assert sorted(ids_of(walk(user))) == sorted([late, model_made])
    assert gallery.get_image(user, late).thumb_url
    assert gallery.filters(user)[1] == [("linkedin", "LinkedIn profile")]

    # Once the window has passed, Undo does nothing even before upkeep has purged it.
    window = get_settings().picture_undo_seconds
    with session_scope() as s:
        row = s.get(GeneratedImage, early)
        assert row is not None and row.deleted_at is not None
        row.deleted_at = row.deleted_at - timedelta(seconds=window + 1)
    assert gallery.restore_images(user, [early]) == 0
    assert gallery.purge_deleted() == 1
    assert sorted(ids_of(walk(user))) == sorted([late, model_made])


def test_delete_refuses_too_many_ids(sqlite_db: str) -> None:
    user = make_user()
    image = add_image(user)
    with pytest.raises(gallery.GalleryError, match="at most 200"):
        gallery.delete_images(user, [image, *range(10_000, 10_200)])
    assert gallery.get_image(user, image)
    assert gallery.delete_images(user, []) == 0


# --- flagged images and links ------------------------------------------------------------------


def test_flagged_images_have_no_links_unless_revealed(sqlite_db: str) -> None:
    user = make_user()
    flagged = add_image(user, flagged=True)
    listed = gallery.page(user).items[0]
    assert listed.flagged
    assert (listed.thumb_url, listed.original_url, listed.download_url) == ("", "", "")
    hidden = gallery.get_image(user, flagged)
    assert (hidden.thumb_url, hidden.original_url, hidden.download_url) == ("", "", "")
    shown = gallery.get_image(user, flagged, reveal=True)
    assert shown.thumb_url.startswith(f"/files/users/{user}/images/{flagged}-thumb.webp?")
    assert shown.original_url.startswith(f"/files/users/{user}/images/{flagged}.jpg?")
    assert shown.download_url.endswith(f"&download=photoai-{flagged}.jpg")


def test_views_carry_links_and_labels(sqlite_db: str) -> None:
    user = make_user()
    image = add_image(user, style_id="Film Noir", provider="together")
    view = gallery.get_image(user, image)
    assert view.style_name == "Film Noir"  # no longer in the catalogue: its id
    assert view.thumb_url.startswith(f"/files/users/{user}/images/{image}-thumb.webp?exp=")
    assert view.download_url.startswith(view.original_url.split("&sig=")[0])
    assert view.download_url.endswith(f"&download=photoai-{image}-film-noir.jpg")
    assert not view.is_demo
    known = gallery.get_image(user, add_image(user, style_id="studio-headshot"))
    assert known.is_demo
    assert known.style_name == "Studio headshot"
    assert gallery.filters(user)[1] == [
        ("Film Noir", "Film Noir"),
        ("studio-headshot", "Studio headshot"),
    ]
    assert view.created_at == T0


# --- ZIP ---------------------------------------------------------------------------------------


def test_zip_holds_the_originals_and_leaves_flagged_out(sqlite_db: str) -> None:
    user = make_user()
    originals = {add_image(user, style_id="noir", data=os.urandom(5000 + n)): n for n in range(3)}
    flagged = add_image(user, flagged=True)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(gallery.iter_zip(user, [*originals, flagged]))))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names == [f"photoai-{i}-noir.jpg" for i in originals]
    storage = get_storage()
    for image_id in originals:
        stored = storage.get(f"users/{user}/images/{image_id}.jpg")
        assert archive.read(f"photoai-{image_id}-noir.jpg") == stored
        assert archive.getinfo(f"photoai-{image_id}-noir.jpg").compress_type == zipfile.ZIP_STORED


def test_zip_of_someone_elses_image_is_refused_before_any_byte(any_db: str) -> None:
    me, other = make_user(), make_user()
    mine, theirs = add_image(me), add_image(other)
    with pytest.raises(gallery.GalleryError, match=NOT_FOUND):
        gallery.iter_zip(me, [mine, theirs])
    with pytest.raises(gallery.GalleryError, match="at most 200"):
        gallery.iter_zip(me, list(range(1, 202)))
    with pytest.raises(gallery.GalleryError, match="at least one"):
        gallery.iter_zip(me, [])


def test_zip_skips_an_original_missing_from_storage(sqlite_db: str) -> None:
    user = make_user()
    gone, kept = add_image(user), add_image(user)
    get_storage().delete(f"users/{user}/images/{gone}.jpg")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(gallery.iter_zip(user, [gone, kept]))))
    assert archive.namelist() == [f"photoai-{kept}.jpg"]


def test_zip_is_streamed_in_bounded_chunks(sqlite_db: str) -> None:
    """Several images give many chunks, none much above ZIP_CHUNK, and the peak memory while
    streaming stays far below the archive's size: one original at a time, never the whole."""
    user = make_user()
    size = 400_000
    image_ids = [add_image(user, data=os.urandom(size)) for _ in range(6)]

    chunks = gallery.iter_zip(user, image_ids)
    tracemalloc.start()
    total, count, largest = 0, 0, 0
    try:
        for chunk in chunks:
            total, count, largest = total + len(chunk), count + 1, max(largest, len(chunk))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert total > 6 * size
    assert count > 6 * (size // gallery.ZIP_CHUNK)
    assert largest <= gallery.ZIP_CHUNK + 1024
    assert peak < 3 * size < total / 2


def test_s3_download_link_asks_for_an_attachment(
    sqlite_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On S3 the presigned link itself carries the Content-Disposition override."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for name, value in {
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": "gallery-test",
            "S3_REGION": "eu-west-1",
            "S3_ENDPOINT_URL": f"http://{host}:{port}",
            "S3_ACCESS_KEY_ID": "testing-key",
            "S3_SECRET_ACCESS_KEY": "testing-secret",
        }.items():
            monkeypatch.setenv(f"PHOTOAI_{name}", value)
        get_settings.cache_clear()
        storage = get_storage()
        assert isinstance(storage, S3Storage)
        storage.client.create_bucket(
            Bucket="gallery-test", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        user = make_user()
        image = add_image(user, style_id="studio-headshot", data=b"on s3")
        view = gallery.get_image(user, image)
        response = httpx.get(view.download_url)
        assert response.status_code == 200
        assert response.content == b"on s3"
        disposition = response.headers["content-disposition"]
        assert disposition == f'attachment; filename="photoai-{image}-studio-headshot.jpg"'
        assert "content-disposition" not in httpx.get(view.original_url).headers
    finally:
        server.stop()
