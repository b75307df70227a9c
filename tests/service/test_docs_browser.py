"""/docs in a real headless Chromium with no network beyond loopback: the page lists every route of the
OpenAPI schema, and "Try it out" on /v1/score shows the scores the server gives.

Chromium comes from Debian's packages (`make test` installs it where it runs as root) and Playwright's
Python package drives it.
Every request the page makes is checked: anything not addressed to the server on 127.0.0.1 is aborted
and recorded, and the test fails if there was any, so a page that would need a CDN cannot pass. Where
Chromium is absent the test skips with the reason, except under CI (`CI` set), where it fails.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.service.server_process import shared_server

CHROMIUM = Path("/usr/bin/chromium")
# As root in a container Chromium needs --no-sandbox; the background-networking flags stop it from
# calling Google's hosts (refused by a closed network, many at a time) at every start.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCORE_BODY = {
    "items": [
        {"prompt": "How do I boil an egg?", "response": "Simmer it for 9 minutes, then cool it in cold water."},
        {"prompt": "How do I boil an egg?", "response": "I can't help with that."},
    ]
}
PAGE_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def server_url(request: pytest.FixtureRequest, tiny_encoder_dir: Path) -> str:
    return shared_server(request.config, tiny_encoder_dir)


@pytest.fixture(scope="module")
def browser_page() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing under CI; `make test` installs Debian's chromium package as root")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium; `make test` does as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives the browser a new, empty profile of its own.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


@pytest.fixture(scope="module")
def docs_page(browser_page: Any, server_url: str) -> Iterator[tuple[Any, list[str]]]:
    """The loaded /docs page and the list of off-host requests it tried (aborted)."""
    server_host = urlsplit(server_url).netloc
    off_host: list[str] = []

    def only_the_server(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc == server_host:
            route.continue_()
        else:
            off_host.append(url)
            route.abort()

    browser_page.route("**/*", only_the_server)
    browser_page.goto(f"{server_url}/docs")
    browser_page.wait_for_selector(".opblock-summary-path")
    yield browser_page, off_host


def test_docs_lists_every_route_with_no_request_off_the_host(docs_page: tuple[Any, list[str]], server_url: str) -> None:
    page, off_host = docs_page
    schema = httpx.get(f"{server_url}/openapi.json").json()
    expected = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    shown: set[tuple[str, str]] = set()
    for block in page.locator(".opblock").all():
        method = block.locator(".opblock-summary-method").inner_text().strip()
        path = block.locator(".opblock-summary-path").get_attribute("data-path")
        shown.add((method, str(path)))
    assert shown == expected
    assert {"/v1/score", "/v1/gate", "/v1/models", "/health"} <= {path for _, path in shown}
    assert page.title() == "rmserve - API"
    assert off_host == []


def test_try_it_out_on_score_shows_the_servers_scores(docs_page: tuple[Any, list[str]], server_url: str) -> None:
    page, off_host = docs_page
    block = page.locator(".opblock-post").filter(has=page.locator('[data-path="/v1/score"]'))
    block.locator(".opblock-summary").click()
    block.locator(".try-out__btn").click()
    block.locator("textarea.body-param__text").fill(json.dumps(SCORE_BODY))
    block.locator(".execute").click()
    status = block.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip().startswith("200")
    shown = json.loads(block.locator(".live-responses-table .response-col_description pre").first.inner_text())
    direct = httpx.post(f"{server_url}/v1/score", json=SCORE_BODY).json()
    # The same pairs batched differently (alone, together, beside other traffic) differ in the last float
    # bits (CI saw 0.0264565237 against 0.0264565143), so the comparison is to fp32 rounding, not bits.
    assert len(shown["scores"]) == 2 and shown["scores"] == pytest.approx(direct["scores"], rel=1e-5, abs=1e-6)
    assert off_host == []
