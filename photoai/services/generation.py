"""Generating pictures as the UI sees it: sources, prices, submitting, the request list.

No Reflex here: pages call these functions with the signed-in user's id. Everything a user can
get wrong is refused with a `GenerationError` (a message to show as it is) before any credit
moves; the credits module's InsufficientCredits / SpendingBlocked pass through unchanged, they
carry user-facing messages too.

Submitting is idempotent per click: the page sends a fresh `request_key` with each click, and
the hold of the n-th job of that click is named `gen:{user}:{key}:{n}`. Holds are unique by
reference in the ledger, so a double submit (two tabs, a retried request) finds the first
holds and returns the jobs that own them; in PostgreSQL a concurrent twin waits on the unique
index until the first transaction ends (`jobs.create_many` does this: every job row of the
click and its hold are ONE transaction, so a pack is all or nothing, and a twin rolls its own
rows back). Running the jobs is in
`generation_runs`; importing this module registers its handler with the job runner.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from photoai.db import session_scope
from photoai.models import (
    CreditHold,
    GeneratedImage,
    Job,
    JobStatus,
    ModelStatus,
    PersonalModel,
    TrainingPhoto,
    User,
)
from photoai.providers.demo_generator import MAX_SEED
from photoai.providers.generation_base import PromptRejected, check_prompt, size_for
from photoai.services import credits, jobs
from photoai.services.generation_runs import (
    KIND,
    GenerationSpec,
    is_demo_only,
    on_generation_finished,
    run_generation,
)
from photoai.services.queue import check_available
from photoai.services.styles import (
    Style,
    get_pack,
    get_style,
    instant_subject,
    model_subject,
    pack_styles,
)
from photoai.settings import Settings, get_settings

__all__ = [
    "ASPECT_RATIOS",
    "KIND",
    "MAX_IMAGES_PER_REQUEST",
    "MAX_SEED",
    "GenerationError",
    "GenerationOptions",
    "RequestView",
    "SourceOption",
    "cancel",
    "quote",
    "recent_requests",
    "sources",
    "submit",
]

ASPECT_RATIOS = ("1:1", "4:5", "3:4", "2:3", "16:9", "9:16")
MAX_IMAGES_PER_REQUEST = 4
INSTANT = "instant"
INSTANT_LABEL = "Instant, no training"
MODEL_PREFIX = "model:"
LABEL_CHARS = 60
_REQUEST_KEY = re.compile(r"[A-Za-z0-9-]{8,64}")
_SHOWS_ERROR = (JobStatus.FAILED.value, JobStatus.CANCELED.value)


class GenerationError(Exception):
    """A refusal with a message meant for the user."""


@dataclass(frozen=True)
class GenerationOptions:
    source: str  # "model:<id>" or "instant"
    prompt: str = ""
    style_id: str = ""
    pack_id: str = ""
    aspect_ratio: str = "1:1"
    count: int = 1
    seed: int | None = None
    negative_prompt: str = ""


@dataclass(frozen=True)
class SourceOption:
    value: str
    label: str
    is_demo: bool


@dataclass(frozen=True)
class RequestView:
    job_id: int
    status: str
    progress: float
    error: str
    label: str
    count: int
    delivered: int
    flagged: int
    source_label: str
    created_at: datetime
    image_ids: tuple[int, ...]


# --- sources -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    value: str
    label: str
    model_id: int | None
    photos_model_id: int
    subject: str


def _instant_photos(s: Session, user_id: int, min_photos: int) -> PersonalModel | None:
    """The user's model with the most accepted photos (newest on a tie), if it has enough.

    Photos of one model are photos of one person; mixing models could mix people.
    """
    accepted = func.count(col(TrainingPhoto.id))
    best = s.execute(
        select(col(TrainingPhoto.model_id))
        .where(col(TrainingPhoto.user_id) == user_id, col(TrainingPhoto.accepted))
        .group_by(col(TrainingPhoto.model_id))
        .having(accepted >= min_photos)
        .order_by(accepted.desc(), col(TrainingPhoto.model_id).desc())
        .limit(1)
    ).scalar_one_or_none()
    return s.get(PersonalModel, best) if best is not None else None


def sources(user_id: int) -> list[SourceOption]:
    """Ready models, newest first, then Instant when the user has enough good photos."""
    settings = get_settings()
    demo_only = is_demo_only(settings)
    with session_scope() as s:
        models = s.execute(
            select(PersonalModel)
            .where(
                col(PersonalModel.user_id) == user_id,
                col(PersonalModel.status) == ModelStatus.READY.value,
            )
            .order_by(col(PersonalModel.created_at).desc(), col(PersonalModel.id).desc())
        ).scalars()
        options = [
            SourceOption(f"{MODEL_PREFIX}{m.id}", m.name, demo_only or m.provider == "demo")
            for m in models
        ]
        if _instant_photos(s, user_id, settings.min_photos) is not None:
            options.append(SourceOption(INSTANT, INSTANT_LABEL, demo_only))
    return options


def _resolve_source(user_id: int, value: str, settings: Settings) -> _Source:
    with session_scope() as s:
        if value == INSTANT:
            photos = _instant_photos(s, user_id, settings.min_photos)
            if photos is None or photos.id is None:
                raise GenerationError(
                    f"Instant needs at least {settings.min_photos} good photos in one of your "
                    "models; add them on the Models page."
                )
            return _Source(INSTANT, "Instant", None, photos.id, instant_subject(photos.subject))
        number = value.removeprefix(MODEL_PREFIX)
        if not value.startswith(MODEL_PREFIX) or not number.isdigit():
            raise GenerationError("Choose one of your models, or Instant.")
        model = s.execute(
            select(PersonalModel).where(
                col(PersonalModel.id) == int(number), col(PersonalModel.user_id) == user_id
            )
        ).scalar_one_or_none()
        if model is None or model.id is None:
            raise GenerationError("Model not found.")
        if model.status != ModelStatus.READY:
            raise GenerationError("This model is not trained yet.")
        subject = model_subject(model.trigger_word, model.subject)
        return _Source(value, model.name, model.id, model.id, subject)


# --- checking a request ------------------------------------------------------------------------


def _styles(options: GenerationOptions) -> list[Style | None]:
    """The styles to run, one job each; [None] for a prompt of the user's own."""
    if options.style_id and options.pack_id:
        raise GenerationError("Choose a style or a pack, not both.")
    if options.pack_id:
        pack = get_pack(options.pack_id)
        if pack is None:
            raise GenerationError("That style pack does not exist.")
        return list(pack_styles(pack))
    if options.style_id:
        style = get_style(options.style_id)
        if style is None:
            raise GenerationError("That style does not exist.")
        return [style]
    return [None]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_numbers(options: GenerationOptions) -> None:
    if options.aspect_ratio not in ASPECT_RATIOS:
        raise GenerationError(f"Choose one of these shapes: {', '.join(ASPECT_RATIOS)}.")
    if not _is_int(options.count) or not 1 <= options.count <= MAX_IMAGES_PER_REQUEST:
        raise GenerationError(f"Choose between 1 and {MAX_IMAGES_PER_REQUEST} images.")
    seed = options.seed
    if seed is not None and (not _is_int(seed) or not 0 <= seed <= MAX_SEED):
        raise GenerationError(f"The seed must be a whole number from 0 to {MAX_SEED}.")


