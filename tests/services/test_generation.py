"""The generation service: refusals before any credit moves, one hold per click, delivery of
each image with its own charge, refunds for the rest, retries without duplicates.

Jobs run through the real machinery (RQ on the test Redis worked in this process, or
`jobs.run` where a test steps through attempts) against the demo generator, or the local fake
Together and fal servers over HTTP; the database is PostgreSQL, and SQLite too where the
embedded default must behave the same.
"""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from io import BytesIO
from typing import Any

import pytest
import redis
from PIL import Image
from sqlalchemy import select, text
from sqlmodel import Session, col

from photoai.db import get_engine, session_scope
from photoai.models import CreditEntry, CreditHold, GeneratedImage, Job
from photoai.providers.demo_generator import DemoGenerator
from photoai.providers.generation_base import GeneratedOutput, GenerationRequest
from photoai.services import credits, generation, generation_runs, jobs, training
from photoai.services.credits import InsufficientCredits
from photoai.services.generation import GenerationError, GenerationOptions
from photoai.services.storage import get_storage
from photoai.settings import get_settings
from tests.factories import make_user
from tests.fakes.fal_run_server import APP_PATH, FakeFalRun
from tests.fakes.fal_server import FakeFal
from tests.fakes.replicate_predictions_server import PREDICTIONS, FakeReplicatePredictions
from tests.fakes.replicate_server import FakeReplicate
from tests.fakes.together_server import GENERATIONS, FakeTogether
from tests.training_support import (
    MIN_PHOTOS,
    Clock,
    age_job,
    count,
    demo_clock,
    draft_with_photos,
    job_row,
    model_row,
    training_settings,
    work_burst,
)

TRAINING_COST = 30


