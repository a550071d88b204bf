"""A real photoai server for browser journeys: `reflex run --env prod` plus `worker.py`.

The server gets its own PostgreSQL database, Redis database and data folder; Playwright drives
Debian's Chromium against it. Screenshots of every page land in `test-artifacts/screens/`.
"""

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from photoai.settings import PROJECT_ROOT
from tests.conftest import PG_ADMIN_DSN, migrate
from tests.e2e import journeys
from tests.e2e.journeys import write_photo_files
from tests.fakes.monitoring_servers import FakePostHog, FakeSentry
from tests.fakes.stripe_api import FakeStripe
from tests.local_servers import free_port, start_logged, stop_group, wait_until_serving

CHROMIUM = os.environ.get("PHOTOAI_CHROMIUM", "/usr/bin/chromium")
SCREENS = PROJECT_ROOT / "test-artifacts" / "screens"
E2E_REDIS_URL = os.environ.get("PHOTOAI_TEST_E2E_REDIS", "redis://127.0.0.1:6379/12")
METRICS_TOKEN = "e2e-metrics-token-0123456789"


@dataclass(frozen=True)
class RunningApp:
    base_url: str
    data_dir: Path
    env: dict[str, str]
    worker_log: Path | None = None

    def outbox(self) -> list[Path]:
        folder = self.data_dir / "outbox"
        return sorted(folder.glob("*.eml")) if folder.exists() else []


def _login_page_served(base_url: str) -> bool:
    page = httpx.get(f"{base_url}/login/", timeout=2, follow_redirects=True)
    return page.status_code == 200 and "<html" in page.text.lower()


@pytest.fixture(scope="session")
def stripe_fake() -> Iterator[FakeStripe]:
    """The Stripe stand-in the app server talks to, so billing is on in every journey.

    Its hosted checkout page delivers signed webhooks to the app (`webhook_url` is set once
    the app's port is known) and sends the browser back to the app's success page.
    """
    with FakeStripe() as fake:
        yield fake


@pytest.fixture(scope="session")
def monitoring() -> Iterator[tuple[FakeSentry, FakePostHog]]:
    """Error reports and analytics are on in every journey, as in production."""
    with FakeSentry() as sentry, FakePostHog() as posthog:
        yield sentry, posthog


@pytest.fixture(scope="session")
def app_server(
    tmp_path_factory: pytest.TempPathFactory,
    stripe_fake: FakeStripe,
    monitoring: tuple[FakeSentry, FakePostHog],
) -> Iterator[RunningApp]:
    name = f"photoai_e2e_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    db_url = f"{db_url}/{name}"
    migrate(db_url)
    data_dir = tmp_path_factory.mktemp("app-data")
    port = free_port()
    base_url = f"http://localhost:{port}"
    env = {
        **os.environ,
        "PHOTOAI_DATABASE_URL": db_url,
        "PHOTOAI_DATA_DIR": str(data_dir),
        "PHOTOAI_REDIS_URL": E2E_REDIS_URL,
        "PHOTOAI_QUEUE_NAME": name,
        "PHOTOAI_BASE_URL": base_url,
        "PHOTOAI_BCRYPT_ROUNDS": "4",
        "PHOTOAI_STARTER_CREDITS": "20",
        # The journeys' 57 pictures then span two gallery pages, so scrolling is exercised.
        "PHOTOAI_GALLERY_PAGE_SIZE": "48",
        "PHOTOAI_TRAINING_COST_CREDITS": "10",
        "PHOTOAI_DEMO_TRAINING_SECONDS": "8",
        "PHOTOAI_STRIPE_SECRET_KEY": stripe_fake.api_key,
        "PHOTOAI_STRIPE_WEBHOOK_SECRET": stripe_fake.webhook_secret,
        "PHOTOAI_STRIPE_API_BASE": stripe_fake.url,
        "PHOTOAI_SENTRY_DSN": monitoring[0].dsn,
        "PHOTOAI_POSTHOG_API_KEY": "phc_e2e",
        "PHOTOAI_POSTHOG_HOST": monitoring[1].url,
        "PHOTOAI_METRICS_TOKEN": METRICS_TOKEN,
        "PHOTOAI_LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("prometheus")),
        "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_CHECK_LATEST_VERSION": "0",
        "PATH": f"{PROJECT_ROOT / '.tools/node_modules/.bin'}:{os.environ['PATH']}",
    }
    stripe_fake.webhook_url = f"{base_url}/api/stripe/webhook"
    logs = tmp_path_factory.mktemp("logs")
    server_log, worker_log = logs / "reflex.log", logs / "worker.log"
    server = start_logged(
        [
            str(Path(sys.executable).parent / "reflex"),
            "run",
            "--env",
            "prod",
            "--single-port",
            "--backend-port",
            str(port),
        ],
        env,
        server_log,
    )
    worker = start_logged([sys.executable, "worker.py"], env, worker_log)
    try:
        wait_until_serving(server, server_log, lambda: _login_page_served(base_url), "reflex")
        journeys.OUTBOX[:] = [data_dir / "outbox"]
        yield RunningApp(base_url=base_url, data_dir=data_dir, env=env, worker_log=worker_log)
    finally:
        stop_group(server)
        stop_group(worker)
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, app_server: RunningApp) -> Iterator[Page]:
    context = browser.new_context(
        base_url=app_server.base_url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(20_000)
    new_page = context.new_page()
    yield new_page
    context.close()


@pytest.fixture(scope="session")
def photo_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    return write_photo_files(tmp_path_factory.mktemp("upload"))


def shoot(page: Page, name: str) -> Path:
    """Save a full-page screenshot for a person to look at."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