def _clean_prompts(
    options: GenerationOptions, has_style: bool, settings: Settings
) -> tuple[str, str]:
    """(prompt, negative prompt), single-spaced.

    Blocked words are checked in the prompt only: a negative prompt names what to keep OUT of
    the picture, so "nude" there is a request for decency, not against it.
    """
    prompt = " ".join(options.prompt.split())
    if prompt:
        try:
            prompt = check_prompt(
                prompt, max_chars=settings.max_prompt_chars, blocked_terms=settings.blocked_terms
            )
        except PromptRejected as exc:
            message = str(exc)
            raise GenerationError(f"{message[:1].upper()}{message[1:]}.") from exc
    elif not has_style:
        raise GenerationError("Describe the picture you want, or choose a style.")
    negative = " ".join(options.negative_prompt.split())
    if len(negative) > settings.max_prompt_chars:
        raise GenerationError(
            f"The negative prompt is longer than {settings.max_prompt_chars} characters."
        )
    return prompt, negative


def _label(prompt: str) -> str:
    if len(prompt) <= LABEL_CHARS:
        return prompt
    return prompt[:LABEL_CHARS].rsplit(" ", 1)[0] + "…"


def _plan(
    user_id: int, options: GenerationOptions, request_key: str, settings: Settings
) -> list[GenerationSpec]:
    """Check every part of the request and turn it into one spec per job.

    A pack uses each style's own shape (it is a curated set); a single style or a prompt
    uses the shape the user chose.
    """
    if not _REQUEST_KEY.fullmatch(request_key):
        raise GenerationError("This request could not be identified; reload the page.")
    styles = _styles(options)
    _check_numbers(options)
    has_style = any(style is not None for style in styles)
    prompt, negative = _clean_prompts(options, has_style, settings)
    source = _resolve_source(user_id, options.source, settings)
    specs = []
    for style in styles:
        aspect = style.aspect_ratio if options.pack_id and style else options.aspect_ratio
        width, height = size_for(aspect)
        specs.append(
            GenerationSpec(
                request_key=request_key,
                source=source.value,
                source_label=source.label,
                model_id=source.model_id,
                photos_model_id=source.photos_model_id,
                style_id=style.id if style else "",
                pack_id=options.pack_id,
                label=style.name if style else _label(prompt),
                prompt=style.render(source.subject, prompt) if style else prompt,
                user_prompt=prompt,
                negative_prompt=", ".join(
                    part for part in (style.negative_prompt if style else "", negative) if part
                ),
                aspect_ratio=aspect,
                width=width,
                height=height,
                count=options.count,
                seed=options.seed,
                unit_cost=settings.image_cost_credits,
            )
        )
    return specs


def quote(options: GenerationOptions) -> int:
    """Credits the request would hold: images x price, a pack counting each of its styles."""
    return len(_styles(options)) * options.count * get_settings().image_cost_credits


