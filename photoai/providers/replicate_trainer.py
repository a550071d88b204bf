"""Replicate LoRA training (ostris/flux-dev-lora-trainer) over its HTTP API with httpx.

The trainer's version is looked up, never hard-coded, and the destination model (private, on
the operator's account) is created on first use. Webhooks are signed the standard-webhooks way
(`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the account's whsec_ secret; we
enforce a 300 s tolerance, which Replicate's own SDK leaves off by default. Replicate delivers
a tar of the training output; we keep only the .safetensors inside it.
"""

import base64
import binascii
import hashlib
import hmac
import json
import tarfile
import threading
import time
from collections.abc import Mapping
from io import BytesIO
from typing import Any

import httpx

from photoai.providers import http
from photoai.providers.base import (
    WEBHOOK_TOLERANCE_SECONDS,
    PhotoCountLimits,
    ProviderRejected,
    ProviderUnavailable,
    Submitted,
    TrainingRequest,
    TrainingState,
    TrainingStatus,
    WebhookEvent,
    WebhookRejected,
    lower_keys,
    progress_from_logs,
)
from photoai.settings import Settings

NAME = "replicate"
WEBHOOK_EVENTS = ["start", "completed"]
_STATES = {
    "starting": TrainingState.QUEUED,
    "processing": TrainingState.RUNNING,
    "succeeded": TrainingState.SUCCEEDED,
    "failed": TrainingState.FAILED,
    "canceled": TrainingState.CANCELED,
}


def _webhook_key(secret: str) -> bytes | None:
    """The HMAC key is the base64 after `whsec_`; None when no usable secret is configured."""
    if not secret.startswith("whsec_"):
        return None
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (ValueError, binascii.Error):
        return None


class ReplicateTrainer:
    name = NAME
    # ostris/flux-dev-lora-trainer suggests 10 or more but refuses no count.
    photo_limits = PhotoCountLimits(min_photos=1)

    def __init__(self, settings: Settings, client: httpx.Client | None = None) -> None:
        self._token = settings.replicate_api_token
        self._base = settings.replicate_base.rstrip("/")
        self._trainer = settings.replicate_trainer.strip("/")
        self._destination = (
            f"{settings.replicate_destination_owner}/{settings.replicate_destination_model}"
        )
        self._destination_owner = settings.replicate_destination_owner
        self._webhook_key = _webhook_key(settings.replicate_webhook_secret)
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(settings.provider_timeout_seconds, connect=5.0)
        )
        self._lock = threading.Lock()
        self._version: str | None = None
        self._destination_ready = False

    def _headers(self) -> dict[str, str]:
        if not self._token:
            raise ProviderRejected("PHOTOAI_REPLICATE_API_TOKEN is not set")
        return {"Authorization": f"Bearer {self._token}"}

    def _get(self, path: str) -> dict[str, Any]:
        return http.json_object(
            http.send(self._client, "GET", f"{self._base}{path}", headers=self._headers())
        )

    def _trainer_version(self) -> str:
        with self._lock:
            if self._version is None:
                latest = self._get(f"/v1/models/{self._trainer}").get("latest_version")
                version = latest.get("id") if isinstance(latest, dict) else None
                if not isinstance(version, str) or not version:
                    raise ProviderRejected(f"{self._trainer} has no published version")
                self._version = version
            return self._version

    def _ensure_destination(self) -> None:
        """Create the private destination model unless it exists (creating is not billed)."""
        with self._lock:
            if self._destination_ready:
                return
            if not self._destination_owner:
                raise ProviderRejected("PHOTOAI_REPLICATE_DESTINATION_OWNER is not set")
            try:
                self._get(f"/v1/models/{self._destination}")
            except ProviderRejected as exc:
                if exc.status_code != 404:
                    raise
                owner, name = self._destination.split("/", 1)
                try:
                    http.send(
                        self._client,
                        "POST",
                        f"{self._base}/v1/models",
                        json={
                            "owner": owner,
                            "name": name,
                            "visibility": "private",
                            "hardware": "cpu",
                        },
                        headers=self._headers(),
                    )
                except ProviderRejected as conflict:
                    if conflict.status_code != 409:  # made meanwhile by another worker
                        raise
            self._destination_ready = True

    def submit(self, request: TrainingRequest) -> Submitted:
        version = self._trainer_version()
        self._ensure_destination()
        body = {
            "input": {
                "input_images": request.images_url,
                "trigger_word": request.trigger_word,
                "steps": request.steps,
                "autocaption": True,
            },
            "destination": self._destination,
            "webhook": request.webhook_url,
            "webhook_events_filter": WEBHOOK_EVENTS,
        }
        accepted = http.create(
            self._client,
            "POST",
            f"{self._base}/v1/models/{self._trainer}/versions/{version}/trainings",
            json=body,
            headers=self._headers(),
        )
        training_id = accepted.get("id")
        if not isinstance(training_id, str) or not training_id:
            raise ProviderUnavailable(
                "Replicate accepted the training but sent no id", maybe_submitted=True
            )
        return Submitted(external_id=training_id)

    def find_submitted(self, request: TrainingRequest) -> Submitted | None:
        """Replicate lists the account's trainings newest first, each with its input; the
        photo zip link is unique to one job, so the first page shows a submit just made."""
        listing = self._get("/v1/trainings").get("results")
        for training in listing if isinstance(listing, list) else []:
            if not isinstance(training, dict) or not isinstance(training.get("id"), str):
                continue
            inputs = training.get("input")
            if isinstance(inputs, dict) and inputs.get("input_images") == request.images_url:
                return Submitted(external_id=training["id"])
        return None

    def status(self, external_id: str) -> TrainingStatus:
        return _from_training(self._get(f"/v1/trainings/{external_id}"))

    def cancel(self, external_id: str) -> None:
        try:
            http.send(
                self._client,
                "POST",
                f"{self._base}/v1/trainings/{external_id}/cancel",
                headers=self._headers(),
            )
        except ProviderRejected as exc:
            if exc.status_code not in (400, 404, 409, 422):  # finished or unknown: fine
                raise

    def forget(self, external_id: str, trained_version: str) -> None:
        """Replicate deletes a version of a private model we own; trainings themselves cannot
        be deleted through its API (Replicate drops API inputs and outputs after an hour)."""
        model, _, version = trained_version.partition(":")
        if not version:
            return
        try:
            http.send(
                self._client,
                "DELETE",
                f"{self._base}/v1/models/{model}/versions/{version}",
                headers=self._headers(),
            )
        except ProviderRejected as exc:
            if exc.status_code != 404:
                raise

    def fetch_weights(self, weights_url: str) -> bytes:
        return _safetensors_from(http.download(self._client, weights_url))

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        if self._webhook_key is None:
            raise ProviderRejected("PHOTOAI_REPLICATE_WEBHOOK_SECRET is not a whsec_ secret")
        found = lower_keys(headers)
        webhook_id = found.get("webhook-id", "")
        timestamp = found.get("webhook-timestamp", "")
        signatures = found.get("webhook-signature", "")
        if not (webhook_id and timestamp and signatures):
            raise WebhookRejected("missing webhook signature headers")
        if not (timestamp.isascii() and timestamp.isdigit()) or (
            abs(time.time() - int(timestamp)) > WEBHOOK_TOLERANCE_SECONDS
        ):
            raise WebhookRejected("stale or malformed timestamp")
        signed = f"{webhook_id}.{timestamp}.".encode() + raw_body
        expected = base64.b64encode(
            hmac.new(self._webhook_key, signed, hashlib.sha256).digest()
        ).decode()
        offered = [
            value
            for version, _, value in (s.partition(",") for s in signatures.split())
            if version == "v1"
        ]
        if not any(hmac.compare_digest(expected.encode(), value.encode()) for value in offered):
            raise WebhookRejected("signature does not match")
        try:
            body = json.loads(raw_body)
        except ValueError as exc:
            raise WebhookRejected("body is not JSON") from exc
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise WebhookRejected("body is not a training")
        try:
            status = _from_training(body)
        except ProviderUnavailable:
            status = None  # an unknown status: ask the API instead
        return WebhookEvent(event_id=webhook_id, external_id=body["id"], status=status)

    def close(self) -> None:
        self._client.close()


