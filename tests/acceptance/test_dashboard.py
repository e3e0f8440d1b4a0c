"""The dashboard in a real headless browser: Debian's chromium driven by Playwright, against the real app served by
uvicorn and a coordinator indexing for real on the test database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec
import pytest
import uvicorn
from playwright.sync_api import Page, expect, sync_playwright

from pipeline.api.app import create_app
from pipeline.config import Config
from pipeline.coordinator import Coordinator
from tests.conftest import ROOT
from tests.integration.pipeline.repos import SOURCES_V1, commit_files, new_repository
from tests.integration.pipeline.slow_stage import slow_extract

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def pipeline_config(config: Config, tmp_path: Path) -> Config:
    index = msgspec.structs.replace(
        config.index, parsers=1, jobs=1, tmp_dir=str(tmp_path / "work"), progress_interval=0.2
    )
    return msgspec.structs.replace(config, index=index)


@pytest.fixture
def server_url(pipeline_config: Config) -> Iterator[str]:
    """The API and dashboard on a free local port, served by uvicorn in a thread."""
    port = free_port()
    app = create_app(pipeline_config, environ={})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, ws="none", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@contextmanager
def running(coordinator: Coordinator) -> Iterator[Coordinator]:
    thread = threading.Thread(target=coordinator.run, kwargs={"install_signal_handlers": False}, daemon=True)
    thread.start()
    try:
        yield coordinator
    finally:
        coordinator.stop()
        thread.join(timeout=60)


@pytest.fixture
def coordinator(pipeline_config: Config) -> Iterator[Coordinator]:
    """A worker running the real pipeline until the test ends."""
    with running(Coordinator(pipeline_config)) as worker:
        yield worker


@pytest.fixture
def slow_coordinator(pipeline_config: Config) -> Iterator[Coordinator]:
    """The same worker with parsing slowed to a second per file, so a job stays in progress for a while."""
    with running(Coordinator(pipeline_config, extract=slow_extract)) as worker:
        yield worker


@pytest.fixture
def repo_path(tmp_path: Path) -> Path:
    path = tmp_path / "dashboard-repo"
    commit_files(new_repository(path), SOURCES_V1, "first")
    return path


@pytest.fixture
def page(server_url: str, tmp_path: Path) -> Iterator[Page]:
    """The dashboard open in headless chromium, served with its Content-Security-Policy; at the end, the browser
    must have reported no policy violation and no script error, and a full-page screenshot is saved in the test's
    tmp dir."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            opened = browser.new_page(viewport={"width": 1280, "height": 900})
            opened.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            opened.on("pageerror", lambda error: problems.append(str(error)))
            response = opened.goto(server_url)
            assert response is not None
            assert "default-src 'self'" in response.headers["content-security-policy"]
            yield opened
            # a progress bar is drawn after the last poll at the latest: its width goes through the policy too
            opened.evaluate("refresh()")
            opened.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 0
    assert [problem for problem in problems if "Content Security Policy" in problem or "Refused" in problem] == []


def enqueue_in_form(page: Page, repository: str, *, commit_sha: str = "") -> str:
    page.fill("#enqueue-repository", repository)
    page.fill("#enqueue-commit", commit_sha)
    page.click("#enqueue-submit")
    expect(page.locator("#enqueue-result")).to_contain_text("enqueued: job ")
    job_id = page.locator("#enqueue-result").get_attribute("data-job-id")
    assert job_id
    return job_id


def test_dashboard__a_repository_enqueued_in_the_form_is_shown_completed_with_its_counts(
    page: Page, coordinator: Coordinator, repo_path: Path
) -> None:
    expect(page.locator("#health-badge")).to_have_text("healthy")
    job_id = enqueue_in_form(page, str(repo_path))
    row = page.locator(f'#recent-jobs tr[data-job-id="{job_id}"]')
    expect(row).to_have_attribute("data-status", "completed", timeout=60_000)
    assert int(row.locator('[data-field="files"]').inner_text()) > 0
    assert int(row.locator('[data-field="symbols"]').inner_text()) > 0
    expect(page.locator("#active-jobs")).to_contain_text("none")
    expect(page.locator('#queues tr[data-queue="index-repo"]')).to_be_visible()
    expect(page.locator("#error")).to_be_hidden()


def test_dashboard__a_failed_job_is_listed_with_its_error_and_its_dead_letter_can_be_retried(
    page: Page, coordinator: Coordinator, repo_path: Path
) -> None:
    failed_id = enqueue_in_form(page, str(repo_path), commit_sha="0123456789" * 4)
    row = page.locator(f'#recent-jobs tr[data-job-id="{failed_id}"]')
    expect(row).to_have_attribute("data-status", "failed", timeout=60_000)
    expect(row).to_contain_text("does not exist")
    letter = page.locator("#dead-letters tbody tr")
    expect(letter).to_have_count(1)
    letter_id = letter.get_attribute("data-dead-letter-id")
    letter.locator("button.retry").click()
    expect(page.locator(f'#dead-letters tr[data-dead-letter-id="{letter_id}"]')).to_have_count(0)
    # the fresh job asks for the same missing commit, so it fails too and leaves a dead letter of its own
    expect(page.locator('#recent-jobs tr[data-status="failed"]')).to_have_count(2, timeout=60_000)
    expect(page.locator("#dead-letters tbody tr")).to_have_count(1)
    expect(page.locator("#error")).to_be_hidden()


def test_dashboard__a_job_in_progress_shows_stage_bars_and_can_be_cancelled(
    page: Page, slow_coordinator: Coordinator, repo_path: Path
) -> None:
    job_id = enqueue_in_form(page, str(repo_path))
    active = page.locator(f'#active-jobs .job[data-job-id="{job_id}"]')
    expect(active.locator('.stage[data-stage="parse"] [role="progressbar"]')).to_be_visible(timeout=30_000)
    expect(active.locator('.stage[data-stage="fetch"]')).to_have_class("stage finished")
    active.locator("button.cancel").click()
    row = page.locator(f'#recent-jobs tr[data-job-id="{job_id}"]')
    expect(row).to_have_attribute("data-status", "cancelled", timeout=30_000)
    expect(page.locator("#active-jobs")).to_contain_text("none")


def test_serve__the_command_serves_the_api_with_the_token_from_the_environment_and_stops_on_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    token = "token-from-the-environment"
    config = tmp_path / "serve.toml"
    config.write_text("[log]\nformat = 'json'\nlevel = 'debug'\n")
    base = {key: value for key, value in os.environ.items() if "DATABASE_URL" not in key and "DB_URL" not in key}
    env = {**base, "PIPELINE_DATABASE_URL": database_url, "PIPELINE_API_TOKEN": token}
    command = [sys.executable, "-m", "pipeline", "serve", "--port", str(port), "--config", str(config)]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.communicate()
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /health"
            time.sleep(0.1)
        assert httpx.post(f"{url}/index", json={"repository": "octo/demo"}).status_code == 401
        headers = {"Authorization": f"Bearer {token}"}
        accepted = httpx.post(f"{url}/index", json={"repository": "octo/demo"}, headers=headers)
        assert accepted.status_code == 202
        assert httpx.get(f"{url}/jobs/{accepted.json()['job_id']}").json()["status"] == "pending"
    finally:
        server.send_signal(signal.SIGTERM)
        stdout, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert "serving the API" in stderr
    assert token not in stdout + stderr
