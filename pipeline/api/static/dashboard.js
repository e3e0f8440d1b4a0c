// The dashboard: a few views over the JSON API, picked by the URL's hash (#/, #/jobs, #/jobs/<id>,
// #/repositories, #/repositories/<id>). It builds DOM nodes (never HTML strings) so text from the API is shown as
// text, and draws its charts as SVG itself: no library, no build step, nothing loaded from another origin.
"use strict";

const POLL_MS = 1500;
const JOBS_PAGE_SIZE = 25;
const COUNTS_MS = 10000; // the job list's status counts read the whole table: polled less often than the list
const STAGES = ["fetch", "parse", "write"];
const UNFINISHED = ["pending", "processing"];
const RETRYABLE = ["failed", "cancelled"];
const SVG = "http://www.w3.org/2000/svg";
const tokenInput = document.getElementById("token");
tokenInput.value = localStorage.getItem("pipeline-api-token") || "";
tokenInput.addEventListener("change", () => localStorage.setItem("pipeline-api-token", tokenInput.value.trim()));

// ----- helpers -----

function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const token = tokenInput.value.trim();
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => null);
  if (!response.ok && !(path === "/health" && response.status === 503)) {
    const error = new Error(`${options.method || "GET"} ${path}: ${response.status} ${(body && body.detail) || ""}`);
    error.status = response.status;
    error.detail = (body && body.detail) || "";
    throw error;
  }
  return body;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

function seconds(value) {
  if (value === null || value === undefined) return "–";
  return value < 90 ? `${value.toFixed(1)} s` : `${(value / 60).toFixed(1)} min`;
}

function shortId(id) { return id.slice(0, 8); }

function revision(job) { return (job.commit_sha || job.ref || "HEAD").slice(0, 12); }

function when(text) { return text ? new Date(text).toLocaleTimeString() : "–"; }

function whenFull(text) { return text ? new Date(text).toLocaleString() : "–"; }

function took(job) {
  if (!job.started_at) return "–";
  const end = job.completed_at ? new Date(job.completed_at) : new Date();
  return seconds((end - new Date(job.started_at)) / 1000);
}

function jobLink(id) { return el("a", { href: `#/jobs/${id}`, title: id }, el("code", {}, shortId(id))); }

function statusCell(status) { return el("td", { class: `status-${status}`, "data-field": "status" }, status); }

// A table's rows, or one row saying there are none.
function orNone(rows, columns, text = "none") {
  return rows.length ? rows : [el("tr", { class: "empty" }, el("td", { colspan: columns, class: "muted" }, text))];
}

// The error box: an operator's failed action stays until the next action or view; a failed poll stays until a
// poll succeeds.
function showError(error, fromPoll = false) {
  const box = document.getElementById("error");
  box.hidden = !error;
  box.textContent = error ? error.message : "";
  box.dataset.fromPoll = error && fromPoll ? "yes" : "";
}

function encodePath(path) { return path.split("/").map(encodeURIComponent).join("/"); }

// ----- routing -----

function currentRoute() {
  const [path, search] = (location.hash.slice(1) || "/").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(search || "") };
}

// A job's page takes a job id and nothing else: the hash is anyone's link, and the id goes into request paths.
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function go(path, params = {}) { location.hash = `#${path}${query(params)}`; }

// Each view: which hash paths it answers, its entry in the navigation, what to do when shown, what to redraw on
// every poll.
const views = {
  overview: { match: (parts) => parts.length === 0, nav: "overview", show: showOverview, poll: refreshOverview },
  jobs: { match: (parts) => parts.length === 1 && parts[0] === "jobs", nav: "jobs", show: showJobs, poll: refreshJobs },
  job: { match: (parts) => parts.length === 2 && parts[0] === "jobs" && JOB_ID.test(parts[1]), nav: "jobs", show: showJob, poll: refreshJob },
  repositories: {
    match: (parts) => parts.length === 1 && parts[0] === "repositories", nav: "repositories", show: showRepositories, poll: null,
  },
  repository: {
    match: (parts) => parts.length === 2 && parts[0] === "repositories", nav: "repositories", show: showRepository, poll: null,
  },
};
let activeView = null;

function route() {
  const { parts, params } = currentRoute();
  const name = Object.keys(views).find((key) => views[key].match(parts)) || "overview";
  for (const key of Object.keys(views)) document.getElementById(`view-${key}`).hidden = key !== name;
  for (const link of document.querySelectorAll("nav a[data-nav]")) {
    link.classList.toggle("current", link.dataset.nav === views[name].nav);
  }
  activeView = name;
  showError(null);
  views[name].show(parts, params);
}