@pytest.fixture
def env(pg: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    training_settings(monkeypatch)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return demo_clock(monkeypatch)


def ready_model(uid: int, clock: Clock, name: str = "Me") -> int:
    """A personal model trained by the demo trainer, the way a user gets one."""
    model_id = draft_with_photos(uid, name=name)
    training.start_training(uid, model_id)
    work_burst()
    clock.now += 1
    training.reconcile_trainings()
    assert training.get_model(uid, model_id).model.status == "ready"
    return model_id


def ledger(uid: int) -> tuple[int, int]:
    """(balance, number of ledger rows): both stay put when nothing moved."""
    return credits.balance(uid), count(CreditEntry, col(CreditEntry.user_id) == uid)


def images_of(job_id: int) -> list[GeneratedImage]:
    with session_scope() as s:
        return list(
            s.execute(
                select(GeneratedImage)
                .where(col(GeneratedImage.job_id) == job_id)
                .order_by(col(GeneratedImage.id))
            ).scalars()
        )


def hold_of(job_id: int) -> CreditHold:
    reference = job_row(job_id).hold_reference
    with session_scope() as s:
        return s.execute(
            select(CreditHold).where(col(CreditHold.reference) == reference)
        ).scalar_one()


def capture_refs(uid: int) -> list[str]:
    with session_scope() as s:
        return sorted(
            s.execute(
                select(col(CreditEntry.reference)).where(
                    col(CreditEntry.user_id) == uid, col(CreditEntry.kind) == "capture"
                )
            ).scalars()
        )


def model_source(model_id: int) -> str:
    return f"model:{model_id}"


class Recorder(DemoGenerator):
    """The demo generator, noting how many images each call asked for."""

    asked: list[int] = []

    def generate(self, request: GenerationRequest) -> list[GeneratedOutput]:
        Recorder.asked.append(request.n)
        return super().generate(request)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> type[Recorder]:
    Recorder.asked = []
    monkeypatch.setattr(generation_runs, "DemoGenerator", Recorder)
    return Recorder


# --- sources and prices ------------------------------------------------------------------------


def test_sources_are_ready_models_then_instant(env: None, clock: Clock) -> None:
    uid, stranger = make_user(100), make_user(100)
    assert generation.sources(uid) == []
    draft_id = draft_with_photos(uid, count=MIN_PHOTOS - 1, name="Draft")
    assert generation.sources(uid) == [], "Instant needs enough good photos in one model"
    model_id = ready_model(uid, clock)
    assert generation.sources(uid) == [
        generation.SourceOption(model_source(model_id), "Me", is_demo=True),
        generation.SourceOption("instant", "Instant, no training", is_demo=True),
    ]
    assert draft_id != model_id
    assert generation.sources(stranger) == []


def test_quote_counts_images_and_pack_styles(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert generation.quote(GenerationOptions("instant", prompt="a cat")) == 1
    assert generation.quote(GenerationOptions("instant", style_id="linkedin", count=3)) == 3
    assert generation.quote(GenerationOptions("instant", pack_id="professional", count=2)) == 8
    monkeypatch.setenv("PHOTOAI_IMAGE_COST_CREDITS", "2")
    get_settings.cache_clear()
    assert generation.quote(GenerationOptions("instant", pack_id="creative", count=1)) == 10
    with pytest.raises(GenerationError, match="pack does not exist"):
        generation.quote(GenerationOptions("instant", pack_id="nope"))


# --- refusals ----------------------------------------------------------------------------------


def test_every_bad_input_is_refused_before_any_credit_moves(env: None, clock: Clock) -> None:
    uid, other = make_user(100), make_user(100)
    model_id = ready_model(uid, clock)
    others_model = ready_model(other, clock, name="Theirs")
    draft_id = draft_with_photos(uid, count=1, name="Draft")
    good = GenerationOptions(model_source(model_id), prompt="portrait in a garden")
    long = "x" * (get_settings().max_prompt_chars + 1)
    refusals: list[tuple[GenerationOptions, str]] = [
        (replace(good, source=model_source(others_model)), r"^Model not found\.$"),
        (replace(good, source="model:999999"), r"^Model not found\.$"),
        (replace(good, source=model_source(draft_id)), "not trained yet"),
        (replace(good, source="model:abc"), "Choose one of your models"),
        (replace(good, source=""), "Choose one of your models"),
        (replace(good, prompt="   "), "Describe the picture you want, or choose a style"),
        (replace(good, prompt=long), "longer than 1500 characters"),
        (replace(good, prompt="a NUDE beach portrait"), "blocked word: 'nude'"),
        (replace(good, prompt="Topless at the pool"), "blocked word: 'topless'"),
        (replace(good, style_id="no-such-style"), "style does not exist"),
        (replace(good, pack_id="no-such-pack"), "pack does not exist"),
        (replace(good, style_id="linkedin", pack_id="vintage"), "style or a pack, not both"),
        (replace(good, aspect_ratio="5:4"), "Choose one of these shapes"),
        (replace(good, count=0), "between 1 and 4 images"),
        (replace(good, count=5), "between 1 and 4 images"),
        (replace(good, count=50), "between 1 and 4 images"),
        (replace(good, count=True), "between 1 and 4 images"),
        (replace(good, seed=-1), "seed must be a whole number from 0 to 2147483647"),
        (replace(good, seed=2**31), "seed must be a whole number"),
        (replace(good, negative_prompt=long), "negative prompt is longer than 1500"),
    ]
    before = (ledger(uid), ledger(other), count(Job))
    for options, message in refusals:
        with pytest.raises(GenerationError, match=message):
            generation.submit(uid, options, "request-key-1")
            pytest.fail(repr(options))
    for key in ("", "short", "has space in it", "x" * 65, "semi;colon-key"):
        with pytest.raises(GenerationError, match="could not be identified"):
            generation.submit(uid, good, key)
    stranger = make_user(100)
    with pytest.raises(GenerationError, match=f"Instant needs at least {MIN_PHOTOS} good photos"):
        generation.submit(stranger, GenerationOptions("instant", prompt="hi"), "request-key-2")
    assert (ledger(uid), ledger(other), count(Job)) == before
    assert generation.recent_requests(uid) == []


def test_a_pack_the_user_cannot_afford_leaves_no_trace(
    env: None, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = make_user(TRAINING_COST + 5)
    model_id = ready_model(uid, clock)
    pack = GenerationOptions(model_source(model_id), pack_id="professional", count=2)
    before = ledger(uid)
    with pytest.raises(InsufficientCredits, match=r"This needs 8 credits; you have 5\."):
        generation.submit(uid, pack, "pack-request-1")
    assert ledger(uid) == before and count(Job, col(Job.kind) == "generation") == 0

    # Spending that races the up-front check: the third hold of the pack is refused.
    monkeypatch.setattr(generation, "_require_funds", lambda user_id, amount: None)
    with pytest.raises(InsufficientCredits, match=r"This needs 8 credits; you have 5\."):
        generation.submit(uid, pack, "pack-request-2")
    assert ledger(uid) == before and credits.ledger_sum(uid) == 5
    assert count(Job, col(Job.kind) == "generation") == 0, "a pack is all or nothing"
    assert count(CreditHold, col(CreditHold.reference).like(f"gen:{uid}:%")) == 0
    assert generation.recent_requests(uid) == []


def test_a_pack_that_fails_part_way_leaves_no_job_and_no_hold(env: None, clock: Clock) -> None:
    """The third job's hold breaks a real constraint (its reference is taken by another
    account): nothing of the pack remains, not even failed records of its first jobs."""
    uid, other = make_user(100), make_user(100)
    model_id = ready_model(uid, clock)
    credits.hold(other, 1, reference=generation.hold_reference(uid, "pack-part-way", 2))
    before = ledger(uid)
    pack = GenerationOptions(model_source(model_id), pack_id="vintage", count=1)
    with pytest.raises(credits.HoldError):
        generation.submit(uid, pack, "pack-part-way")
    assert ledger(uid) == before and credits.ledger_sum(uid) == before[0]
    assert count(Job, col(Job.kind) == "generation") == 0
    assert count(CreditHold, col(CreditHold.user_id) == uid) == 1, "only the training's hold"


def _backends_waiting_on_a_lock() -> list[int]:
    with get_engine().connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalars()
        )


def _backend_alive(pid: int) -> bool:
    with get_engine().connect() as conn:
        found = conn.execute(
            text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        ).first()
    return found is not None


def test_a_web_process_killed_mid_pack_leaves_all_or_nothing(env: None, clock: Clock) -> None:
    """A real process submits a 4-style pack and is SIGKILLed while its third hold waits on
    the hold index (another transaction holds that reference): all of the pack or none of it
    exists afterwards, and the ledger adds up."""
    uid, other = make_user(100), make_user(100)
    model_id = ready_model(uid, clock)
    balance = credits.balance(uid)
    key = "killed-mid-pack"
    script = (
        "from photoai.services import generation as g\n"
        f"g.submit({uid}, g.GenerationOptions('model:{model_id}', pack_id='vintage'), '{key}')\n"
    )
    with Session(get_engine()) as blocker:
        credits.hold(other, 1, reference=generation.hold_reference(uid, key, 2), session=blocker)
        web = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ))
        try:
            deadline = time.monotonic() + 60
            while not (waiting := _backends_waiting_on_a_lock()):
                assert web.poll() is None, "the submit ended instead of waiting"
                assert time.monotonic() < deadline, "the submit never reached the third hold"
                time.sleep(0.05)
        finally:
            web.kill()
            web.wait()
        blocker.rollback()
    deadline = time.monotonic() + 30
    while any(_backend_alive(pid) for pid in waiting):
        assert time.monotonic() < deadline, "the killed process's transaction never ended"
        time.sleep(0.05)
    made = count(Job, col(Job.kind) == "generation")
    assert made in (0, 4), f"a partial pack of {made} jobs survived the crash"
    assert credits.balance(uid) == balance - made == credits.ledger_sum(uid)
    assert count(CreditHold, col(CreditHold.reference).like(f"gen:{uid}:{key}:%")) == made


