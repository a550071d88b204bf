"""Running generations: the job handler that asks a provider for images and delivers them.

A generation is a Job of kind "generation" holding `count * unit_cost` credits. The handler
builds one `GenerationRequest`, tries the operator's generators in order, then delivers each
output on its own: it is downloaded at once (provider links expire), its original and a WebP
thumbnail are stored under keys that carry the job and the image's index, and its row and its
capture are written in ONE transaction. So a crash between two images neither loses a charged
image nor charges one twice, and a retry only asks for the indexes that have no row yet.

Decisions, so the UI and support can rely on them:
- An image the provider flags as unsafe is stored and marked `flagged` (the gallery shows it
  behind a notice) and is not charged: the user did not get a usable picture.
- A picture of a person is scored against the user's held-out photos (`likeness_score`); one
  whose face is not the user's (beyond PHOTOAI_LIKENESS_THRESHOLD) is kept, shown as a weak
  likeness, and its credit released in the transaction that records it ("doesn't look like
  you" in the ledger). A picture with no face found is not scored and is charged as usual.
  With PHOTOAI_LIKENESS_REROLL the provider is first asked once more for that picture (one
  more call, never a second charge); the closer of the two is kept, charged only if it looks
  like the user.
- An output that does not download or does not decode is not delivered; whatever was not
  captured goes back to the user when the job finishes (`jobs.succeed` releases the rest).
- A refusal (content policy, invalid request, no generator for the mode) fails the job at once;
  outages and rate limits raise, so the job runner retries with the images already kept.
- A batch a provider may have taken without our hearing back (a timeout after sending, an
  unreadable answer: "maybe submitted") fails the job with the credits back instead: the
  answer was the only way to get those images, and asking again would pay for them twice.
"""

import json
import logging
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from io import BytesIO
from pathlib import PurePosixPath
from typing import Any

import httpx
from PIL import Image, ImageOps
from sqlalchemy import select
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import GeneratedImage, Job, JobStatus, ModelStatus, PersonalModel, TrainingPhoto
from photoai.observe import context, metrics
from photoai.providers.base import ProviderError, ProviderRejected, ProviderUnavailable
from photoai.providers.demo_generator import MAX_SEED, DemoGenerator
from photoai.providers.demo_generator import NAME as DEMO
from photoai.providers.generation_base import (
    ContentPolicyViolation,
    GeneratedOutput,
    GenerationRequest,
    Generator,
    GeneratorConfigError,
)
from photoai.providers.generation_http import fetch_output, sniff_image_type
from photoai.providers.generator_chain import (
    NoGeneratorSupports,
    build_generators,
    generate_with_fallback,
)
from photoai.services import analytics, credits, faces, jobs, likeness_score
from photoai.services.faces import Embedding
from photoai.services.photo_checks import THUMB_WEBP_QUALITY
from photoai.services.storage import Storage, get_storage
from photoai.services.training_runs import provider_files_url
from photoai.settings import Settings, get_settings

log = logging.getLogger(__name__)

KIND = "generation"
UNCONFIRMED = (
    "The image service did not confirm the pictures, so the request was not repeated; your "
    "credits are back in your balance."
)
THUMB_SIDE = 384
# libwebp's effort 2 instead of the default 4: measured 7 ms instead of 14 ms per 384 px
# thumbnail, for files about 3 % larger (bench/generation_delivery.py).
THUMB_WEBP_METHOD = 2
MAX_REFERENCE_PHOTOS = 4
# A provider fetches LoRA weights and reference photos during the call, after its own queue.
PROVIDER_LINK_SECONDS = 3600
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, struct.error, Image.DecompressionBombError)

Chain = list[tuple[str, Generator]]
# Asks the provider for one more picture in place of the given one: (provider, output), or
# None when it could not (the first picture is then kept).
Reroll = Callable[[GeneratedOutput], tuple[str, GeneratedOutput] | None]
NOT_YOU_REROLLED = f"{likeness_score.NOT_YOU} (asked twice)"