async function poll() {
  const view = views[activeView];
  try {
    const health = await api("/health");
    drawHealth(health);
    if (view && view.poll) await view.poll(health);
    document.getElementById("refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
    if (document.getElementById("error").dataset.fromPoll) showError(null);
  } catch (error) {
    showError(error, true);
  }
}

// ----- overview -----

function drawHealth(health) {
  const badge = document.getElementById("health-badge");
  badge.textContent = health.healthy ? "healthy" : `unhealthy: ${health.error || ""}`;
  badge.className = `badge ${health.healthy ? "healthy" : "unhealthy"}`;
}

function drawQueues(health) {
  const rows = health.queues.map((queue) => el("tr", { "data-queue": queue.queue },
    el("td", {}, queue.queue), el("td", {}, queue.depth), el("td", {}, queue.counts.active || 0),
    el("td", {}, seconds(queue.oldest_waiting_seconds)), el("td", {}, queue.active_workers),
    el("td", {}, queue.failed_last_24h), el("td", {}, queue.dead_letters)));
  document.querySelector("#queues tbody").replaceChildren(...rows);
}

function stageRow(name, stage) {
  const total = Math.max(stage.items_in, 1);
  const percent = Math.min(100, (100 * (stage.items_out + stage.failed)) / total);
  const eta = stage.eta_seconds === null ? "" : `, ETA ${seconds(stage.eta_seconds)}`;
  // set through the CSSOM: a style="" attribute is inline style, which the Content-Security-Policy refuses
  const fill = el("div");
  fill.style.width = `${percent.toFixed(1)}%`;
  return el("div", { class: `stage${stage.finished ? " finished" : ""}`, "data-stage": name },
    el("span", {}, name),
    el("div", { class: "bar", role: "progressbar", "aria-valuenow": percent.toFixed(0) }, fill),
    el("span", { class: "muted" },
      `${stage.items_out}/${stage.items_in}${stage.failed ? ` (${stage.failed} failed)` : ""}${eta}`));
}

function stageRows(job) {
  return STAGES.filter((name) => job.progress[name]).map((name) => stageRow(name, job.progress[name]));
}

function drawActive(jobs) {
  const container = document.getElementById("active-jobs");
  if (!jobs.length) { container.replaceChildren(el("p", { class: "muted" }, "none")); return; }
  container.replaceChildren(...jobs.map((job) => el("div", { class: "job", "data-job-id": job.id, "data-status": job.status },
    el("div", {},
      el("strong", {}, job.repository), " ", el("code", {}, revision(job)), " · ", job.status,
      " · ", jobLink(job.id), " ",
      el("button", { type: "button", class: "cancel", onclick: () => act(`/admin/jobs/${job.id}/cancel`) }, "cancel")),
    ...stageRows(job))));
}

function drawRecent(jobs) {
  const rows = jobs.map((job) => el("tr", { "data-job-id": job.id, "data-status": job.status },
    el("td", {}, jobLink(job.id)),
    el("td", {}, job.repository), el("td", {}, el("code", {}, revision(job))),
    statusCell(job.status),
    el("td", { "data-field": "files" }, job.stats.files_parsed ?? "–"),
    el("td", { "data-field": "symbols" }, job.stats.symbols ?? "–"),
    el("td", {}, when(job.completed_at)),
    el("td", { class: "error" }, job.error_message ? `${job.last_stage || "-"}: ${job.error_message}` : "")));
  document.querySelector("#recent-jobs tbody").replaceChildren(...orNone(rows, 8));
}

function drawDeadLetters(letters) {
  const rows = letters.map((letter) => el("tr", { "data-dead-letter-id": letter.id },
    el("td", {}, when(letter.failed_at)),
    el("td", {}, letter.index_job_id ? jobLink(letter.index_job_id) : "–"),
    el("td", {}, letter.attempts), el("td", { class: "error" }, letter.last_error || ""),
    el("td", {}, letter.index_job_id
      ? el("button", { type: "button", class: "retry", onclick: () => act(`/admin/jobs/${letter.index_job_id}/retry`) }, "retry")
      : "")));
  document.querySelector("#dead-letters tbody").replaceChildren(...orNone(rows, 5));
}

async function act(path) {
  try { await api(path, { method: "POST", headers: { "Content-Type": "application/json" } }); showError(null); } catch (error) { showError(error); }
  poll();
}

// A chart: bars (stacked, one per minute) or a line, over the window; the y axis starts at 0 and is labelled with
// its maximum, the x axis with the window's first and last minute. Each point has a tooltip.
const CHART = { width: 320, height: 120, left: 30, bottom: 16, top: 6 };

function drawChart(figure, points, series, kind) {
  const plotWidth = CHART.width - CHART.left - 4;
  const plotHeight = CHART.height - CHART.bottom - CHART.top;
  const totals = points.map((point) => series.reduce((sum, item) => sum + point[item.key], 0));
  const top = Math.max(...totals, 0) || 1;
  const step = plotWidth / Math.max(points.length, 1);
  const y = (value) => CHART.top + plotHeight - (value / top) * plotHeight;
  const nodes = [
    svg("line", { class: "axis", x1: CHART.left, y1: y(0), x2: CHART.width - 4, y2: y(0) }),
    svg("line", { class: "grid", x1: CHART.left, y1: y(top), x2: CHART.width - 4, y2: y(top) }),
    svg("text", { class: "label", x: CHART.left - 3, y: y(top) + 3, "text-anchor": "end" }, niceNumber(top)),
    svg("text", { class: "label", x: CHART.left - 3, y: y(0), "text-anchor": "end" }, "0"),
  ];
  if (points.length) {
    const span = points.length >= 120 ? `${Math.round(points.length / 60)} h ago` : `${points.length} min ago`;
    nodes.push(svg("text", { class: "label", x: CHART.left, y: CHART.height - 3 }, span));
    nodes.push(svg("text", { class: "label", x: CHART.width - 4, y: CHART.height - 3, "text-anchor": "end" }, "now"));
  }
  if (kind === "bar") {
    points.forEach((point, index) => {
      let base = 0;
      for (const item of series) {
        const value = point[item.key];
        if (value > 0) {
          const bar = svg("rect", {
            class: `bar-${item.key}`, x: CHART.left + index * step, y: y(base + value),
            width: Math.max(step - 0.5, 1.5), height: y(base) - y(base + value),
          });
          bar.append(svg("title", {}, `${when(point.at)}: ${value} ${item.label}`));
          nodes.push(bar);
        }
        base += value;
      }
    });
  } else {
    for (const item of series) {
      const coordinates = points.map((point, index) => `${(CHART.left + (index + 0.5) * step).toFixed(1)},${y(point[item.key]).toFixed(1)}`);
      nodes.push(svg("polyline", { class: `line-${item.key}`, points: coordinates.join(" ") }));
      const last = points[points.length - 1];
      if (last) {
        const marker = svg("circle", { class: `line-${item.key}`, cx: CHART.left + (points.length - 0.5) * step, cy: y(last[item.key]), r: 2 });
        marker.append(svg("title", {}, `now: ${niceNumber(last[item.key])} ${item.label}`));
        nodes.push(marker);
      }
    }
  }
  const latest = points.length ? totals[totals.length - 1] : 0;
  figure.dataset.points = String(points.length);
  figure.dataset.total = String(totals.reduce((sum, value) => sum + value, 0));
  figure.dataset.latest = String(latest);
  figure.querySelector("svg").replaceChildren(...nodes);
}

function niceNumber(value) {
  if (value >= 100 || Number.isInteger(value)) return String(Math.round(value));
  return value.toFixed(value >= 10 ? 1 : 2);
}

function drawCharts(series) {
  const points = series.points;
  drawChart(document.getElementById("chart-finished"), points,
    [{ key: "completed", label: "completed" }, { key: "failed", label: "failed" }], "bar");
  drawChart(document.getElementById("chart-files"), points, [{ key: "files_per_second", label: "files/s" }], "line");
  drawChart(document.getElementById("chart-depth"), points, [{ key: "queue_depth", label: "waiting" }], "line");
}

function showOverview() { poll(); }

async function refreshOverview(health) {
  const minutes = document.getElementById("chart-window").value;
  const [processing, pending, recent, letters, series] = await Promise.all([
    api("/jobs?status=processing&limit=50"), api("/jobs?status=pending&limit=50"),
    api("/jobs?limit=25"), api("/admin/dead-letters?limit=50"), api(`/jobs/series?minutes=${minutes}`),
  ]);
  drawQueues(health);
  drawActive([...processing.jobs, ...pending.jobs]);
  drawRecent(recent.jobs.filter((job) => !UNFINISHED.includes(job.status)));
  drawDeadLetters(letters);
  drawCharts(series);
}

document.getElementById("chart-window").addEventListener("change", () => poll());

document.getElementById("enqueue-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { repository: form.get("repository").trim(), priority: Number(form.get("priority") || 0) };
  if (form.get("ref").trim()) body.ref = form.get("ref").trim();
  if (form.get("commit_sha").trim()) body.commit_sha = form.get("commit_sha").trim();
  const result = document.getElementById("enqueue-result");
  try {
    const enqueued = await api("/index", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    result.textContent = `${enqueued.created ? "enqueued" : "already queued"}: job ${enqueued.job_id}`;
    result.dataset.jobId = enqueued.job_id;
    showError(null);
  } catch (error) {
    result.textContent = "";
    showError(error);
  }
  poll();
});

// ----- jobs: filters, pages, bulk actions -----

// The page being shown: the cursors of the pages before it (to go back) and of the next one; the jobs selected
// for a bulk action, kept across redraws and pages.
const jobsState = { filters: {}, cursors: [null], page: 0, nextCursor: null, jobs: [], selected: new Map(), countsAt: 0 };

function filtersFromParams(params) {
  return {
    status: params.get("status") || "", repository: params.get("repository") || "",
    from: params.get("from") || "", until: params.get("until") || "",
  };
}

function showJobs(parts, params) {
  const filters = filtersFromParams(params);
  const form = document.getElementById("job-filters");
  for (const [key, value] of Object.entries(filters)) form.elements[key].value = value;
  if (JSON.stringify(filters) !== JSON.stringify(jobsState.filters)) {
    Object.assign(jobsState, { filters, cursors: [null], page: 0, nextCursor: null });
    jobsState.selected.clear();
  }
  document.getElementById("bulk-result").textContent = "";
  jobsState.countsAt = 0;
  fillRepositoryNames();
  refreshJobs().catch(showError);
}

function isoOrEmpty(local) { return local ? new Date(local).toISOString() : ""; }

async function refreshJobs() {
  const { filters } = jobsState;
  const countsDue = Date.now() - jobsState.countsAt >= COUNTS_MS;
  const [page, counts] = await Promise.all([api(`/jobs${query({
    status: filters.status, repository: filters.repository, created_from: isoOrEmpty(filters.from),
    created_until: isoOrEmpty(filters.until), limit: JOBS_PAGE_SIZE, cursor: jobsState.cursors[jobsState.page],
  })}`), countsDue ? api("/jobs/counts") : null]);
  if (counts) {
    jobsState.countsAt = Date.now();
    drawCounts(counts);
  }
  jobsState.jobs = page.jobs;
  jobsState.nextCursor = page.next_cursor;
  for (const job of page.jobs) if (jobsState.selected.has(job.id)) jobsState.selected.set(job.id, job);
  drawJobs();
}

// Every status's count in the status filter, as riverui and Oban Web show them on their state tabs.
function drawCounts(counts) {
  const total = Object.values(counts).reduce((sum, count) => sum + count, 0);
  for (const option of document.querySelectorAll('#job-filters select[name="status"] option')) {
    const count = option.value ? counts[option.value] ?? 0 : total;
    option.textContent = `${option.value || "any"} (${count})`;
  }
}

function drawJobs() {
  const { jobs, selected } = jobsState;
  const rows = jobs.map((job) => el("tr", { "data-job-id": job.id, "data-status": job.status, class: selected.has(job.id) ? "selected" : "" },
    el("td", {}, el("input", {
      type: "checkbox", class: "select", "aria-label": `select job ${shortId(job.id)}`, checked: selected.has(job.id),
      onchange: (event) => { toggleSelected(job, event.target.checked); },
    })),
    el("td", {}, jobLink(job.id)),
    el("td", {}, job.repository), el("td", {}, el("code", {}, revision(job))),
    statusCell(job.status), el("td", {}, job.retry_count + 1),
    el("td", { "data-field": "files" }, job.stats.files_parsed ?? "–"),
    el("td", {}, whenFull(job.created_at)), el("td", {}, took(job)),
    el("td", { class: "error" }, job.error_message || "")));
  const body = document.querySelector("#jobs-table tbody");
  body.replaceChildren(...orNone(rows, 10, "no jobs match"));
  document.getElementById("select-page").checked = jobs.length > 0 && jobs.every((job) => selected.has(job.id));
  document.getElementById("page-newer").disabled = jobsState.page === 0;
  document.getElementById("page-older").disabled = !jobsState.nextCursor;
  document.getElementById("page-number").textContent = `page ${jobsState.page + 1}`;
  drawSelection();
}

function toggleSelected(job, on) {
  if (on) jobsState.selected.set(job.id, job); else jobsState.selected.delete(job.id);
  drawJobs();
}

function drawSelection() {
  const chosen = [...jobsState.selected.values()];
  document.getElementById("selected-count").textContent = chosen.length ? `${chosen.length} selected` : "none selected";
  document.getElementById("bulk-retry").disabled = !chosen.some((job) => RETRYABLE.includes(job.status));
  document.getElementById("bulk-cancel").disabled = !chosen.some((job) => UNFINISHED.includes(job.status));
}

// One request per job through the single-job endpoints (same token and origin rules); jobs whose status does not
// allow the action are left out, and every refusal is reported.
async function bulk(action, eligible) {
  const chosen = [...jobsState.selected.values()].filter((job) => eligible.includes(job.status));
  const outcomes = await Promise.all(chosen.map((job) =>
    api(`/admin/jobs/${job.id}/${action}`, { method: "POST", headers: { "Content-Type": "application/json" } })
      .then(() => null, (error) => `${shortId(job.id)}: ${error.detail || error.message}`)));
  const refused = outcomes.filter(Boolean);
  const verb = action === "retry" ? "retried" : "cancelled";
  document.getElementById("bulk-result").textContent =
    `${chosen.length - refused.length} ${verb}${refused.length ? `; refused: ${refused.join("; ")}` : ""}`;
  jobsState.selected.clear();
  jobsState.countsAt = 0;
  await refreshJobs().catch(showError);
}

document.getElementById("bulk-retry").addEventListener("click", () => bulk("retry", RETRYABLE));
document.getElementById("bulk-cancel").addEventListener("click", () => bulk("cancel", UNFINISHED));
document.getElementById("select-page").addEventListener("change", (event) => {
  for (const job of jobsState.jobs) {
    if (event.target.checked) jobsState.selected.set(job.id, job); else jobsState.selected.delete(job.id);
  }
  drawJobs();
});
document.getElementById("page-older").addEventListener("click", () => {
  jobsState.cursors[jobsState.page + 1] = jobsState.nextCursor;
  jobsState.page += 1;
  refreshJobs().catch(showError);
});
document.getElementById("page-newer").addEventListener("click", () => {
  jobsState.page = Math.max(0, jobsState.page - 1);
  refreshJobs().catch(showError);
});
document.getElementById("job-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  go("/jobs", Object.fromEntries(new FormData(event.target)));
});
document.getElementById("filters-clear").addEventListener("click", () => go("/jobs"));

