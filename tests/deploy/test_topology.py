"""The multi-process layout, started by its own recipe (`scripts/topology.sh`): nginx in front
of two Reflex backends, two RQ workers, PostgreSQL, Redis and S3 (moto's server). A user
registers, uploads photos straight to the bucket, trains, generates and downloads, all in
Chromium through the proxy; the proxy's log shows which backend served what."""

import io
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import psycopg
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from photoai.services.likeness_score import NOT_YOU
from tests.conftest import PG_ADMIN_DSN
from tests.e2e import journeys
from tests.e2e.accessibility import assert_accessible
from tests.e2e.conftest import CHROMIUM, E2E_REDIS_URL, shoot
from tests.e2e.journeys import create_model, new_email, register, sign_in, upload
from tests.local_servers import start_logged, stop_group, wait_until_serving

pytestmark = pytest.mark.e2e

BUCKET = "photoai-topology"
REGION = "eu-west-1"
STARTER, TRAINING_COST = 20, 10
# Override for parallel runs on one machine (each run its own ranges).
PROXY_PORTS = tuple(
    int(p) for p in os.environ.get("PHOTOAI_TEST_PROXY_PORTS", "3480-3499").split("-")
)
BACKEND_PORTS = tuple(
    int(p) for p in os.environ.get("PHOTOAI_TEST_BACKEND_PORTS", "8480-8499").split("-")
)
_EVENT_LINE = re.compile(
    r'"GET /_event/\?\S*token=([0-9a-f-]+)\S* HTTP/1.1" \d+ \d+ upstream=(\S+)'
)


@dataclass(frozen=True)
class Layout:
    url: str
    backends: tuple[str, str]
    run_dir: Path
    data_dir: Path
    env: dict[str, str]
    s3: Any  # a boto3 client on the moto server

    def access_log(self) -> str:
        return (self.run_dir / "access.log").read_text()

    def tab_backends(self) -> dict[str, set[str]]:
        """Each browser tab's token and the backends its websocket connections went to
        (nginx logs a websocket when it closes)."""
        seen: dict[str, set[str]] = defaultdict(set)
        for token, upstream in _EVENT_LINE.findall(self.access_log()):
            seen[token].add(upstream)
        return seen


def _free_run(first: int, last: int, count: int) -> int:
    """The first of `count` free ports in a row between `first` and `last` (the recipe
    numbers its backends from one port). Fixed ranges, away from the kernel's ephemeral
    ports, which other programs' connections may take at any moment."""
    for port in range(first, last - count + 2):
        try:
            for offset in range(count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no {count} free ports in a row in {first}-{last}")


def _layout_serving(url: str) -> bool:
    """nginx answers only once a backend does, and serves the built pages."""
    if httpx.get(f"{url}/ping", timeout=2).status_code != 200:
        return False
    login = httpx.get(f"{url}/login", timeout=2)
    return login.status_code == 200 and "<html" in login.text.lower()


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Layout]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, moto_port = moto.get_host_and_port()
    endpoint = f"http://{host}:{moto_port}"
    port = _free_run(PROXY_PORTS[0], PROXY_PORTS[1], 1)
    backend_port = _free_run(BACKEND_PORTS[0], BACKEND_PORTS[1], 2)
    url = f"http://localhost:{port}"
    s3 = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    # Browsers PUT photos straight to the bucket: it must allow the site's origin.
    s3.put_bucket_cors(
        Bucket=BUCKET,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": [url],
                    "AllowedMethods": ["PUT", "GET"],
                    "AllowedHeaders": ["*"],
                    "MaxAgeSeconds": 600,
                }
            ]
        },
    )
    name = f"photoai_topology_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    data_dir = tmp_path_factory.mktemp("topology-data")
    # Started as root, nginx serves files as `nobody`, who cannot enter pytest's own
    # temporary folders: the run folder (static files) lives in a readable one.
    run_dir = Path(tempfile.mkdtemp(prefix="photoai-topology-"))
    run_dir.chmod(0o755)
    env = {
        **os.environ,
        "WEB": "2",
        "WORKERS": "2",
        "PORT": str(port),
        "BACKEND_PORT": str(backend_port),
        "RUN_DIR": str(run_dir),
        "PHOTOAI_DATABASE_URL": f"{db_url}/{name}",
        "PHOTOAI_REDIS_URL": E2E_REDIS_URL,
        "PHOTOAI_QUEUE_NAME": name,
        "PHOTOAI_DATA_DIR": str(data_dir),
        "PHOTOAI_STORAGE_BACKEND": "s3",
        "PHOTOAI_S3_BUCKET": BUCKET,
        "PHOTOAI_S3_REGION": REGION,
        "PHOTOAI_S3_ENDPOINT_URL": endpoint,
        "PHOTOAI_S3_ACCESS_KEY_ID": "testing",
        "PHOTOAI_S3_SECRET_ACCESS_KEY": "testing",
        "PHOTOAI_BCRYPT_ROUNDS": "4",
        "PHOTOAI_STARTER_CREDITS": str(STARTER),
        "PHOTOAI_TRAINING_COST_CREDITS": str(TRAINING_COST),
        "PHOTOAI_DEMO_TRAINING_SECONDS": "6",
        "PHOTOAI_LOG_FORMAT": "json",
    }
    env.pop("REFLEX_REDIS_URL", None)
    log = data_dir / "topology.log"
    proc = start_logged(["bash", "scripts/topology.sh"], env, log)
    try:
        wait_until_serving(proc, log, lambda: _layout_serving(url), "the layout", timeout=300)
        journeys.OUTBOX[:] = [data_dir / "outbox"]
        yield Layout(
            url=url,
            backends=(f"127.0.0.1:{backend_port}", f"127.0.0.1:{backend_port + 1}"),
            run_dir=run_dir,
            data_dir=data_dir,
            env=env,
            s3=s3,
        )
    finally:
        stop_group(proc, grace=30)
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        moto.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