@dataclass(frozen=True)
class GenerationSpec:
    """Everything a job needs, fixed at submit time and kept in the job's payload.

    `model_id` is the personal model whose LoRA is used (None for Instant); `photos_model_id`
    is the model whose accepted photos carry the likeness for Instant and for the demo
    generator. The price per image is kept so a later price change cannot overdraw the hold.
    """

    request_key: str
    source: str
    source_label: str
    model_id: int | None
    photos_model_id: int
    style_id: str
    pack_id: str
    label: str
    prompt: str
    negative_prompt: str
    aspect_ratio: str
    width: int
    height: int
    count: int
    seed: int | None
    unit_cost: int
    # The user's own words, shown with the picture; `prompt` is what the provider gets.
    # Defaulted so that jobs queued before this field existed still load.
    user_prompt: str = ""

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> "GenerationSpec":
        return cls(**payload)

    @property
    def credits(self) -> int:
        return self.count * self.unit_cost


@dataclass(frozen=True)
class JobTarget:
    """The job an output is delivered into."""

    job_id: int
    user_id: int
    hold_reference: str
    spec: GenerationSpec


@dataclass(frozen=True)
class Delivered:
    image_id: int
    flagged: bool
    server_ms: float


# --- storage keys ------------------------------------------------------------------------------


def image_key(user_id: int, job_id: int, index: int, extension: str) -> str:
    """Outside the model's folder: pictures outlive the model that made them."""
    return f"users/{user_id}/generations/job-{job_id}/{index}.{extension}"


def image_thumb_key(user_id: int, job_id: int, index: int) -> str:
    return f"users/{user_id}/generations/job-{job_id}/thumbs/{index}.webp"


def index_of(storage_key: str) -> int:
    return int(PurePosixPath(storage_key).stem)


def capture_reference(hold_reference: str, index: int) -> str:
    return f"{hold_reference}:img:{index}"


# --- generators --------------------------------------------------------------------------------

_chain_lock = threading.Lock()
_chain_cache: tuple[Settings, Chain, httpx.Client] | None = None


def _configured(settings: Settings) -> tuple[Chain, httpx.Client]:
    """The operator's generators and one download client, built once per settings object so
    connections are reused across jobs."""
    global _chain_cache
    with _chain_lock:
        if _chain_cache is None or _chain_cache[0] is not settings:
            client = httpx.Client(timeout=settings.generation_timeout_seconds)
            _chain_cache = (settings, build_generators(settings), client)
        return _chain_cache[1], _chain_cache[2]


def load_generators(settings: Settings) -> None:
    """Build the operator's generators and download client now: a worker does it before it
    forks its work horses, so no job pays for the TLS set-up again. Nothing connects yet, so
    every horse gets a client with an empty connection pool."""
    _configured(settings)


def _generators_for(settings: Settings, model_provider: str | None) -> tuple[Chain, httpx.Client]:
    """A model trained by the demo trainer has no real LoRA, so only the demo generator can
    use it; everything else goes through the operator's chain."""
    try:
        chain, client = _configured(settings)
    except GeneratorConfigError as exc:
        log.error("image generation is misconfigured: %s", exc)
        raise jobs.PermanentJobError("Image generation is not available on this server.") from exc
    if model_provider == DEMO:
        return [(DEMO, DemoGenerator())], client
    return chain, client


def is_demo_only(settings: Settings) -> bool:
    return {name.strip().lower() for name in settings.generators} == {DEMO}


# --- building the request ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Likeness:
    model_provider: str | None
    trigger_word: str
    weights_key: str
    provider_version: str
    photo_keys: list[str]
    # The faces delivered pictures are scored against (`likeness_score`); empty: no scoring.
    references: tuple[Embedding, ...]


