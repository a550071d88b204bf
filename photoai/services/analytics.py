"""Product analytics: the funnel events, sent to PostHog off the request path.

`track` only puts an event on the PostHog SDK's in-memory queue; the SDK's own consumer thread
sends batches to `{host}/batch/`. A full queue or an unreachable PostHog drops events (counted
in `photoai_analytics_events_total{result="dropped"}`) and never slows a request down.

People are identified by a keyed hash of their numeric id, never by email: PostHog can group a
person's events without learning who they are, and, unlike a plain hash of a small integer, the
id cannot be reversed by trying every number without the installation's secret key.
"""

import hashlib
import hmac
import logging
import threading
from enum import StrEnum
from typing import Any

from posthog import Posthog

from photoai.observe.metrics import ANALYTICS_EVENTS
from photoai.settings import get_settings

log = logging.getLogger(__name__)


class Funnel(StrEnum):
    REGISTERED = "registered"
    CONSENTED = "consented"
    MODEL_CREATED = "model_created"
    TRAINING_STARTED = "training_started"
    TRAINING_FINISHED = "training_finished"
    TRAINING_FAILED = "training_failed"
    FIRST_IMAGE = "first_image"
    IMAGE_GENERATED = "image_generated"
    CHECKOUT_STARTED = "checkout_started"
    CHECKOUT_COMPLETED = "checkout_completed"
    SUBSCRIPTION_STARTED = "subscription_started"
    SUBSCRIPTION_CANCELED = "subscription_canceled"


Props = dict[str, str | int | float | bool]

_lock = threading.Lock()
_client: Posthog | None = None
_client_key: tuple[str, str] | None = None


def distinct_id(user_id: int) -> str:
    """Stable per installation and user; reveals neither the email nor the numeric id."""
    key = get_settings().signing_key.encode()
    return hmac.new(key, f"analytics-user:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]


def _dropped(error: Exception, batch: list[dict[str, Any]]) -> None:
    ANALYTICS_EVENTS.labels("dropped").inc(len(batch))
    log.warning("PostHog did not take %d events: %s", len(batch), error)


def _get_client() -> Posthog | None:
    """One SDK client (and consumer thread) per process, made on first use."""
    global _client, _client_key
    settings = get_settings()
    if not settings.posthog_api_key:
        return None
    wanted = (settings.posthog_api_key, settings.posthog_host)
    with _lock:
        if _client is None or _client_key != wanted:
            if _client is not None:
                _client.shutdown()
            # One warning per dropped event would flood the log while PostHog is down; drops
            # are counted in /metrics and each failed batch is logged once by `_dropped`.
            logging.getLogger("posthog").setLevel(logging.ERROR)
            _client = Posthog(
                settings.posthog_api_key,
                host=settings.posthog_host,
                max_queue_size=settings.posthog_max_queue_size,
                timeout=settings.posthog_timeout_seconds,
                max_retries=2,
                on_error=_dropped,
                disable_geoip=True,
                enable_local_evaluation=False,
            )
            _client_key = wanted
        return _client


def track(user_id: int, event: Funnel, props: Props | None = None) -> None:
    """Queue one funnel event; never raises and never waits on the network."""
    try:
        client = _get_client()
        if client is None:
            return
        queued = client.capture(
            event.value, distinct_id=distinct_id(user_id), properties=dict(props or {})
        )
    except Exception:
        log.exception("analytics event %s not queued", event.value)
        queued = None
    ANALYTICS_EVENTS.labels("queued" if queued else "dropped").inc()


def flush() -> None:
    """Send what is queued now (tests, and a worker about to exit)."""
    with _lock:
        client = _client
    if client is not None:
        client.flush()


def shutdown() -> None:
    global _client, _client_key
    with _lock:
        client, _client, _client_key = _client, None, None
    if client is not None:
        client.shutdown()
