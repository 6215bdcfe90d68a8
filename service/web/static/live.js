// Live board: open alerts pushed over server-sent events; calls in progress polled every second.
"use strict";

const openAlerts = new Map(); // alert_id -> alert (only OPEN ones are shown)
const seenIds = new Set();
let liveCalls = [];
// Calls no longer in progress that still have open alerts (from /api/live): call_id -> {ended_at, on_board...}.
// Their alerts are shown apart, marked "call ended", for ended_window_s; after that only counted, with a link.
let endedCalls = new Map();
let endedWindowS = 1800;

function sparkline(t, values, color, span) {
  const w = 150, h = 30;
  if (!t.length) return `<svg width="${w}" height="${h}"></svg>`;
  const end = t[t.length - 1], start = end - span;
  const pts = t.map((x, i) => `${(((x - start) / span) * w).toFixed(1)},${(h - values[i] * h).toFixed(1)}`).join(" ");
  return `<svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><line x1="0" x2="${w}" y1="${h / 2}" y2="${h / 2}" stroke="#ccc" stroke-dasharray="3 3"/>` +
    `<polyline fill="none" stroke="${color}" stroke-width="1.6" points="${pts}"/></svg>`;
}

function speakerCell(ch, span) {
  if (!ch) return `<td class="muted">silent so far</td>`;
  const a = ch.anger.at(-1) ?? 0, d = ch.disappointment.at(-1) ?? 0;
  return `<td><span class="spark">${sparkline(ch.t_s, ch.anger, "var(--anger)", span)}<span class="v" title="anger now">${a.toFixed(2)}</span></span>` +
    `<span class="spark">${sparkline(ch.t_s, ch.disappointment, "var(--dis)", span)}<span class="v" title="disappointment now">${d.toFixed(2)}</span></span></td>`;
}

function renderCalls(data) {
  liveCalls = data.calls;
  if (data.ended) {
    const signature = (m) => [...m.values()].map((c) => `${c.call_id}:${c.on_board}:${Math.round(c.ended_s_ago / 60)}`).join();
    const next = new Map(data.ended.map((c) => [c.call_id, c]));
    const changed = signature(next) !== signature(endedCalls);
    endedCalls = next;
    endedWindowS = data.ended_window_s;
    if (changed) renderAlerts();
  }
  const body = document.querySelector("#calls tbody");
  document.getElementById("call-count").textContent = `(${data.calls.length})`;
  if (!data.calls.length) {
    body.innerHTML = `<tr><td colspan="8" class="empty">No calls in progress.</td></tr>`;
    return;
  }
  body.innerHTML = data.calls.map(({ summary: s, channels }) => {
    const meta = s.metadata || {};
    const byRole = (role) => channels.find((c) => c.role === role);
    const open = [...openAlerts.values()].filter((a) => a.call_id === s.call_id);
    const top = open.reduce((m, a) => (["LOW", "MEDIUM", "HIGH"].indexOf(a.level) > ["LOW", "MEDIUM", "HIGH"].indexOf(m) ? a.level : m), "");
    return `<tr data-call="${cg.esc(s.call_id)}"><td><a href="/calls/${encodeURIComponent(s.call_id)}">${cg.esc(s.call_id)}</a></td>` +
      `<td>${cg.esc(meta.agent || meta.agent_id || "")}</td><td>${cg.esc(meta.queue || "")}</td><td>${cg.esc(cg.customer(meta))}</td>` +
      `<td class="num">${cg.clock(s.duration_s)}</td>${speakerCell(byRole("CUSTOMER"), data.sparkline_s)}${speakerCell(byRole("AGENT"), data.sparkline_s)}` +
      `<td>${open.length ? cg.level(top) + ` ${open.length} open` : '<span class="muted">none</span>'}</td></tr>`;
  }).join("");
}

function ago(seconds) {
  const m = Math.round(seconds / 60);
  return m < 1 ? "just now" : m < 120 ? `${m} min ago` : `${Math.round(m / 60)} h ago`;
}