# --- submitting --------------------------------------------------------------------------------


def hold_reference(user_id: int, request_key: str, number: int) -> str:
    return f"gen:{user_id}:{request_key}:{number}"


def _owners(user_id: int, references: list[str]) -> dict[str, int]:
    """Jobs already holding these references. The unique index on holds answers the common
    "none yet" case without scanning the user's jobs."""
    with session_scope() as s:
        held = list(
            s.execute(
                select(col(CreditHold.reference)).where(col(CreditHold.reference).in_(references))
            ).scalars()
        )
        if not held:
            return {}
        rows = s.execute(
            select(col(Job.hold_reference), col(Job.id)).where(
                col(Job.user_id) == user_id, col(Job.hold_reference).in_(held)
            )
        ).all()
        return {str(reference): int(job_id) for reference, job_id in rows}


def _require_funds(user_id: int, amount: int) -> None:
    """Refuse up front what the holds would refuse, before any row is written; the holds
    themselves stay the authority when spending races."""
    with session_scope() as s:
        balance, blocked = s.execute(
            select(col(User.credit_balance), col(User.spending_blocked)).where(
                col(User.id) == user_id
            )
        ).one()
    if blocked:
        raise credits.SpendingBlocked()
    if balance < amount:
        raise credits.InsufficientCredits(amount, int(balance))


def submit(user_id: int, options: GenerationOptions, request_key: str) -> list[int]:
    """Queue the request (one job per style of a pack) and hold its credits; the job ids.

    All or nothing: every job and hold of the request is written in one transaction, so a
    refused hold, an error or a crash part-way through a pack leaves none of it; the jobs are
    queued once it commits. Repeating a call with the same `request_key` returns the same
    jobs and holds nothing more. The queue is checked before anything is written
    (`QueueUnavailable`); if it fails after the commit, the jobs are failed as "not started",
    which gives their credits back.
    """
    check_available()
    settings = get_settings()
    specs = _plan(user_id, options, request_key, settings)
    references = [hold_reference(user_id, request_key, n) for n in range(len(specs))]
    owners = _owners(user_id, references)
    if len(owners) == len(specs):
        return [owners[reference] for reference in references]
    missing = [
        (spec, reference)
        for spec, reference in zip(specs, references, strict=True)
        if reference not in owners
    ]
    needed = sum(spec.credits for spec, _ in missing)
    _require_funds(user_id, needed)
    try:
        made = jobs.create_many(
            KIND,
            user_id=user_id,
            new_jobs=[
                jobs.NewJob(
                    hold_reference=reference,
                    credits_to_hold=spec.credits,
                    payload=spec.to_payload(),
                    hold_description=f"{spec.count} x {spec.label}",
                )
                for spec, reference in missing
            ],
        )
    except credits.InsufficientCredits as exc:
        # Spending raced the check above; name the whole request's price, not one hold's.
        raise credits.InsufficientCredits(needed, credits.balance(user_id)) from exc
    for (_, reference), created in zip(missing, made, strict=True):
        owners[reference] = created.job_id
    return [owners[reference] for reference in references]


# --- following requests ------------------------------------------------------------------------


def recent_requests(user_id: int, limit: int = 20) -> list[RequestView]:
    """The user's generation requests, newest first, with what each has delivered so far."""
    with session_scope() as s:
        rows = list(
            s.execute(
                select(Job)
                .where(col(Job.user_id) == user_id, col(Job.kind) == KIND)
                .order_by(col(Job.created_at).desc(), col(Job.id).desc())
                .limit(limit)
            ).scalars()
        )
        images = s.execute(
            select(col(GeneratedImage.job_id), col(GeneratedImage.id), col(GeneratedImage.flagged))
            .where(col(GeneratedImage.job_id).in_([job.id for job in rows]))
            .order_by(col(GeneratedImage.id))
        ).all()
    by_job: dict[int, list[tuple[int, bool]]] = {}
    for job_id, image_id, flagged in images:
        by_job.setdefault(int(job_id), []).append((int(image_id), bool(flagged)))
    views = []
    for job in rows:
        assert job.id is not None
        spec = GenerationSpec.from_payload(json.loads(job.payload))
        made = by_job.get(job.id, [])
        views.append(
            RequestView(
                job_id=job.id,
                status=job.status,
                progress=job.progress,
                error=job.error if job.status in _SHOWS_ERROR else "",
                label=spec.label,
                count=spec.count,
                delivered=sum(1 for _, flagged in made if not flagged),
                flagged=sum(1 for _, flagged in made if flagged),
                source_label=spec.source_label,
                created_at=job.created_at,
                image_ids=tuple(image_id for image_id, _ in made),
            )
        )
    return views


def cancel(user_id: int, job_id: int) -> bool:
    """Cancel a request that has not started; its credits go back. False otherwise."""
    view = jobs.for_user(user_id, job_id)
    if view is None or view.kind != KIND:
        return False
    return jobs.cancel(job_id, user_id)


jobs.register(KIND, run_generation, on_finish=on_generation_finished)