let repositoryNamesFilled = false;

async function fillRepositoryNames() {
  if (repositoryNamesFilled) return;
  try {
    const page = await api("/repositories?limit=200");
    document.getElementById("repository-names").replaceChildren(
      ...page.items.map((repository) => el("option", { value: repository.full_name })));
    repositoryNamesFilled = true;
  } catch (error) {
    // the names only help typing; the filter works without them
  }
}

// ----- one job -----

let shownJobId = null;

function showJob(parts) {
  shownJobId = parts[1];
  document.getElementById("job-id").textContent = shownJobId;
  document.getElementById("job-action-result").textContent = "";
  document.getElementById("job-retry").hidden = true;  // until this job's status is known
  document.getElementById("job-cancel").hidden = true;
  refreshJob().catch(showError);
}

async function refreshJob() {
  const id = shownJobId;
  const [job, timeline] = await Promise.all([api(`/jobs/${encodeURIComponent(id)}`), api(`/jobs/${encodeURIComponent(id)}/timeline`)]);
  if (id !== shownJobId) return;
  drawJob(job);
  drawTimeline(timeline);
}

function drawJob(job) {
  const status = document.getElementById("job-status");
  status.textContent = job.status;
  status.className = `status status-${job.status}`;
  document.getElementById("view-job").dataset.status = job.status;
  document.getElementById("job-retry").hidden = !RETRYABLE.includes(job.status);
  document.getElementById("job-cancel").hidden = !UNFINISHED.includes(job.status);
  const error = document.getElementById("job-error");
  error.hidden = !job.error_message;
  error.textContent = job.error_message ? `${job.last_stage || "–"}: ${job.error_message}` : "";
  const record = [
    ["repository", el("a", { href: `#/repositories/${job.repository_id}` }, job.repository)],
    ["git URL", job.git_url], ["ref", job.ref || "default branch"], ["commit", el("code", {}, job.commit_sha || "–")],
    ["attempt", job.retry_count + 1], ["created", whenFull(job.created_at)], ["started", whenFull(job.started_at)],
    ["finished", whenFull(job.completed_at)], ["took", took(job)], ["last stage", job.last_stage || "–"],
  ];
  document.getElementById("job-record").replaceChildren(
    ...record.flatMap(([name, value]) => [el("dt", {}, name), el("dd", { "data-field": name }, value)]));
  const stages = stageRows(job);
  document.getElementById("job-progress").replaceChildren(...(stages.length ? stages : [el("p", { class: "muted" }, "not started")]));
  const stats = flatten(job.stats).map(([key, value]) => el("div", { "data-stat": key }, el("dt", {}, key), el("dd", {}, value)));
  document.getElementById("job-stats").replaceChildren(...(stats.length ? stats : [el("p", { class: "muted" }, "none yet")]));
}

