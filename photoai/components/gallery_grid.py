"""The gallery's grid as a small React component (assets/gallery_grid.js).

The grid fetches its own pages from `/api/gallery/page` and keeps them in the browser, so a
scrolled page is one JSON reply of its own pictures and no picture is ever held in, or sent
from, the page's Reflex state (see photoai/api/gallery_routes.py for why). The state passes
down only small things: which URL to page through (sort and filters), a reload counter, the
selected ids (at most 200), the ids deleted since the list was fetched and the favourites
changed since; the grid calls back with a picture's id to open, reveal or (un)select it.
"""

from collections.abc import Sequence
from typing import Any

import reflex as rx
from reflex.event import passthrough_event_spec

# The grid calls back with one picture's id.
_WITH_ID = passthrough_event_spec(str)


class GalleryGrid(rx.Component):
    library = "$/public/gallery_grid.js"
    tag = "GalleryGrid"

    # `/api/gallery/page?...` with the sort, filters and page size; the grid starts over when
    # it changes.
    src: rx.Var[str]
    # Starts the list over when bumped, e.g. after an undo brings pictures back.
    reload: rx.Var[int]
    selected: rx.Var[list[str]]
    removed: rx.Var[list[str]]
    # Favourite marks changed since the list was fetched, by picture id.
    favourites: rx.Var[dict[str, bool]]

    @classmethod
    def get_event_triggers(cls) -> dict[str, Any | Sequence[Any]]:
        """onOpen, onReveal and onToggle, each with a picture's id (declared here rather than
        as `EventHandler[...]` fields, whose subscript type checkers cannot follow)."""
        return {
            **super().get_event_triggers(),
            "on_open": _WITH_ID,
            "on_reveal": _WITH_ID,
            "on_toggle": _WITH_ID,
        }


gallery_grid = GalleryGrid.create