def _load_likeness(spec: GenerationSpec) -> _Likeness:
    with session_scope() as s:
        model = None
        if spec.model_id is not None:
            model = s.get(PersonalModel, spec.model_id)
            if model is None or model.status != ModelStatus.READY:
                raise jobs.PermanentJobError("The model was deleted before the pictures were made.")
        photos = s.execute(
            select(
                col(TrainingPhoto.storage_key),
                col(TrainingPhoto.held_out),
                col(TrainingPhoto.face_embedding),
            )
            .where(col(TrainingPhoto.model_id) == spec.photos_model_id, col(TrainingPhoto.accepted))
            .order_by(col(TrainingPhoto.created_at), col(TrainingPhoto.id))
        ).all()
    # Held-out photos are never shown to a generator: they are what its pictures are scored on.
    photo_keys = [key for key, held, _ in photos if not held][:MAX_REFERENCE_PHOTOS]
    if model is not None:
        # A model's faces are kept on it: retention removes its photos while it goes on working.
        references = faces.many_from_bytes(model.likeness_references or b"")
    else:
        embedded = [(held, faces.from_bytes(bytes(data))) for _, held, data in photos]
        held_faces = tuple(e for held, e in embedded if held and e is not None)
        references = held_faces or tuple(e for _, e in embedded if e is not None)
    if model is None and not photo_keys:
        raise jobs.PermanentJobError(
            "The photos for Instant were deleted before the pictures were made."
        )
    return _Likeness(
        model_provider=model.provider if model else None,
        trigger_word=model.trigger_word if model else "",
        weights_key=model.weights_key if model else "",
        provider_version=model.provider_version if model else "",
        photo_keys=photo_keys,
        references=references,
    )


def _build_request(
    target: JobTarget, likeness: _Likeness, chain: Chain, missing: list[int], storage: Storage
) -> GenerationRequest:
    """Remote generators get links they can download (the LoRA for a model, the photos for
    Instant); the demo generator gets the photos' bytes. Only what the chain uses is made.
    A model trained at Replicate also names its version there, for Replicate's generator.

    A retry asking for the missing images moves a chosen seed on by the first missing index,
    so it does not make the pictures already delivered all over again.
    """
    spec = target.spec
    seed = spec.seed if spec.seed is None else (spec.seed + missing[0]) % (MAX_SEED + 1)
    names = {name for name, _ in chain}
    remote = bool(names - {DEMO})
    lora_url = None
    reference_urls: list[str] = []
    if remote and spec.model_id is not None:
        if not likeness.weights_key:
            raise jobs.PermanentJobError("This model has no weights to generate with.")
        lora_url = provider_files_url(
            storage, likeness.weights_key, target.user_id, PROVIDER_LINK_SECONDS
        )
    elif remote:
        reference_urls = [
            provider_files_url(storage, key, target.user_id, PROVIDER_LINK_SECONDS)
            for key in likeness.photo_keys
        ]
    return GenerationRequest(
        prompt=spec.prompt,
        width=spec.width,
        height=spec.height,
        n=len(missing),
        seed=seed,
        negative_prompt=spec.negative_prompt,
        lora_url=lora_url,
        trained_version=(likeness.provider_version or None) if lora_url else None,
        trigger_word=likeness.trigger_word,
        reference_image_urls=reference_urls,
        reference_images=[storage.get(key) for key in likeness.photo_keys] if DEMO in names else [],
        style_id=spec.style_id,
    )


def _generate(request: GenerationRequest, chain: Chain) -> tuple[str, list[GeneratedOutput]]:
    """Refusals end the job with a reason the user can read; outages raise for a retry,
    unless a provider may have taken the batch (a retry would pay for it twice)."""
    try:
        return generate_with_fallback(request, chain)
    except ProviderUnavailable as exc:
        if exc.maybe_submitted:
            raise jobs.PermanentJobError(UNCONFIRMED) from exc
        raise
    except ContentPolicyViolation as exc:
        raise jobs.PermanentJobError(
            "The image service refused this request on content grounds; try describing the "
            "picture differently."
        ) from exc
    except NoGeneratorSupports as exc:
        raise jobs.PermanentJobError(
            "No image service on this server can make this kind of picture."
        ) from exc
    except ProviderRejected as exc:
        raise jobs.PermanentJobError(f"The image service refused the request: {exc}") from exc


# --- delivering one image ----------------------------------------------------------------------