def new_page(browser: Browser, layout: Layout) -> Page:
    context = browser.new_context(base_url=layout.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    return context.new_page()


def keys(layout: Layout, prefix: str) -> list[str]:
    listed = layout.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def ledger(layout: Layout, email: str) -> tuple[int, int, int]:
    """Balance, sum of the ledger and credits given back as "doesn't look like you"."""
    dsn = layout.env["PHOTOAI_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT u.id, u.credit_balance, (SELECT coalesce(sum(delta), 0) FROM credit_entries "
            "WHERE user_id = u.id), (SELECT coalesce(sum(delta), 0) FROM credit_entries WHERE "
            "user_id = u.id AND kind = 'release' AND description LIKE %s) FROM users u "
            "WHERE u.email = %s",
            (f"%{NOT_YOU}", email),
        ).fetchone()
    assert row is not None
    return int(row[1]), int(row[2]), int(row[3])


def user_id_of(layout: Layout, email: str) -> int:
    dsn = layout.env["PHOTOAI_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT id FROM users WHERE email = %s", (email,)).fetchone()
    assert row is not None
    return int(row[0])


def test_a_user_goes_from_sign_up_to_download_across_the_layout(
    browser: Browser, layout: Layout, tmp_path: Path
) -> None:
    files = journeys.write_photo_files(tmp_path)
    good = files["good"]
    not_a_photo = next(f for f in files["bad"] if f.name == "shopping-list.jpg")
    email = new_email()
    page = new_page(browser, layout)
    register(page, email)
    model_id = create_model(page, "Across me")
    user_id = user_id_of(layout, email)

    # Photos go from the browser straight to the bucket; the backends only check them there.
    upload(page, [*good, not_a_photo])
    expect(page.locator("#accepted-count")).to_contain_text(f"{len(good)} ", timeout=120_000)
    expect(page.get_by_text("not an image").first).to_be_visible()
    shoot(page, "topology-model-photos")
    assert_accessible(page, "model page with direct uploads")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "topology-model-photos-phone")
    assert_accessible(page, "model page with direct uploads, phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    folder = f"users/{user_id}/models/{model_id}/"
    assert len(keys(layout, folder + "photos/")) == len(good)
    assert keys(layout, folder + "incoming/") == [], "checked uploads are removed"
    log = layout.access_log()
    assert "POST /_upload" not in log
    assert log.count("POST /api/uploads/ticket") == len(good) + 1
    assert log.count("POST /api/uploads/done") == len(good) + 1

    # Training runs on a worker; its completion is pushed to this tab's backend.
    page.locator("#start-training").click()
    expect(page.get_by_text("Ready", exact=True).first).to_be_visible(timeout=120_000)

    page.goto("/generate")
    expect(page.locator("#source")).to_contain_text("Across me")
    page.get_by_test_id("style-card").filter(has_text="Studio headshot").click()
    page.locator("#generate").click()
    queue = page.get_by_test_id("queue-row")
    expect(queue.filter(has_text="Done")).to_have_count(1, timeout=180_000)
    expect(page.get_by_test_id("recent-image")).to_have_count(1)
    pictures = [k for k in keys(layout, f"users/{user_id}/generations/") if "/thumbs/" not in k]
    assert len(pictures) == 1, "the picture is stored in the bucket"

    balance, ledger_sum, not_you = ledger(layout, email)
    assert balance == ledger_sum == STARTER - TRAINING_COST - 1 + not_you
    expect(page.locator("#nav-balance")).to_have_text(str(balance))
    page.context.close()

    # A second browser signs in (new tab token) and downloads the picture from the gallery.
    second = new_page(browser, layout)
    second.goto("/login")
    sign_in(second, email)
    second.wait_for_url(re.compile(r"/dashboard"))
    second.goto("/gallery")
    tile = second.get_by_test_id("gallery-tile")
    expect(tile).to_have_count(1)
    thumb = tile.first.locator("img").get_attribute("src") or ""
    cached = httpx.get(thumb)
    assert cached.status_code == 200
    assert cached.headers["cache-control"].startswith("public, max-age=")
    tile.first.locator("img").click()
    with second.expect_download() as download:
        second.locator("#download-original").click()
    original = Path(download.value.path()).read_bytes()
    assert original == layout.s3.get_object(Bucket=BUCKET, Key=pictures[0])["Body"].read()
    assert Image.open(io.BytesIO(original)).size[0] >= 256
    second.context.close()

    # Each tab stayed on one backend, and the tabs were spread over both. Tabs close their
    # websocket to be logged; more tabs are opened until both backends have had one.
    for _ in range(10):
        if len(set().union(*layout.tab_backends().values())) == 2:
            break
        extra = new_page(browser, layout)
        extra.goto("/login")
        expect(extra.locator("#email")).to_be_visible()
        extra.wait_for_timeout(500)
        extra.context.close()
        time.sleep(0.5)
    tabs = layout.tab_backends()
    assert len(tabs) >= 2
    assert all(len(upstreams) == 1 for upstreams in tabs.values()), tabs
    assert set().union(*tabs.values()) == set(layout.backends)
