"""Browser journey for generation and the gallery: train with the demo provider, generate with
a style, a prompt and packs, watch results arrive live, then browse, open, download, favourite,
delete and zip in the gallery; a second user gets nothing of the first user's pictures."""

import io
import re
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import httpx
import psycopg
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from photoai.services.likeness_score import NOT_YOU
from photoai.settings import PROJECT_ROOT
from tests.e2e.conftest import RunningApp, shoot
from tests.e2e.journeys import create_model, new_email, register, upload

PACKS = ("Professional", "Creative", "Vintage")  # 4 + 5 + 4 styles


def grant(app: RunningApp, email: str, amount: int) -> None:
    """An operator's adjustment through the real CLI, on the running app's database."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "photoai.cli",
            "grant",
            email,
            str(amount),
            "--reference",
            uuid.uuid4().hex,
        ],
        env=app.env,
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )


def train_ready_model(page: Page, good: list[Path]) -> None:
    create_model(page, "Studio me")
    upload(page, good)
    expect(page.locator("#accepted-count")).to_contain_text(f"{len(good)} ", timeout=90_000)
    page.locator("#start-training").click()
    expect(page.get_by_text("Ready", exact=True).first).to_be_visible(timeout=90_000)


def released_as_not_you(app: RunningApp, email: str) -> int:
    """Credits given back for pictures that "doesn't look like you", from the app's ledger."""
    dsn = app.env["PHOTOAI_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(e.delta), 0) FROM credit_entries e JOIN users u "
            "ON u.id = e.user_id WHERE u.email = %s AND e.kind = 'release' "
            "AND e.description LIKE %s",
            (email, f"%{NOT_YOU}"),
        ).fetchone()
    assert row is not None
    return int(row[0])


def tile_badges(page: Page) -> list[str]:
    """Each gallery tile's likeness badge in order, "" for a picture without a score."""
    badges: list[str] = page.evaluate(
        """[...document.querySelectorAll('[data-testid=gallery-tile]')].map(
            (t) => t.querySelector('[data-testid=tile-likeness]')?.textContent || '')"""
    )
    return badges


def wait_queue_done(page: Page, rows: int) -> None:
    queue = page.get_by_test_id("queue-row")
    expect(queue).to_have_count(rows, timeout=30_000)
    expect(queue.filter(has_text="Done")).to_have_count(rows, timeout=180_000)


