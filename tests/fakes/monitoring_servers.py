"""Local stand-ins for Sentry's envelope endpoint and PostHog's capture endpoint, and a
reader for Prometheus scrapes.

Both record what the real SDKs send (gzip bodies are unpacked) so tests can read the very
payloads that would leave the machine.
"""

import gzip
import json
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.provider_http import Call, FakeProvider, Reply

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Samples:
    """A Prometheus scrape as {(sample name, labels): value}."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _body(call: Call) -> bytes:
    if call.headers.get("content-encoding") == "gzip":
        return gzip.decompress(call.body)
    assert "content-encoding" not in call.headers, call.headers["content-encoding"]
    return call.body


class FakeSentry(FakeProvider):
    """Accepts envelopes at /api/<project>/envelope/; `dsn` points an SDK here."""

    @property
    def dsn(self) -> str:
        return self.url.replace("http://", "http://publickey@") + "/1"

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        if method == "POST" and path == "/api/1/envelope/":
            return 200, {}, {}
        return 404, {"detail": "unknown path"}, {}

    def raw(self) -> bytes:
        """Everything the SDK sent, decompressed, for "this never left the process" checks."""
        return b"\n".join(_body(call) for call in self.calls_to("POST", "/api/1/envelope/"))

    def events(self) -> list[dict[str, Any]]:
        """The error events in the envelopes received (other item types are skipped)."""
        found: list[dict[str, Any]] = []
        for call in self.calls_to("POST", "/api/1/envelope/"):
            data = _body(call)
            _, _, rest = data.partition(b"\n")  # the envelope header
            while rest.strip():
                header_line, _, rest = rest.partition(b"\n")
                header = json.loads(header_line)
                length = header.get("length")
                if length is None:
                    payload, _, rest = rest.partition(b"\n")
                else:
                    payload, rest = rest[:length], rest[length:].lstrip(b"\n")
                if header.get("type") == "event":
                    found.append(json.loads(payload))
        return found


class FakePostHog(FakeProvider):
    """Accepts batches at /batch/ the way PostHog's capture endpoint does."""

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        if method == "POST" and path == "/batch/":
            return 200, {"status": 1}, {}
        return 404, {"detail": "unknown path"}, {}

    def raw(self) -> bytes:
        return b"\n".join(_body(call) for call in self.calls_to("POST", "/batch/"))

    def events(self) -> list[dict[str, Any]]:
        return [
            event
            for call in self.calls_to("POST", "/batch/")
            if call.status == 200
            for event in json.loads(_body(call))["batch"]
        ]
