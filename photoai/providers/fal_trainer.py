"""fal.ai LoRA training through fal's queue API, with httpx and a configurable base URL.

fal's own SDK hard-codes its hosts; plain HTTP lets tests point us at a local fake. Submit goes
to `{base}/{app}?fal_webhook=...`; status, result and cancel live under the app's first two
path segments. fal signs webhooks with Ed25519; its public keys come from a JWKS document that
is cached for a day and fetched again early (at most once a minute) when a signature matches
none of the cached keys, so a key rotation costs one failed delivery at most.
"""

import base64
import binascii
import hashlib
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

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

NAME = "fal"
PORTRAIT_TRAINER_MIN_PHOTOS = 10  # fal-ai/flux-lora-portrait-trainer
FAST_TRAINER_MIN_PHOTOS = 4  # fal-ai/flux-lora-fast-training
JWKS_MAX_AGE_SECONDS = 24 * 3600
JWKS_MIN_REFRESH_SECONDS = 60
_STATES = {"IN_QUEUE": TrainingState.QUEUED, "IN_PROGRESS": TrainingState.RUNNING}


class _Jwks:
    """fal's webhook keys per JWKS address, shared by every trainer in the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[float, list[Ed25519PublicKey]]] = {}

    def keys(
        self, client: httpx.Client, url: str, *, fresh: bool = False
    ) -> list[Ed25519PublicKey]:
        """Cached keys; `fresh` refetches unless the cache is under a minute old."""
        with self._lock:
            cached = self._keys.get(url)
            now = time.monotonic()
            if cached is not None:
                age = now - cached[0]
                if age < JWKS_MAX_AGE_SECONDS and not (fresh and age >= JWKS_MIN_REFRESH_SECONDS):
                    return cached[1]
            keys = _parse_jwks(http.json_object(http.send(client, "GET", url)))
            self._keys[url] = (now, keys)
            return keys

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


jwks_cache = _Jwks()


def _parse_jwks(document: Mapping[str, Any]) -> list[Ed25519PublicKey]:
    keys: list[Ed25519PublicKey] = []
    for jwk in document.get("keys") or []:
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        raw = str(jwk.get("x", ""))
        try:
            keys.append(Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(raw + "==")))
        except (ValueError, binascii.Error):
            continue
    if not keys:
        raise ProviderUnavailable("fal's JWKS holds no Ed25519 key")
    return keys


def _verified(keys: list[Ed25519PublicKey], signature: bytes, message: bytes) -> bool:
    for key in keys:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return True
    return False


class FalTrainer:
    name = NAME

    def __init__(self, settings: Settings, client: httpx.Client | None = None) -> None:
        self._key = settings.fal_key
        self._base = settings.fal_queue_base.rstrip("/")
        self._api_base = settings.fal_api_base.rstrip("/")
        self._app = settings.fal_trainer_app.strip("/")
        self._jwks_url = settings.fal_jwks_url
        self.photo_limits = PhotoCountLimits(
            PORTRAIT_TRAINER_MIN_PHOTOS if self._portrait else FAST_TRAINER_MIN_PHOTOS
        )
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(settings.provider_timeout_seconds, connect=5.0)
        )

    def _headers(self) -> dict[str, str]:
        if not self._key:
            raise ProviderRejected("PHOTOAI_FAL_KEY is not set")
        return {"Authorization": f"Key {self._key}"}

    def _requests_url(self, request_id: str) -> str:
        """Status, result and cancel drop any subpath: fal-ai/x/y -> fal-ai/x/requests/..."""
        root = "/".join(self._app.split("/")[:2])
        return f"{self._base}/{root}/requests/{request_id}"

    @property
    def _portrait(self) -> bool:
        return "portrait" in self._app

    def _input(self, request: TrainingRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"images_data_url": request.images_url, "steps": request.steps}
        if self._portrait:
            body["trigger_phrase"] = request.trigger_word
        else:
            body |= {"trigger_word": request.trigger_word, "create_masks": True, "is_style": False}
        return body

    def submit(self, request: TrainingRequest) -> Submitted:
        accepted = http.create(
            self._client,
            "POST",
            f"{self._base}/{self._app}",
            params={"fal_webhook": request.webhook_url},
            json=self._input(request),
            headers=self._headers(),
        )
        request_id = accepted.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise ProviderUnavailable(
                "fal accepted the training but sent no request id", maybe_submitted=True
            )
        return Submitted(external_id=request_id)

    def find_submitted(self, request: TrainingRequest) -> Submitted | None:
        """fal's queue API can neither list requests nor find one by a reference of ours (its
        only handle is the request id the lost answer carried), so the honest answer is None:
        the caller fails the job visibly instead of paying for a second training."""
        return None

    def status(self, external_id: str) -> TrainingStatus:
        body = http.json_object(
            http.send(
                self._client,
                "GET",
                f"{self._requests_url(external_id)}/status",
                params={"logs": "1"},
                headers=self._headers(),
            )
        )
        state = body.get("status")
        if state in _STATES:
            logs = "\n".join(
                str(line.get("message", ""))
                for line in body.get("logs") or []
                if isinstance(line, dict)
            )
            progress = 0.0 if state == "IN_QUEUE" else progress_from_logs(logs)
            return TrainingStatus(_STATES[state], progress=progress)
        if state != "COMPLETED":
            raise ProviderUnavailable(f"fal reported an unknown status {state!r}")
        if body.get("error"):
            return TrainingStatus(TrainingState.FAILED, error=str(body["error"])[:500])
        try:
            result = http.json_object(
                http.send(
                    self._client, "GET", self._requests_url(external_id), headers=self._headers()
                )
            )
        except ProviderRejected as exc:
            # A completed request whose result is an error answers 4xx with the reason.
            return TrainingStatus(TrainingState.FAILED, error=str(exc)[:500])
        return _from_result(result)

    def cancel(self, external_id: str) -> None:
        try:
            http.send(
                self._client,
                "PUT",
                f"{self._requests_url(external_id)}/cancel",
                headers=self._headers(),
            )
        except ProviderRejected as exc:
            if exc.status_code not in (400, 404, 409):  # already finished or unknown: fine
                raise

    def forget(self, external_id: str, trained_version: str) -> None:
        """fal's Platform API deletes a request's stored input/output payloads and its output
        CDN files (the LoRA); it needs an admin key. Input files are not ours to delete there:
        fal got the photos as an expiring link to our storage."""
        try:
            http.send(
                self._client,
                "DELETE",
                f"{self._api_base}/v1/models/requests/{external_id}/payloads",
                headers={**self._headers(), "Idempotency-Key": f"photoai-forget-{external_id}"},
            )
        except ProviderRejected as exc:
            if exc.status_code != 404:
                raise

    def fetch_weights(self, weights_url: str) -> bytes:
        return http.download(self._client, weights_url)

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        found = lower_keys(headers)
        request_id = found.get("x-fal-webhook-request-id", "")
        user_id = found.get("x-fal-webhook-user-id", "")
        timestamp = found.get("x-fal-webhook-timestamp", "")
        signature_hex = found.get("x-fal-webhook-signature", "")
        if not (request_id and user_id and timestamp and signature_hex):
            raise WebhookRejected("missing fal signature headers")
        if not (timestamp.isascii() and timestamp.isdigit()) or (
            abs(time.time() - int(timestamp)) > WEBHOOK_TOLERANCE_SECONDS
        ):
            raise WebhookRejected("stale or malformed timestamp")
        try:
            signature = bytes.fromhex(signature_hex)
        except ValueError as exc:
            raise WebhookRejected("malformed signature") from exc
        message = "\n".join(
            (request_id, user_id, timestamp, hashlib.sha256(raw_body).hexdigest())
        ).encode()
        if not _verified(jwks_cache.keys(self._client, self._jwks_url), signature, message) and (
            not _verified(
                jwks_cache.keys(self._client, self._jwks_url, fresh=True), signature, message
            )
        ):
            raise WebhookRejected("signature does not match")
        return _event(request_id, raw_body)

    def close(self) -> None:
        self._client.close()


def _from_result(result: Mapping[str, Any]) -> TrainingStatus:
    weights = result.get("diffusers_lora_file")
    url = weights.get("url") if isinstance(weights, dict) else None
    if not isinstance(url, str) or not url:
        return TrainingStatus(TrainingState.FAILED, error="fal's result holds no LoRA file")
    return TrainingStatus(TrainingState.SUCCEEDED, progress=1.0, weights_url=url)


def _event(signed_request_id: str, raw_body: bytes) -> WebhookEvent:
    try:
        body = json.loads(raw_body)
    except ValueError as exc:
        raise WebhookRejected("body is not JSON") from exc
    if not isinstance(body, dict) or signed_request_id not in (
        body.get("request_id"),
        body.get("gateway_request_id"),
    ):
        raise WebhookRejected("body does not match the signed request id")
    request_id = str(body["request_id"])
    outcome = body.get("status")
    payload = body.get("payload")
    status: TrainingStatus | None
    if outcome == "OK":
        # A payload fal could not serialise arrives as null: ask the queue API instead.
        status = _from_result(payload) if isinstance(payload, dict) else None
    elif outcome == "ERROR":
        reason = str(body.get("error") or "training failed")
        if isinstance(payload, dict) and payload.get("detail"):
            reason = f"{reason}: {json.dumps(payload['detail'])[:300]}"
        status = TrainingStatus(TrainingState.FAILED, error=reason[:500])
    else:
        raise WebhookRejected("unknown webhook status")
    return WebhookEvent(event_id=f"{request_id}:{outcome}", external_id=request_id, status=status)
