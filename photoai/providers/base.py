"""What the training service needs from a LoRA trainer, and how provider failures are told apart.

Every trainer (demo, fal, Replicate) is used through the same few calls, so the service never
knows whose API it is talking to. Failures come in three kinds because the service reacts to
each differently: a rate limit waits and retries, an outage retries only when the provider
cannot have started a billable training, and a refusal never retries.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

# A LoRA is tens to hundreds of MB; anything far larger is not a LoRA.
MAX_WEIGHTS_BYTES = 1024 * 1024 * 1024
WEBHOOK_TOLERANCE_SECONDS = 300
# tqdm progress lines such as " 42%|####      | 420/1000 [01:23<02:00, 4.8it/s]"
_STEP_PROGRESS = re.compile(r"(\d+)/(\d+) \[")


class TrainingState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def finished(self) -> bool:
        return self in (TrainingState.SUCCEEDED, TrainingState.FAILED, TrainingState.CANCELED)


@dataclass(frozen=True)
class TrainingRequest:
    """One training. `images_url` is what a remote provider downloads; `images_key` is the same
    zip in our storage, for the demo trainer which never leaves this machine."""

    reference: str
    images_url: str
    images_key: str
    trigger_word: str
    subject: str
    steps: int
    webhook_url: str


@dataclass(frozen=True)
class Submitted:
    external_id: str


@dataclass(frozen=True)
class PhotoCountLimits:
    """How many photos a training takes; `max_photos` None means no limit of its own."""

    min_photos: int
    max_photos: int | None = None


@dataclass(frozen=True)
class TrainingStatus:
    """The provider's view of a training; `progress` is None when the provider does not say.

    `trained_version` names a model the provider can run itself (Replicate's
    `owner/model:version`), kept so its own generator can use it next to our copy of the LoRA.
    """

    state: TrainingState
    progress: float | None = None
    error: str = ""
    weights_url: str = ""
    trained_version: str = ""


@dataclass(frozen=True)
class WebhookEvent:
    """A verified delivery. `event_id` is stable across the provider's redeliveries so the
    effect applies once; `status` is None when the body does not carry a usable status and the
    provider must be asked instead."""

    event_id: str
    external_id: str
    status: TrainingStatus | None


class ProviderError(Exception):
    """Base of everything a provider adapter raises on purpose."""


class ProviderRateLimited(ProviderError):
    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        super().__init__(f"{message} (retry after {retry_after:g} s)")
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """Timeouts, connection failures and 5xx: worth another try later.

    `maybe_submitted` is True when a creating request may have reached the provider anyway
    (the answer timed out after the request was sent): repeating it could start, and bill,
    a second training.
    """

    def __init__(self, message: str, *, maybe_submitted: bool = False) -> None:
        super().__init__(message)
        self.maybe_submitted = maybe_submitted


class ProviderRejected(ProviderError):
    """The provider refused the request (validation, auth, unknown id): retrying cannot help.

    `status_code` is the HTTP status when there was one, so callers can tell "no such
    training" (404) from a refused key (401/403).
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class WebhookRejected(Exception):
    """A delivery that is unsigned, forged, stale or malformed; nothing may change."""


class Trainer(Protocol):
    name: str
    photo_limits: PhotoCountLimits
    """What the provider's trainer itself accepts; the service narrows the operator's range
    to it, so a training is never sent with fewer photos than the trainer needs."""

    def submit(self, request: TrainingRequest) -> Submitted:
        """Start a training. Never retried inside the adapter: a repeat may bill twice."""
        ...

    def find_submitted(self, request: TrainingRequest) -> Submitted | None:
        """The training a submit of `request` started, when a submit may have been accepted
        but did not say so ("maybe submitted"); None when the provider shows none, or offers
        no way to look one up. Asked instead of submitting again."""
        ...

    def status(self, external_id: str) -> TrainingStatus: ...

    def cancel(self, external_id: str) -> None:
        """Stop a training; cancelling one that already finished is not an error."""
        ...

    def fetch_weights(self, weights_url: str) -> bytes:
        """The LoRA .safetensors bytes behind a finished training's `weights_url`."""
        ...

    def forget(self, external_id: str, trained_version: str) -> None:
        """Delete what the provider keeps of a training (its stored request, the trained
        version) as far as its API allows; what is already gone is not an error."""
        ...

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        """Check the signature over the raw body; raises WebhookRejected."""
        ...


def lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names are case-insensitive; plain dicts (tests, other servers) are not."""
    return {key.lower(): value for key, value in headers.items()}


def progress_from_logs(logs: str) -> float | None:
    """The last "step/total" a trainer printed, as a fraction; None if it printed none."""
    matches = _STEP_PROGRESS.findall(logs or "")
    if not matches:
        return None
    done, total = (int(part) for part in matches[-1])
    return min(1.0, done / total) if total else None