def test_a_blocked_account_cannot_spend(env: None, clock: Clock) -> None:
    uid = make_user(TRAINING_COST + 1)
    model_id = ready_model(uid, clock)
    taken = credits.take_back(uid, 5, reference="refund:test")
    assert taken.shortfall == 4
    before = ledger(uid)
    with pytest.raises(credits.SpendingBlocked):
        generation.submit(uid, GenerationOptions(model_source(model_id), prompt="hi"), "k-1234567")
    assert ledger(uid) == before and count(Job, col(Job.kind) == "generation") == 0


# --- one click, one hold -----------------------------------------------------------------------


def test_a_double_submit_returns_the_same_jobs_and_holds_once(env: None, clock: Clock) -> None:
    uid = make_user(100)
    model_id = ready_model(uid, clock)
    balance = credits.balance(uid)
    options = GenerationOptions(model_source(model_id), style_id="linkedin", count=3)
    first = generation.submit(uid, options, "click-0001")
    assert generation.submit(uid, options, "click-0001") == first
    with ThreadPoolExecutor(max_workers=6) as pool:
        again = list(pool.map(lambda _: generation.submit(uid, options, "click-0001"), range(6)))
    assert all(ids == first for ids in again)
    assert credits.balance(uid) == balance - 3 == credits.ledger_sum(uid)
    assert count(Job, col(Job.kind) == "generation") == 1
    assert count(CreditHold, col(CreditHold.reference).like(f"gen:{uid}:click-0001:%")) == 1

    pack = GenerationOptions(model_source(model_id), pack_id="vintage", count=1)
    with ThreadPoolExecutor(max_workers=6) as pool:
        packs = list(pool.map(lambda _: generation.submit(uid, pack, "click-0002"), range(6)))
    assert len(packs[0]) == 4 and all(ids == packs[0] for ids in packs)
    assert credits.balance(uid) == balance - 7 == credits.ledger_sum(uid)
    assert count(Job, col(Job.kind) == "generation") == 5
    assert count(Job, col(Job.hold_reference) == "") == 0, "no half-made job is left behind"
    labels = [view.label for view in generation.recent_requests(uid)]
    assert labels == [
        "90s yearbook",
        "Film noir",
        "Black-and-white classic",
        "Vintage film",
        "LinkedIn profile",
    ]


