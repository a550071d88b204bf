"""Browser journey for personal models: upload good and bad photos, train with the demo
provider, watch the status turn "ready" without reloading; another user sees nothing of it."""

import re
import time
from pathlib import Path

import httpx
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.e2e.conftest import RunningApp, shoot
from tests.e2e.journeys import BAD_FILES, GOOD_COUNT, create_model, new_email, register, upload

# What the training progress bar shows, read in one go so the text and the bar agree in time.
READ_PROGRESS = r"""() => {
    const bar = document.querySelector('[role=progressbar]');
    const label = [...document.querySelectorAll('p, span')].find(
        (el) => /^\d+% trained$/.test(el.textContent.trim()));
    if (!bar || !label) return null;
    const fill = bar.firstElementChild.getBoundingClientRect().width;
    return {
        text: parseInt(label.textContent, 10),
        now: bar.getAttribute('aria-valuenow'),
        filled: 100 * fill / bar.getBoundingClientRect().width,
    };
}"""


def assert_progress_bar_matches_text(page: Page) -> list[int]:
    """While training, the bar is filled as far as the percentage written under it says."""
    seen: list[int] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        shown = page.evaluate(READ_PROGRESS)
        if shown is None:
            if seen:
                return seen
        else:
            page.wait_for_timeout(250)  # the bar eases to a new value over 120 ms
            again = page.evaluate(READ_PROGRESS)
            if again is not None and again["text"] == shown["text"]:
                assert again["now"] == str(again["text"]), again
                assert abs(again["filled"] - again["text"]) <= 2, again
                seen.append(again["text"])
        page.wait_for_timeout(300)
    raise AssertionError(f"training progress never finished showing; saw {seen}")


def test_upload_check_train_and_see_ready_live(
    page: Page, browser: Browser, app_server: RunningApp, photo_files: dict[str, list[Path]]
) -> None:
    console: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            console.append(message.text)

    page.on("console", keep)
    register(page, new_email())
    model_id = create_model(page, "Summer me")
    expect(page.locator("#start-training")).to_be_disabled()
    upload(page, photo_files["good"] + photo_files["bad"])
    tiles = page.get_by_test_id("photo-tile")
    expect(tiles).to_have_count(GOOD_COUNT + len(BAD_FILES) + 1, timeout=90_000)
    expect(page.locator("#accepted-count")).to_contain_text(f"{GOOD_COUNT} (8-30 needed)")
    for name, (_, reason) in BAD_FILES.items():
        tile = tiles.filter(has_text=name)
        expect(tile).to_contain_text(reason)
    expect(tiles.filter(has_text="me-again.jpg")).to_contain_text("duplicate")
    expect(tiles.filter(has_text="me-03.jpg")).to_contain_text("Accepted")
    expect(tiles.filter(has_text="me-03.jpg").locator("img")).to_have_js_property("complete", True)
    # Refused photos that decode show what they were, through the private file route.
    for name in ("blurry.jpg", "two-people.jpg", "cat.jpg", "me-again.jpg"):
        expect(tiles.filter(has_text=name).locator("img")).to_have_attribute(
            "src", re.compile(r"^/files/users/")
        )
    expect(tiles.filter(has_text="cut-off.jpg").locator("img")).to_have_count(0)
    shoot(page, "model-photos")

    tiles.filter(has_text="cat.jpg").get_by_role("button", name="Remove").click()
    expect(tiles).to_have_count(GOOD_COUNT + len(BAD_FILES))

    start = page.locator("#start-training")
    expect(start).to_contain_text("10 credits")
    start.dblclick()  # a double click must start one training and hold credits once
    expect(page.get_by_text("Training started")).to_be_visible()
    expect(page.locator("#nav-balance")).to_have_text("10")
    expect(page.get_by_text("Training", exact=True).first).to_be_visible(timeout=30_000)
    shoot(page, "model-training")
    seen = assert_progress_bar_matches_text(page)
    assert len(set(seen)) >= 2, seen  # it moved while we watched
    expect(page.get_by_text("Ready", exact=True).first).to_be_visible(timeout=90_000)
    expect(page.get_by_text("Training started")).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text("Training finished")
    # The quality sample made after training arrives without a reload.
    expect(page.locator("#model-quality")).to_contain_text(
        re.compile(r"^Model quality: Strong likeness \(0\.\d\d\)$"), timeout=60_000
    )
    expect(page.locator("#retrain-free")).to_have_count(0)
    shoot(page, "model-ready")
    assert not [m for m in console if "value" in m], console
    page.goto("/models")
    expect(page.get_by_test_id("model-card")).to_have_count(1)
    expect(page.get_by_test_id("model-card")).to_contain_text("Ready")
    shoot(page, "models")

    # After training, refused photos can still be removed, one by one or all at once;
    # accepted ones cannot.
    page.goto(f"/models/{model_id}")
    expect(tiles).to_have_count(GOOD_COUNT + len(BAD_FILES))
    expect(tiles.filter(has_text="me-03.jpg").get_by_role("button", name="Remove")).to_have_count(0)
    tiles.filter(has_text="blurry.jpg").get_by_role("button", name="Remove blurry.jpg").click()
    expect(tiles).to_have_count(GOOD_COUNT + len(BAD_FILES) - 1)
    clear = page.locator("#clear-refused")
    expect(clear).to_contain_text(f"({len(BAD_FILES) - 1})")
    shoot(page, "model-ready-refused")
    clear.click()
    expect(tiles).to_have_count(GOOD_COUNT)
    expect(clear).to_have_count(0)

    thumb = tiles_src = None
    page.goto(f"/models/{model_id}")
    tiles_src = page.get_by_test_id("photo-tile").locator("img").first.get_attribute("src")
    assert tiles_src and tiles_src.startswith("/files/")
    own = page.request.get(tiles_src)
    assert own.status == 200 and own.headers["content-type"] == "image/webp"

    other = browser.new_context(base_url=app_server.base_url).new_page()
    register(other, new_email())
    other.goto(f"/models/{model_id}")
    expect(other.get_by_text("Model not found")).to_be_visible()
    thumb = other.request.get(tiles_src)
    assert thumb.status == 403
    assert httpx.get(f"{app_server.base_url}{tiles_src}").status_code == 403
    other.context.close()


def test_not_enough_credits_shows_why_and_where_to_buy(
    page: Page, photo_files: dict[str, list[Path]]
) -> None:
    register(page, new_email())
    create_model(page, "Budget me")
    upload(page, photo_files["good"])
    expect(page.locator("#accepted-count")).to_contain_text(f"{GOOD_COUNT} ", timeout=90_000)
    for _ in range(2):  # 20 starter credits pay for two trainings of 10; the third is refused
        page.locator("#start-training").click()
        expect(page.get_by_text("Training started")).to_be_visible()
        expect(page.get_by_text("Ready", exact=True).first).to_be_visible(timeout=90_000)
        page.goto("/models")
        page.get_by_role("link", name="New model").click()
        page.wait_for_url(re.compile(r"/models/new"))
        page.fill("#name", "Another me")
        page.get_by_role("button", name="Create and add photos").click()
        page.wait_for_url(re.compile(r"/models/\d+"))
        upload(page, photo_files["good"])
        expect(page.locator("#accepted-count")).to_contain_text(f"{GOOD_COUNT} ", timeout=90_000)
    page.locator("#start-training").click()
    expect(page.get_by_role("alert")).to_contain_text("This needs 10 credits; you have 0.")
    page.get_by_role("link", name="Buy credits").click()
    page.wait_for_url(re.compile(r"/billing"))
