"""Every HTTP entry point answers a request by its own credential, never by what it names.

The audit behind issue 8: `/_upload` trusted the tab token it named. Each entry point of the
running app (Reflex's included) is tried here with no cookie and with a stranger's cookie:
  - `/files/...`: the link's signature covers the user of the request's own cookie;
  - `/api/gallery/zip`: the ids are looked up for the request's own cookie's user;
  - `/_event`: every handler resolves the websocket's own cookie; a stranger's tab on the
    owner's model page finds nothing, and a tab without a cookie is sent to sign in;
  - `/auth/complete`: the credential is the one-use ticket (no cookie is needed or trusted);
  - `/auth/logout`: revokes only the session of the cookie it carries;
  - `/provider-files/...` and the webhooks: their credential is a signature, not a cookie.
"""

import zipfile
from io import BytesIO

from starlette.testclient import TestClient

from photoai.services import accounts, training
from photoai.settings import get_settings
from tests.factories import make_user
from tests.photos import grace_hopper, jpeg
from tests.services.test_gallery import add_image
from tests.web.reflex_site import MODEL_DETAIL, open_tab, signed_in_cookie

PHOTO = jpeg(grace_hopper().resize((1024, 1200)))


def cookies(client: TestClient, *users: int) -> list[str]:
    return [signed_in_cookie(client, user) for user in users]


def get(client: TestClient, url: str, cookie: str | None) -> int:
    headers = {"cookie": cookie} if cookie else {}
    return client.get(url, headers=headers, follow_redirects=False).status_code


def test_file_links_open_only_for_the_cookie_of_the_user_they_were_made_for(
    client: TestClient,
) -> None:
    owner, stranger = make_user(), make_user()
    model_id = training.create_draft(owner, "Me", "woman")
    thumb = training.add_photo(owner, model_id, "me.jpg", PHOTO).thumb_url
    assert thumb.startswith("/files/")
    owner_cookie, stranger_cookie = (
        signed_in_cookie(client, owner),
        signed_in_cookie(client, stranger),
    )
    assert get(client, thumb, None) == 403
    assert get(client, thumb, stranger_cookie) == 403
    assert get(client, thumb, owner_cookie) == 200


def test_gallery_zip_is_built_only_for_the_cookies_own_user(client: TestClient) -> None:
    owner, stranger = make_user(), make_user()
    image_id = add_image(owner, style_id="noir", data=b"\xff\xd8\xff" + b"x" * 1000)
    owner_cookie, stranger_cookie = (
        signed_in_cookie(client, owner),
        signed_in_cookie(client, stranger),
    )
    url = f"/api/gallery/zip?ids={image_id}"
    assert get(client, url, None) == 401
    assert get(client, url, stranger_cookie) == 404
    response = client.get(url, headers={"cookie": owner_cookie})
    assert response.status_code == 200
    assert len(zipfile.ZipFile(BytesIO(response.content)).namelist()) == 1


def test_a_tab_acts_only_as_the_user_of_its_own_websocket_cookie(client: TestClient) -> None:
    owner, stranger = make_user(), make_user()
    model_id = training.create_draft(owner, "Mine", "woman")
    photo_id = training.add_photo(owner, model_id, "me.jpg", PHOTO).id
    stranger_cookie = signed_in_cookie(client, stranger)
    page = f"/models/{model_id}"
    with open_tab(client, stranger_cookie) as tab:
        tab.send(f"{MODEL_DETAIL}.on_load", page)
        tab.wait_for('"not_found_rx_state_":true')
        tab.send(f"{MODEL_DETAIL}.remove_photo", page, {"photo_id": str(photo_id)})
        tab.wait_for('"error_rx_state_"')
    with open_tab(client, None) as tab:
        tab.send(f"{MODEL_DETAIL}.on_load", page)
        tab.wait_for("/login?next=")
    assert [p.id for p in training.get_model(owner, model_id).photos] == [photo_id]


def test_auth_routes_trust_only_their_own_credential(client: TestClient) -> None:
    owner, stranger = make_user(), make_user()
    owner_cookie, stranger_cookie = (
        signed_in_cookie(client, owner),
        signed_in_cookie(client, stranger),
    )
    name = get_settings().session_cookie_name
    # /auth/complete: a made-up or already used ticket sets no cookie.
    ticket = accounts.create_login_ticket(owner, "/dashboard")
    assert client.get(f"/auth/complete?ticket={ticket}", follow_redirects=False).cookies[name]
    client.cookies.clear()
    for bad in (ticket, "made-up"):
        again = client.get(f"/auth/complete?ticket={bad}", follow_redirects=False)
        assert again.status_code == 303 and again.headers["location"].startswith("/login?")
        assert name not in again.cookies
    # /auth/logout: the stranger's cookie ends the stranger's session, not the owner's.
    client.post("/auth/logout", headers={"cookie": stranger_cookie}, follow_redirects=False)
    client.post("/auth/logout", follow_redirects=False)
    assert accounts.resolve_session(stranger_cookie.split("=", 1)[1]) is None
    assert accounts.resolve_session(owner_cookie.split("=", 1)[1]) is not None


def test_signature_routes_ignore_cookies(client: TestClient) -> None:
    owner = make_user()
    owner_cookie = signed_in_cookie(client, owner)
    headers = {"cookie": owner_cookie}
    assert get(client, f"/provider-files/users/{owner}/models/1/training.zip", owner_cookie) == 403
    for path in ("/api/stripe/webhook", "/api/webhooks/fal", "/api/webhooks/replicate"):
        answer = client.post(path, content=b"{}", headers=headers)
        assert answer.status_code in (400, 503), path