def _from_training(training: Mapping[str, Any]) -> TrainingStatus:
    state = _STATES.get(str(training.get("status")))
    if state is None:
        raise ProviderUnavailable(
            f"Replicate reported an unknown status {training.get('status')!r}"
        )
    if state is TrainingState.SUCCEEDED:
        output = training.get("output")
        weights = output.get("weights") if isinstance(output, dict) else None
        if not isinstance(weights, str) or not weights:
            return TrainingStatus(TrainingState.FAILED, error="Replicate's output holds no weights")
        version = output.get("version") if isinstance(output, dict) else None
        return TrainingStatus(
            state,
            progress=1.0,
            weights_url=weights,
            trained_version=version if isinstance(version, str) and ":" in version else "",
        )
    if state in (TrainingState.FAILED, TrainingState.CANCELED):
        return TrainingStatus(state, error=str(training.get("error") or state.value)[:500])
    progress = (
        0.0
        if state is TrainingState.QUEUED
        else progress_from_logs(str(training.get("logs") or ""))
    )
    return TrainingStatus(state, progress=progress)


def _safetensors_from(data: bytes) -> bytes:
    """The LoRA itself: the largest .safetensors member of a tar, or the file as it came."""
    if not tarfile.is_tarfile(BytesIO(data)):
        return data
    with tarfile.open(fileobj=BytesIO(data)) as archive:
        members = [
            m for m in archive.getmembers() if m.isfile() and m.name.endswith(".safetensors")
        ]
        if not members:
            raise ProviderRejected("Replicate's weights archive holds no .safetensors file")
        extracted = archive.extractfile(max(members, key=lambda m: m.size))
        if extracted is None:
            raise ProviderRejected("Replicate's weights archive is unreadable")
        return extracted.read()
