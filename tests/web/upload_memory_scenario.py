"""Twenty uploads of the costliest photos at once, through the real `/_upload`, in one process.

Run by `test_upload_memory.py` in a fresh interpreter, so the figures are the web app's own and
not those of a test session that has already run hundreds of tests.

Each upload comes from its own user's tab, all at the same moment; the photos are the largest PNGs
the decode budget admits (the most expensive pictures that still get checked). The web
process's peak RSS (VmHWM, reset just before) is what the operator would see.
"""

import math
import threading
from contextlib import ExitStack
from io import BytesIO
from pathlib import Path

from PIL import Image
from starlette.testclient import TestClient

from photoai.services import faces, training
from photoai.services.photo_decode import decode_cost
from photoai.settings import get_settings
from tests.factories import make_user
from tests.web.reflex_site import MODEL_DETAIL, RECEIVE_PHOTOS, open_tab, signed_in_cookie

UPLOADS = 20


def costliest_png() -> bytes:
    budget = get_settings().photo_decode_budget_mb * 1024 * 1024
    side = math.isqrt(budget // decode_cost("PNG", "RGBA", (1, 1)))
    out = BytesIO()
    Image.new("RGBA", (side, side), (200, 170, 150, 255)).save(out, "PNG")
    return out.getvalue()


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(field)


def test_twenty_costliest_uploads_at_once_keep_the_process_under_1_gb(
    client: TestClient,
) -> None:
    photo = costliest_png()
    with ExitStack() as stack:
        tabs = []
        for n in range(UPLOADS):
            user = make_user()
            cookie = signed_in_cookie(client, user)
            model_id = training.create_draft(user, f"Model {n}", "woman")
            tab = stack.enter_context(open_tab(client, cookie))
            tab.send(f"{MODEL_DETAIL}.on_load", f"/models/{model_id}")
            tab.wait_for('"can_edit')
            tabs.append((tab, cookie))
        start = threading.Barrier(UPLOADS)
        answers: list[int] = []

        def upload(token: str, cookie: str) -> None:
            headers = {
                "reflex-client-token": token,
                "reflex-event-handler": RECEIVE_PHOTOS,
                "cookie": cookie,
            }
            start.wait()
            files = {"files": ("big.png", photo, "image/png")}
            answers.append(client.post("/_upload", headers=headers, files=files).status_code)

        # A web process reads dlib's face models once, at its first photo check (about 34 MB
        # measured here): a cost of the process, not of the uploads, so it is paid first.
        faces.load_models()
        Path("/proc/self/clear_refs").write_text("5")
        base = status_mb("VmRSS")
        threads = [threading.Thread(target=upload, args=(t.token, c)) for t, c in tabs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for tab, _ in tabs:
            tab.wait_for('"checking_rx_state_":false', timeout=120)
        peak = status_mb("VmHWM")
    print(f"20 uploads at once: peak RSS {peak:.0f} MB, from {base:.0f} MB")
    assert answers == [202] * UPLOADS
    assert peak < 1024
    assert peak - base < 2 * 150 + 100  # two checks at a time, plus the uploads in flight
