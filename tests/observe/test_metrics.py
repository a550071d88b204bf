"""/metrics: guarded by a bearer token, counts what jobs, webhooks, credits and provider calls
did, reads queue depth from the jobs table, and adds up several processes' counters."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from starlette.testclient import TestClient

from photoai.api.app import build_api
from photoai.observe import metrics
from photoai.providers import http
from photoai.providers.base import ProviderRejected
from photoai.services import generation, jobs, training
from photoai.services.generation import GenerationOptions
from photoai.settings import PROJECT_ROOT, get_settings
from tests import jobs_support
from tests.factories import make_user
from tests.fakes.monitoring_servers import FakePostHog, Samples, parse_metrics, sample
from tests.training_support import demo_clock, draft_with_photos, training_settings, work_burst

TOKEN = "scrape-me-0123456789"


@pytest.fixture
def client(pg: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("PHOTOAI_METRICS_TOKEN", TOKEN)
    monkeypatch.setenv("PHOTOAI_STRIPE_WEBHOOK_SECRET", "whsec_test")
    get_settings.cache_clear()
    yield TestClient(build_api())


def scrape(client: TestClient) -> Samples:
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse_metrics(answer.text)


def test_metrics_are_hidden_without_a_token_and_refused_with_a_wrong_one(
    pg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert TestClient(build_api()).get("/metrics").status_code == 404
    monkeypatch.setenv("PHOTOAI_METRICS_TOKEN", TOKEN)
    get_settings.cache_clear()
    client = TestClient(build_api())
    assert client.get("/metrics").status_code == 401
    forged = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert forged.status_code == 401 and forged.headers["www-authenticate"] == "Bearer"
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_queue_depth_and_age_come_from_the_jobs_table(client: TestClient) -> None:
    for _ in range(3):
        jobs.create(jobs_support.KIND, user_id=None, enqueue_now=False)
    samples = scrape(client)
    assert sample(samples, "photoai_jobs_active", kind=jobs_support.KIND, status="queued") == 3
    assert sample(samples, "photoai_jobs_active", kind="generation", status="queued") == 0
    age = sample(samples, "photoai_job_oldest_age_seconds", kind=jobs_support.KIND, status="queued")
    assert 0 <= age < 60


def test_jobs_webhooks_credits_and_provider_calls_move_the_counters(
    client: TestClient, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    training_settings(monkeypatch)
    clock = demo_clock(monkeypatch)
    before = scrape(client)
    uid = make_user(100)
    model_id = draft_with_photos(uid)
    training.start_training(uid, model_id)
    work_burst()
    clock.now += 1
    training.reconcile_trainings()
    generation.submit(
        uid, GenerationOptions(f"model:{model_id}", style_id="linkedin", count=2), "click-0001"
    )
    work_burst()
    refused = client.post("/api/stripe/webhook", content=b"{}", headers={"Stripe-Signature": "x"})
    assert refused.status_code == 400
    with FakePostHog() as fake, httpx.Client() as http_client:
        http.send(http_client, "POST", f"{fake.url}/batch/", json={"batch": []})
        with pytest.raises(ProviderRejected):
            http.send(http_client, "GET", f"{fake.url}/unknown")
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("photoai_job_attempts_total", kind="training", outcome="waiting") == 1
    assert moved("photoai_job_attempts_total", kind="generation", outcome="succeeded") == 1
    assert (
        moved("photoai_jobs_finished_total", kind="training", provider="demo", status="succeeded")
        == 1
    )
    assert (
        moved("photoai_jobs_finished_total", kind="generation", provider="demo", status="succeeded")
        == 1
    )
    assert moved("photoai_credits_total", movement="held") == 30 + 2
    assert moved("photoai_credits_total", movement="captured") == 30 + 2
    assert moved("photoai_credits_total", movement="released") == 0
    assert moved("photoai_webhooks_received_total", source="stripe") == 1
    assert moved("photoai_webhooks_rejected_total", source="stripe", status="400") == 1
    route = {"method": "POST", "route": "/api/stripe/webhook", "status": "400"}
    assert moved("photoai_http_request_duration_seconds_count", **route) == 1
    host = {"host": "127.0.0.1"}
    assert moved("photoai_provider_request_duration_seconds_count", **host, outcome="ok") == 1
    assert moved("photoai_provider_request_duration_seconds_count", **host, outcome="rejected") == 1


COUNT_IN_A_PROCESS = """
from photoai.observe import metrics
metrics.WEBHOOKS_RECEIVED.labels("stripe").inc()
metrics.HTTP_REQUEST_SECONDS.labels("GET", "/api/files/{key:path}", "200").observe(0.2)
"""


def test_several_processes_add_up(pg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    for _ in range(2):
        subprocess.run([sys.executable, "-c", COUNT_IN_A_PROCESS], check=True, cwd=PROJECT_ROOT)
    samples = parse_metrics(metrics.render(["generation"]).decode())
    assert sample(samples, "photoai_webhooks_received_total", source="stripe") == 2
    files = {"method": "GET", "route": "/api/files/{key:path}", "status": "200"}
    assert sample(samples, "photoai_http_request_duration_seconds_count", **files) == 2
    assert sample(samples, "photoai_jobs_active", kind="generation", status="queued") == 0
