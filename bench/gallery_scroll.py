"""What scrolling a big gallery costs: bytes per scrolled page, per-tab state, Chromium's time.

    .venv/bin/python bench/gallery_scroll.py [--images 5000] [--port 3200] [--app-dir .]

Creates a PostgreSQL database of its own on 127.0.0.1:5432 (user postgres, trust; dropped at
the end), migrates it, and seeds one user with `--images` generated pictures (one INSERT ...
SELECT), each with a real, tiny JPEG original and thumbnail in local storage under a temporary
data folder. Then starts the app as the e2e tests do (`reflex run --env prod --single-port`,
one backend process) with Reflex's state kept in Redis (`--redis`, databases 13 and 14, which
it empties), signs the user in through the real `/auth/complete` ticket route in Chromium,
opens /gallery and scrolls to the end.

For every scrolled page it counts the bytes the browser received for it: websocket frames
(Reflex's state deltas) plus the bodies of HTTP replies to the gallery's own routes. It prints
those bytes at pages 2 and 100 (and the largest), the total over the whole scroll, the size of
the tab's state as Reflex stored it in Redis at the end (the sum of its keys), and the time
from opening the page until every picture's tile was on the page. `--app-dir` runs another
checkout of photoai (e.g. the main branch, for a before/after comparison) with this one's
virtualenv.
"""

import argparse
import io
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import redis
from PIL import Image
from playwright.sync_api import Page, Response, WebSocket, sync_playwright

from photoai.settings import get_settings

