"""The gallery sorted and filtered by likeness: keyset pages on (likeness, id), then the
unscored pictures, and "hide doesn't look like you"."""

import base64
import re
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import GeneratedImage
from photoai.services import gallery
from photoai.services.gallery import Sort
from photoai.settings import get_settings
from tests.factories import make_user
from tests.services.test_gallery import T0, add_image


def scored(user_id: int, likeness: float | None, **kwargs: object) -> int:
    image_id = add_image(user_id, **kwargs)  # type: ignore[arg-type]
    with session_scope() as s:
        s.execute(
            update(GeneratedImage)
            .where(col(GeneratedImage.id) == image_id)
            .values(likeness=likeness)
        )
    return image_id


def walk_ids(user_id: int, *, limit: int, **kwargs: object) -> tuple[list[int], int]:
    """Every picture in order following the cursors, and how many pages it took."""
    ids: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        result = gallery.page(user_id, cursor=cursor, limit=limit, **kwargs)  # type: ignore[arg-type]
        pages += 1
        ids += [item.id for item in result.items]
        if result.next_cursor is None:
            return ids, pages
        cursor = result.next_cursor


def test_likeness_order_is_most_alike_first_then_unscored_newest_first(any_db: str) -> None:
    user = make_user()
    weak = scored(user, 0.71)
    strong = scored(user, 0.12)
    unscored_old = scored(user, None, at=T0 - timedelta(days=1))
    good = scored(user, 0.48)
    tie_a, tie_b = scored(user, 0.3), scored(user, 0.3)
    unscored_new = scored(user, None, at=T0 + timedelta(days=1))
    expected = [strong, tie_a, tie_b, good, weak, unscored_new, unscored_old]
    for limit in (1, 2, 3, 5, 7, 50):
        ids, pages = walk_ids(user, limit=limit, sort=Sort.LIKENESS)
        assert ids == expected, limit
        assert pages == -(-len(expected) // limit)


def test_likeness_pages_carry_the_badge_and_score(sqlite_db: str) -> None:
    user = make_user()
    scored(user, 0.2)
    item = gallery.page(user, sort=Sort.LIKENESS).items[0]
    assert item.likeness == 0.2
    assert item.likeness_badge == "Strong likeness"


def test_hide_not_you_leaves_out_only_pictures_past_the_threshold(
    any_db: str,
) -> None:
    user = make_user()
    threshold = get_settings().likeness_threshold
    alike = scored(user, threshold)
    not_you = scored(user, threshold + 0.01)
    unscored = scored(user, None)
    for sort in Sort:
        ids, _ = walk_ids(user, limit=2, sort=sort, hide_not_you=True)
        assert sorted(ids) == sorted([alike, unscored])
        assert not_you not in ids
        everything, _ = walk_ids(user, limit=2, sort=sort)
        assert sorted(everything) == sorted([alike, not_you, unscored])


def test_likeness_sort_keeps_the_other_filters(any_db: str) -> None:
    user = make_user()
    noir = scored(user, 0.4, style_id="noir")
    scored(user, 0.1, style_id="beach")
    favourite = scored(user, 0.5, favourite=True)
    assert walk_ids(user, limit=1, sort=Sort.LIKENESS, style_id="noir")[0] == [noir]
    assert walk_ids(user, limit=1, sort=Sort.LIKENESS, favourites=True)[0] == [favourite]


def test_likeness_sort_shows_only_the_users_own_pictures(any_db: str) -> None:
    me, other = make_user(), make_user()
    mine = [scored(me, 0.3), scored(me, None)]
    theirs = [scored(other, 0.1), scored(other, 0.31), scored(other, None)]
    ids, _ = walk_ids(me, limit=1, sort=Sort.LIKENESS)
    assert ids == mine
    # Another user's cursor is only a position: it still walks my pictures, never theirs.
    their_page = gallery.page(other, limit=1, sort=Sort.LIKENESS)
    assert their_page.next_cursor is not None
    from_their_cursor = gallery.page(me, cursor=their_page.next_cursor, sort=Sort.LIKENESS)
    assert {i.id for i in from_their_cursor.items} <= set(mine)
    assert not {i.id for i in from_their_cursor.items} & set(theirs)


def test_likeness_cursor_round_trips_exactly() -> None:
    for likeness in (0.0, 0.1, 1 / 3, 0.55, 1.9999999999, 1e-07):
        cursor = gallery.encode_likeness_cursor(likeness, 2**40)
        assert gallery.decode_likeness_cursor(cursor) == (likeness, 2**40)
    assert gallery.decode_likeness_cursor(gallery.encode_likeness_cursor(None, 7)) == (None, 7)


@pytest.mark.parametrize(
    "raw",
    [
        "s:0.5",
        "s:nan:1",
        "s:inf:1",
        "s:-0.5:1",
        "s:0.5:-1",
        "s:0.5:99999999999999999999",
        "u:",
        "u:x",
        "u:1:2",
        "1700000000000000:5",  # a newest-first cursor is not a likeness cursor
    ],
)
def test_forged_likeness_cursors_are_refused(sqlite_db: str, raw: str) -> None:
    user = make_user()
    cursor = base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()
    with pytest.raises(gallery.GalleryError, match=re.escape(gallery.BAD_CURSOR)):
        gallery.page(user, cursor=cursor, sort=Sort.LIKENESS)


def test_a_likeness_cursor_is_refused_by_the_newest_sort(sqlite_db: str) -> None:
    user = make_user()
    cursor = gallery.encode_likeness_cursor(0.3, 5)
    with pytest.raises(gallery.GalleryError, match=re.escape(gallery.BAD_CURSOR)):
        gallery.page(user, cursor=cursor)
