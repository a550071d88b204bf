"""The training service: drafts, photo checks, starting once, finishing once, refunds, deletion.

Trainings run through the real job machinery (RQ on the test Redis, worked in this process)
against the demo trainer or the local fake fal; the database is PostgreSQL, and SQLite too
where the embedded default must behave the same.
"""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from moto.server import ThreadedMotoServer

from photoai.models import CreditHold, Job, JobStatus, ModelStatus, TrainingPhoto
from photoai.providers import fal_trainer
from photoai.providers.base import TrainingState, TrainingStatus
from photoai.services import credits, jobs, training
from photoai.services.credits import InsufficientCredits
from photoai.services.photo_checks import DAMAGED, NO_FACE, NOT_AN_IMAGE, TOO_BLURRY, too_small
from photoai.services.storage import S3Storage, get_storage
from photoai.services.training import DUPLICATE, TrainingError
from photoai.services.training_runs import SUBMITTING
from photoai.settings import get_settings
from tests import photos
from tests.factories import make_user
from tests.fakes.fal_server import FakeFal
from tests.fakes.replicate_server import FakeReplicate
from tests.training_support import (
    MIN_PHOTOS,
    age_job,
    captures,
    count,
    demo_clock,
    draft_with_photos,
    hold_of,
    job_row,
    model_row,
    outbox,
    training_settings,
    work_burst,
)
from tests.weights import read_safetensors


