"""The gallery's page state holds no pictures: only the grid's URL, selection and what
changed since the grid fetched its list, each bounded however big the gallery is."""

import pickle

from photoai.state.gallery import MAX_REMOVED, MAX_SELECTED, GalleryState
from tests.async_support import run
from tests.factories import make_user
from tests.services.admin.support import sign_in
from tests.services.test_gallery import add_image
from tests.state.tabs import tab_state


def gallery_state(user_id: int | None = None) -> GalleryState:
    token = None if user_id is None else sign_in(user_id)
    return tab_state(GalleryState, token, "/gallery")


def test_the_grid_url_carries_the_sort_and_filters() -> None:
    state = gallery_state()
    assert state.page_url == "/api/gallery/page?sort=newest&limit=96"
    state.set_filter("sort", "likeness")
    state.set_filter("model", "12")
    state.set_filter("style", "noir & co")
    state.set_filter("favourites", "yes")
    state.set_filter("hide_not_you", "yes")
    assert state.page_url == (
        "/api/gallery/page?sort=likeness&limit=96&model=12&style=noir+%26+co&favourites=1&hide_not_you=1"
    )


def test_values_not_on_offer_change_nothing() -> None:
    state = gallery_state()
    state.selected = ["5"]
    refused = [("sort", "oldest"), ("model", "1; drop"), ("size", "x"), ("style", "s" * 65)]
    for name, value in refused:
        state.set_filter(name, value)
    assert state.page_url == "/api/gallery/page?sort=newest&limit=96"
    assert state.selected == ["5"]


def test_the_selection_is_bounded_and_holds_ids_only() -> None:
    state = gallery_state()
    for n in range(MAX_SELECTED + 10):
        state.toggle_select(str(n))
    state.toggle_select("not-an-id")
    assert len(state.selected) == MAX_SELECTED
    state.toggle_select("3")
    assert "3" not in state.selected


def test_deleting_many_starts_the_grid_over_instead_of_growing(sqlite_db: str) -> None:
    user = make_user()
    images = [str(add_image(user)) for _ in range(3)]
    state = gallery_state(user)
    state.removed = [str(n) for n in range(MAX_REMOVED - 1)]
    reload = state.reload
    state.pending_delete = images
    run(state.confirm_delete())
    assert state.removed == []
    assert state.reload == reload + 1
    assert state.undo_message == "3 pictures deleted."
    state.pending_delete = [images[0]]
    run(state.undo_delete())
    assert state.reload == reload + 2


def test_a_big_galleries_state_stays_small(sqlite_db: str) -> None:
    user = make_user()
    for _ in range(120):
        add_image(user)
    state = gallery_state(user)
    run(state.on_load())
    for n in range(MAX_SELECTED):
        state.toggle_select(str(n))
    assert len(pickle.dumps(state.dict())) < 20_000