def test_parallel_submits_on_one_account_keep_the_ledger_exact(env: None, clock: Clock) -> None:
    uid = make_user(TRAINING_COST + 60)
    model_id = ready_model(uid, clock)
    source = model_source(model_id)

    def attempt(n: int) -> list[int] | Exception:
        options = (
            GenerationOptions(source, pack_id="professional", count=2)
            if n % 5 == 0
            else GenerationOptions(source, prompt=f"portrait number {n}", count=1 + n % 4)
        )
        try:
            return generation.submit(uid, options, f"parallel-{n:04d}")
        except InsufficientCredits as exc:
            return exc

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(attempt, range(50)))
    accepted = [ids for ids in outcomes if isinstance(ids, list)]
    refused = [o for o in outcomes if isinstance(o, InsufficientCredits)]
    assert len(accepted) + len(refused) == 50 and accepted and refused
    balance = credits.balance(uid)
    assert balance == credits.ledger_sum(uid) and balance >= 0
    with session_scope() as s:
        holds = s.execute(
            select(CreditHold).where(col(CreditHold.reference).like(f"gen:{uid}:%"))
        ).scalars()
        live = sum(h.amount - h.released for h in holds)
    assert live == 60 - balance
    assert count(Job, col(Job.hold_reference) == "") == 0
    queued = count(Job, col(Job.kind) == "generation", col(Job.status) == "queued")
    assert queued == sum(len(ids) for ids in accepted)
    assert count(Job, col(Job.kind) == "generation", col(Job.status) != "queued") == 0, (
        "a pack refused part-way leaves none of its jobs"
    )


# --- delivering --------------------------------------------------------------------------------


def check_stored(image: GeneratedImage) -> None:
    storage = get_storage()
    original = storage.get(image.storage_key)
    with Image.open(BytesIO(original)) as picture:
        assert picture.size == (image.width, image.height)
    with Image.open(BytesIO(storage.get(image.thumb_key))) as thumb:
        assert thumb.format == "WEBP" and max(thumb.size) == 384