def _thumbnail(data: bytes, max_pixels: int) -> tuple[int, int, bytes] | None:
    """(width, height, WebP thumbnail), or None for anything that is not a whole image.

    JPEGs decode at a reduced scale (`draft`), which is most of the saving on a 1 MP output.
    """
    try:
        with Image.open(BytesIO(data), formats=["JPEG", "PNG", "WEBP"]) as image:
            width, height = image.size
            if width * height > max_pixels:
                return None
            image.draft("RGB", (THUMB_SIDE, THUMB_SIDE))
            image.load()
            thumb = ImageOps.contain(
                image.convert("RGB"), (THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS
            )
    except _DECODE_ERRORS:
        return None
    out = BytesIO()
    thumb.save(out, "WEBP", quality=THUMB_WEBP_QUALITY, method=THUMB_WEBP_METHOD)
    return width, height, out.getvalue()


def _likeness(data: bytes, references: tuple[Embedding, ...]) -> float | None:
    """The picture's likeness score, None when it shows no face dlib can describe."""
    try:
        with Image.open(BytesIO(data), formats=["JPEG", "PNG", "WEBP"]) as picture:
            face = likeness_score.embed_picture(picture)
    except _DECODE_ERRORS:
        return None
    return likeness_score.score(face, references) if face is not None else None


class _JobStopped(Exception):
    """The job was finished elsewhere (deadline, reaper) while this image was on its way."""


def _record(
    target: JobTarget, index: int, row: GeneratedImage, threshold: float, rerolled: bool = False
) -> int:
    """The image's row and its charge, together or not at all.

    A picture whose face is farther than `threshold` from the user's is kept but not charged:
    its credit is released in the same transaction, and the ledger says why.

    The job row is locked first, so a zombie attempt racing a newer one (or the reaper)
    cannot add the same index twice, and nothing is charged once the job is final.
    """
    spec = target.spec
    with session_scope() as s:
        status = s.execute(
            select(col(Job.status)).where(col(Job.id) == target.job_id).with_for_update()
        ).scalar_one()
        if status != JobStatus.RUNNING:
            raise _JobStopped
        for image_id, key in s.execute(
            select(col(GeneratedImage.id), col(GeneratedImage.storage_key)).where(
                col(GeneratedImage.job_id) == target.job_id
            )
        ).all():
            if index_of(key) == index:
                return int(image_id)
        s.add(row)
        s.flush()
        assert row.id is not None
        description = f"Image {index + 1} of {spec.count}: {spec.label}"
        if row.likeness is not None and row.likeness > threshold:
            credits.release_part(
                target.hold_reference,
                spec.unit_cost,
                reference=capture_reference(target.hold_reference, index),
                description=f"{description}, not charged: "
                f"{NOT_YOU_REROLLED if rerolled else likeness_score.NOT_YOU}",
                session=s,
            )
        elif not row.flagged:
            credits.capture(
                target.hold_reference,
                spec.unit_cost,
                reference=capture_reference(target.hold_reference, index),
                description=description,
                session=s,
            )
        return row.id


@dataclass(frozen=True)
class _Fetched:
    output: GeneratedOutput
    provider: str
    content_type: str
    width: int
    height: int
    thumb: bytes
    likeness: float | None


def _fetch(
    output: GeneratedOutput,
    provider: str,
    downloads: httpx.Client,
    max_pixels: int,
    references: tuple[Embedding, ...],
) -> _Fetched | str:
    """The output downloaded, checked, thumbnailed and scored; or why it is not usable."""
    try:
        fetched = output if output.data is not None else fetch_output(downloads, output)
    except ProviderError as exc:
        return f"download failed: {exc}"
    assert fetched.data is not None
    content_type = sniff_image_type(fetched.data)
    picture = _thumbnail(fetched.data, max_pixels) if content_type else None
    if content_type is None or picture is None:
        return f"{provider} sent an unreadable image"
    likeness = _likeness(fetched.data, references) if references and not fetched.flagged else None
    return _Fetched(fetched, provider, content_type, *picture, likeness)


def _rerolled(
    first: _Fetched,
    reroll: Reroll,
    downloads: httpx.Client,
    max_pixels: int,
    references: tuple[Embedding, ...],
) -> _Fetched:
    """The closer to the user of `first` and one more picture asked for in its place (one
    with no face found, or flagged, is no closer: it would be charged for nothing better)."""
    asked = reroll(first.output)
    if asked is None:
        return first
    second = _fetch(asked[1], asked[0], downloads, max_pixels, references)
    if isinstance(second, str):
        log.warning("re-rolled picture not usable: %s", second)
        return first
    if second.likeness is not None and first.likeness is not None:
        return second if second.likeness < first.likeness else first
    return first


def deliver_output(
    target: JobTarget,
    index: int,
    output: GeneratedOutput,
    provider: str,
    *,
    downloads: httpx.Client,
    storage: Storage,
    max_pixels: int,
    references: tuple[Embedding, ...] = (),
    reroll: Reroll | None = None,
) -> Delivered | None:
    """Download, check, store, score and record one output; None when it is not delivered.

    Keys depend only on job and index, so a retry after a crash overwrites its own files
    instead of leaving strays. With `references` (the user's faces), a picture is scored
    against them, and one that is not the user is not charged (see `_record`); with
    `reroll`, such a picture is first asked for once more, and the closer of the two kept.
    """
    started = time.perf_counter()
    spec = target.spec
    threshold = get_settings().likeness_threshold
    first = _fetch(output, provider, downloads, max_pixels, references)
    if isinstance(first, str):
        log.warning("job %s image %s: %s", target.job_id, index, first)
        return None
    kept, rerolled = first, False
    if reroll is not None and first.likeness is not None and first.likeness > threshold:
        kept, rerolled = _rerolled(first, reroll, downloads, max_pixels, references), True
    fetched, provider, likeness = kept.output, kept.provider, kept.likeness
    assert fetched.data is not None
    content_type, width, height, thumb = kept.content_type, kept.width, kept.height, kept.thumb
    key = image_key(target.user_id, target.job_id, index, _EXTENSIONS[content_type])
    thumb_key = image_thumb_key(target.user_id, target.job_id, index)
    storage.put(key, fetched.data, content_type)
    storage.put(thumb_key, thumb, "image/webp")
    row = GeneratedImage(
        user_id=target.user_id,
        model_id=spec.model_id,
        job_id=target.job_id,
        style_id=spec.style_id,
        prompt=spec.prompt,
        user_prompt=spec.user_prompt,
        negative_prompt=spec.negative_prompt,
        seed=fetched.seed if fetched.seed is not None else spec.seed,
        width=width,
        height=height,
        aspect_ratio=spec.aspect_ratio,
        provider=provider,
        storage_key=key,
        thumb_key=thumb_key,
        flagged=fetched.flagged,
        likeness=likeness,
    )
    try:
        image_id = _record(target, index, row, threshold, rerolled)
    except _JobStopped as exc:
        storage.delete(key)
        storage.delete(thumb_key)
        raise jobs.PermanentJobError(
            "The request was stopped while its pictures were saved."
        ) from exc
    server_ms = (time.perf_counter() - started) * 1000
    log.info(
        "job %s image %s delivered in %.1f ms server time (%s%s)",
        target.job_id,
        index,
        server_ms,
        provider,
        ", flagged" if fetched.flagged else "",
    )
    return Delivered(image_id, fetched.flagged, server_ms)


# --- the job handler ---------------------------------------------------------------------------


def _load_target(job_id: int) -> tuple[JobTarget, set[int]]:
    """The job and the indexes it has already delivered (a retry skips those)."""
    with session_scope() as s:
        job = s.get(Job, job_id)
        assert job is not None
        keys = s.execute(
            select(col(GeneratedImage.storage_key)).where(col(GeneratedImage.job_id) == job_id)
        ).scalars()
        done = {index_of(key) for key in keys}
    if job.user_id is None or not job.hold_reference:
        raise jobs.PermanentJobError("This request holds no credits, so it was not started.")
    spec = GenerationSpec.from_payload(json.loads(job.payload))
    return JobTarget(job_id, job.user_id, job.hold_reference, spec), done


def run_generation(job_id: int) -> jobs.Outcome:
    """Make the images still missing from this job and deliver each as it comes."""
    settings = get_settings()
    target, done = _load_target(job_id)
    spec = target.spec
    missing = [index for index in range(spec.count) if index not in done]
    if not missing:
        return jobs.Outcome.DONE
    likeness = _load_likeness(spec)
    chain, downloads = _generators_for(settings, likeness.model_provider)
    storage = get_storage(settings)
    request = _build_request(target, likeness, chain, missing, storage)
    provider, outputs = _generate(request, chain)
    context.bind(provider=provider)
    reroll = _reroller(request, chain, spec.count) if settings.likeness_reroll else None
    stored = len(done)
    for index, output in zip(missing, outputs, strict=False):
        delivered = deliver_output(
            target,
            index,
            output,
            provider,
            downloads=downloads,
            storage=storage,
            max_pixels=settings.max_pixels,
            references=likeness.references,
            reroll=reroll,
        )
        stored += delivered is not None
        jobs.heartbeat(job_id, stored / spec.count)
    if stored == 0:
        raise jobs.PermanentJobError(
            "The image service sent no usable pictures; your credits are back in your balance."
        )
    jobs.set_external(job_id, provider, "")  # who delivered, for the console's provider health
    return jobs.Outcome.DONE


def sample_likeness(spec: GenerationSpec, user_id: int, job_id: int) -> list[float | None]:
    """Make `spec.count` pictures as a generation job would, and only score them: nothing is
    stored, charged or shown in the gallery (the model quality check). One score per usable
    picture, None for one with no face found; provider errors pass through as in a job."""
    settings = get_settings()
    likeness = _load_likeness(spec)
    chain, downloads = _generators_for(settings, likeness.model_provider)
    target = JobTarget(job_id, user_id, "", spec)
    missing = list(range(spec.count))
    request = _build_request(target, likeness, chain, missing, get_storage(settings))
    provider, outputs = _generate(request, chain)
    scores: list[float | None] = []
    for output in outputs:
        got = _fetch(output, provider, downloads, settings.max_pixels, likeness.references)
        if isinstance(got, str):
            log.warning("sample picture of job %s not usable: %s", job_id, got)
        else:
            scores.append(got.likeness)
    return scores


def _reroller(request: GenerationRequest, chain: Chain, count: int) -> Reroll:
    """One more picture for a request: its seed moved past the batch's own seeds, so it is not
    the same picture again; an outage or a refusal keeps the first picture instead."""

    def reroll(first: GeneratedOutput) -> tuple[str, GeneratedOutput] | None:
        seed = None if first.seed is None else (first.seed + count) % (MAX_SEED + 1)
        try:
            provider, outputs = _generate(replace(request, n=1, seed=seed), chain)
        except (jobs.PermanentJobError, ProviderError) as exc:
            log.warning("re-roll not made: %s", exc)
            return None
        log.info("re-rolled a picture that did not look like the user (%s)", provider)
        return (provider, outputs[0]) if outputs else None

    return reroll


def on_generation_finished(job_id: int) -> None:
    """Counts the finished job and sends the funnel's image events; never raises into the
    caller (the reaper finishes many jobs in one loop)."""
    try:
        _count_finished(job_id)
    except Exception:
        log.exception("counting finished generation job %s failed", job_id)


def _count_finished(job_id: int) -> None:
    view = jobs.get(job_id)
    if view is None:
        return
    with session_scope() as s:
        providers = list(
            s.execute(
                select(col(GeneratedImage.provider)).where(col(GeneratedImage.job_id) == job_id)
            ).scalars()
        )
        earlier = (
            view.user_id is not None
            and s.execute(
                select(col(GeneratedImage.id))
                .where(
                    col(GeneratedImage.user_id) == view.user_id,
                    col(GeneratedImage.job_id) != job_id,
                )
                .limit(1)
            ).first()
            is not None
        )
    provider = providers[0] if providers else view.provider
    metrics.JOBS_FINISHED.labels(view.kind, provider, view.status).inc()
    if view.user_id is None or not providers:
        return
    props: analytics.Props = {"provider": provider, "images": len(providers)}
    if not earlier:
        analytics.track(view.user_id, analytics.Funnel.FIRST_IMAGE, props)
    analytics.track(view.user_id, analytics.Funnel.IMAGE_GENERATED, props)
