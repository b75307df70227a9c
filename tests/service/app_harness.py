"""Run the app in-process for tests: Starlette's TestClient drives the lifespan on its own event loop."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from service.app import create_app
from service.backends.base import Backend
from service.settings import Settings
from service.state import ServiceState


@contextmanager
def serving(settings: Settings, backend: Backend | None = None) -> Iterator[TestClient]:
    """A TestClient on a ready app (loaded, warmed, workers running); shut down (drained) on exit."""
    app = create_app(settings, backend)
    with TestClient(app, raise_server_exceptions=False) as client:
        state: ServiceState = app.state.service
        if not state.loaded.wait(300):
            raise TimeoutError("the app did not finish loading")
        if state.phase != "ready":
            raise RuntimeError(f"the app failed to load: {state.failure}")
        yield client


def state_of(client: TestClient) -> ServiceState:
    state: ServiceState = client.app.state.service  # type: ignore[attr-defined]
    return state
