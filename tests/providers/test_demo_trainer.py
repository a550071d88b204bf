"""The demo trainer: offline, clock-driven, restart-proof, and a real weights file from photos."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from photoai.providers.base import (
    ProviderRejected,
    TrainingRequest,
    TrainingState,
    WebhookRejected,
)
from photoai.providers.demo_trainer import FEATURE_SIDE, RANK, DemoTrainer
from photoai.services.storage import LocalStorage
from tests import photos
from tests.weights import read_safetensors

ZIP_KEY = "users/1/models/2/training/job-3.zip"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def photo_zip(images: list[bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for number, data in enumerate(images, 1):
            archive.writestr(f"{number:02d}.jpg", data)
    return out.getvalue()


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    store = LocalStorage(tmp_path / "storage", "secret", 300)
    store.put(ZIP_KEY, photo_zip(list(photos.training_jpegs()[:8])), "application/zip")
    return store


def request(key: str = ZIP_KEY) -> TrainingRequest:
    return TrainingRequest(
        reference="job-3",
        images_url="http://unused.invalid/zip",
        images_key=key,
        trigger_word="TOK",
        subject="woman",
        steps=1000,
        webhook_url="http://unused.invalid/hook",
    )


def test_progress_follows_the_clock_and_survives_a_restart(storage: LocalStorage) -> None:
    clock = Clock()
    trainer = DemoTrainer(storage, seconds=20, now=clock)
    external_id = trainer.submit(request()).external_id
    assert trainer.status(external_id).state is TrainingState.RUNNING
    assert trainer.status(external_id).progress == 0.0

    clock.now += 5
    halfway = DemoTrainer(storage, seconds=20, now=clock).status(external_id)  # a new process
    assert (halfway.state, halfway.progress) == (TrainingState.RUNNING, 0.25)

    clock.now += 15
    done = DemoTrainer(storage, seconds=20, now=clock).status(external_id)
    assert done.state is TrainingState.SUCCEEDED and done.progress == 1.0
    assert done.weights_url == f"demo://{ZIP_KEY}"


def test_weights_are_a_valid_safetensors_file_made_from_the_photos(storage: LocalStorage) -> None:
    clock = Clock()
    trainer = DemoTrainer(storage, seconds=1, now=clock)
    external_id = trainer.submit(request()).external_id
    clock.now += 2
    weights = trainer.fetch_weights(trainer.status(external_id).weights_url)

    tensors, metadata = read_safetensors(weights)
    assert metadata["photoai_demo"] == "true" and metadata["photoai_images"] == "8"
    assert "not a FLUX LoRA" in metadata["photoai_note"]
    down = tensors["demo_identity.lora_down.weight"]
    up = tensors["demo_identity.lora_up.weight"]
    mean_face = tensors["demo_identity.mean_face"]
    assert down.shape == (RANK, FEATURE_SIDE**2) and up.shape == (FEATURE_SIDE**2, RANK)
    assert mean_face.shape == (FEATURE_SIDE, FEATURE_SIDE)
    assert all(np.isfinite(t).all() for t in tensors.values())
    # The down projection's rows are orthonormal directions (an SVD of the photos).
    np.testing.assert_allclose(down @ down.T, np.eye(RANK), atol=1e-4)
    assert float(np.abs(up).sum()) > 0

    assert trainer.fetch_weights(f"demo://{ZIP_KEY}") == weights, "deterministic"
    other_key = "users/1/models/9/training/job-4.zip"
    storage.put(other_key, photo_zip(list(photos.training_jpegs()[6:14])), "application/zip")
    assert trainer.fetch_weights(f"demo://{other_key}") != weights, "other photos, other weights"


def test_refusals(storage: LocalStorage) -> None:
    trainer = DemoTrainer(storage, seconds=1)
    with pytest.raises(ProviderRejected, match="missing"):
        trainer.submit(request("users/1/models/2/training/job-404.zip"))
    for bad in ("fal-123", "demo:abc:key", "demo:123:"):
        with pytest.raises(ProviderRejected):
            trainer.status(bad)
    with pytest.raises(ProviderRejected):
        trainer.fetch_weights("https://example.com/lora.safetensors")
    with pytest.raises(ProviderRejected, match="gone"):
        trainer.fetch_weights("demo://users/1/models/2/training/job-404.zip")
    with pytest.raises(ProviderRejected, match="gone"):
        trainer.fetch_weights("demo://../../etc/passwd")
    with pytest.raises(WebhookRejected):
        trainer.verify_webhook({}, b"{}")
    empty_key = "users/1/models/2/training/job-5.zip"
    storage.put(empty_key, photo_zip([]), "application/zip")
    with pytest.raises(ProviderRejected, match="no photos"):
        trainer.fetch_weights(f"demo://{empty_key}")


def test_cancel_checks_the_id_and_stops_nothing(storage: LocalStorage) -> None:
    trainer = DemoTrainer(storage, seconds=1)
    external_id = trainer.submit(request()).external_id
    trainer.cancel(external_id)
    assert storage.exists(ZIP_KEY)
    with pytest.raises(ProviderRejected):
        trainer.cancel("not-demo")