@pytest.fixture
def env(pg: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    training_settings(monkeypatch)


@pytest.fixture
def fal(env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFal]:
    fal_trainer.jwks_cache.clear()
    with FakeFal() as fake:
        fake.use(monkeypatch)
        yield fake


def files_under(prefix: str) -> list[str]:
    root = get_settings().storage_dir / prefix
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --- drafts and photos -------------------------------------------------------------------------


def test_drafts_are_named_and_typed_clearly(env: None) -> None:
    uid = make_user()
    model_id = training.create_draft(uid, "  Summer \n  look  ", "pet")
    for name, subject, message in (
        ("   ", "woman", "1 to 80"),
        ("x" * 81, "woman", "1 to 80"),
        ("Me", "robot", "woman, a man, a person or a pet"),
    ):
        with pytest.raises(TrainingError, match=message):
            training.create_draft(uid, name, subject)
    [view] = training.list_models(uid)
    assert (view.id, view.name, view.subject, view.status) == (
        model_id,
        "Summer look",
        "pet",
        "draft",
    )
    assert view.is_demo and view.photo_count == 0
    assert training.training_cost() == 30


def test_drafts_per_user_are_capped(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    uid, other = make_user(), make_user()
    drafts = [training.create_draft(uid, f"Look {i}", "woman") for i in range(3)]
    with pytest.raises(TrainingError, match="3 models waiting for photos"):
        training.create_draft(uid, "One too many", "woman")
    assert len(training.list_models(uid)) == 3
    training.create_draft(other, "Someone else's", "man")  # the cap is per user
    training.delete_model(uid, drafts[0])
    training.create_draft(uid, "Room again", "woman")
    monkeypatch.setenv("PHOTOAI_MAX_DRAFTS_PER_USER", "4")
    get_settings.cache_clear()
    training.create_draft(uid, "Fourth", "woman")
    assert len(training.list_models(uid)) == 4


def test_photos_are_checked_and_only_good_ones_stored(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = make_user()
    model_id = training.create_draft(uid, "Me", "woman")
    good = [
        training.add_photo(uid, model_id, f"good{i}.jpg", d)
        for i, d in enumerate(photos.training_jpegs()[:3])
    ]
    assert all(v.accepted and v.thumb_url for v in good)

    bad = {
        "list.jpg": (photos.text_named_jpg(), NOT_AN_IMAGE),
        "cut.jpg": (photos.truncated_jpeg(), DAMAGED),
        "soft.jpg": (photos.blurred_photo(), TOO_BLURRY),
        "tiny.jpg": (photos.too_small_photo(), too_small(512)),
        "cat.jpg": (photos.cat_photo(), NO_FACE),
        "again.jpg": (photos.training_jpegs()[0], DUPLICATE),
        "forwarded.jpg": (photos.near_duplicate(), DUPLICATE),
    }
    refused = {}
    for name, (data, reason) in bad.items():
        view = training.add_photo(uid, model_id, f"C:\\Users\\me\\{name}", data)
        assert (view.filename, view.accepted) == (name, False), name
        assert reason in view.reason, (name, view.reason)
        refused[name] = view
    # A refused photo that decodes shows its thumbnail (through the private file route) so
    # the user can tell which IMG_1234.jpg it was; one that does not decode has none.
    undecodable = {"list.jpg", "cut.jpg"}
    for name, view in refused.items():
        if name in undecodable:
            assert view.thumb_url == "", name
        else:
            assert view.thumb_url.startswith(f"/files/users/{uid}/models/{model_id}/thumbs/"), name

    monkeypatch.setenv("PHOTOAI_MAX_UPLOAD_BYTES", str(1024 * 1024))
    get_settings.cache_clear()
    with pytest.raises(TrainingError, match=r"Larger than the 1 MB limit for one photo"):
        training.add_photo(uid, model_id, "huge.jpg", b"\xff\xd8\xff" + b"0" * (1024 * 1024))

    detail = training.get_model(uid, model_id)
    assert [p.accepted for p in detail.photos] == [True] * 3 + [False] * len(bad)
    assert detail.model.photo_count == 3 and not detail.can_train  # 3 of at least 4
    assert count(TrainingPhoto, TrainingPhoto.model_id == model_id) == 3 + len(bad)
    shown = [v for name, v in refused.items() if name not in undecodable]
    stored = files_under(f"users/{uid}/models/{model_id}")
    assert stored == sorted(
        [f"photos/{v.id}.jpg" for v in good]
        + [f"thumbs/{v.id}.webp" for v in good]
        + [f"thumbs/{v.id}.webp" for v in shown]
    ), "a rejected photo keeps only its thumbnail, never a training copy"

    training.remove_photo(uid, good[0].id)
    assert files_under(f"users/{uid}/models/{model_id}") == sorted(
        [f"photos/{v.id}.jpg" for v in good[1:]]
        + [f"thumbs/{v.id}.webp" for v in good[1:]]
        + [f"thumbs/{v.id}.webp" for v in shown]
    )
    again = training.add_photo(uid, model_id, "back.jpg", photos.training_jpegs()[0])
    assert again.accepted, "a removed photo no longer counts as a duplicate"


def test_refused_photos_can_be_removed_and_cleared_after_training(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = demo_clock(monkeypatch)
    uid, stranger = make_user(100), make_user(100)
    model_id = draft_with_photos(uid)
    soft = training.add_photo(uid, model_id, "IMG_1234.jpg", photos.blurred_photo())
    cat = training.add_photo(uid, model_id, "IMG_1235.jpg", photos.cat_photo())
    broken = training.add_photo(uid, model_id, "IMG_1236.jpg", photos.truncated_jpeg())
    training.start_training(uid, model_id)
    work_burst()
    clock.now += 1
    training.reconcile_trainings()
    assert model_row(model_id).status == ModelStatus.READY
    accepted = [p for p in training.get_model(uid, model_id).photos if p.accepted]

    with pytest.raises(TrainingError, match="trained; its photos can no longer change"):
        training.remove_photo(uid, accepted[0].id)
    with pytest.raises(TrainingError, match="Photo not found"):
        training.remove_photo(stranger, soft.id)
    with pytest.raises(TrainingError, match="Model not found"):
        training.clear_refused(stranger, model_id)
    training.remove_photo(uid, soft.id)
    thumbs = files_under(f"users/{uid}/models/{model_id}/thumbs")
    assert f"{soft.id}.webp" not in thumbs and f"{cat.id}.webp" in thumbs

    assert training.clear_refused(uid, model_id) == 2
    left = training.get_model(uid, model_id)
    assert [p.id for p in left.photos] == [p.id for p in accepted]
    assert broken.id not in {p.id for p in left.photos}
    assert files_under(f"users/{uid}/models/{model_id}/thumbs") == sorted(
        f"{p.id}.webp" for p in accepted
    )
    assert training.clear_refused(uid, model_id) == 0


def test_photo_limits(env: None) -> None:
    uid = make_user()
    model_id = draft_with_photos(uid, count=6)
    with pytest.raises(TrainingError, match="6 photos, the most it takes"):
        training.add_photo(uid, model_id, "seventh.jpg", photos.training_jpegs()[6])
    assert training.get_model(uid, model_id).can_train


def test_another_users_ids_are_refused(env: None) -> None:
    owner, stranger = make_user(100), make_user(100)
    model_id = draft_with_photos(owner)
    photo_id = training.get_model(owner, model_id).photos[0].id
    refusals = {
        "add": lambda: training.add_photo(stranger, model_id, "x.jpg", photos.training_jpegs()[5]),
        "get": lambda: training.get_model(stranger, model_id),
        "start": lambda: training.start_training(stranger, model_id),
        "retry": lambda: training.retry_training(stranger, model_id),
        "delete": lambda: training.delete_model(stranger, model_id),
    }
    for name, attempt in refusals.items():
        with pytest.raises(TrainingError, match=r"^Model not found\.$"):
            attempt()
            pytest.fail(name)
    with pytest.raises(TrainingError, match=r"^Photo not found\.$"):
        training.remove_photo(stranger, photo_id)
    assert training.list_models(stranger) == []
    detail = training.get_model(owner, model_id)
    assert (detail.model.status, detail.model.photo_count) == ("draft", MIN_PHOTOS)
    assert (credits.balance(owner), credits.balance(stranger)) == (100, 100)
    assert count(Job) == 0


# --- starting ----------------------------------------------------------------------------------


def test_too_few_photos_cannot_train(env: None) -> None:
    uid = make_user(100)
    model_id = draft_with_photos(uid, count=MIN_PHOTOS - 1)
    with pytest.raises(TrainingError, match=f"at least {MIN_PHOTOS} good photos .* has 3"):
        training.start_training(uid, model_id)
    assert model_row(model_id).status == "draft" and credits.balance(uid) == 100


def test_double_start_makes_one_job_and_one_hold(env: None) -> None:
    uid = make_user(100)
    model_id = draft_with_photos(uid)
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(training.start_training, uid, model_id) for _ in range(6)]
    outcomes = [f.exception() or f.result() for f in futures]
    job_ids = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, TrainingError)]
    assert len(job_ids) == 1 and len(refused) == 5, outcomes
    assert {str(r) for r in refused} == {"This model is already training."}
    assert count(Job, Job.kind == "training") == 1 and count(CreditHold) == 1
    assert credits.balance(uid) == 70 == credits.ledger_sum(uid)
    model = model_row(model_id)
    assert (model.status, model.job_id, model.cost_credits) == ("queued", job_ids[0], 30)
    with pytest.raises(TrainingError, match="already training"):
        training.start_training(uid, model_id)
    with pytest.raises(TrainingError, match="photos can change again if it fails"):
        training.add_photo(uid, model_id, "late.jpg", photos.training_jpegs()[5])
    with pytest.raises(TrainingError, match="photos can change again"):
        training.remove_photo(uid, training.get_model(uid, model_id).photos[0].id)


def test_insufficient_credits_changes_nothing(env: None) -> None:
    uid = make_user(10)
    model_id = draft_with_photos(uid)
    with pytest.raises(InsufficientCredits, match=r"This needs 30 credits; you have 10\."):
        training.start_training(uid, model_id)
    model = model_row(model_id)
    assert (model.status, model.job_id, model.cost_credits, model.provider) == (
        "draft",
        None,
        0,
        "",
    )
    assert count(Job) == 0 and count(CreditHold) == 0
    assert credits.balance(uid) == 10 == credits.ledger_sum(uid)


def test_unconfigured_provider_is_refused_before_anything(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOAI_TRAINER", "replicate")
    get_settings.cache_clear()
    uid = make_user(100)
    model_id = draft_with_photos(uid)
    with pytest.raises(TrainingError, match="not available on this server"):
        training.start_training(uid, model_id)
    assert model_row(model_id).status == "draft" and credits.balance(uid) == 100


@pytest.mark.parametrize(
    ("trainer", "operator_min", "shown_min"),
    [("demo", 2, 2), ("replicate", 2, 2), ("fal", 2, 4), ("fal-portrait", 4, 10)],
)
def test_each_trainer_gets_at_least_the_photos_it_needs(
    env: None, monkeypatch: pytest.MonkeyPatch, trainer: str, operator_min: int, shown_min: int
) -> None:
    """The operator's range is narrowed to the configured trainer's own limits: fal's fast
    trainer needs 4 photos, its portrait trainer 10, demo and Replicate refuse no count."""
    monkeypatch.setenv("PHOTOAI_MIN_PHOTOS", str(operator_min))
    monkeypatch.setenv("PHOTOAI_MAX_PHOTOS", "12")
    with FakeFal() as fal, FakeReplicate() as replicate:
        if trainer == "replicate":
            replicate.use(monkeypatch)
        elif trainer == "fal":
            fal.use(monkeypatch)
        elif trainer == "fal-portrait":
            fal.use(monkeypatch, app="fal-ai/flux-lora-portrait-trainer")
        get_settings.cache_clear()
        uid = make_user(100)
        model_id = draft_with_photos(uid, count=shown_min - 1)
        detail = training.get_model(uid, model_id)
        assert (detail.min_photos, detail.max_photos, detail.can_train) == (shown_min, 12, False)
        with pytest.raises(TrainingError, match=f"Add at least {shown_min} good photos"):
            training.start_training(uid, model_id)
        assert count(Job) == 0 and credits.balance(uid) == 100
        training.add_photo(uid, model_id, "last.jpg", photos.one_person_jpegs()[shown_min - 1])
        assert training.get_model(uid, model_id).can_train
        job_id = training.start_training(uid, model_id)
        work_burst()
        assert job_row(job_id).status == "running", job_row(job_id).error
        if trainer.startswith("fal"):
            [posted] = fal.calls_to("POST", "/fal-ai/")
            assert ("portrait" in posted.path) == (trainer == "fal-portrait")


def test_a_max_below_the_trainers_minimum_is_a_configuration_problem(
    fal: FakeFal, monkeypatch: pytest.MonkeyPatch
) -> None:
    fal.use(monkeypatch, app="fal-ai/flux-lora-portrait-trainer")  # needs 10; the max is 6
    uid = make_user(100)
    model_id = draft_with_photos(uid)
    with pytest.raises(TrainingError, match="not available on this server"):
        training.start_training(uid, model_id)
    assert count(Job) == 0 and credits.balance(uid) == 100 and fal.calls == []


# --- the demo trainer end to end ---------------------------------------------------------------


@pytest.mark.parametrize("database", ["pg", "sqlite_db"])
def test_demo_training_becomes_ready_and_charges_once(
    database: str,
    request: pytest.FixtureRequest,
    redis_conn: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request.getfixturevalue(database)
    training_settings(monkeypatch)
    clock = demo_clock(monkeypatch)
    uid = make_user(100)
    model_id = draft_with_photos(uid)
    job_id = training.start_training(uid, model_id)
    work_burst()

    job = job_row(job_id)
    assert (job.status, job.provider) == ("running", "demo")
    assert job.external_id.startswith("demo:")
    assert model_row(model_id).status == "training"
    zip_key = f"users/{uid}/models/{model_id}/training/job-{job_id}.zip"
    assert get_storage().exists(zip_key)
    assert training.reconcile_trainings()["polled"] == 1
    assert model_row(model_id).status == "training" and credits.balance(uid) == 70
    clock.now += 0.5
    training.reconcile_trainings()
    assert model_row(model_id).progress == pytest.approx(0.5, abs=0.01)
    assert job_row(job_id).progress == pytest.approx(0.5, abs=0.01)

    clock.now += 0.5
    assert training.reconcile_trainings()["applied"] == 1
    model = model_row(model_id)
    assert (model.status, model.progress, model.error) == ("ready", 1.0, "")
    assert model.weights_key == f"users/{uid}/models/{model_id}/weights/job-{job_id}.safetensors"
    tensors, metadata = read_safetensors(get_storage().get(model.weights_key))
    assert metadata["photoai_demo"] == "true" and metadata["photoai_images"] == str(MIN_PHOTOS)
    assert tensors["demo_identity.lora_down.weight"].shape == (8, 1024)

    # Later polls, a replayed update and the reaper change nothing.
    assert training.reconcile_trainings()["polled"] == 0
    done = TrainingStatus(TrainingState.SUCCEEDED, weights_url=f"demo://{zip_key}")
    assert training.apply_provider_update("demo", job.external_id, done) == "finished"
    jobs.reap_stale()
    assert job_row(job_id).status == "succeeded"
    assert captures(uid) == [f"job:{job_id}:capture"]
    held = hold_of(job_id)
    assert (held.amount, held.captured, held.released) == (30, 30, 0)
    assert credits.balance(uid) == 70 == credits.ledger_sum(uid)
    [mail] = outbox()
    assert mail["Subject"] == "Your model “Me” is ready"
    view = training.get_model(uid, model_id)
    assert view.model.status == "ready" and view.model.trained_at is not None
    assert not view.can_train and not view.can_edit_photos
    with pytest.raises(TrainingError, match="already trained"):
        training.start_training(uid, model_id)
    with pytest.raises(TrainingError, match="Only a failed training"):
        training.retry_training(uid, model_id)


def test_delete_removes_files_and_rows(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = demo_clock(monkeypatch)
    uid = make_user(100)
    keep = draft_with_photos(uid, name="Keep")
    model_id = draft_with_photos(uid, name="Gone")
    job_id = training.start_training(uid, model_id)
    work_burst()
    clock.now += 1
    training.reconcile_trainings()
    assert model_row(model_id).status == "ready"
    assert len(files_under(f"users/{uid}/models/{model_id}")) == 2 * MIN_PHOTOS + 2

    training.delete_model(uid, model_id)
    assert not (get_settings().storage_dir / f"users/{uid}/models/{model_id}").exists()
    assert len(files_under(f"users/{uid}/models/{keep}")) == 2 * MIN_PHOTOS, "others untouched"
    assert [m.id for m in training.list_models(uid)] == [keep]
    assert count(TrainingPhoto, TrainingPhoto.model_id == model_id) == 0
    assert job_row(job_id).status == "succeeded", "the job stays as the record of the charge"
    assert credits.balance(uid) == 70, "a delivered training stays paid"
    with pytest.raises(TrainingError, match="Model not found"):
        training.get_model(uid, model_id)


# --- a real provider's failures ----------------------------------------------------------------


def start_on_fal(fal: FakeFal, balance: int = 100) -> tuple[int, int, int, str]:
    uid = make_user(balance)
    model_id = draft_with_photos(uid)
    job_id = training.start_training(uid, model_id)
    work_burst()
    request_id = job_row(job_id).external_id
    assert request_id in fal.requests
    return uid, model_id, job_id, request_id


def test_provider_failure_releases_credits_and_can_be_retried(fal: FakeFal) -> None:
    uid, model_id, job_id, request_id = start_on_fal(fal)
    assert fal.requests[request_id]["input"]["trigger_word"] == "TOK"
    assert fal.requests[request_id]["webhook"].endswith("/api/webhooks/fal")
    assert credits.balance(uid) == 70

    fal.fail(request_id, "Could not detect faces", deliver=False)  # and the webhook is lost
    assert training.reconcile_trainings()["polled"] == 0, "not silent long enough yet"
    age_job(job_id, silent_for=301)
    assert training.reconcile_trainings()["applied"] == 1

    model = model_row(model_id)
    assert model.status == "failed" and "Could not detect faces" in model.error
    assert job_row(job_id).status == "failed"
    assert credits.balance(uid) == 100 == credits.ledger_sum(uid) and captures(uid) == []
    assert fal.canceled == [], "a training the provider failed is not cancelled"
    [mail] = outbox()
    assert "did not finish" in mail["Subject"] and "30 credits" in mail.get_content()

    retry_job = training.retry_training(uid, model_id)
    assert retry_job != job_id and model_row(model_id).status == "queued"
    assert credits.balance(uid) == 70


def test_deadline_fails_cancels_at_the_provider_and_refunds(fal: FakeFal) -> None:
    uid, model_id, job_id, request_id = start_on_fal(fal)
    fal.start(request_id)
    age_job(job_id, overdue_by=1)
    assert training.reconcile_trainings()["expired"] == 1
    model = model_row(model_id)
    assert model.status == "failed" and "took longer than 120 minutes" in model.error
    assert fal.canceled == [request_id]
    assert credits.balance(uid) == 100 == credits.ledger_sum(uid)
    assert training.reconcile_trainings()["expired"] == 0 and jobs.reap_stale()["expired"] == 0
    assert len(outbox()) == 1 and credits.balance(uid) == 100


def test_a_late_success_found_at_the_deadline_still_counts(fal: FakeFal) -> None:
    uid, model_id, job_id, request_id = start_on_fal(fal)
    fal.complete(request_id, deliver=False)  # the webhook never arrives
    age_job(job_id, overdue_by=1)
    counts = training.reconcile_trainings()
    assert (counts["applied"], counts["expired"]) == (1, 0)
    model = model_row(model_id)
    assert model.status == "ready"
    assert get_storage().get(model.weights_key) == fal.weights, "copied from the provider"
    assert credits.balance(uid) == 70 and captures(uid) == [f"job:{job_id}:capture"]


def test_rate_limited_submit_is_retried_once_and_trains_once(fal: FakeFal) -> None:
    fal.fail_next(429, retry_after=5, method="POST")
    uid = make_user(100)
    model_id = draft_with_photos(uid)
    job_id = training.start_training(uid, model_id)
    work_burst()
    job = job_row(job_id)
    assert (job.status, job.external_id, job.attempts) == ("queued", "", 1)
    assert credits.balance(uid) == 70, "still held for the next attempt"
    assert jobs.run(job_id) == "waiting"
    assert len(fal.calls_to("POST", "/fal-ai/")) == 2 and len(fal.requests) == 1
    assert model_row(model_id).status == "training"


def test_an_unconfirmed_submit_is_never_repeated(fal: FakeFal) -> None:
    fal.delay_next(3.0, method="POST")  # longer than the 2 s provider timeout
    uid = make_user(100)
    model_id = draft_with_photos(uid)
    job_id = training.start_training(uid, model_id)
    work_burst()
    job = job_row(job_id)
    assert job.status == "failed" and job.attempts == 1
    assert "did not confirm the training" in model_row(model_id).error
    assert len(fal.calls_to("POST", "/fal-ai/")) == 1
    assert credits.balance(uid) == 100


def test_a_garbled_acceptance_is_never_posted_again(fal: FakeFal) -> None:
    """fal took the training but its 200 arrived unreadable: fal cannot look a request up by
    anything of ours, so the job fails visibly with the credits back; no second POST."""
    fal.garble_next(method="POST", path_prefix="/fal-ai/")
    uid = make_user(100)
    model_id = draft_with_photos(uid)
    job_id = training.start_training(uid, model_id)
    work_burst()
    jobs.run(job_id)  # what the queue's retry of this job would do
    assert len(fal.calls_to("POST", "/fal-ai/")) == 1 and len(fal.requests) == 1
    job = job_row(job_id)
    assert (job.status, job.attempts) == ("failed", 1)
    assert "did not confirm the training, so it was not repeated" in model_row(model_id).error
    assert credits.balance(uid) == 100 == credits.ledger_sum(uid)


def test_a_garbled_acceptance_at_replicate_is_found_and_kept(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replicate lists trainings with their input: the one our submit started is adopted."""
    with FakeReplicate() as replicate:
        replicate.use(monkeypatch)
        replicate.garble_next(method="POST", path_prefix="/v1/models/ostris/")
        uid = make_user(100)
        model_id = draft_with_photos(uid)
        job_id = training.start_training(uid, model_id)
        work_burst()
        jobs.run(job_id)
        [training_id] = replicate.trainings
        assert len(replicate.calls_to("POST", "/v1/models/ostris/")) == 1
        job = job_row(job_id)
        assert (job.status, job.external_id) == ("running", training_id)
        assert model_row(model_id).status == "training"
        assert credits.balance(uid) == 70
        replicate.complete(training_id, deliver=False)
        age_job(job_id, silent_for=301)
        training.reconcile_trainings()
    assert model_row(model_id).status == "ready"
    assert credits.balance(uid) == 70 == credits.ledger_sum(uid)


def test_a_worker_killed_mid_submit_fails_instead_of_resubmitting(fal: FakeFal) -> None:
    uid = make_user(100)
    model_id = draft_with_photos(uid)
    job_id = training.start_training(uid, model_id)
    assert jobs.claim(job_id)
    jobs.set_external(job_id, "fal", SUBMITTING)  # the worker died right here
    age_job(job_id, silent_for=get_settings().job_stale_after_seconds + 1)
    assert jobs.reap_stale()["requeued"] == 0, "the reaper must not hand it to another attempt"
    assert training.reconcile_trainings()["interrupted"] == 1
    assert job_row(job_id).status == "failed" and model_row(model_id).status == "failed"
    assert credits.balance(uid) == 100 and fal.requests == {}


def test_deleting_a_training_model_cancels_and_refunds(fal: FakeFal) -> None:
    uid, model_id, job_id, request_id = start_on_fal(fal)
    fal.start(request_id)
    training.delete_model(uid, model_id)
    assert fal.canceled == [request_id]
    job = job_row(job_id)
    assert (job.status, job.error) == ("failed", "The model was deleted.")
    assert credits.balance(uid) == 100 == credits.ledger_sum(uid)
    assert outbox() == [], "nobody is told about a model they deleted"
    assert training.list_models(uid) == []
    fal.complete(request_id, deliver=False)
    done = TrainingStatus(TrainingState.SUCCEEDED, weights_url="http://x/y.safetensors")
    assert training.apply_provider_update("fal", request_id, done) == "finished"
    assert credits.balance(uid) == 100


# --- the provider downloads the photos from S3 --------------------------------------------------


@pytest.fixture
def s3_storage(env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Storage]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": "photoai-training",
        "S3_REGION": "eu-west-1",
        "S3_ENDPOINT_URL": f"http://{host}:{port}",
        "S3_ACCESS_KEY_ID": "testing",
        "S3_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(f"PHOTOAI_{name}", value)
    get_settings.cache_clear()
    store = get_storage()
    assert isinstance(store, S3Storage)
    store.client.create_bucket(
        Bucket="photoai-training", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    yield store
    server.stop()


def test_the_provider_fetches_the_photos_from_a_presigned_link(
    s3_storage: S3Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    fal_trainer.jwks_cache.clear()
    with FakeFal(fetch_inputs=True) as fal:
        fal.use(monkeypatch)
        _, model_id, job_id, request_id = start_on_fal(fal)
        assert "X-Amz-Signature=" in fal.requests[request_id]["input"]["images_data_url"]
        fal.complete(request_id, deliver=False)
        assert fal.images_seen == {request_id: MIN_PHOTOS}
        age_job(job_id, silent_for=301)
        training.reconcile_trainings()
    model = model_row(model_id)
    assert model.status == ModelStatus.READY
    assert s3_storage.get(model.weights_key) == fal.weights
    assert job_row(job_id).status == JobStatus.SUCCEEDED