function alertCard(a) {
  const reasons = a.reasons.join(", ");
  const ended = endedCalls.get(a.call_id);
  const endedTag = ended ? `<span class="tag ended" title="ended ${cg.esc(cg.when(ended.ended_at))}">call ended ${ago(ended.ended_s_ago)}</span> ` : "";
  const range = `${cg.clock(a.start_s)}–${cg.clock(a.end_s)}`;
  const excerpt = a.excerpt ? `<div class="evidence">“${cg.esc(a.excerpt)}”</div>` : "";
  const quiet = a.page === false;  // the policy shows it without paging: no flash, muted, tagged
  const quietTag = quiet ? `<span class="tag quiet" title="the policy shows this type without paging (page = false)">not paged</span> ` : "";
  return `<div class="alert ${a.level}${quiet ? " quiet" : seenIds.has(a.alert_id) ? "" : " new"}" data-alert="${cg.esc(a.alert_id)}">
    <div class="what">${endedTag}${quietTag}${cg.level(a.level)} ${cg.esc(reasons)} · ${cg.role(a.role)} (ch${a.channel}) ·
      <a href="/calls/${encodeURIComponent(a.call_id)}?t=${a.start_s}">${cg.esc(a.call_id)}</a> at ${range}
      <span class="muted">· ${cg.esc(a.agent || "")}${a.queue ? " / " + cg.esc(a.queue) : ""} · ${cg.when(a.updated_at)}</span></div>
    <div class="evidence">${cg.esc(a.evidence)}</div>${excerpt}
    <div class="action">Suggested: ${cg.esc(a.action)}</div>
    <div class="ack"><input class="note" placeholder="note (optional)" maxlength="2000"><button class="ack-btn">Acknowledge</button><span class="err muted"></span></div>
  </div>`;
}

function renderAlerts() {
  // notes being typed and the typing focus survive a re-render, also when a card moves from "live calls" to
  // "ended calls" as its call ends (read from both boxes before either is redrawn)
  const notes = new Map([...document.querySelectorAll(".alert")].map((el) => [el.dataset.alert, el.querySelector(".note").value]));
  const focused = document.activeElement?.classList.contains("note") ? document.activeElement.closest(".alert")?.dataset.alert : null;
  const all = [...openAlerts.values()].sort((x, y) => (y.updated_at || "").localeCompare(x.updated_at || ""));
  const live = all.filter((a) => !endedCalls.has(a.call_id));
  const ended = all.filter((a) => endedCalls.get(a.call_id)?.on_board);
  const aged = all.length - live.length - ended.length;
  document.getElementById("alert-count").textContent = `(${live.length})`;
  fill(document.getElementById("alerts"), live, "No open alerts on live calls.", notes, focused);
  const endedBox = document.getElementById("ended-alerts");
  endedBox.hidden = document.getElementById("ended-title").hidden = !ended.length;
  document.getElementById("ended-count").textContent = `(${ended.length}; shown for ${Math.round(endedWindowS / 60)} min after the call ends)`;
  fill(endedBox, ended, "", notes, focused);
  const agedOut = document.getElementById("aged-out");
  agedOut.hidden = !aged;
  agedOut.innerHTML = `${aged} more open alert${aged === 1 ? "" : "s"} of calls that ended over ${Math.round(endedWindowS / 60)} min ago: ` +
    `<a href="/calls?unacknowledged=true&min_level=LOW">Flagged calls, unacknowledged</a>.`;
  all.forEach((a) => seenIds.add(a.alert_id));
}

function fill(box, list, emptyText, notes, focused) {
  box.innerHTML = list.length ? list.map(alertCard).join("") : emptyText && `<div class="empty">${emptyText}</div>`;
  for (const el of box.querySelectorAll(".alert")) {
    el.querySelector(".note").value = notes.get(el.dataset.alert) || "";
    el.querySelector(".ack-btn").addEventListener("click", () => acknowledge(el));
    if (el.dataset.alert === focused) el.querySelector(".note").focus();
  }
}

