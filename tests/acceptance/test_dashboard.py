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
from playwright.sync_api import Browser, Page, expect, sync_playwright

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


SHOTS = Path("/tmp/dash-shots")  # every test's screenshots, to look at after a run


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page with what it did: the requests it sent and the errors its console and scripts reported."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requests: list[str] = []
        self.problems: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", lambda message: self.problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: self.problems.append(str(error)))

    def policy_violations(self) -> list[str]:
        return [problem for problem in self.problems if "Content Security Policy" in problem or "Refused" in problem]

    def shoot(self, name: str) -> Path:
        """A full-page screenshot under ``SHOTS``."""
        SHOTS.mkdir(exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0
        return path


@contextmanager
def watched_page(browser: Browser, url: str, *, width: int = 1280, height: int = 900) -> Iterator[Watched]:
    """``url`` open in a new page of ``width`` by ``height`` CSS pixels; at the end, the browser must have
    reported no policy violation (the app's Content-Security-Policy allows no inline script or style)."""
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        watched = Watched(context.new_page())
        response = watched.page.goto(url)
        assert response is not None
        assert "default-src 'self'" in response.headers["content-security-policy"]
        yield watched
        assert watched.policy_violations() == []
    finally:
        context.close()


@pytest.fixture
def watched(browser: Browser, server_url: str, request: pytest.FixtureRequest) -> Iterator[Watched]:
    """The dashboard open in headless chromium on a desktop-sized page; a screenshot named after the test at the
    end, taken after one more poll (a progress bar's width goes through the policy too)."""
    with watched_page(browser, server_url) as opened:
        yield opened
        opened.page.evaluate("poll()")
        opened.shoot(request.node.name)


@pytest.fixture
def page(watched: Watched) -> Page:
    return watched.page


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
    letter = page.locator("#dead-letters tbody tr[data-dead-letter-id]")
    expect(letter).to_have_count(1)
    letter_id = letter.get_attribute("data-dead-letter-id")
    letter.locator("button.retry").click()
    expect(page.locator(f'#dead-letters tr[data-dead-letter-id="{letter_id}"]')).to_have_count(0)
    # the fresh job asks for the same missing commit, so it fails too and leaves a dead letter of its own
    expect(page.locator('#recent-jobs tr[data-status="failed"]')).to_have_count(2, timeout=60_000)
    expect(page.locator("#dead-letters tbody tr[data-dead-letter-id]")).to_have_count(1)
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


def enqueue_through_the_api(server_url: str, repository: str) -> str:
    response = httpx.post(f"{server_url}/index", json={"repository": repository})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def indexed(server_url: str, repo_path: Path) -> str:
    """Index ``repo_path`` through the API and wait for the job to complete; returns the job's id."""
    job_id = enqueue_through_the_api(server_url, str(repo_path))
    deadline = time.monotonic() + 60
    while (job := httpx.get(f"{server_url}/jobs/{job_id}").json())["status"] != "completed":
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job_id


def open_job(page: Page, job_id: str) -> None:
    """Follow the job's link, as an operator would, to its page."""
    page.locator(f'a[href="#/jobs/{job_id}"]').first.click()
    expect(page.locator("#view-job")).to_be_visible()
    expect(page.locator("#job-id")).to_have_text(job_id)


def test_dashboard__a_completed_job_shows_in_the_charts_and_on_its_page_with_stats_stages_and_events(
    watched: Watched, coordinator: Coordinator, repo_path: Path
) -> None:
    page = watched.page
    job_id = enqueue_in_form(page, str(repo_path))
    expect(page.locator(f'#recent-jobs tr[data-job-id="{job_id}"]')).to_have_attribute(
        "data-status", "completed", timeout=60_000
    )
    expect(page.locator("#chart-finished")).to_have_attribute("data-total", "1")
    expect(page.locator("#chart-finished rect.bar-completed")).to_have_count(1)
    assert float(page.locator("#chart-files").get_attribute("data-total") or 0) > 0
    expect(page.locator("#chart-depth polyline")).to_have_count(1)
    page.select_option("#chart-window", "1440")
    expect(page.locator("#chart-finished")).to_have_attribute("data-points", "1440")
    watched.shoot("overview-desktop")

    open_job(page, job_id)
    expect(page.locator("#job-status")).to_have_text("completed")
    expect(page.locator("#job-record")).to_contain_text(repo_path.name)
    assert int(page.locator('#job-stats [data-stat="files_parsed"] dd').inner_text()) > 0
    expect(page.locator('#job-stats [data-stat="seconds.parse"]')).to_be_visible()
    for stage in ("fetch", "parse", "write"):
        expect(page.locator(f'#job-progress .stage[data-stage="{stage}"]')).to_have_class("stage finished")
    events = page.locator("#job-events li")
    expect(events.first).to_have_attribute("data-event", "enqueued")
    expect(events.last).to_have_attribute("data-event", "completed")
    expect(page.locator('#job-events li[data-event="processing"]')).to_contain_text("attempt=1")
    expect(page.locator('#job-attempts [data-field="attempts"]')).to_contain_text("completed: attempt 1 of")
    expect(page.locator("#job-retry")).to_be_hidden()
    expect(page.locator("#job-cancel")).to_be_hidden()
    watched.shoot("job-completed-desktop")


def test_dashboard__a_failed_jobs_page_shows_its_error_and_attempts_and_retries_it(
    watched: Watched, coordinator: Coordinator, repo_path: Path
) -> None:
    page = watched.page
    failed_id = enqueue_in_form(page, str(repo_path), commit_sha="0123456789" * 4)
    expect(page.locator(f'#recent-jobs tr[data-job-id="{failed_id}"]')).to_have_attribute(
        "data-status", "failed", timeout=60_000
    )
    open_job(page, failed_id)
    expect(page.locator("#job-status")).to_have_text("failed")
    expect(page.locator("#job-error")).to_contain_text("does not exist")
    expect(page.locator('#job-events li[data-event="failed"]')).to_contain_text("does not exist")
    expect(page.locator('#job-attempts [data-field="attempts"]')).to_contain_text("failed: attempt")
    expect(page.locator("#job-stats")).to_contain_text("none yet")
    watched.shoot("job-failed-desktop")

    page.click("#job-retry")
    expect(page.locator("#job-action-result")).to_contain_text("retried as")
    expect(page.locator('#job-events li[data-event="retried"]')).to_contain_text("new job")
    page.locator("#job-action-result a").click()
    expect(page.locator("#job-id")).not_to_have_text(failed_id)
    expect(page.locator("#job-status")).to_have_text("failed", timeout=60_000)  # the same missing commit
    expect(page.locator("#job-retry")).to_be_visible()

    # a link whose "job id" walks to another endpoint is no job page: nothing of it reaches a request path, and
    # the previous job's buttons are not left under it
    sent_before = len(watched.requests)
    page.evaluate(f"location.hash = '#/jobs/..%2F..%2Fadmin%2Fjobs%2F{failed_id}%2Fretry%3F'")
    expect(page.locator("#view-job")).to_be_hidden()
    page.wait_for_timeout(500)  # a poll or two, were the job page still shown
    assert not [url for url in watched.requests[sent_before:] if "/admin/jobs/" in url]


def test_dashboard__the_job_list_filters_pages_and_cancels_and_retries_the_selected_jobs(
    watched: Watched, server_url: str
) -> None:
    """No worker runs: every job stays pending until the page cancels it."""
    page = watched.page
    bulk = [enqueue_through_the_api(server_url, f"octo/bulk{number}") for number in range(28)]
    others = [enqueue_through_the_api(server_url, "octo/other"), enqueue_through_the_api(server_url, "octo/third")]
    page.click('nav a[data-nav="jobs"]')
    rows = page.locator("#jobs-table tbody tr[data-job-id]")
    expect(rows).to_have_count(25)
    expect(rows.first).to_have_attribute("data-job-id", others[-1])  # newest first
    page.click("#page-older")
    expect(rows).to_have_count(5)
    expect(rows.last).to_have_attribute("data-job-id", bulk[0])
    expect(page.locator("#page-older")).to_be_disabled()
    page.click("#page-newer")
    expect(rows).to_have_count(25)

    page.fill('#job-filters input[name="repository"]', "octo/other")
    page.click('#job-filters button[type="submit"]')
    expect(rows).to_have_count(1)
    assert "repository=octo%2Fother" in page.evaluate("location.hash")
    page.click("#filters-clear")
    expect(rows).to_have_count(25)

    # a bulk cancel of three jobs on this page, one of them already cancelled: that one is left out
    assert httpx.post(f"{server_url}/admin/jobs/{bulk[27]}/cancel").status_code == 202
    expect(page.locator(f'#jobs-table tr[data-job-id="{bulk[27]}"]')).to_have_attribute("data-status", "cancelled")
    expect(page.locator("#bulk-cancel")).to_be_disabled()
    for job_id in (bulk[27], bulk[26], bulk[25]):
        page.locator(f'#jobs-table tr[data-job-id="{job_id}"] input.select').check()
    expect(page.locator("#selected-count")).to_have_text("3 selected")
    page.click("#bulk-cancel")
    expect(page.locator("#bulk-result")).to_have_text("2 cancelled")
    for job_id in (bulk[27], bulk[26], bulk[25]):
        expect(page.locator(f'#jobs-table tr[data-job-id="{job_id}"]')).to_have_attribute("data-status", "cancelled")

    status = page.locator('#job-filters select[name="status"]')
    expect(status.locator('option[value="cancelled"]')).to_have_text("cancelled (3)")
    expect(status.locator('option[value="pending"]')).to_have_text("pending (27)")
    expect(status.locator('option[value=""]')).to_have_text("any (30)")
    page.select_option('#job-filters select[name="status"]', "cancelled")
    page.click('#job-filters button[type="submit"]')
    expect(rows).to_have_count(3)
    page.check("#select-page")
    expect(page.locator("#selected-count")).to_have_text("3 selected")
    page.click("#bulk-retry")
    expect(page.locator("#bulk-result")).to_have_text("3 retried")
    page.select_option('#job-filters select[name="status"]', "pending")
    page.click('#job-filters button[type="submit"]')
    expect(page.locator("#page-older")).to_be_enabled()  # 30 jobs, 3 of them cancelled, plus 3 retries: 30 pending
    watched.shoot("jobs-desktop")

    page.fill('#job-filters input[name="from"]', "2099-01-01T00:00")
    page.click('#job-filters button[type="submit"]')
    expect(page.locator("#jobs-table tbody")).to_contain_text("no jobs match")
    expect(page.locator("#error")).to_be_hidden()


def test_dashboard__the_index_browser_goes_from_a_symbol_search_to_its_outline_definition_and_references(
    watched: Watched, server_url: str, coordinator: Coordinator, repo_path: Path
) -> None:
    page = watched.page
    indexed(server_url, repo_path)
    page.click('nav a[data-nav="repositories"]')
    repository = page.locator("#repositories-table tbody tr[data-repository-id]")
    expect(repository).to_have_count(1)
    assert int(repository.locator('[data-field="symbols"]').inner_text()) > 0
    repository.locator("a").first.click()
    expect(page.locator("#repository-summary")).to_contain_text("files")

    page.fill("#symbol-query", "helper")
    page.click('#symbol-search button[type="submit"]')
    found = page.locator("#symbol-results li[data-symbol-id]").first
    expect(found).to_contain_text("helper")
    expect(found).to_contain_text("src/util.ts:1:")
    found.locator("a").click()

    expect(page.locator("#outline-path")).to_have_text("src/util.ts")
    greeter = page.locator("#outline > li", has_text="Greeter")
    expect(greeter.locator("li", has_text="greet")).to_be_visible()  # the method, under its class
    expect(page.locator("#outline li.selected")).to_contain_text("helper")
    expect(page.locator("#definition")).to_contain_text("src/util.ts:1:")
    references = page.locator("#references li")
    expect(references.filter(has_text="src/main.ts")).to_have_count(1)
    expect(references.filter(has_text="src/view.tsx")).to_have_count(1)
    expect(references.filter(has_text="src/main.ts")).to_contain_text("in main")
    watched.shoot("browser-desktop")

    references.filter(has_text="src/main.ts").locator("a.file-link").click()
    expect(page.locator("#outline-path")).to_have_text("src/main.ts")
    expect(page.locator("#outline")).to_contain_text("main")
    page.go_back()
    expect(page.locator("#outline-path")).to_have_text("src/util.ts")

    page.fill("#code-query", r"helper\(\d\)")
    page.check("#code-regex")
    page.click('#code-search button[type="submit"]')
    lines = page.locator("#code-results li.code-match")
    expect(lines).to_have_count(2)
    expect(lines.first).to_contain_text("src/main.ts:8:")
    expect(lines.first).to_contain_text("in main")
    expect(lines.last).to_contain_text("src/view.tsx:3:")
    lines.first.locator("a.file-link").click()
    expect(page.locator("#outline-path")).to_have_text("src/main.ts")
    expect(page.locator("#outline li.selected")).to_contain_text("main")
    watched.shoot("browser-code-desktop")
    expect(page.locator("#error")).to_be_hidden()


def test_dashboard__on_a_390_px_phone_no_page_scrolls_sideways(
    browser: Browser, server_url: str, coordinator: Coordinator, repo_path: Path
) -> None:
    job_id = indexed(server_url, repo_path)
    repository_id = httpx.get(f"{server_url}/jobs/{job_id}").json()["repository_id"]
    pages = {
        "overview": ("#/", "#recent-jobs tbody tr[data-job-id]"),
        "jobs": ("#/jobs", "#jobs-table tbody tr[data-job-id]"),
        "job": (f"#/jobs/{job_id}", "#job-events li"),
        "repositories": ("#/repositories", "#repositories-table tbody tr[data-repository-id]"),
        "browser": (f"#/repositories/{repository_id}?q=helper&path=src%2Futil.ts&symbol=", "#outline li"),
        "schema": ("schema", ".operation"),
    }
    with watched_page(browser, server_url, width=390, height=844) as phone:
        for name, (path, content) in pages.items():
            phone.page.goto(f"{server_url}/{path}")
            expect(phone.page.locator(content).first).to_be_visible()
            width = phone.page.evaluate("document.scrollingElement.scrollWidth")
            phone.shoot(f"{name}-phone")
            assert width <= 390, f"{name}: the page is {width} px wide"


def test_schema_page__lists_every_operation_with_nothing_loaded_from_another_host(
    browser: Browser, server_url: str
) -> None:
    with watched_page(browser, f"{server_url}/schema/swagger") as schema:
        operations = schema.page.locator(".operation")
        expect(operations.first).to_be_visible()
        assert operations.count() >= 12
        series = schema.page.locator('.operation[data-operation="GET /jobs/series"]')
        series.locator("summary").click()
        expect(series).to_contain_text("minutes")
        expect(schema.page.locator("#schema-JobTimeline")).to_contain_text("queue_job")
        schema.shoot("schema-desktop")
    assert schema.requests, "the page made no request at all"
    assert [url for url in schema.requests if not url.startswith(f"{server_url}/")] == []
    assert schema.problems == []


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
