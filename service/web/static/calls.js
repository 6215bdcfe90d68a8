// Flagged calls: the filter lives in the URL (shareable, back button works); pages use the API's tokens.
"use strict";

const form = document.getElementById("filters");
const PAGE_SIZE = 25;
let tokens = [""]; // page tokens of the pages visited, for Previous

function filterParams() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v) params.set(k, v);
  for (const k of ["from", "to"]) if (params.get(k)) params.set(k, cg.localDayStart(params.get(k)));
  return params;
}

function loadFormFromUrl() {
  const url = new URLSearchParams(location.search);
  if (![...url.keys()].length) return;
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === "checkbox") el.checked = url.get(el.name) === "true";
    else if (url.has(el.name)) el.value = url.get(el.name);
    else if (el.tagName === "SELECT" && el.name !== "min_level") el.selectedIndex = 0;  // its default, e.g. newest first
    else el.value = "";
  }
}

async function load() {
  const params = filterParams();
  const shown = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v) shown.set(k, v);
  if (!shown.has("min_level")) shown.set("min_level", "");
  history.replaceState(null, "", `/calls?${shown}`);
  document.getElementById("csv").href = `/api/analysis.csv?${params}`;
  if (tokens.length === 1) loadResponse(new URLSearchParams(params));
  params.set("page_size", PAGE_SIZE);
  params.set("page_token", tokens.at(-1));
  const body = document.querySelector("#list tbody");
  try {
    const page = await cg.json(`/api/calls?${params}`);
    body.innerHTML = page.calls.length ? page.calls.map(row).join("") : `<tr><td colspan="15" class="empty">No calls match this filter.</td></tr>`;
    document.getElementById("next").disabled = !page.next_page_token;
    document.getElementById("next").dataset.token = page.next_page_token;
    document.getElementById("prev").disabled = tokens.length < 2;
    document.getElementById("page-info").textContent = `page ${tokens.length}`;
  } catch (e) {
    body.innerHTML = `<tr><td colspan="15" class="empty">${cg.esc(e.message)}</td></tr>`;
  }
}

function row(c) {
  const meta = c.metadata || {};
  const peak = c.peak_anger || 0;
  return `<tr data-call="${cg.esc(c.call_id)}"><td>${cg.when(c.started_at)}</td>` +
    `<td><a href="/calls/${encodeURIComponent(c.call_id)}">${cg.esc(c.call_id)}</a></td>` +
    `<td class="num">${cg.clock(c.duration_s)}</td><td>${cg.esc(meta.agent || meta.agent_id || "")}</td><td>${cg.esc(meta.queue || "")}</td>` +
    `<td>${cg.esc(cg.customer(meta))}</td><td><span class="bar" style="width:${Math.round(peak * 60)}px"></span>${peak.toFixed(2)}</td>` +
    `<td>${cg.level(c.max_alert_level)}</td><td>${cg.esc((c.alert_reasons || []).join(", "))}</td>` +
    `<td class="num">${c.open_alert_count || ""}</td>` +
    `<td class="num">${talk(c)}</td><td class="num">${(c.overtalk_s || 0).toFixed(1)} s</td>` +
    `<td class="num">${c.interruptions || 0}</td><td class="num">${(c.longest_silence_s || 0).toFixed(1)} s</td>` +
    `<td>${cg.esc(c.status.toLowerCase())}</td></tr>`;
}

function talk(c) {
  const a = c.customer_talk_share || 0, b = c.agent_talk_share || 0;
  return a + b ? `${Math.round(a * 100)} / ${Math.round(b * 100)}%` : "—";
}

async function loadResponse(params) {
  const box = document.getElementById("response");
  params.delete("page_size");
  params.delete("page_token");
  try {
    const s = await cg.json(`/api/response-summary?${params}`);
    const table = (title, rows) => `<table class="summary"><thead><tr><th>${title}</th><th class="num">Alerts</th>` +
      `<th class="num">Effective</th><th class="num">Partly</th><th class="num">Not effective</th><th class="num">Pending / no speech</th>` +
      `<th class="num">De-escalated</th><th class="num">Median time to calm</th></tr></thead><tbody>` +
      (rows.length ? rows.map((r) => `<tr data-name="${cg.esc(r.name)}"><td>${cg.esc(r.name)}</td><td class="num">${r.alerts}</td>` +
        `<td class="num">${r.effective}</td><td class="num">${r.partly}</td><td class="num">${r.not_effective}</td>` +
        `<td class="num">${r.pending + r.no_speech}</td>` +
        `<td class="num">${r.de_escalated_share == null ? "—" : Math.round(r.de_escalated_share * 100) + "%"}</td>` +
        `<td class="num">${r.median_time_to_calm_s == null ? "—" : r.median_time_to_calm_s.toFixed(0) + " s"}</td></tr>`).join("")
        : `<tr><td colspan="8" class="empty">No customer alerts in these calls.</td></tr>`) + "</tbody></table>";
    box.innerHTML = table("Agent", s.agent) + table("Queue", s.queue) +
      (s.complete ? "" : `<div class="muted">First ${s.calls} calls only: narrow the filter for the rest.</div>`);
  } catch (e) {
    box.innerHTML = `<div class="empty">${cg.esc(e.message)}</div>`;
  }
}

form.addEventListener("submit", (ev) => { ev.preventDefault(); tokens = [""]; load(); });
document.getElementById("next").addEventListener("click", (ev) => { tokens.push(ev.target.dataset.token); load(); });
document.getElementById("prev").addEventListener("click", () => { tokens.pop(); load(); });
for (const el of document.querySelectorAll("[data-zone]")) el.textContent = cg.zone();
for (const th of document.querySelectorAll("th[data-order]")) {  // sort by a column: highest first, on the server
  th.addEventListener("click", () => { form.elements.order.value = th.dataset.order; tokens = [""]; load(); });
}
loadFormFromUrl();
load();
