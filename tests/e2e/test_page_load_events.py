"""Opening a page costs two websocket events, not three (issue 9, "Cheap events"): against a real
`reflex run --env prod --backend-only` process with Redis state, the update that marks a page
hydrated is the one that carries the page's data, for a first load and for a navigation."""

import uuid
from collections.abc import Iterator

import pytest
from reflex.state import OnLoadInternalState

from photoai.services import accounts
from photoai.state.generate import GenerateState
from photoai.state.models import ModelsState
from tests import async_support
from tests.e2e.reflex_ws import ROOT, Cluster, Tab, backend_cluster, signed_in_cookie

NAVIGATE = f"{OnLoadInternalState.get_full_name()}.on_load_internal"
MODELS = ModelsState.get_full_name()
GENERATE = GenerateState.get_full_name()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        backend_cluster(tmp_path_factory.mktemp("page-load"), monkeypatch, backends=1) as running,
    ):
        yield running


def _hydrating_update(tab: Tab) -> dict[str, dict[str, object]]:
    (update,) = [d for d in tab.deltas if d.get(ROOT, {}).get("is_hydrated_rx_state_") is True]
    return update


async def _open_then_navigate(cluster: Cluster) -> None:
    base = cluster.backends[0]
    uid = accounts.register(f"pages-{uuid.uuid4().hex[:8]}@example.com", uuid.uuid4().hex)
    tab = Tab(await signed_in_cookie(base, uid, "/models"), path="/models")
    await tab.open(base)
    await tab.until(ROOT, "is_hydrated", True)
    assert _hydrating_update(tab)[MODELS]["loaded_rx_state_"] is True

    tab.deltas.clear()
    tab.path = "/generate"
    await tab.send(NAVIGATE, {})
    await tab.until(ROOT, "is_hydrated", True)
    assert "cost_rx_state_" in _hydrating_update(tab)[GENERATE]
    # on_load_internal's update (not hydrated yet), then the page's data with the flag.
    assert len(tab.deltas) == 2
    await tab.close()


def test_a_page_is_hydrated_by_the_update_that_brings_its_data(cluster: Cluster) -> None:
    async_support.run(_open_then_navigate(cluster))