function flatten(value, prefix = "") {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return [[prefix, Array.isArray(value) ? value.join("; ") || "–" : String(value)]];
  }
  return Object.entries(value).flatMap(([key, inner]) => flatten(inner, prefix ? `${prefix}.${key}` : key));
}

function drawTimeline(timeline) {
  const events = timeline.events.map((event) => el("li", { "data-event": event.event },
    el("time", {}, whenFull(event.at)), " ", el("strong", {}, event.event),
    event.stage ? el("span", { class: "muted" }, ` (${event.stage})`) : "",
    event.message ? el("span", { class: event.event === "failed" || event.event === "retrying" ? "error" : "" }, ` ${event.message}`) : "",
    eventData(event)));
  document.getElementById("job-events").replaceChildren(...events);
  const carrier = timeline.queue_job;
  const container = document.getElementById("job-attempts");
  if (!carrier) { container.replaceChildren(el("p", { class: "muted" }, "the queue job is gone (retention)")); return; }
  container.replaceChildren(
    el("p", { "data-field": "attempts" }, `queue job ${carrier.state}: attempt ${carrier.attempts} of ${carrier.max_attempts}`,
      carrier.worker_id ? el("span", { class: "muted" }, ` · worker ${carrier.worker_id}`) : ""),
    ...(carrier.unfinished.length ? [el("ul", { class: "list" }, ...carrier.unfinished.map((attempt) => el("li", {},
      `attempt ${attempt.attempt}: ${attempt.kind} → ${attempt.next_state} at ${when(attempt.at)}`,
      attempt.error ? el("span", { class: "error" }, ` ${attempt.error}`) : "")))] : []));
}

