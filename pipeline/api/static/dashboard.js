// The dashboard: polls the JSON API and redraws each section; builds DOM nodes (never HTML strings) so text from
// the API is shown as text.
"use strict";

const POLL_MS = 1500;
const STAGES = ["fetch", "parse", "write"];
const tokenInput = document.getElementById("token");
tokenInput.value = localStorage.getItem("pipeline-api-token") || "";
tokenInput.addEventListener("change", () => localStorage.setItem("pipeline-api-token", tokenInput.value.trim()));

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const token = tokenInput.value.trim();
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => null);
  if (!response.ok && !(path === "/health" && response.status === 503)) {
    throw new Error(`${options.method || "GET"} ${path}: ${response.status} ${(body && body.detail) || ""}`);
  }
  return body;
}

function seconds(value) {
  if (value === null || value === undefined) return "–";
  return value < 90 ? `${value.toFixed(1)} s` : `${(value / 60).toFixed(1)} min`;
}

function shortId(id) { return id.slice(0, 8); }

function revision(job) { return (job.commit_sha || job.ref || "HEAD").slice(0, 12); }

function when(text) { return text ? new Date(text).toLocaleTimeString() : "–"; }

function drawHealth(health) {
  const badge = document.getElementById("health-badge");
  badge.textContent = health.healthy ? "healthy" : `unhealthy: ${health.error || ""}`;
  badge.className = `badge ${health.healthy ? "healthy" : "unhealthy"}`;
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

function drawActive(jobs) {
  const container = document.getElementById("active-jobs");
  if (!jobs.length) { container.replaceChildren(el("p", { class: "muted" }, "none")); return; }
  container.replaceChildren(...jobs.map((job) => el("div", { class: "job", "data-job-id": job.id, "data-status": job.status },
    el("div", {},
      el("strong", {}, job.repository), " ", el("code", {}, revision(job)), " · ", job.status,
      " · ", el("code", {}, shortId(job.id)), " ",
      el("button", { type: "button", class: "cancel", onclick: () => act(`/admin/jobs/${job.id}/cancel`) }, "cancel")),
    ...STAGES.filter((name) => job.progress[name]).map((name) => stageRow(name, job.progress[name])))));
}

function drawRecent(jobs) {
  const rows = jobs.map((job) => el("tr", { "data-job-id": job.id, "data-status": job.status },
    el("td", {}, el("code", { title: job.id }, shortId(job.id))),
    el("td", {}, job.repository), el("td", {}, el("code", {}, revision(job))),
    el("td", { class: `status-${job.status}`, "data-field": "status" }, job.status),
    el("td", { "data-field": "files" }, job.stats.files_parsed ?? "–"),
    el("td", { "data-field": "symbols" }, job.stats.symbols ?? "–"),
    el("td", {}, when(job.completed_at)),
    el("td", { class: "error" }, job.error_message ? `${job.last_stage || "-"}: ${job.error_message}` : "")));
  document.querySelector("#recent-jobs tbody").replaceChildren(...rows);
}

function drawDeadLetters(letters) {
  const rows = letters.map((letter) => el("tr", { "data-dead-letter-id": letter.id },
    el("td", {}, when(letter.failed_at)),
    el("td", {}, letter.index_job_id ? el("code", { title: letter.index_job_id }, shortId(letter.index_job_id)) : "–"),
    el("td", {}, letter.attempts), el("td", { class: "error" }, letter.last_error || ""),
    el("td", {}, letter.index_job_id
      ? el("button", { type: "button", class: "retry", onclick: () => act(`/admin/jobs/${letter.index_job_id}/retry`) }, "retry")
      : "")));
  document.querySelector("#dead-letters tbody").replaceChildren(...rows);
}

function showError(error) {
  const box = document.getElementById("error");
  box.hidden = !error;
  box.textContent = error ? error.message : "";
}

async function act(path) {
  try { await api(path, { method: "POST" }); showError(null); } catch (error) { showError(error); }
  refresh();
}

async function refresh() {
  try {
    const [health, processing, pending, recent, letters] = await Promise.all([
      api("/health"), api("/jobs?status=processing&limit=50"), api("/jobs?status=pending&limit=50"),
      api("/jobs?limit=25"), api("/admin/dead-letters?limit=50"),
    ]);
    drawHealth(health);
    drawActive([...processing.jobs, ...pending.jobs]);
    drawRecent(recent.jobs.filter((job) => job.status !== "pending" && job.status !== "processing"));
    drawDeadLetters(letters);
    document.getElementById("refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
    showError(null);
  } catch (error) {
    showError(error);
  }
}

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
  refresh();
});

refresh();
setInterval(refresh, POLL_MS);
