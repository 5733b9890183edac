"""Fixtures for browser tests: the app under uvicorn (ASGI, as in production) against
this test run's database, and headless Chromium driven by Playwright.

The server is a child process with the offline LLM provider, a filesystem Celery broker
in a temporary folder (so nothing reaches a shared queue) and no network use at all.
"""

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.db import connection, connections

from tests.conftest import ARTIFACTS, ROOT, django_env

SCREENSHOTS = ARTIFACTS / "screenshots"
FAILURES = ARTIFACTS / "e2e" / "failures"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, url: str, proc: subprocess.Popen, log_path: Path):
        self.url = url
        self.proc = proc
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


@pytest.fixture
def live_server_env(tmp_path):
    """Extra environment for the server; tests may add to it before the server starts."""
    return {}


@pytest.fixture
def uvicorn_server(transactional_db, tmp_path, request, live_server_env):
    port = _free_port()
    env = django_env(
        LLM_MODEL="offline",
        LLM_MAX_RETRIES="0",
        LLM_RETRY_BASE_SECONDS="0",
        CELERY_BROKER_URL="filesystem://",
        VAR_DIR=str(tmp_path / "var"),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        **live_server_env,
    )
    log_path = ARTIFACTS / "e2e" / f"{request.node.name}-uvicorn.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            # Each request's line (method, path, status), so that a failed test's log
            # says what the server answered, or that a request never arrived.
            "--log-level",
            "info",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = LiveServer(f"http://127.0.0.1:{port}", proc, log_path)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited early:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn not ready in 60s:\n{server.log()}")
        time.sleep(0.2)
    yield server
    if _failed(request):
        # In the failure's report (and in CI's output): the server's side of the story.
        print(f"\n--- the server's log, {log_path} (last lines) ---\n{server.log()}")
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    log.close()
    # The server held connections to the test database: make sure they are gone before
    # pytest-django flushes or drops it.
    connection.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def _failed(request) -> bool:
    report = getattr(request.node, "report_call", None)
    return report is not None and report.failed


@pytest.fixture
def browser(monkeypatch, request):
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test
    # makes between page actions are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # Every page runs under the app's Content Security Policy: anything it blocks
        # (an inline script or style, a foreign source) is logged by Chromium and fails
        # the test here.
        blocked: list[str] = []
        new_context = browser.new_context

        def watched_context(*args, **kwargs):
            context = new_context(*args, **kwargs)
            context.on(
                "console",
                lambda message: (
                    blocked.append(f"{message.location.get('url')}: {message.text}")
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            return context

        browser.new_context = watched_context
        yield browser
        if _failed(request):
            # Every page as it was when the test failed, beside the screenshots.
            FAILURES.mkdir(parents=True, exist_ok=True)
            pages = [page for context in browser.contexts for page in context.pages]
            for n, page in enumerate(pages):
                path = FAILURES / f"{request.node.name}-{n}.png"
                with contextlib.suppress(Exception):  # a page that crashed has none
                    page.screenshot(path=str(path), full_page=True)
                    print(f"\nfailure screenshot ({page.url}): {path}")
        browser.close()
        # ORM calls made while Playwright's loop ran may have opened their own
        # connections; close them so the test database can be dropped.
        connections.close_all()
        assert not blocked, "blocked by the Content Security Policy:\n" + "\n".join(blocked)


@pytest.fixture
def screenshots(capsys):
    """Save full-page screenshots under test-artifacts/screenshots/, printing the folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    yield take
    with capsys.disabled():
        print(f"\nScreenshots of every step: {SCREENSHOTS}")
