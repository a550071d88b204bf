"""The credit history reads as sentences for the person paying, made from the ledger and the
jobs and models it is linked to: no idempotency references, no ids, no "from hold".

Real flows on PostgreSQL: the demo trainer and generator run through RQ on the test Redis.
"""

import re

import pytest
import redis
from sqlalchemy import update
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import LedgerKind, PersonalModel
from photoai.services import credit_history, credits, generation, jobs, training
from photoai.services.generation import GenerationOptions
from photoai.state.display import ledger_row
from tests.factories import make_user
from tests.training_support import (
    Clock,
    demo_clock,
    draft_with_photos,
    training_settings,
    work_burst,
)

RAW = re.compile(r"gen:|job:|stripe:|model \d|from hold")


@pytest.fixture
def env(pg: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    training_settings(monkeypatch)


def descriptions(uid: int) -> list[str]:
    """Oldest first, as a story."""
    return [e.description for e in reversed(credit_history.history(uid, limit=100))]


def test_every_ledger_row_gets_a_sentence_for_the_payer(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock: Clock = demo_clock(monkeypatch)
    uid = make_user()
    credits.grant(uid, 20, kind=LedgerKind.STARTER, reference=f"starter:{uid}")
    credits.grant(
        uid,
        100,
        kind=LedgerKind.PURCHASE,
        reference="stripe:checkout:cs_test_1",
        description="Starter pack",
    )
    credits.grant(
        uid, 5, kind=LedgerKind.ADJUSTMENT, reference="admin:t1", description="Goodwill credits"
    )

    model_id = draft_with_photos(uid, name="Anna")
    training.start_training(uid, model_id)
    work_burst()
    clock.now += 1
    training.reconcile_trainings()

    [made] = generation.submit(
        uid,
        GenerationOptions(f"model:{model_id}", style_id="beach-vacation", count=2),
        "history-made",
    )
    work_burst()
    [canceled] = generation.submit(
        uid, GenerationOptions(f"model:{model_id}", prompt="in a forest"), "history-canceled"
    )
    assert generation.cancel(uid, canceled)
    [failed] = generation.submit(
        uid,
        GenerationOptions(f"model:{model_id}", style_id="fantasy-warrior"),
        "history-failed",
    )
    jobs.fail(failed, "The provider refused the request.")
    assert {made, canceled, failed}

    # Renamed after the fact: the history names the model as it is called now.
    with session_scope() as s:
        s.execute(
            update(PersonalModel).where(col(PersonalModel.id) == model_id).values(name="Anna B")
        )

    assert descriptions(uid) == [
        "Welcome credits",
        "Credit pack: 100 credits",
        "Goodwill credits",
        "Training “Anna B”",
        "Training “Anna B” finished",
        "Generating 2 pictures — Beach vacation",
        "Generated picture 1 of 2 — Beach vacation (1 reserved credit used)",
        "Generated picture 2 of 2 — Beach vacation (1 reserved credit used)",
        "Generating 1 picture — in a forest",
        "Refund for a cancelled request — in a forest",
        "Generating 1 picture — Fantasy warrior",
        "Refund for a failed job — Fantasy warrior",
    ]
    for row in credit_history.history(uid, limit=100):
        shown = {k: v for k, v in ledger_row(row).items() if k != "id"}
        assert not RAW.search(" ".join(shown.values())), shown

    training.delete_model(uid, model_id)
    assert descriptions(uid)[3:5] == [
        "Training a deleted model",
        "Training a deleted model finished",
    ]
    page = credit_history.history(uid, limit=5)
    older = credit_history.history(uid, limit=100, before_id=page[-1].id)
    assert [e.id for e in page + older] == [e.id for e in credit_history.history(uid, limit=100)]
