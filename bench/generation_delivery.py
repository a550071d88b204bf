"""Server time to deliver one generated image, the provider's own time excluded.

Delivery is what our worker does once a provider has answered: download the output, check it
decodes, make the WebP thumbnail, store both files, and write the image row and its credit
capture in one transaction. The pictures are 1024x1024 JPEGs made beforehand by the demo
generator from a real portrait (not timed) and served by a local HTTP server, the way fal and
Replicate hand out links; a second run hands them over as inline bytes (demo, Together's
base64), with no download.

Runs on a fresh SQLite database in a temporary folder (the embedded default) unless
PHOTOAI_DATABASE_URL points at a database; storage is the local folder.

    .venv/bin/python bench/generation_delivery.py
"""

import os
import secrets
import statistics
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from typing import Any

import httpx
import skimage.data
from PIL import Image

from photoai import cli
from photoai.db import get_engine
from photoai.models import LedgerKind
from photoai.providers.demo_generator import DemoGenerator
from photoai.providers.generation_base import GeneratedOutput, GenerationRequest
from photoai.services import accounts, credits, generation_runs, jobs
from photoai.services.storage import get_storage
from photoai.settings import get_settings

COUNT = 20
SIZE = 1024


def pictures() -> list[bytes]:
    """Photo-like outputs: the demo generator's crops of a real portrait (scikit-image's
    astronaut, public domain), so JPEG sizes and decode times resemble a provider's."""
    portrait = BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(portrait, "JPEG", quality=95)
    outputs = []
    for start in range(0, COUNT, 4):
        request = GenerationRequest(
            prompt="studio portrait",
            width=SIZE,
            height=SIZE,
            n=4,
            seed=start,
            reference_images=[portrait.getvalue()],
        )
        outputs += DemoGenerator().generate(request)
    return [output.data for output in outputs if output.data is not None]


@contextmanager
def serve(files: list[bytes]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = files[int(self.path.strip("/").removesuffix(".jpg"))]
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def running_job(user_id: int, count: int) -> generation_runs.JobTarget:
    """A claimed generation job holding `count` credits, as the worker sees it mid-run."""
    spec = generation_runs.GenerationSpec(
        request_key="bench",
        source="instant",
        source_label="Instant",
        model_id=None,
        photos_model_id=0,
        style_id="studio-headshot",
        pack_id="",
        label="Bench",
        prompt="studio portrait",
        negative_prompt="",
        aspect_ratio="1:1",
        width=SIZE,
        height=SIZE,
        count=count,
        seed=None,
        unit_cost=1,
    )
    job_id = jobs.create(
        generation_runs.KIND,
        user_id=user_id,
        payload=spec.to_payload(),
        credits_to_hold=spec.credits,
        enqueue_now=False,
    )
    assert jobs.claim(job_id)
    return generation_runs.JobTarget(job_id, user_id, f"job:{job_id}", spec)


def run(label: str, user_id: int, outputs: list[GeneratedOutput]) -> None:
    settings = get_settings()
    target = running_job(user_id, len(outputs) + 1)
    with httpx.Client(timeout=10) as client:

        def deliver(index: int, output: GeneratedOutput) -> float:
            delivered = generation_runs.deliver_output(
                target,
                index,
                output,
                "bench",
                downloads=client,
                storage=get_storage(settings),
                max_pixels=settings.max_pixels,
            )
            assert delivered is not None
            return delivered.server_ms

        deliver(len(outputs), outputs[0])  # warm-up: codecs, connection pool
        times = [deliver(index, output) for index, output in enumerate(outputs)]
    times.sort()
    print(
        f"{label}: {len(times)} images, ms per delivered image: "
        f"mean {statistics.mean(times):.1f}, median {statistics.median(times):.1f}, "
        f"p95 {times[int(len(times) * 0.95) - 1]:.1f}, max {times[-1]:.1f}"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="photoai-bench-") as workdir:
        os.environ["PHOTOAI_DATA_DIR"] = workdir
        get_settings.cache_clear()
        cli.main(["migrate"])
        print(f"database: {get_engine().dialect.name}, storage: local folder")
        user_id = accounts.register("bench@example.com", secrets.token_urlsafe(16))
        credits.grant(user_id, 1000, kind=LedgerKind.ADJUSTMENT, reference="bench")
        files = pictures()
        size_kb = statistics.mean(len(f) for f in files) / 1024
        print(f"{len(files)} JPEGs of {SIZE}x{SIZE}, {size_kb:.0f} KB on average")
        with serve(files) as base:
            linked = [
                GeneratedOutput(content_type="image/jpeg", url=f"{base}/{n}.jpg")
                for n in range(len(files))
            ]
            run("downloaded from a link", user_id, linked)
        inline = [GeneratedOutput(content_type="image/jpeg", data=data) for data in files]
        run("inline bytes", user_id, inline)


if __name__ == "__main__":
    main()