ADMIN_DSN = os.environ.get("PHOTOAI_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
CHROMIUM = os.environ.get("PHOTOAI_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
TILES = "[data-testid=gallery-tile]"
GALLERY_ROUTES = "/api/gallery/"

SEED = """
INSERT INTO generated_images (user_id, style_id, prompt, user_prompt, negative_prompt, seed,
    width, height, aspect_ratio, provider, storage_key, thumb_key, favourite, flagged,
    likeness, created_at)
SELECT :user, 'noir', 'a portrait of TOK', 'me at the seaside, golden hour', '', n,
       1024, 1024, '1:1', 'demo', '', '', mod(n, 17) = 0, false,
       CASE WHEN mod(n, 5) = 0 THEN NULL ELSE mod(n, 90) / 100.0 END,
       now() - make_interval(secs => n)
FROM generate_series(1, :count) AS n
"""


def tiny_jpeg(size: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (180, 120, 90)).save(out, "JPEG", quality=70)
    return out.getvalue()


def seed(db_url: str, images: int) -> int:
    """One user and their pictures; returns the user id. Runs inside the app's settings."""
    from sqlalchemy import text

    from photoai import db
    from photoai.services import accounts
    from photoai.services.storage import get_storage

    user_id = accounts.register("gallery-bench@example.com", "bench-password-123")
    with db.session_scope() as s:
        s.execute(text(SEED), {"user": user_id, "count": images})
        s.execute(
            text(
                "UPDATE generated_images SET storage_key = 'users/' || user_id || '/images/' "
                "|| id || '.jpg', thumb_key = 'users/' || user_id || '/images/' || id "
                "|| '-thumb.jpg' WHERE user_id = :user"
            ),
            {"user": user_id},
        )
        keys = s.execute(
            text("SELECT storage_key, thumb_key FROM generated_images WHERE user_id = :u"),
            {"u": user_id},
        ).all()
    storage = get_storage()
    original, thumb = tiny_jpeg(64), tiny_jpeg(32)
    for key, thumb_key in keys:
        storage.put(key, original, "image/jpeg")
        storage.put(thumb_key, thumb, "image/jpeg")
    return user_id


def wait_until_serving(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"reflex exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/login/", timeout=2, follow_redirects=True).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError("the app did not come up")


class Meter:
    """Bytes the page received: websocket frames and gallery route replies."""

    def __init__(self, page: Page) -> None:
        self.bytes = 0
        self.reply_ms: list[float] = []  # request sent until the whole reply came, per route call
        self.reply_bytes: list[int] = []
        page.on("websocket", self._socket)
        page.on("response", self._response)

    def _socket(self, socket: WebSocket) -> None:
        socket.on("framereceived", self._frame)

    def _frame(self, payload: str | bytes) -> None:
        self.bytes += len(payload.encode() if isinstance(payload, str) else payload)

    def _response(self, response: Response) -> None:
        if GALLERY_ROUTES in response.url and "/zip" not in response.url:
            size = len(response.body())
            self.bytes += size
            self.reply_bytes.append(size)
            timing = response.request.timing
            self.reply_ms.append(timing["responseEnd"] - timing["requestStart"])


def tiles(page: Page) -> int:
    return int(page.evaluate(f"document.querySelectorAll('{TILES}').length"))


# Runs in the page: jump to the bottom, then wait (checking every frame) until more tiles than
# `shown` are there; returns the milliseconds that took, as the browser counts them.
NEXT_PAGE_JS = """
async (shown) => {
  const started = performance.now();
  window.scrollTo(0, document.documentElement.scrollHeight);
  const count = () => document.querySelectorAll('[data-testid=gallery-tile]').length;
  while (count() <= shown) {
    await new Promise((resolve) => requestAnimationFrame(resolve));
    if (performance.now() - started > 120000) throw new Error('no more tiles in 120 s');
  }
  return [performance.now() - started, count()];
}
"""


@dataclass
class Scroll:
    """Per scrolled page (index 0 is page 2): bytes received and seconds waited for its tiles
    (in the browser, from the jump to the bottom until the new tiles are in the page)."""

    bytes: list[int] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    first_page: float = 0.0
    total: float = 0.0


def scroll(page: Page, meter: Meter, images: int) -> Scroll:
    """Open the gallery, then jump to the bottom and wait for the next tiles, to the end."""
    result = Scroll()
    started = time.monotonic()
    page.goto("/gallery")
    first = min(images, get_settings().gallery_page_size)
    page.wait_for_function(f"document.querySelectorAll('{TILES}').length >= {first}")
    result.first_page = time.monotonic() - started
    shown = tiles(page)
    while shown < images:
        before = meter.bytes
        waited_ms, shown = page.evaluate(NEXT_PAGE_JS, shown)
        result.waits.append(waited_ms / 1000)
        result.bytes.append(meter.bytes - before)
    result.total = time.monotonic() - started
    return result


def state_bytes(client: redis.Redis) -> int:
    """Everything Reflex keeps in its Redis database (one tab: this run's only client)."""
    total = 0
    for key in client.scan_iter(count=500):
        if client.type(key) == b"string":
            total += int(client.strlen(key))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--port", type=int, default=3200)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--app-dir", type=Path, default=ROOT)
    args = parser.parse_args()
    app_dir = args.app_dir.resolve()

    name = f"gallery_bench_{os.getpid()}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    db_url = f"{db_url}/{name}"
    data_dir = Path(tempfile.mkdtemp(prefix="gallery-bench-"))
    base = f"http://localhost:{args.port}"
    reflex_redis = f"{args.redis}/14"
    env = {
        **os.environ,
        "PHOTOAI_DATABASE_URL": db_url,
        "PHOTOAI_DATA_DIR": str(data_dir),
        "PHOTOAI_REDIS_URL": f"{args.redis}/13",
        "REFLEX_REDIS_URL": reflex_redis,
        "GRANIAN_WORKERS": "1",
        "PHOTOAI_BASE_URL": base,
        "PHOTOAI_BCRYPT_ROUNDS": "4",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_CHECK_LATEST_VERSION": "0",
        "PYTHONPATH": str(app_dir),
        "PATH": f"{ROOT / '.tools/node_modules/.bin'}:{os.environ['PATH']}",
    }
    os.environ.update({k: env[k] for k in ("PHOTOAI_DATABASE_URL", "PHOTOAI_DATA_DIR")})
    state_redis = redis.Redis.from_url(reflex_redis)
    state_redis.flushdb()
    redis.Redis.from_url(f"{args.redis}/13").flushdb()
    server = None
    try:
        subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=app_dir,
            env=env,
            check=True,
            capture_output=True,
        )
        t0 = time.monotonic()
        user_id = seed(db_url, args.images)
        print(f"seeded {args.images} pictures for user {user_id} in {time.monotonic() - t0:.1f} s")
        log = data_dir / "reflex.log"
        server = subprocess.Popen(  # noqa: S603 (our own virtualenv's reflex, fixed arguments)
            [
                str(Path(sys.executable).parent / "reflex"),
                "run",
                "--env",
                "prod",
                "--single-port",
                "--backend-port",
                str(args.port),
            ],
            cwd=app_dir,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until_serving(base, server, log)
        from photoai.services import accounts

        ticket = accounts.create_login_ticket(user_id, "/gallery")
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
            context.set_default_timeout(60_000)
            page = context.new_page()
            page.goto(f"/auth/complete?ticket={ticket}")
            page.wait_for_url("**/gallery**")
            meter = Meter(page)
            run = scroll(page, meter, args.images)
            time.sleep(1)  # let the last state write land
            browser.close()
        kb = [b / 1000 for b in run.bytes]
        print(f"app: {app_dir}")
        print(f"pages scrolled: {len(kb) + 1} ({args.images} pictures)")
        print(f"bytes for page 2: {kb[0]:.1f} KB")
        if len(kb) >= 99:
            print(f"bytes for page 100: {kb[98]:.1f} KB")
        print(f"largest page: {max(kb):.1f} KB (page {kb.index(max(kb)) + 2})")
        if meter.reply_bytes:
            print(f"largest page route reply: {max(meter.reply_bytes) / 1000:.1f} KB")
        print(f"all pages after the first: {sum(run.bytes) / 1e6:.2f} MB")
        print(f"per-tab state in Redis: {state_bytes(state_redis) / 1000:.1f} KB")
        print(f"wait for the first page: {run.first_page:.2f} s")
        print(f"wait for page 2: {run.waits[0]:.2f} s", end="")
        print(f", page 100: {run.waits[98]:.2f} s" if len(run.waits) >= 99 else "")
        print(f"waiting for pages 2..{len(kb) + 1}, summed: {sum(run.waits):.1f} s")
        print(f"open + scroll to the end in Chromium: {run.total:.1f} s")
        if meter.reply_ms:
            replies = sorted(meter.reply_ms)
            median, p95 = statistics.median(replies), replies[int(len(replies) * 0.95)]
            print(f"page route replies: {len(replies)}, median {median:.0f} ms, p95 {p95:.0f} ms")
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        state_redis.flushdb()
        shutil.rmtree(data_dir, ignore_errors=True)
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