function eventData(event) {
  const newJob = event.data && event.data.new_job_id;
  if (newJob) return el("span", {}, " → new job ", jobLink(newJob));
  const shown = Object.entries(event.data || {}).filter(([, value]) => value !== null && value !== false);
  return shown.length ? el("span", { class: "muted" }, ` ${shown.map(([key, value]) => `${key}=${value}`).join(" ")}`) : "";
}

async function jobAction(action) {
  const result = document.getElementById("job-action-result");
  try {
    const outcome = await api(`/admin/jobs/${encodeURIComponent(shownJobId)}/${action}`, { method: "POST", headers: { "Content-Type": "application/json" } });
    result.replaceChildren(action === "retry" ? el("span", {}, "retried as ", jobLink(outcome.job_id)) : "cancel requested");
    showError(null);
  } catch (error) {
    showError(error);
  }
  refreshJob().catch(showError);
}

document.getElementById("job-retry").addEventListener("click", () => jobAction("retry"));
document.getElementById("job-cancel").addEventListener("click", () => jobAction("cancel"));

// ----- repositories and the index browser -----

let repositoriesCursor = null;

function showRepositories() {
  repositoriesCursor = null;
  document.querySelector("#repositories-table tbody").replaceChildren();
  loadRepositories().catch(showError);
}

