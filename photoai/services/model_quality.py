"""Model quality: how much a freshly trained model's pictures look like its person.

Right after a training succeeds, a job of its own makes a small sample batch with the model
(SAMPLE_STYLE, a fixed seed, PHOTOAI_MODEL_QUALITY_SAMPLES pictures; the demo trainer's models
too) and scores each picture against the model's reference faces, as delivery does. Nothing is
stored, shown in the gallery or charged: the samples are ours, not the user's. The mean score
is kept on the model and the model page shows it as a badge ("Model quality: Strong likeness
(0.21)"), so a bad model is visible before the user spends credits on it.

When the sample is below the operator's threshold the user may retrain once for free: the
training's cost comes back as one ledger entry (kind refund, reference `model:{id}:quality-
refund`, reason in its description), then a new training starts and holds its cost as any
training does. Net, the user pays for one training; the ledger tells both steps. A model is
refunded at most once: the unique reference makes a repeated call change nothing, and the
model remembers it was refunded.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from statistics import mean

from sqlalchemy import select, update
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import JobStatus, LedgerKind, ModelStatus, PersonalModel, utcnow
from photoai.providers.generation_base import size_for
from photoai.services import credits, jobs, likeness_score
from photoai.services.generation_runs import GenerationSpec, sample_likeness
from photoai.services.styles import get_style, model_subject
from photoai.settings import get_settings

log = logging.getLogger(__name__)

KIND = "model-quality"
SAMPLE_STYLE = "studio-headshot"
# A fixed seed: the same model always gets the same sample, so a retrain is compared fairly.
SAMPLE_SEED = 1234
# How long after training a page waits for the sample (a failed sample job never measures).
SAMPLE_WAIT = timedelta(minutes=10)
RETRAIN_NOT_OFFERED = (
    "Only a model whose sample pictures did not look like you can be retrained for free."
)
ALREADY_REFUNDED = "This model was already retrained for free once."


class QualityError(Exception):
    """A refusal the user can be shown as it is."""


@dataclass(frozen=True)
class Quality:
    """What the model page shows: `line` is empty until the sample was measured."""

    likeness: float | None
    line: str
    weak: bool
    can_retrain_free: bool
    # The sample is still being made (a model trained moments ago): the page waits for it.
    pending: bool = False


def quality_of(model: PersonalModel) -> Quality:
    """The model's quality line and whether the free retrain is offered."""
    threshold = get_settings().likeness_threshold
    if model.status != ModelStatus.READY or model.quality_checked_at is None:
        pending = (
            model.status == ModelStatus.READY
            and bool(model.likeness_references)
            and get_settings().model_quality_samples > 0
            and model.trained_at is not None
            and utcnow() - model.trained_at < SAMPLE_WAIT
        )
        return Quality(None, "", weak=False, can_retrain_free=False, pending=pending)
    if model.quality_likeness is None:
        return Quality(
            None,
            "Model quality: not measured (no face in the sample pictures)",
            weak=False,
            can_retrain_free=False,
        )
    score = model.quality_likeness
    shown = likeness_score.badge(score, threshold)
    weak = score > threshold
    return Quality(
        score,
        f"Model quality: {shown.value} ({score:.2f})",
        weak=weak,
        can_retrain_free=weak and model.quality_refunded_at is None,
    )


# --- the sample job ----------------------------------------------------------------------------


def after_training(training_job_id: int) -> None:
    """Queue the sample of the model a training job made ready; called once when the training
    job finishes (whatever its outcome), never raises into the caller."""
    if get_settings().model_quality_samples < 1:
        return
    try:
        view = jobs.get(training_job_id)
        if view is None or view.status != JobStatus.SUCCEEDED or view.user_id is None:
            return
        with session_scope() as s:
            model = s.execute(
                select(PersonalModel).where(col(PersonalModel.job_id) == training_job_id)
            ).scalar_one_or_none()
            if model is None or model.status != ModelStatus.READY or model.id is None:
                return
            if not model.likeness_references:
                return  # a pet, or photos without a described face: nothing to score against
            model_id = model.id
        jobs.create(
            KIND,
            user_id=view.user_id,
            payload={"model_id": model_id, "training_job_id": training_job_id},
        )
    except Exception:
        log.exception("queueing the quality sample of training job %s failed", training_job_id)


