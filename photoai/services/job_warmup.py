"""What every job would otherwise load in its own work horse, loaded once before the forks.

RQ forks a work horse per job and whatever the horse loads on first use dies with it. On a
generation with the demo provider, dlib's face models took 0.8-3.7 s to read in each horse and
the provider chain's HTTP client (its TLS context) about 0.2 s (profiled on a loaded 2-core
machine; bench/job_burst.py shows the effect on a burst), and SQLAlchemy's configuration of
the mappers, which a horse otherwise redoes on its first query (18-23 ms). Loaded
in the worker process before it forks, they reach every horse already in memory, shared
copy-on-write. Nothing here opens a connection or starts a thread, so forking stays safe.
"""

import logging

from PIL import Image
from sqlalchemy.orm import configure_mappers

from photoai.providers import demo_looks
from photoai.providers.generation_base import GeneratorConfigError
from photoai.services import faces, generation_runs
from photoai.services.storage import get_storage
from photoai.settings import get_settings

log = logging.getLogger(__name__)


def preload() -> None:
    """Load models, image codecs and clients into this process, ahead of any job."""
    settings = get_settings()
    Image.init()  # registers every codec plugin now instead of on the first unknown file
    configure_mappers()
    faces.load_models()
    demo_looks.load_detector()
    get_storage(settings)  # an S3 client costs tens of milliseconds to build
    try:
        generation_runs.load_generators(settings)
    except GeneratorConfigError as exc:
        # Each generation job reports it (and fails visibly); the worker still serves the rest.
        log.error("image generation is misconfigured: %s", exc)
