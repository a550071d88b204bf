"""HTTP calls to AI providers with their failures sorted into the three kinds in `base`.

Nothing here retries: each caller decides, because only it knows whether a request creates
something billable. For such a request (`creating`) every failure is also sorted by whether
the provider may have accepted the work anyway ("maybe submitted"), which a caller must never
answer with a blind repeat:

- not submitted: the connection was never made, a 429, a 4xx refusal, a 500 or 503 from the
  provider's own application (it answered, and said it did not take the work);
- maybe submitted: no answer after the request went out (read timeout, dropped connection),
  a 502 or 504 (a gateway lost the backend it had handed the request to), and a 2xx whose
  body is unreadable or lacks what an acceptance must carry (the work was accepted, and
  billed, but we cannot tell which it is).
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from photoai.observe.metrics import PROVIDER_REQUEST_SECONDS
from photoai.providers.base import (
    MAX_WEIGHTS_BYTES,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)

DEFAULT_RETRY_AFTER = 10.0
MAX_RETRY_AFTER = 3600.0
# A gateway's "the backend did not answer": the backend may have accepted the request.
GATEWAY_LOST_BACKEND = frozenset({502, 504})


def retry_after(response: httpx.Response) -> float:
    """Seconds from a numeric Retry-After header (both providers send seconds), bounded."""
    raw = response.headers.get("retry-after", "")
    try:
        seconds = float(raw)
    except ValueError:
        return DEFAULT_RETRY_AFTER
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def error_detail(response: httpx.Response) -> str:
    """A short reason from fal's `{"detail": str | [{loc, msg}]}` or an RFC 7807 problem."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("title") or body.get("error")
        if isinstance(detail, list):
            parts = [
                f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg', '')}"
                if isinstance(item, dict)
                else str(item)
                for item in detail
            ]
            return "; ".join(parts)[:300]
        if detail:
            return str(detail)[:300]
    return str(body)[:300]


def _host(client: httpx.Client, url: str) -> str:
    return httpx.URL(url).host or client.base_url.host or "unknown"


@contextmanager
def _timed(host: str) -> Iterator[None]:
    """Latency and result of one provider call, for /metrics."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except ProviderRateLimited:
        outcome = "rate_limited"
        raise
    except ProviderRejected:
        outcome = "rejected"
        raise
    except Exception:
        outcome = "unavailable"
        raise
    finally:
        PROVIDER_REQUEST_SECONDS.labels(host, outcome).observe(time.perf_counter() - started)


def send(
    client: httpx.Client, method: str, url: str, *, creating: bool = False, **kwargs: Any
) -> httpx.Response:
    """One request; returns only 2xx answers, raises a classified ProviderError otherwise.

    `creating` marks a request that starts billable work, so that a failure after which the
    provider may still have accepted it says so (`maybe_submitted`).
    """
    with _timed(_host(client, url)):
        return _send(client, method, url, creating=creating, **kwargs)


def _send(
    client: httpx.Client, method: str, url: str, *, creating: bool, **kwargs: Any
) -> httpx.Response:
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        raise transport_failure(exc, creating=creating) from exc
    failure = status_failure(response, creating=creating)
    if failure is not None:
        raise failure
    return response


def transport_failure(exc: BaseException | None, *, creating: bool) -> ProviderUnavailable:
    """A request that got no answer: nothing was sent when the connection was never made;
    anything else may have reached the provider. (An SDK passes its wrapped httpx error.)"""
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return ProviderUnavailable(f"cannot reach the provider: {exc!r}")
    return ProviderUnavailable(f"no answer from the provider: {exc!r}", maybe_submitted=creating)


def status_failure(response: httpx.Response, *, creating: bool) -> ProviderError | None:
    """The classified error a non-2xx answer stands for; None for a 2xx."""
    if response.status_code == 429:
        return ProviderRateLimited(retry_after(response), error_detail(response))
    if response.status_code >= 500:
        return ProviderUnavailable(
            f"provider error {response.status_code}: {error_detail(response)}",
            maybe_submitted=creating and response.status_code in GATEWAY_LOST_BACKEND,
        )
    if response.status_code >= 400:
        return ProviderRejected(
            f"provider refused ({response.status_code}): {error_detail(response)}",
            status_code=response.status_code,
        )
    return None


def json_object(response: httpx.Response, *, creating: bool = False) -> dict[str, Any]:
    """The JSON object of a 2xx answer; for a `creating` request an unreadable one may hide
    an accepted (and billed) job, so it is "maybe submitted", like a timeout."""
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderUnavailable(
            "the provider answered with something that is not JSON", maybe_submitted=creating
        ) from exc
    if not isinstance(body, dict):
        raise ProviderUnavailable(
            "the provider answered with an unexpected JSON shape", maybe_submitted=creating
        )
    return body


def create(client: httpx.Client, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    """Send a request that starts billable work and read its acceptance, with every failure
    after which the provider may have accepted it marked "maybe submitted"."""
    return json_object(send(client, method, url, creating=True, **kwargs), creating=True)


def download(client: httpx.Client, url: str, limit: int = MAX_WEIGHTS_BYTES) -> bytes:
    """Fetch a provider's output file (no auth: their file links are bearer URLs)."""
    with _timed(_host(client, url)):
        return _download(client, url, limit)


def _download(client: httpx.Client, url: str, limit: int) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise ProviderRejected(f"not a web address: {url[:80]!r}")
    try:
        with client.stream("GET", url, follow_redirects=True) as response:
            if response.status_code == 429:
                raise ProviderRateLimited(retry_after(response))
            if response.status_code >= 500:
                raise ProviderUnavailable(f"file download failed with {response.status_code}")
            if response.status_code >= 400:
                raise ProviderRejected(
                    f"file download refused with {response.status_code}",
                    status_code=response.status_code,
                )
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise ProviderRejected(f"the file is larger than {limit} bytes")
                chunks.append(chunk)
    except httpx.TransportError as exc:
        raise ProviderUnavailable(f"file download interrupted: {exc!r}") from exc
    return b"".join(chunks)