def run_sample(job_id: int) -> jobs.Outcome:
    """Make and score the sample; stores the mean score on the model. A model retrained or
    deleted since is left alone (its own new training queues a new sample)."""
    view = jobs.get(job_id)
    assert view is not None and view.user_id is not None
    model_id = int(view.payload["model_id"])
    training_job_id = int(view.payload["training_job_id"])
    with session_scope() as s:
        model = s.get(PersonalModel, model_id)
        if model is None or model.job_id != training_job_id or model.status != ModelStatus.READY:
            return jobs.Outcome.DONE
        spec = _sample_spec(model, job_id)
    scores = sample_likeness(spec, view.user_id, job_id)
    measured = [score for score in scores if score is not None]
    quality = round(mean(measured), 3) if measured else None
    with session_scope() as s:
        s.execute(
            update(PersonalModel)
            .where(
                col(PersonalModel.id) == model_id,
                col(PersonalModel.job_id) == training_job_id,
                col(PersonalModel.status) == ModelStatus.READY.value,
            )
            .values(quality_likeness=quality, quality_checked_at=utcnow())
        )
    log.info("model %s quality sample: %s -> %s", model_id, scores, quality)
    return jobs.Outcome.DONE


def _sample_spec(model: PersonalModel, job_id: int) -> GenerationSpec:
    style = get_style(SAMPLE_STYLE)
    assert style is not None and model.id is not None
    width, height = size_for(style.aspect_ratio)
    return GenerationSpec(
        request_key=f"model-quality-{job_id}",
        source=f"model:{model.id}",
        source_label=model.name,
        model_id=model.id,
        photos_model_id=model.id,
        style_id=style.id,
        pack_id="",
        label=f"Quality sample: {style.name}",
        prompt=style.render(model_subject(model.trigger_word, model.subject)),
        negative_prompt=style.negative_prompt,
        aspect_ratio=style.aspect_ratio,
        width=width,
        height=height,
        count=get_settings().model_quality_samples,
        seed=SAMPLE_SEED,
        unit_cost=0,
    )


# --- the free retrain --------------------------------------------------------------------------


def refund_reference(model_id: int) -> str:
    return f"model:{model_id}:quality-refund"


def refund_for_retrain(user_id: int, model_id: int) -> None:
    """Refund a weak model's training and make it a draft again, in one transaction.

    Raises QualityError when the model is not offered a free retrain (not the user's, not
    measured weak, already refunded once) or has no photos left to train on.
    """
    threshold = get_settings().likeness_threshold
    with session_scope() as s:
        model = s.execute(
            select(PersonalModel)
            .where(col(PersonalModel.id) == model_id, col(PersonalModel.user_id) == user_id)
            .with_for_update()
        ).scalar_one_or_none()
        if model is None:
            raise QualityError("Model not found.")
        if model.quality_refunded_at is not None:
            raise QualityError(ALREADY_REFUNDED)
        quality = quality_of(model)
        if not quality.weak or quality.likeness is None:
            raise QualityError(RETRAIN_NOT_OFFERED)
        if model.cost_credits > 0:
            credits.grant(
                user_id,
                model.cost_credits,
                kind=LedgerKind.REFUND,
                reference=refund_reference(model_id),
                description=(
                    f"Training of “{model.name}” refunded: its sample pictures did not look "
                    f"like you (likeness {quality.likeness:.2f}, threshold {threshold:.2f})"
                ),
                session=s,
            )
        model.status = ModelStatus.DRAFT.value
        model.quality_refunded_at = utcnow()
        model.updated_at = utcnow()


def restore_after_failed_start(model_id: int) -> None:
    """A refunded model whose new training could not start is usable again as it was (its
    weights are still there); the refund stays, the ledger already said why."""
    with session_scope() as s:
        s.execute(
            update(PersonalModel)
            .where(
                col(PersonalModel.id) == model_id,
                col(PersonalModel.status) == ModelStatus.DRAFT.value,
                col(PersonalModel.quality_refunded_at).is_not(None),
            )
            .values(status=ModelStatus.READY.value)
        )


jobs.register(KIND, run_sample)
