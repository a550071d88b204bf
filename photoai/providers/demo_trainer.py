"""The demo trainer: no key, no network, and a real weights file made from the user's photos.

It lets every training flow run offline and in tests. A "training" is its submit time plus the
photo zip already in our storage, both written into the external id, so its progress is plain
arithmetic on the clock and survives any restart. When it is done, `fetch_weights` reads the zip
and writes a genuine .safetensors file whose tensors are a low-rank summary of the photos'
pixels. It is labelled as demo in its metadata: it is not a FLUX LoRA and makes no likeness.
"""

import json
import struct
import time
import zipfile
from collections.abc import Callable, Mapping
from io import BytesIO

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from photoai.providers.base import (
    PhotoCountLimits,
    ProviderRejected,
    Submitted,
    TrainingRequest,
    TrainingState,
    TrainingStatus,
    WebhookEvent,
    WebhookRejected,
)
from photoai.services.storage import InvalidKey, ObjectNotFound, Storage, check_key

NAME = "demo"
_PREFIX = "demo:"
_WEIGHTS_SCHEME = "demo://"
FEATURE_SIDE = 32  # photos are summarised as 32x32 grey pictures
RANK = 8  # rank of the demo "LoRA" (our minimum photo count)
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


class DemoTrainer:
    name = NAME
    photo_limits = PhotoCountLimits(min_photos=1)

    def __init__(
        self, storage: Storage, seconds: float, now: Callable[[], float] = time.time
    ) -> None:
        self._storage = storage
        self._seconds = seconds
        self._now = now

    def submit(self, request: TrainingRequest) -> Submitted:
        check_key(request.images_key)
        if not self._storage.exists(request.images_key):
            raise ProviderRejected("the training photos zip is missing")
        submitted_ms = int(self._now() * 1000)
        return Submitted(external_id=f"{_PREFIX}{submitted_ms}:{request.images_key}")

    def find_submitted(self, request: TrainingRequest) -> Submitted | None:
        """A demo submit never leaves this machine, so it is never in doubt."""
        return None

    def status(self, external_id: str) -> TrainingStatus:
        submitted_ms, images_key = _parse(external_id)
        elapsed = self._now() - submitted_ms / 1000
        if elapsed < self._seconds:
            return TrainingStatus(TrainingState.RUNNING, progress=max(0.0, elapsed / self._seconds))
        return TrainingStatus(
            TrainingState.SUCCEEDED, progress=1.0, weights_url=f"{_WEIGHTS_SCHEME}{images_key}"
        )

    def cancel(self, external_id: str) -> None:
        """Nothing runs in the background (the weights are made when fetched), so nothing to stop;
        the id is still checked so a caller's mistake does not pass silently."""
        _parse(external_id)

    def forget(self, external_id: str, trained_version: str) -> None:
        """Demo trainings exist only in our own storage, which the caller clears."""
        _parse(external_id)

    def fetch_weights(self, weights_url: str) -> bytes:
        if not weights_url.startswith(_WEIGHTS_SCHEME):
            raise ProviderRejected(f"not a demo weights address: {weights_url[:80]!r}")
        key = weights_url.removeprefix(_WEIGHTS_SCHEME)
        try:
            archive = self._storage.get(check_key(key))
        except (ObjectNotFound, InvalidKey) as exc:
            raise ProviderRejected("the training photos are gone") from exc
        return demo_weights(archive)

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        raise WebhookRejected("the demo trainer sends no webhooks")


def _parse(external_id: str) -> tuple[int, str]:
    if not external_id.startswith(_PREFIX):
        raise ProviderRejected(f"not a demo training: {external_id[:80]!r}")
    stamp, _, key = external_id.removeprefix(_PREFIX).partition(":")
    if not stamp.isdigit() or not key:
        raise ProviderRejected(f"not a demo training: {external_id[:80]!r}")
    return int(stamp), key


def _features(archive: bytes) -> NDArray[np.float32]:
    """One row per photo: its 32x32 grey pixels, standardised."""
    rows: list[NDArray[np.float32]] = []
    with zipfile.ZipFile(BytesIO(archive)) as zipped:
        for name in sorted(zipped.namelist()):
            if not name.lower().endswith(_IMAGE_SUFFIXES):
                continue
            with Image.open(BytesIO(zipped.read(name))) as image:
                image.draft("L", (FEATURE_SIDE * 4, FEATURE_SIDE * 4))
                small = image.convert("L").resize(
                    (FEATURE_SIDE, FEATURE_SIDE), Image.Resampling.BILINEAR
                )
            pixels = np.asarray(small, dtype=np.float32).reshape(-1)
            rows.append((pixels - pixels.mean()) / (pixels.std() + 1e-6))
    if not rows:
        raise ProviderRejected("the training zip holds no photos")
    return np.stack(rows)


def demo_weights(archive: bytes) -> bytes:
    """A .safetensors file in LoRA layout (down/up projections) derived from the photos.

    The down projection holds the photos' main pixel directions (an SVD), the up projection
    the same directions scaled by how much each explains, and `mean_face` their average.
    """
    features = _features(archive)
    count = features.shape[0]
    _, strengths, directions = np.linalg.svd(features, full_matrices=False)
    down = np.zeros((RANK, features.shape[1]), dtype=np.float32)
    used = min(RANK, directions.shape[0])
    down[:used] = directions[:used]
    up = (down.T * np.pad(strengths[:used], (0, RANK - used)) / np.sqrt(count)).astype(np.float32)
    tensors = {
        "demo_identity.lora_down.weight": down,
        "demo_identity.lora_up.weight": up,
        "demo_identity.mean_face": features.mean(axis=0).reshape(FEATURE_SIDE, FEATURE_SIDE),
    }
    metadata = {
        "format": "pt",
        "photoai_demo": "true",
        "photoai_note": "Demo weights made offline from the training photos; not a FLUX LoRA.",
        "photoai_images": str(count),
    }
    return safetensors_bytes(tensors, metadata)


def safetensors_bytes(
    tensors: Mapping[str, NDArray[np.float32]], metadata: dict[str, str]
) -> bytes:
    """The safetensors layout: u64 little-endian header size, JSON header, raw tensor bytes.

    Tensors are little-endian float32, C order, packed in name order; the header is padded
    with spaces to a multiple of 8 bytes so the data that follows is aligned.
    """
    header: dict[str, object] = {"__metadata__": metadata}
    blobs: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name], dtype="<f4")
        data = array.tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs)