def test_generate_browse_and_manage(
    page: Page, browser: Browser, app_server: RunningApp, photo_files: dict[str, list[Path]]
) -> None:
    email = new_email()
    register(page, email)
    train_ready_model(page, photo_files["good"])
    grant(app_server, email, 100)

    page.goto("/generate")
    expect(page.locator("#source")).to_contain_text("Studio me")
    page.get_by_test_id("style-card").filter(has_text="Studio headshot").click()
    expect(page.locator("#cost")).to_have_text("1")
    page.locator("#generate").dblclick()  # one request, not two
    wait_queue_done(page, 1)
    expect(page.get_by_test_id("recent-image")).to_have_count(1)
    shoot(page, "generate-style")

    page.get_by_test_id("style-card").filter(has_text="Studio headshot").click()  # unpick
    page.fill("#prompt", "portrait of me reading in a sunny library")
    page.locator("#count").get_by_role("radio", name="4", exact=True).click()
    expect(page.locator("#cost")).to_have_text("4")
    page.locator("#generate").click()
    wait_queue_done(page, 2)
    expect(page.get_by_test_id("recent-image")).to_have_count(5)

    for pack in PACKS:
        page.get_by_test_id("pack-card").filter(has_text=pack).click()
        page.locator("#generate").click()
        expect(page.get_by_text("requests queued")).to_be_visible()
    wait_queue_done(page, 10)
    shoot(page, "generate-queue")
    # Pictures whose face does not match the user's held-out photos are delivered but not
    # charged; how many is read from the ledger.
    not_you = released_as_not_you(app_server, email)
    expect(page.locator("#nav-balance")).to_have_text(str(20 - 10 + 100 - 1 - 4 - 52 + not_you))

    page.goto("/gallery")
    tiles = page.get_by_test_id("gallery-tile")
    expect(tiles).to_have_count(48)
    shoot(page, "gallery")
    tiles.last.scroll_into_view_if_needed()
    page.mouse.wheel(0, 5000)
    expect(tiles).to_have_count(57)

    first = tiles.first
    first.locator("img").click()
    modal = page.get_by_role("dialog")
    expect(page.locator("#modal-image")).to_be_visible()
    # A pack picture: its style is the title, and the provider's prompt is not shown.
    expect(modal).not_to_contain_text("TOK")
    expect(modal).not_to_contain_text("{subject}")
    shoot(page, "gallery-modal")
    with page.expect_download() as download:
        page.locator("#download-original").click()
    original = Path(download.value.path())
    assert Image.open(original).size[0] >= 256
    page.locator("#toggle-favourite").click()
    expect(page.locator("#toggle-favourite")).to_contain_text("Unfavourite")
    page.get_by_role("button", name="Close").click()
    page.locator("#favourites-only").click()
    expect(tiles).to_have_count(1)
    page.locator("#favourites-only").click()
    expect(tiles).to_have_count(48)

    # Deleting asks first; "Keep" changes nothing.
    tiles.nth(1).locator("img").click()
    page.locator("#delete-image").click()
    confirm = page.get_by_role("alertdialog")
    expect(confirm).to_contain_text("Delete this picture?")
    expect(confirm).to_contain_text("You can undo this for 10 minutes")
    shoot(page, "gallery-confirm-delete")
    confirm.get_by_role("button", name="Keep").click()
    expect(confirm).to_have_count(0)
    expect(tiles).to_have_count(48)
    # Deleted, then brought back by Undo.
    kept_src = (tiles.nth(1).locator("img").get_attribute("src") or "").split("?")[0]
    tiles.nth(1).locator("img").click()
    page.locator("#delete-image").click()
    page.locator("#confirm-delete").click()
    expect(tiles).to_have_count(47)
    expect(page.get_by_role("status").filter(has_text="Picture deleted.")).to_be_visible()
    shoot(page, "gallery-undo")
    page.locator("#undo-delete").click()
    expect(tiles).to_have_count(48)
    assert (tiles.nth(1).locator("img").get_attribute("src") or "").split("?")[0] == kept_src
    expect(page.locator("#undo-toast")).to_have_count(0)
    # Deleted for real this time (purged later by upkeep).
    tiles.nth(1).locator("img").click()
    page.locator("#delete-image").click()
    page.locator("#confirm-delete").click()
    expect(tiles).to_have_count(47)
    page.goto("/gallery")
    tiles.last.scroll_into_view_if_needed()
    page.mouse.wheel(0, 5000)
    expect(tiles).to_have_count(56)

    # Best likeness first: scored pictures from most to least alike, then the unscored ones;
    # hiding "doesn't look like you" leaves out exactly the weak ones.
    page.locator("#gallery-sort").click()
    page.get_by_role("option", name="Best likeness first").click()
    expect(tiles).to_have_count(48)
    shoot(page, "gallery-likeness")
    tiles.last.scroll_into_view_if_needed()
    page.mouse.wheel(0, 5000)
    expect(tiles).to_have_count(56)
    badges = tile_badges(page)
    rank = {"Strong likeness": 0, "Good likeness": 1, "Weak likeness": 2, "": 3}
    assert [rank[b] for b in badges] == sorted(rank[b] for b in badges)
    assert any(b.endswith("likeness") for b in badges)
    weak = badges.count("Weak likeness")
    page.locator("#hide-not-you").click()
    expect(tiles).to_have_count(min(48, 56 - weak))
    tiles.last.scroll_into_view_if_needed()
    page.mouse.wheel(0, 5000)
    expect(tiles).to_have_count(56 - weak)
    assert "Weak likeness" not in tile_badges(page)
    page.locator("#hide-not-you").click()
    page.locator("#gallery-sort").click()
    page.get_by_role("option", name="Newest first").click()
    expect(page.locator("#gallery-sort")).to_have_text("Newest first")
    # A fresh visit keeps the sort and filters and shows a settled list to select from.
    page.goto("/gallery")
    expect(page.locator("#gallery-sort")).to_have_text("Newest first")
    expect(tiles).to_have_count(48)

    tiles.nth(0).get_by_role("checkbox").click()
    tiles.nth(2).get_by_role("checkbox").click()
    with page.expect_download() as download:
        page.locator("#download-zip").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert len(archive.namelist()) == 2
    Image.open(io.BytesIO(archive.read(archive.namelist()[0]))).verify()

    thumb = tiles.first.locator("img").get_attribute("src")
    assert thumb and thumb.startswith("/files/")
    image_id = archive.namelist()[0].split("-")[1]  # photoai-{id}-{style}.jpg

    tiles.first.locator("img").click()
    page.get_by_role("link", name="Generate again with these settings").click()
    page.wait_for_url(re.compile(r"/generate\?from="))
    expect(page.get_by_text("Settings copied")).to_be_visible()

    other = browser.new_context(base_url=app_server.base_url).new_page()
    register(other, new_email())
    assert other.request.get(f"/api/gallery/zip?ids={image_id}").status == 404
    assert other.request.get(thumb).status == 403
    assert httpx.get(f"{app_server.base_url}/api/gallery/zip?ids={image_id}").status_code == 401
    other.goto("/gallery")
    expect(other.get_by_text("No pictures here yet.")).to_be_visible()
    other.context.close()
