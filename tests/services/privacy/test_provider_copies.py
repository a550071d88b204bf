"""Deleting a model, or a whole account, deletes the provider's copies where its API allows:
fal's stored request and output files, Replicate's trained model version."""

from collections.abc import Callable, Iterator

import pytest
import redis

from photoai.db import session_scope
from photoai.models import ModelStatus, User
from photoai.providers import fal_trainer
from photoai.services import accounts, training
from photoai.services.privacy import deletion
from tests.factories import make_user
from tests.fakes.fal_server import FakeFal
from tests.fakes.replicate_server import FakeReplicate
from tests.training_support import (
    age_job,
    draft_with_photos,
    job_row,
    model_row,
    training_settings,
    work_burst,
)


@pytest.fixture
def env(pg: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    training_settings(monkeypatch)


@pytest.fixture
def fal(env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFal]:
    fal_trainer.jwks_cache.clear()
    with FakeFal() as fake:
        fake.use(monkeypatch)
        yield fake


@pytest.fixture
def replicate(env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeReplicate]:
    with FakeReplicate() as fake:
        fake.use(monkeypatch)
        yield fake


def trained(uid: int, finish: Callable[[str], object]) -> tuple[int, str]:
    """A model trained at the configured provider; `finish(external_id)` completes it there."""
    model_id = draft_with_photos(uid)
    job_id = training.start_training(uid, model_id)
    work_burst()
    external_id = job_row(job_id).external_id
    finish(external_id)
    age_job(job_id, silent_for=301)
    training.reconcile_trainings()
    assert model_row(model_id).status == ModelStatus.READY
    return model_id, external_id


def test_deleting_a_fal_model_deletes_its_stored_request(fal: FakeFal) -> None:
    uid, other = make_user(100), make_user(100)
    model_id, request_id = trained(uid, lambda rid: fal.complete(rid, deliver=False))
    _, kept_request = trained(other, lambda rid: fal.complete(rid, deliver=False))
    training.delete_model(uid, model_id)
    assert fal.payloads_deleted == [request_id]
    assert fal.requests[kept_request]["input"] is not None
    assert fal.calls_to("DELETE", "/v1/models/requests/")[0].headers["authorization"] == (
        f"Key {fal.key}"
    )


def test_deleting_an_account_deletes_its_replicate_versions(replicate: FakeReplicate) -> None:
    uid, other = make_user(100), make_user(100)
    with session_scope() as s:
        user = s.get(User, uid)
        assert user is not None
        user.password_hash = accounts.hash_password("correct horse battery")
    model_id, _ = trained(uid, lambda tid: replicate.complete(tid, deliver=False))
    version = model_row(model_id).provider_version
    kept, _ = trained(other, lambda tid: replicate.complete(tid, deliver=False))
    assert version in replicate.trained_versions

    deletion.request_deletion(uid, "correct horse battery")
    work_burst()
    assert replicate.deleted_versions == [version]
    assert replicate.trained_versions == [model_row(kept).provider_version]


def test_a_provider_that_is_down_does_not_block_the_deletion(fal: FakeFal) -> None:
    uid = make_user(100)
    model_id, _ = trained(uid, lambda rid: fal.complete(rid, deliver=False))
    fal.fail_next(500, times=5, method="DELETE")
    training.delete_model(uid, model_id)
    assert training.list_models(uid) == []
    assert fal.payloads_deleted == []  # left for the operator, who finds it in the log