async function loadRepositories() {
  const page = await api(`/repositories${query({ limit: 50, cursor: repositoriesCursor })}`);
  const rows = page.items.map((repository) => el("tr", { "data-repository-id": repository.id },
    el("td", {}, el("a", { href: `#/repositories/${repository.id}` }, repository.full_name),
      el("div", { class: "muted small" }, repository.url)),
    el("td", {}, repository.default_branch || "–"),
    el("td", {}, el("code", {}, (repository.commit_sha || "–").slice(0, 12))),
    el("td", {}, whenFull(repository.last_indexed_at)),
    el("td", { "data-field": "files" }, repository.counts ? repository.counts.files : "–"),
    el("td", { "data-field": "symbols" }, repository.counts ? repository.counts.symbols : "–"),
    el("td", {}, repository.counts ? repository.counts.references : "–"),
    el("td", {}, el("a", { href: `#/jobs${query({ repository: repository.id })}` }, "jobs"))));
  document.querySelector("#repositories-table tbody").append(...rows);
  repositoriesCursor = page.next_cursor;
  document.getElementById("repositories-more").hidden = !repositoriesCursor;
}

document.getElementById("repositories-more").addEventListener("click", () => loadRepositories().catch(showError));

// The browser's state lives in the hash (#/repositories/<id>?q=&match=&code=&in=&regex=&case=&path=&symbol=), so
// every step is a link that back and forward replay: a search lists symbols (q) or matching lines of code (code), a
// symbol opens its file's outline, its definition and its references, and a reference or a line opens its file.
const CODE_KEYS = ["code", "in", "regex", "case"];
let browsed = { repository: null, q: null, match: null, code: null, in: null, regex: null, case: null, path: null, symbol: null };