@pytest.mark.parametrize("database", ["pg", "sqlite_db"])
def test_demo_generation_delivers_and_charges_each_image(
    database: str,
    request: pytest.FixtureRequest,
    redis_conn: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request.getfixturevalue(database)
    training_settings(monkeypatch)
    clock = demo_clock(monkeypatch)
    uid = make_user(100)
    model_id = ready_model(uid, clock)
    options = GenerationOptions(
        model_source(model_id),
        prompt="with a red scarf",
        style_id="studio-headshot",
        aspect_ratio="4:5",
        count=4,
        seed=1234,
        negative_prompt="sunglasses",
    )
    [job_id] = generation.submit(uid, options, "demo-run-1")
    [queued] = generation.recent_requests(uid)
    assert (queued.status, queued.delivered, queued.image_ids) == ("queued", 0, ())
    assert credits.balance(uid) == 70 - 4
    work_burst()

    job = job_row(job_id)
    assert (job.status, job.progress, job.error) == ("succeeded", 1.0, "")
    images = images_of(job_id)
    assert len(images) == 4
    for index, image in enumerate(images):
        assert image.storage_key == f"users/{uid}/generations/job-{job_id}/{index}.jpg"
        assert (image.width, image.height, image.aspect_ratio) == (896, 1120, "4:5")
        assert image.prompt == (
            "professional studio headshot of TOK woman, soft key light and gentle fill, "
            "seamless grey backdrop, sharp focus on the eyes, 85mm lens, natural skin texture, "
            "with a red scarf"
        )
        assert image.negative_prompt.endswith("harsh shadows, busy background, sunglasses")
        assert (image.model_id, image.style_id, image.provider) == (
            model_id,
            "studio-headshot",
            "demo",
        )
        assert image.seed == 1234 + index and not image.flagged
        check_stored(image)
    assert len({get_storage().get(i.storage_key) for i in images}) == 4, "four distinct pictures"
    assert [r for r in capture_refs(uid) if r.startswith("gen:")] == [
        f"gen:{uid}:demo-run-1:0:img:{n}" for n in range(4)
    ]
    held = hold_of(job_id)
    assert (held.amount, held.captured, held.released) == (4, 4, 0)
    assert credits.balance(uid) == 66 == credits.ledger_sum(uid)
    [done] = generation.recent_requests(uid)
    assert (done.status, done.label, done.source_label) == ("succeeded", "Studio headshot", "Me")
    assert (done.count, done.delivered, done.flagged) == (4, 4, 0)
    assert done.image_ids == tuple(i.id for i in images)

    # Instant from the same photos, no style: the user's prompt as written.
    [instant_job] = generation.submit(
        uid, GenerationOptions("instant", prompt="  at the   seaside ", count=2), "demo-run-2"
    )
    work_burst()
    instant = images_of(instant_job)
    assert [(i.model_id, i.prompt, i.width) for i in instant] == [
        (None, "at the seaside", 1024)
    ] * 2
    assert generation.recent_requests(uid)[0].source_label == "Instant"
    assert credits.balance(uid) == 64 == credits.ledger_sum(uid)
    assert jobs.run(instant_job) == "skipped", "a finished job never runs again"


def test_an_unreadable_output_is_neither_delivered_nor_charged(
    env: None, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    class OneBroken(DemoGenerator):
        def generate(self, request: GenerationRequest) -> list[GeneratedOutput]:
            outputs = super().generate(request)
            assert outputs[2].data is not None
            outputs[2] = replace(outputs[2], data=outputs[2].data[:2000])  # a cut-off JPEG
            return outputs

    monkeypatch.setattr(generation_runs, "DemoGenerator", OneBroken)
    uid = make_user(100)
    model_id = ready_model(uid, clock)
    options = GenerationOptions(model_source(model_id), prompt="on a boat", count=4)
    [job_id] = generation.submit(uid, options, "garbage-01")
    work_burst()
    assert job_row(job_id).status == "succeeded"
    images = images_of(job_id)
    assert [generation_runs.index_of(i.storage_key) for i in images] == [0, 1, 3]
    held = hold_of(job_id)
    assert (held.amount, held.captured, held.released) == (4, 3, 1)
    assert credits.balance(uid) == 70 - 3 == credits.ledger_sum(uid)
    assert not get_storage().exists(f"users/{uid}/generations/job-{job_id}/2.jpg")
    [view] = generation.recent_requests(uid)
    assert (view.count, view.delivered) == (4, 3)


def test_a_retry_after_a_crash_keeps_what_was_delivered(
    env: None, clock: Clock, monkeypatch: pytest.MonkeyPatch, recorder: type[Recorder]
) -> None:
    uid = make_user(100)
    model_id = ready_model(uid, clock)
    options = GenerationOptions(model_source(model_id), prompt="in the snow", count=4, seed=7)
    [job_id] = generation.submit(uid, options, "crash-0001")
    deliver = generation_runs.deliver_output

    def crash_at_third(target: Any, index: int, *args: Any, **kwargs: Any) -> Any:
        if index == 2:
            raise RuntimeError("worker lost its database connection")
        return deliver(target, index, *args, **kwargs)

    monkeypatch.setattr(generation_runs, "deliver_output", crash_at_third)
    with pytest.raises(RuntimeError, match="lost its database"):
        jobs.run(job_id)
    job = job_row(job_id)
    assert (job.status, job.attempts) == ("queued", 1)
    assert len(images_of(job_id)) == 2 and credits.balance(uid) == 70 - 4, "2 kept, 4 held"
    assert hold_of(job_id).captured == 2

    monkeypatch.setattr(generation_runs, "deliver_output", deliver)
    assert jobs.run(job_id) == "succeeded"
    assert recorder.asked == [4, 2], "the retry asks only for the missing images"
    images = images_of(job_id)
    assert sorted(generation_runs.index_of(i.storage_key) for i in images) == [0, 1, 2, 3]
    assert [i.seed for i in images] == [7, 8, 9, 10], "the retry goes on from the next seed"
    assert len({get_storage().get(i.storage_key) for i in images}) == 4
    held = hold_of(job_id)
    assert (held.amount, held.captured, held.released) == (4, 4, 0)
    assert len([r for r in capture_refs(uid) if r.startswith("gen:")]) == 4
    assert credits.balance(uid) == 66 == credits.ledger_sum(uid)


def test_cancel_releases_a_queued_request_only(env: None, clock: Clock) -> None:
    uid, stranger = make_user(100), make_user(100)
    model_id = ready_model(uid, clock)
    [job_id] = generation.submit(
        uid, GenerationOptions(model_source(model_id), prompt="hello", count=4), "cancel-001"
    )
    assert credits.balance(uid) == 66
    assert not generation.cancel(stranger, job_id)
    training_job = training.get_model(uid, model_id).job_id
    assert training_job is not None
    assert not generation.cancel(uid, training_job), "not a generation job"
    assert generation.cancel(uid, job_id)
    assert not generation.cancel(uid, job_id)
    [view] = generation.recent_requests(uid)
    assert (view.status, view.error) == ("canceled", "Canceled by you.")
    assert credits.balance(uid) == 70 == credits.ledger_sum(uid)
    work_burst()
    assert images_of(job_id) == [] and job_row(job_id).status == "canceled"

    [running] = generation.submit(
        uid, GenerationOptions(model_source(model_id), prompt="hello"), "cancel-002"
    )
    assert jobs.claim(running)
    assert not generation.cancel(uid, running), "a running request goes on"


# --- remote providers --------------------------------------------------------------------------


@pytest.fixture
def providers(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeTogether, FakeFalRun, FakeFal]]:
    together, fal_run, fal_queue = FakeTogether(), FakeFalRun(), FakeFal()
    with together, fal_run, fal_queue:
        fal_queue.use(monkeypatch)
        for name, value in {
            "GENERATORS": '["together", "fal"]',
            "TOGETHER_API_KEY": together.key,
            "TOGETHER_BASE_URL": together.url,
            "FAL_RUN_BASE": fal_run.url,
            "GENERATION_TIMEOUT_SECONDS": "5",
            "PUBLIC_BASE_URL": "https://photos.example",
            "SECRET_KEY": "provider-link-secret",
        }.items():
            monkeypatch.setenv(f"PHOTOAI_{name}", value)
        get_settings.cache_clear()
        yield together, fal_run, fal_queue


def fal_trained_model(uid: int, fal: FakeFal) -> int:
    model_id = draft_with_photos(uid)
    training_job = training.start_training(uid, model_id)
    work_burst()
    fal.complete(job_row(training_job).external_id, deliver=False)
    age_job(training_job, silent_for=301)
    training.reconcile_trainings()
    detail = training.get_model(uid, model_id)
    assert (detail.model.status, detail.model.provider) == ("ready", "fal")
    return model_id


def test_a_personal_model_runs_remotely_and_falls_back_on_a_rate_limit(
    providers: tuple[FakeTogether, FakeFalRun, FakeFal],
) -> None:
    together, fal_run, fal_queue = providers
    uid = make_user(100)
    model_id = fal_trained_model(uid, fal_queue)
    assert generation.sources(uid)[0] == generation.SourceOption(
        model_source(model_id), "Me", is_demo=False
    )
    together.fail_next(429, path_prefix=GENERATIONS, retry_after=2)
    fal_run.flag_next(1)
    options = GenerationOptions(
        model_source(model_id), style_id="cinematic", aspect_ratio="16:9", count=2, seed=99
    )
    [job_id] = generation.submit(uid, options, "remote-0001")
    work_burst()

    [refused] = together.calls_to("POST", GENERATIONS)
    assert refused.status == 429
    sent = json.loads(refused.body)
    [lora] = sent["image_loras"]
    assert lora["path"].startswith(
        f"https://photos.example/provider-files/users/{uid}/models/{model_id}/weights/"
    )
    assert ".safetensors?exp=" in lora["path"] and "&sig=" in lora["path"]
    assert (sent["width"], sent["height"], sent["n"], sent["seed"]) == (1024, 576, 2, 99)
    assert sent["prompt"].startswith("cinematic movie still of TOK woman, ")
    [answered] = fal_run.calls_to("POST", APP_PATH)
    assert json.loads(answered.body)["loras"][0]["path"] == lora["path"]
    assert len(fal_run.calls_to("GET", "/files/")) == 2, "both outputs downloaded at once"

    job = job_row(job_id)
    assert job.status == "succeeded"
    images = images_of(job_id)
    assert [(i.provider, i.flagged, i.seed) for i in images] == [
        ("fal", True, 99),
        ("fal", False, 99),
    ]
    for image in images:
        check_stored(image)
    held = hold_of(job_id)
    assert (held.amount, held.captured, held.released) == (2, 1, 1), "flagged images are free"
    assert credits.balance(uid) == 70 - 1 == credits.ledger_sum(uid)
    [view] = generation.recent_requests(uid)
    assert (view.delivered, view.flagged, len(view.image_ids)) == (1, 1, 2)


def test_a_model_trained_at_replicate_generates_there_with_its_own_version(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = make_user(100)
    with FakeReplicate() as trainings, FakeReplicatePredictions(token="r8_test_token") as runs:
        trainings.use(monkeypatch)
        monkeypatch.setenv("PHOTOAI_PUBLIC_BASE_URL", "https://photos.example")
        model_id = draft_with_photos(uid)
        training_job = training.start_training(uid, model_id)
        work_burst()
        training_id = job_row(training_job).external_id
        trainings.complete(training_id, deliver=False)
        age_job(training_job, silent_for=301)
        training.reconcile_trainings()
        model = model_row(model_id)
        version = trainings.trainings[training_id]["output"]["version"]
        assert (model.status, model.provider, model.provider_version) == (
            "ready",
            "replicate",
            version,
        )

        runs.version = version  # the prediction API knows the version the training made
        monkeypatch.setenv("PHOTOAI_REPLICATE_BASE", runs.url)
        monkeypatch.setenv("PHOTOAI_GENERATORS", '["replicate", "together"]')
        monkeypatch.setenv("PHOTOAI_TOGETHER_API_KEY", "unused-together-key")
        get_settings.cache_clear()
        [job_id] = generation.submit(
            uid,
            GenerationOptions(model_source(model_id), prompt="at the beach", count=2),
            "replicate-01",
        )
        work_burst()

    [posted] = [c for c in runs.calls_to("POST", PREDICTIONS) if c.path == PREDICTIONS]
    sent = json.loads(posted.body)
    assert sent["version"] == version
    assert sent["input"]["prompt"] == "TOK at the beach" and sent["input"]["num_outputs"] == 2
    assert job_row(job_id).status == "succeeded"
    images = images_of(job_id)
    assert [i.provider for i in images] == ["replicate", "replicate"]
    for image in images:
        check_stored(image)
    assert credits.balance(uid) == 100 - TRAINING_COST - 2 == credits.ledger_sum(uid)


def test_a_content_refusal_fails_the_request_and_releases_everything(
    providers: tuple[FakeTogether, FakeFalRun, FakeFal],
) -> None:
    together, fal_run, _ = providers
    uid = make_user(10)
    draft_with_photos(uid)
    together.refuse_content_next()
    [job_id] = generation.submit(
        uid, GenerationOptions("instant", prompt="a portrait", count=3), "refused-01"
    )
    assert credits.balance(uid) == 7
    work_burst()
    [call] = together.calls_to("POST", GENERATIONS)
    sent = json.loads(call.body)
    assert sent["model"] == "black-forest-labs/FLUX.2-pro"
    assert len(sent["reference_images"]) == MIN_PHOTOS
    assert all("/provider-files/users/" in url for url in sent["reference_images"])
    assert fal_run.calls == [], "fal has no Instant mode"
    job = job_row(job_id)
    assert job.status == "failed" and "refused this request on content grounds" in job.error
    assert images_of(job_id) == []
    held = hold_of(job_id)
    assert (held.captured, held.released) == (0, 3)
    assert credits.balance(uid) == 10 == credits.ledger_sum(uid)
    [view] = generation.recent_requests(uid)
    assert view.status == "failed" and "content grounds" in view.error


def test_an_outage_is_retried_and_then_fails_with_credits_back(
    providers: tuple[FakeTogether, FakeFalRun, FakeFal],
) -> None:
    together, _, _ = providers
    uid = make_user(10)
    draft_with_photos(uid)
    together.fail_next(503, path_prefix=GENERATIONS, times=3)
    [job_id] = generation.submit(uid, GenerationOptions("instant", prompt="hi"), "outage-001")
    for attempt in range(1, 3):
        with pytest.raises(Exception, match="every generator failed"):
            jobs.run(job_id)
        assert (job_row(job_id).status, credits.balance(uid)) == ("queued", 9), attempt
    assert jobs.run(job_id) == "failed"
    job = job_row(job_id)
    assert job.status == "failed" and "Failed after 3 attempts" in job.error
    assert credits.balance(uid) == 10 == credits.ledger_sum(uid)


def test_a_garbled_answer_is_not_asked_for_again(
    providers: tuple[FakeTogether, FakeFalRun, FakeFal],
) -> None:
    """Together made (and billed) the pictures but its 200 arrived unreadable: the request
    fails with the credits back instead of paying for the batch a second time."""
    together, _, _ = providers
    uid = make_user(10)
    draft_with_photos(uid)
    together.garble_next(path_prefix=GENERATIONS)
    [job_id] = generation.submit(uid, GenerationOptions("instant", prompt="hi"), "garbled-01")
    work_burst()
    jobs.run(job_id)  # what the queue's retry of this job would do
    assert len(together.calls_to("POST", GENERATIONS)) == 1
    job = job_row(job_id)
    assert (job.status, job.attempts) == ("failed", 1)
    assert "did not confirm the pictures, so the request was not repeated" in job.error
    assert credits.balance(uid) == 10 == credits.ledger_sum(uid)
