"""`/_upload` is authorised by the upload request's own session cookie, not by the tab token.

Reflex's upload endpoint finds the tab's state by the `reflex-client-token` header alone, and
the handler then sees the cookie of the tab's websocket. So anyone who learns a tab token
(it sits in the page's JavaScript, logs, extensions) could add photos to that user's model.
Two real users, a real tab for the owner over `/_event`, real multipart POSTs to `/_upload`.
"""

from sqlalchemy import func, select
from starlette.testclient import TestClient

from photoai.db import session_scope
from photoai.models import TrainingPhoto
from photoai.services import training
from tests.factories import make_user
from tests.photos import grace_hopper, jpeg
from tests.web.reflex_site import (
    MODEL_DETAIL,
    RECEIVE_PHOTOS,
    Tab,
    open_tab,
    signed_in_cookie,
)


def photos_of(model_id: int) -> int:
    with session_scope() as s:
        query = select(func.count()).where(TrainingPhoto.model_id == model_id)  # type: ignore[arg-type]
        return int(s.execute(query).scalar_one())


def upload(client: TestClient, tab: Tab, cookie: str | None) -> int:
    headers = {"reflex-client-token": tab.token, "reflex-event-handler": RECEIVE_PHOTOS}
    if cookie:
        headers["cookie"] = cookie
    photo = jpeg(grace_hopper().resize((1024, 1200)))
    files = {"files": ("me.jpg", photo, "image/jpeg")}
    return client.post("/_upload", headers=headers, files=files).status_code


def test_an_upload_counts_only_with_the_tab_owners_own_session_cookie(
    client: TestClient,
) -> None:
    owner, stranger = make_user(), make_user()
    model_id = training.create_draft(owner, "Me", "woman")
    owner_cookie = signed_in_cookie(client, owner)
    stranger_cookie = signed_in_cookie(client, stranger)
    with open_tab(client, owner_cookie) as tab:
        tab.send(f"{MODEL_DETAIL}.on_load", f"/models/{model_id}")
        tab.wait_for('"can_edit')

        assert upload(client, tab, cookie=None) == 403
        assert upload(client, tab, cookie=stranger_cookie) == 403
        assert upload(client, tab, cookie="photoai_session=not-a-session") == 403
        assert photos_of(model_id) == 0

        assert upload(client, tab, cookie=owner_cookie) == 202
        tab.wait_for('"checking_rx_state_":false')
    assert photos_of(model_id) == 1


def test_files_wait_for_their_check_on_disk_and_an_oversized_one_is_refused(
    client: TestClient,
) -> None:
    owner = make_user()
    model_id = training.create_draft(owner, "Me", "woman")
    cookie = signed_in_cookie(client, owner)
    big_photo = jpeg(grace_hopper().resize((3000, 3500)), quality=97)  # spooled to disk
    assert len(big_photo) > 1024 * 1024
    oversized = b"\xff\xd8\xff" + b"\0" * (25 * 1024 * 1024)
    with open_tab(client, cookie) as tab:
        tab.send(f"{MODEL_DETAIL}.on_load", f"/models/{model_id}")
        tab.wait_for('"can_edit')
        headers = {"reflex-client-token": tab.token, "reflex-event-handler": RECEIVE_PHOTOS}
        files = [
            ("files", ("big.jpg", big_photo, "image/jpeg")),
            ("files", ("huge.jpg", oversized, "image/jpeg")),
        ]
        headers["cookie"] = cookie
        assert client.post("/_upload", headers=headers, files=files).status_code == 202
        tab.wait_for("Larger than the 25 MB limit for one photo.")
        tab.wait_for('"checking_rx_state_":false')
    assert [p.filename for p in training.get_model(owner, model_id).photos] == ["big.jpg"]