function showRepository(parts, params) {
  const next = {
    repository: parts[1], q: params.get("q"), match: params.get("match") || "auto",
    code: params.get("code"), in: params.get("in"), regex: params.get("regex"), case: params.get("case"),
    path: params.get("path"), symbol: params.get("symbol"),
  };
  const previous = browsed;
  browsed = next;
  const base = `/repositories/${encodeURIComponent(next.repository)}`;
  if (previous.repository !== next.repository) {
    document.getElementById("symbol-results").replaceChildren(el("li", { class: "muted" }, "search for a name"));
    document.getElementById("code-results").replaceChildren(el("li", { class: "muted" }, "search for text"));
    document.getElementById("code-count").textContent = "";
    loadRepositoryHeader(base).catch(showError);
  }
  document.getElementById("symbol-query").value = next.q || "";
  document.getElementById("symbol-match").value = next.match;
  const changed = (key) => previous.repository !== next.repository || previous[key] !== next[key];
  document.getElementById("code-query").value = next.code || "";
  document.getElementById("code-path").value = next.in || "";
  document.getElementById("code-regex").checked = Boolean(next.regex);
  document.getElementById("code-case").checked = Boolean(next.case);
  if (next.q && (changed("q") || changed("match"))) searchSymbols(base, next).catch(showError);
  if (next.code && CODE_KEYS.some(changed)) searchCode(base, next).catch(showError);
  if (changed("path")) {
    if (next.path) loadOutline(base, next.path).catch(showError);
    else document.getElementById("outline").replaceChildren(el("li", { class: "muted" }, "pick a symbol or a file"));
  }
  if (changed("symbol")) {
    if (next.symbol) loadSymbol(base, next.symbol).catch(showError);
    else {
      document.getElementById("symbol-detail").replaceChildren(el("p", { class: "muted" }, "pick a symbol"));
      document.getElementById("references").replaceChildren();
    }
  }
  markSelected();
}

function browse(changes) {
  const state = { ...browsed, ...changes };
  go(`/repositories/${state.repository}`, {
    q: state.q, match: state.match === "auto" ? "" : state.match, code: state.code, in: state.in, regex: state.regex,
    case: state.case, path: state.path, symbol: state.symbol,
  });
}

async function loadRepositoryHeader(base) {
  const repository = await api(base);
  document.getElementById("repository-name").textContent = repository.full_name;
  const current = repository.current;
  document.getElementById("repository-summary").textContent = current
    ? `${repository.git_url} · commit ${current.commit_sha.slice(0, 12)} indexed ${whenFull(current.indexed_at)} · ${current.files} files`
    : `${repository.git_url} · not indexed yet`;
}

function position(range) { return `${range.start.line}:${range.start.column}`; }

// A symbol's kind, name and whether it is exported; the name is a link to it when the symbol can be picked there.
function symbolLabel(symbol, pick = null) {
  const name = pick
    ? el("a", { href: "#", onclick: (event) => { event.preventDefault(); pick(); } }, el("strong", {}, symbol.name))
    : el("strong", {}, symbol.name);
  return [el("span", { class: `kind kind-${symbol.kind}` }, symbol.kind), " ", name,
    symbol.exported ? el("span", { class: "tag" }, "exported") : ""];
}

async function searchSymbols(base, state) {
  const list = document.getElementById("symbol-results");
  list.replaceChildren(el("li", { class: "muted" }, "searching…"));
  const page = await api(`${base}/symbols${query({ q: state.q, match: state.match, limit: 50 })}`);
  list.replaceChildren(...(page.items.length ? page.items.map((symbol) => el("li", { "data-symbol-id": symbol.id },
    ...symbolLabel(symbol, () => browse({ path: symbol.path, symbol: symbol.id })),
    el("div", { class: "muted small" }, `${symbol.path}:${position(symbol.name_range)}`,
      symbol.parent ? ` in ${symbol.parent.name}` : ""))) : [el("li", { class: "muted" }, "no symbol matches")]));
  markSelected();
}

