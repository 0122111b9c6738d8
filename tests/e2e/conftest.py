"""End-to-end fixtures: the real app under uvicorn in a thread, and headless Chromium.

The server runs on a free port of 127.0.0.1 over a migrated SQLite database with the tiny
catalog, a fit of it published (with the helpers of tests/service/conftest.py) and a
forecaster key.
Chromium is the Debian one at /usr/bin/chromium, driven by Playwright for Python; nothing is
downloaded. Without it the tests fail, saying how to install it: they never skip.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import TINY_PRIORS, publish_artifact, relaxed_config

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "test-artifacts" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOW_TO_INSTALL = (
    "the e2e tests need Chromium at /usr/bin/chromium: install it with "
    "`apt-get install chromium` (or run `make test`, which does it)"
)


@dataclass(frozen=True)
class LiveServer:
    url: str
    forecaster_key: str
    settings: Any

    def get_json(self, path: str) -> Any:
        import json

        # No proxy for 127.0.0.1, whatever the environment says.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url + path, timeout=10) as response:
            return json.load(response)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def tiny_fit_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real (tiny) fit of the tiny catalog, saved as the worker would save it."""
    import dataclasses

    from models.artifacts import save
    from models.catalog import load_catalog
    from models.forecast_model import ForecastModel

    data = load_catalog(TINY_PRIORS).to_forecast_data()
    posterior = ForecastModel(relaxed_config()).fit(data)
    assert posterior.diagnostics.publishable, posterior.diagnostics.reasons
    posterior = dataclasses.replace(posterior, fit_id="fit-fixture")
    return save(posterior, tmp_path_factory.mktemp("e2e-artifact") / "tiny.nc")


@pytest.fixture(scope="package")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_fit_artifact: Path
) -> Iterator[LiveServer]:
    import uvicorn

    from service.app import create_app
    from service.serving import create_key, prepare_database
    from service.settings import Settings

    folder = tmp_path_factory.mktemp("e2e")
    settings = Settings(
        data_dir=folder / "var",
        database_url=f"sqlite:///{folder / 'helsinki.db'}",
        priors_dir=TINY_PRIORS,
        poll_seconds=0.5,
        start_worker=False,
    )
    prepare_database(settings)
    key = create_key(settings, "forecaster", "fred")
    publish_artifact(settings, tiny_fit_artifact)

    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    # Off the main thread uvicorn installs no signal handlers (Server.capture_signals).
    thread = threading.Thread(target=server.run, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the app did not start under uvicorn", pytrace=False)
        time.sleep(0.05)
    live = LiveServer(f"http://127.0.0.1:{port}", key, settings)
    # The lifespan loaded the published fit before `started`; check it all the same.
    assert live.get_json("/readyz")["fit_id"] == "fit-fixture"
    yield live
    server.should_exit = True
    thread.join(timeout=15)


# Package scope, not session: while sync_playwright() is open, its event loop counts as
# running in the main thread, and later tests that call asyncio.run() would fail.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(HOW_TO_INSTALL, pytrace=False)
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        pytest.fail(
            "Playwright for Python is missing: `.venv/bin/pip install -e '.[dev]'` "
            "(no `playwright install`: the tests use the system Chromium)",
            pytrace=False,
        )
    with sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Error as exc:
            pytest.fail(f"{HOW_TO_INSTALL}; launching it failed: {exc}", pytrace=False)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A fresh tab (its own session storage) at 1280 px; fails the test on a script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    script_errors: list[str] = []
    tab.on("pageerror", lambda exc: script_errors.append(str(exc)))
    yield tab
    context.close()
    assert not script_errors, f"JavaScript errors on the page: {script_errors}"


@pytest.fixture
def screenshot(page: Any) -> Any:
    """``screenshot("01-name")`` saves the full page under var/test-artifacts/e2e/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
