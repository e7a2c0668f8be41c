"""One real api-server for the web tests of a session (starting one takes ~15 s)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.conftest import IN_CI
from tests.environment import prepare_environment
from tests.web.server import AirflowServer, airflow_server, free_port, passwords, run_cycle_stages

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    tmp = tmp_path_factory.mktemp("web")
    port = free_port()
    env = prepare_environment(tmp, metadata_url=None, ops_url=None, persons=300, seed=5, port=port)
    run_cycle_stages(env)
    with airflow_server(env, port, tmp / "api-server.log") as base_url:
        yield AirflowServer(base_url=base_url, env=env, passwords=passwords(env))


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (installed by `make venv`; required in CI)."""
    if not shutil.which("chromium") and not IN_CI:
        pytest.skip("Debian's chromium is not installed (make venv installs it)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def signed_in(browser: Browser, web: AirflowServer) -> Iterator[Callable[[str], Page]]:
    """A fresh browser page signed in through Airflow's login form as the given user."""
    contexts: list[BrowserContext] = []

    def sign_in(user: str) -> Page:
        context = browser.new_context(base_url=web.base_url)
        contexts.append(context)
        page = context.new_page()
        page.goto("/")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", web.passwords[user])
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: "/login" not in url)
        return page

    yield sign_in
    for context in contexts:
        context.close()