async function searchCode(base, state) {
  const list = document.getElementById("code-results");
  list.replaceChildren(el("li", { class: "muted" }, "searching…"));
  const found = await api(`${base}/search${query({
    q: state.code, path: state.in, regex: state.regex ? "true" : "", case: state.case ? "true" : "", limit: 100,
  })}`);
  document.getElementById("code-count").textContent = `(${found.items.length}${found.truncated ? "+" : ""})`;
  list.replaceChildren(...(found.items.length ? found.items.map((match) => el("li", { class: "code-match" },
    fileLink(match.path, { start: { line: match.line, column: match.column } }, match.symbol ? match.symbol.id : null),
    match.symbol ? el("span", { class: "muted small" }, ` in ${match.symbol.name}`) : "",
    el("pre", { class: "line" }, match.text))) : [el("li", { class: "muted" }, "no line matches")]));
}

async function loadOutline(base, path) {
  document.getElementById("outline-path").textContent = path;
  const tree = document.getElementById("outline");
  const outline = await api(`${base}/files/${encodePath(path)}/outline`);
  const item = (node) => el("li", { "data-symbol-id": node.symbol.id },
    ...symbolLabel(node.symbol, () => browse({ path, symbol: node.symbol.id })),
    el("span", { class: "muted small" }, ` ${node.symbol.range.start.line}–${node.symbol.range.end.line}`),
    node.children.length ? el("ul", {}, ...node.children.map(item)) : "");
  const empty = outline.error ? `no symbols: ${outline.error}` : "no symbols";
  tree.replaceChildren(...(outline.symbols.length ? outline.symbols.map(item) : [el("li", { class: "muted" }, empty)]));
  markSelected();
}

async function loadSymbol(base, symbolId) {
  const detail = document.getElementById("symbol-detail");
  const list = document.getElementById("references");
  const references = await api(`${base}/references${query({ symbol: symbolId, limit: 200 })}`);
  const symbol = references.symbol;
  const start = symbol.name_range.start;
  const definition = await api(`${base}/definition${query({ path: symbol.path, line: start.line, column: start.column })}`);
  const target = definition.definition;
  detail.replaceChildren(
    el("p", {}, ...symbolLabel(symbol), symbol.parent ? el("span", { class: "muted" }, ` in ${symbol.parent.name}`) : ""),
    symbol.signature ? el("pre", { class: "signature" }, symbol.signature) : "",
    symbol.doc ? el("p", { class: "doc" }, symbol.doc) : "",
    el("p", { id: "definition" }, "defined at ", target
      ? fileLink(target.path, target.name_range, target.id)
      : el("span", { class: "muted" }, definition.reason || "unknown")));
  const shown = references.items.length < references.total ? `${references.items.length} of ${references.total}` : references.total;
  document.getElementById("reference-count").textContent = `(${shown})`;
  list.replaceChildren(...(references.items.length ? references.items.map((reference) => el("li", {},
    fileLink(reference.path, reference.range, null),
    el("span", { class: "muted small" }, ` ${reference.kind}`),
    reference.enclosing ? el("span", { class: "small" }, " in ", el("a", {
      href: "#", onclick: (event) => { event.preventDefault(); browse({ path: reference.path, symbol: reference.enclosing.id }); },
    }, reference.enclosing.name)) : "")) : [el("li", { class: "muted" }, "no references")]));
}

function fileLink(path, range, symbolId) {
  return el("a", {
    href: "#", class: "file-link", onclick: (event) => { event.preventDefault(); browse({ path, symbol: symbolId ?? browsed.symbol }); },
  }, el("code", {}, `${path}:${position(range)}`));
}

function markSelected() {
  for (const node of document.querySelectorAll("#view-repository [data-symbol-id]")) {
    node.classList.toggle("selected", node.dataset.symbolId === browsed.symbol);
  }
}

document.getElementById("code-search").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  browse({ code: form.get("code"), in: form.get("in").trim(), regex: form.get("regex"), case: form.get("case") });
});

document.getElementById("symbol-search").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  browse({ q: form.get("q").trim(), match: form.get("match") });
});

// ----- start -----

window.addEventListener("hashchange", route);
route();
setInterval(poll, POLL_MS);
