"""The dashboard in a real headless browser: Debian's chromium driven by Playwright, against the real app served by
uvicorn and a coordinator indexing for real on the test database."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import uvicorn

from pipeline.api.app import create_app
from pipeline.config import Config
from pipeline.coordinator import Coordinator
from tests.integration.pipeline.repos import SOURCES_V1, commit_files, new_repository

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


@pytest.fixture
def coordinator(pipeline_config: Config) -> Iterator[Coordinator]:
    """A worker running the real pipeline until the test ends."""
    running = Coordinator(pipeline_config)
    thread = threading.Thread(target=running.run, kwargs={"install_signal_handlers": False}, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.stop()
        thread.join(timeout=60)


@pytest.fixture
def repo_path(tmp_path: Path) -> Path:
    path = tmp_path / "dashboard-repo"
    commit_files(new_repository(path), SOURCES_V1, "first")
    return path


def test_dashboard__a_repository_enqueued_in_the_form_is_shown_completed_with_its_counts(
    server_url: str, coordinator: Coordinator, repo_path: Path, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(server_url)
            expect(page.locator("#health-badge")).to_have_text("healthy")
            page.fill("#enqueue-repository", str(repo_path))
            page.click("#enqueue-submit")
            result = page.locator("#enqueue-result")
            expect(result).to_contain_text("enqueued: job ")
            job_id = result.get_attribute("data-job-id")
            assert job_id
            row = page.locator(f'#recent-jobs tr[data-job-id="{job_id}"]')
            expect(row).to_have_attribute("data-status", "completed", timeout=60_000)
            files = int(row.locator('[data-field="files"]').inner_text())
            symbols = int(row.locator('[data-field="symbols"]').inner_text())
            assert files > 0
            assert symbols > 0
            expect(page.locator("#active-jobs")).to_contain_text("none")
            expect(page.locator('#queues tr[data-queue="index-repo"]')).to_be_visible()
            expect(page.locator("#error")).to_be_hidden()
            screenshot = tmp_path / "dashboard.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert screenshot.stat().st_size > 0