async function acknowledge(el) {
  const by = cg.me();
  const err = el.querySelector(".err");
  if (!by) {
    err.textContent = "enter your name at the top first";
    document.getElementById("me").focus();
    return;
  }
  el.querySelector(".ack-btn").disabled = true;
  try {
    const done = await cg.json(`/api/alerts/${encodeURIComponent(el.dataset.alert)}/acknowledge`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ by, note: el.querySelector(".note").value }),
    });
    upsert(done);
  } catch (e) {
    err.textContent = e.message;
    el.querySelector(".ack-btn").disabled = false;
  }
}

function upsert(a) {
  const old = openAlerts.get(a.alert_id);
  if (old && old.version > a.version) return;
  if (a.status === "OPEN") openAlerts.set(a.alert_id, a);
  else openAlerts.delete(a.alert_id);
  renderAlerts();
  renderCalls({ calls: liveCalls, sparkline_s: 60 });
}

// The alert stream: a snapshot of the open alerts on every (re)connection replaces what the board shows,
// then alert events and a ping every few seconds. The board reopens the stream by itself whatever stopped it
// (a dropped network, a proxy's 502 that leaves an EventSource closed for good, a server restart, a half-open
// socket after sleep: nothing heard for WATCHDOG_MS) and says truthfully whether it is live.
const WATCHDOG_MS = 12000;
let source = null;
let lastHeard = 0;
let attempt = 0;
let retryTimer = null;
let downSince = null;

function setLive(live) {
  const state = document.getElementById("stream-state");
  if (live) {
    downSince = null;
    state.textContent = "· live";
  } else {
    downSince = downSince || new Date();
    const since = downSince.toLocaleTimeString([], { hour12: false });
    state.textContent = `· not live: reconnecting since ${since}` + (attempt ? ` (attempt ${attempt})` : "");
  }
  state.classList.toggle("stale", !live);
  for (const id of ["alerts", "ended-alerts"]) document.getElementById(id).classList.toggle("stale", !live);
}

function reconnectSoon() {
  if (source) { source.close(); source = null; }
  if (retryTimer) return;
  attempt += 1;
  const delay = Math.min(5000, 1000 * 2 ** (attempt - 1)) * (0.8 + 0.4 * Math.random());  // 1, 2, 4, 5, 5... s
  lastHeard = Date.now() + delay;  // the watchdog waits for this attempt
  setLive(false);
  retryTimer = setTimeout(() => { retryTimer = null; connect(); }, delay);
}

function connect() {
  if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
  if (source) source.close();
  lastHeard = Date.now();
  source = new EventSource("/api/alerts/stream?include_unpaged=true");  // quiet cards for what does not page
  source.addEventListener("snapshot", (ev) => {
    lastHeard = Date.now();
    attempt = 0;
    openAlerts.clear();
    for (const a of JSON.parse(ev.data).alerts) if (a.status === "OPEN") openAlerts.set(a.alert_id, a);
    renderAlerts();
    renderCalls({ calls: liveCalls, sparkline_s: 60 });
    setLive(true);
  });
  source.addEventListener("alert", (ev) => { lastHeard = Date.now(); upsert(JSON.parse(ev.data)); });
  source.addEventListener("ping", () => { lastHeard = Date.now(); });
  source.addEventListener("overflow", reconnectSoon);
  source.addEventListener("error", () => {
    setLive(false);  // the browser retries by itself while CONNECTING; a closed stream is ours to reopen
    if (source && source.readyState === EventSource.CLOSED) reconnectSoon();
  });
}

setInterval(() => { if (Date.now() - lastHeard > WATCHDOG_MS) reconnectSoon(); }, 2000);
window.addEventListener("online", () => { attempt = 0; connect(); });
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && downSince) { attempt = 0; connect(); }
});

async function poll() {
  try {
    renderCalls(await cg.json("/api/live"));
  } catch (e) {
    document.getElementById("call-count").textContent = `(${e.message})`;
  }
  setTimeout(poll, 1000);
}

connect();
poll();
