// Call detail: audio (with per-speaker solo), the emotion/prosody timeline with alert and transcript lanes on
// the same time axis, the transcript, and the emotion analysis table. Clicking anything with a time seeks.
"use strict";

const callId = decodeURIComponent(location.pathname.split("/").pop());
const audio = document.getElementById("audio");
const charts = [];
let duration = 0;
let segments = [];
let dynamics = null;

function seek(t) {
  audio.currentTime = Math.max(0, t);
  if (audio.paused) audio.play().catch(() => {});
}

// ---- solo: route the stereo channels through Web Audio only when asked (keeps plain playback simple) ----
let gains = null;
function solo(which) {
  if (!gains) {
    const ctx = new AudioContext();
    const source = ctx.createMediaElementSource(audio);
    const split = ctx.createChannelSplitter(2), merge = ctx.createChannelMerger(2);
    source.connect(split);
    gains = [ctx.createGain(), ctx.createGain()];
    gains.forEach((g, ch) => { split.connect(g, ch); g.connect(merge, 0, 0); g.connect(merge, 0, 1); });
    merge.connect(ctx.destination);
    gains.ctx = ctx;
  }
  gains.ctx.resume();
  gains.forEach((g, ch) => { g.gain.value = which === "both" || Number(which) === ch ? 1 : 0; });
  document.querySelectorAll("#solo button").forEach((b) => b.classList.toggle("on", b.dataset.solo === which));
}

// ---- timeline ---------------------------------------------------------------------------------------------
const COLORS = { anger: "#d32f2f", disappointment: "#1565c0", pitch_st: "#6a1b9a", loudness_db: "#ef6c00" };

function playhead(u) {
  const x = u.valToPos(audio.currentTime, "x", true);
  const ctx = u.ctx;
  ctx.save();
  ctx.strokeStyle = "#283593";
  ctx.lineWidth = 2 * devicePixelRatio;
  ctx.beginPath();
  ctx.moveTo(x, u.bbox.top);
  ctx.lineTo(x, u.bbox.top + u.bbox.height);
  ctx.stroke();
  ctx.restore();
}

function alertBands(alerts) {
  return (u) => {
    const ctx = u.ctx;
    ctx.save();
    for (const a of alerts) {
      const x0 = u.valToPos(a.start_s, "x", true), x1 = u.valToPos(a.end_s, "x", true);
      ctx.fillStyle = a.level === "HIGH" ? "rgba(198,40,40,.10)" : "rgba(224,138,0,.10)";
      ctx.fillRect(x0, u.bbox.top, Math.max(2, x1 - x0), u.bbox.height);
    }
    ctx.restore();
  };
}

const SILENCE_S = 2.5; // a speaker's estimates further apart than this: they were silent, break the line

function chart(el, title, tracks, fields, yRange, alerts) {
  // One x array for all speakers: a speaker's own times carry values, a point in each of their silences
  // carries null (a gap), the other speakers' times carry undefined (joined over).
  const breaks = tracks.map((t) => t.t_s.slice(1).flatMap((x, i) => (x - t.t_s[i] > SILENCE_S ? [(x + t.t_s[i]) / 2] : [])));
  const xs = [...new Set([...tracks.flatMap((t) => t.t_s), ...breaks.flat()])].sort((a, b) => a - b);
  const data = [xs];
  const series = [{ label: "call time", value: (u, v) => (v == null ? "" : cg.clock(v)) }];
  tracks.forEach((t, k) => {
    const at = new Map(t.t_s.map((x, i) => [x, i]));
    const gaps = new Set(breaks[k]);
    for (const f of fields) {
      data.push(xs.map((x) => (at.has(x) ? t[f][at.get(x)] : gaps.has(x) ? null : undefined)));
      series.push({ label: `${cg.role(t.role)} ${f.replace("_st", " (st)").replace("_db", " (dB)")}`, stroke: COLORS[f], width: 1.6,
        dash: t.role === "AGENT" ? [6, 4] : undefined, points: { size: 4 } });
    }
  });
  const width = el.parentElement.clientWidth - 12;
  const u = new uPlot({
    title, width, height: 200, series,
    scales: { x: { time: false, range: [0, Math.max(duration, xs.at(-1) || 1)] }, y: yRange ? { range: yRange } : {} },
    axes: [{ values: (u, ticks) => ticks.map((v) => cg.clock(v)) }, {}],
    cursor: { sync: { key: "call" } },
    hooks: { draw: [alertBands(alerts), playhead] },
  }, data, el);
  u.over.addEventListener("click", () => { if (u.cursor.left >= 0) seek(u.posToVal(u.cursor.left, "x")); });
  charts.push(u);
  return u;
}

function layoutLanes(u, alerts) {
  const lanes = document.getElementById("lanes");
  const box = document.getElementById("timeline").getBoundingClientRect();
  const over = u.over.getBoundingClientRect();
  lanes.style.marginLeft = `${over.left - box.left}px`;
  lanes.style.width = `${over.width}px`;
  const x = (t) => u.valToPos(t, "x");
  const alertLane = document.getElementById("lane-alerts");
  alertLane.querySelectorAll(".marker").forEach((m) => m.remove());
  for (const a of alerts) {
    const b = document.createElement("button");
    b.className = `marker ${a.level}`;
    b.style.left = `${x(a.start_s)}px`;
    b.title = `${a.level} ${a.reasons.join(", ")} at ${cg.clock(a.start_s)}: ${a.evidence}`;
    b.dataset.t = a.start_s;
    b.addEventListener("click", () => seek(a.start_s));
    alertLane.appendChild(b);
  }
  const talk = document.getElementById("lane-talk");
  talk.querySelectorAll(".band, .cut").forEach((m) => m.remove());
  const d = dynamics || {};
  const band = (a, b, cls, title) => {
    const el = document.createElement("div");
    el.className = `band ${cls}`;
    el.style.left = `${x(a)}px`;
    el.style.width = `${Math.max(3, x(b) - x(a))}px`;
    el.title = title;
    el.addEventListener("click", () => seek(a));
    talk.appendChild(el);
  };
  for (const s of d.silences || []) band(s.start_s, s.end_s, s.hold_like ? "hold" : "quiet",
    `${s.hold_like ? "hold-like silence" : "dead air"} ${cg.clock(s.start_s)}–${cg.clock(s.end_s)} (${(s.end_s - s.start_s).toFixed(1)} s)`);
  for (const r of d.overtalk || []) band(r.start_s, r.end_s, "over", `both talking ${cg.clock(r.start_s)}–${cg.clock(r.end_s)}`);
  for (const r of d.unanalysed || []) band(r.start_s, r.end_s, "gap", `not analysed ${cg.clock(r.start_s)}–${cg.clock(r.end_s)} (analysis was behind)`);
  for (const i of d.interruptions || []) {
    const b = document.createElement("button");
    b.className = `cut ${i.by_role}`;
    b.style.left = `${x(i.start_s)}px`;
    const who = cg.role(i.by_role);
    b.title = `${who[0].toUpperCase()}${who.slice(1)} talked over the ${cg.role(i.of_role)} at ${cg.clock(i.start_s)} for ${i.overlap_s.toFixed(1)} s`;
    b.textContent = "▼";
    b.addEventListener("click", () => seek(i.start_s));
    talk.appendChild(b);
  }
  for (const ch of [0, 1]) {
    const lane = document.getElementById(`lane-${ch}`);
    lane.querySelectorAll(".seg").forEach((s) => s.remove());
    for (const s of segments.filter((s) => s.channel === ch)) {
      const d = document.createElement("div");
      d.className = `seg ${s.role}${s.flagged ? " hit" : ""}`;
      d.style.left = `${x(s.start_s)}px`;
      d.style.width = `${Math.max(3, x(s.end_s) - x(s.start_s))}px`;
      d.title = `${cg.clock(s.start_s)} ${s.text}`;
      d.addEventListener("click", () => seek(s.start_s));
      lane.appendChild(d);
    }
  }
}

// ---- transcript with triggering phrases highlighted ---------------------------------------------------
function highlight(text, phrases) {
  let html = cg.esc(text);
  for (const p of phrases) {
    if (!p) continue;
    const i = html.toLowerCase().indexOf(cg.esc(p).toLowerCase());
    if (i >= 0) html = `${html.slice(0, i)}<mark>${html.slice(i, i + cg.esc(p).length)}</mark>${html.slice(i + cg.esc(p).length)}`;
  }
  return html;
}

// ---- judged utterances: what was said and how it sounded, beside the words ----------------------------
const JUDGED = ["anger", "disappointment", "anxiety", "confusion"];
const JUDGED_SHOWN = 0.5; // a line gets a badge when its utterance's strongest emotion reaches this

function judgementOf(s, judged) {
  return judged.find((j) => j.channel === s.channel && j.start_s <= s.start_s + 0.5 && j.end_s >= s.end_s - 0.5);
}

function judgedBadge(j) {
  const top = JUDGED.reduce((a, b) => ((j[b] || 0) > (j[a] || 0) ? b : a));
  if ((j[top] || 0) < JUDGED_SHOWN) return { html: "", phrases: [] };
  const drivers = ((j.words || {}).drivers || []).find((d) => d.emotion === top);
  const phrases = drivers ? drivers.phrases : [];
  const voice = { anger: (j.voice || {}).anger, disappointment: (j.voice || {}).sad }[top];
  const why = [j.words ? `words ${top} ${(j.words[top] || 0).toFixed(2)}${phrases.length ? ` ("${phrases[0]}")` : ""}` : "no words judged",
    voice !== undefined ? `voice ${top} ${(voice || 0).toFixed(2)}` : "no voice model for this emotion"];
  return { html: ` <span class="judged ${top}" title="${cg.esc(why.join("; "))}">${top} ${(j[top] || 0).toFixed(2)}</span>`, phrases };
}

function renderTranscript(call) {
  const phraseAlerts = call.alerts.filter((a) => a.excerpt);
  const judged = call.utterance_emotions || [];
  segments = call.segments.map((s) => {
    const hits = phraseAlerts.filter((a) => a.channel === s.channel && a.start_s < s.end_s + 0.05 && a.end_s > s.start_s - 0.05);
    const j = judgementOf(s, judged);
    const badge = j ? judgedBadge(j) : { html: "", phrases: [] };
    return { ...s, flagged: hits.length > 0, phrases: [...hits.map((a) => a.matched_phrase || a.words_phrase), ...badge.phrases], badge: badge.html };
  });
  const box = document.getElementById("transcript");
  if (!segments.length) return;
  box.innerHTML = segments.map((s, i) =>
    `<div class="line${s.flagged ? " flagged" : ""}" data-i="${i}" data-start="${s.start_s}"><span class="t">${cg.clock(s.start_s)}</span>` +
    `<span class="who ${s.role}">${cg.role(s.role)}</span><span class="text">${s.phrases.length ? highlight(s.text, s.phrases) : cg.esc(s.text)}</span>${s.badge}</div>`).join("");
  box.querySelectorAll(".line").forEach((el) => el.addEventListener("click", () => seek(Number(el.dataset.start))));
}

function renderHead(s) {
  const meta = s.metadata || {};
  const extra = Object.entries(meta).filter(([k]) => !["agent", "queue", "customer_id"].includes(k))
    .map(([k, v]) => `<div><span>${cg.esc(k)}</span>${cg.esc(v)}</div>`).join("");
  document.title = `Callguard · ${s.call_id}`;
  document.getElementById("head").innerHTML =
    `<div><span>call</span><b>${cg.esc(s.call_id)}</b></div><div><span>started</span>${cg.when(s.started_at)}</div>` +
    `<div><span>duration</span>${cg.clock(s.duration_s)}</div><div><span>status</span>${cg.esc(s.status.toLowerCase())}${s.end_reason ? " (" + cg.esc(s.end_reason) + ")" : ""}</div>` +
    `<div><span>agent</span>${cg.esc(meta.agent || meta.agent_id || "—")}</div><div><span>queue</span>${cg.esc(meta.queue || "—")}</div>` +
    `<div><span>customer</span>${cg.esc(cg.customer(meta) || "—")}</div><div><span>peak anger</span>${(s.peak_anger || 0).toFixed(2)}</div>` +
    `<div><span>alerts</span>${cg.level(s.max_alert_level)} ${s.alert_count || 0}</div>` +
    `<div id="transcript-stats"><span>transcript</span>${s.segment_count || 0} segments` +
    (s.utterances_shed ? `; <b>${s.utterances_shed} utterances not transcribed</b> (transcription was behind)` : "") +
    (s.segments_dropped ? `; ${s.segments_dropped} segments dropped as likely hallucinations` : "") + `</div>${extra}`;
  if (s.channel_count < 2) document.getElementById("solo").style.display = "none";
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function renderDynamics(d) {
  const box = document.getElementById("dynamics");
  if (!d || !d.speakers || !d.speakers.length) { box.innerHTML = `<span class="muted">No conversation dynamics for this call.</span>`; return; }
  const pct = (v) => `${Math.round((v || 0) * 100)}%`;
  const talk = d.speakers.map((s) => `<div><span>${cg.esc(cg.role(s.role))} talk</span>${(s.talk_s || 0).toFixed(1)} s · ${pct(s.talk_share)}` +
    `${s.interruptions_made ? ` · <b>made ${plural(s.interruptions_made, "interruption")}</b>` : ""}` +
    `${d.speakers.length > 1 ? ` · <span class="muted" title="silences of 0.5-3 s inside their own turn, nobody else talking (hesitation)">${plural(s.pauses || 0, "pause")} in turn (${(s.pauses_per_min || 0).toFixed(1)}/min)</span>` : ""}</div>`).join("");
  const rate = d.speakers.filter((s) => (s.speech_rate || []).length).map((s) =>
    `${cg.esc(cg.role(s.role))} ${s.speech_rate.map((p) => p.speech_rate_sps.toFixed(1)).join(" → ")}`).join("; ");
  box.innerHTML = talk +
    (d.speakers.length > 1 ? `<div><span>overtalk</span>${(d.overtalk_s || 0).toFixed(1)} s · ${plural((d.interruptions || []).length, "interruption")}</div>` : "") +
    `<div><span>longest silence</span>${(d.longest_silence_s || 0).toFixed(1)} s${d.hold_s ? ` · hold-like ${d.hold_s.toFixed(0)} s` : ""}</div>` +
    (rate ? `<div class="wide"><span>speech rate, syllables/s per 30 s</span>${rate}</div>` : "") +
    ((d.unanalysed || []).length ? `<div><span>note</span>${d.unanalysed.length} stretch(es) not analysed</div>` : "");
}

function effectNumbers(r) {
  const parts = [r.score_before && r.score_after ? `${cg.esc(r.score_before)} → ${cg.esc(r.score_after.split(" ").pop())}` : ""];
  if (r.time_to_calm_s) parts.push(`calm after ${r.time_to_calm_s} s`);
  if (r.relapsed_at_s) parts.push(`flared up again at ${cg.clock(Number(r.relapsed_at_s))}`);
  return parts.filter(Boolean).join(" · ");
}

function renderAnalysis(table) {
  const body = document.querySelector("#analysis tbody");
  body.innerHTML = table.rows.length ? table.rows.map((r) =>
    `<tr class="${r.status === "COACHING" ? "coaching" : ""}"><td><a href="#" data-t="${r.call_time_s}">${cg.clock(Number(r.call_time_s))}</a> <span class="muted">${cg.esc(cg.when(r.raised_at))}</span></td>` +
    `<td>${cg.esc(r.customer_id)}</td><td>${cg.esc(r.speaker)}</td><td>${cg.esc(r.emotion)}</td><td>${r.level === "COACHING" ? `<span class="badge coach">coach</span>` : cg.level(r.level)}</td>` +
    `<td>${cg.esc(r.trigger)}</td><td>${cg.esc(r.suggested_action)}</td>` +
    `<td>${r.status === "COACHING" ? `<span class="muted">for the team lead</span>` : r.status === "ACKNOWLEDGED" ? `acknowledged by ${cg.esc(r.acknowledged_by)}${r.note ? ": " + cg.esc(r.note) : ""}` : "<b>open</b>"}</td>` +
    `<td class="effect ${cg.esc(r.effect.replace(/ /g, "-"))}">${cg.esc(r.effect || "—")}<div class="muted">${effectNumbers(r)}</div></td></tr>`).join("")
    : `<tr><td colspan="9" class="empty">No alerts on this call.</td></tr>`;
  body.querySelectorAll("a[data-t]").forEach((a) => a.addEventListener("click", (ev) => { ev.preventDefault(); seek(Number(a.dataset.t)); }));
}

async function main() {
  const base = `/api/calls/${encodeURIComponent(callId)}`;
  let call, tl, table;
  try {
    [call, tl, table] = await Promise.all([cg.json(`${base}?emotions=false`), cg.json(`${base}/timeline?max_points=800`), cg.json(`${base}/analysis`)]);
  } catch (e) {
    document.getElementById("head").textContent = e.message;
    return;
  }
  duration = call.summary.duration_s;
  renderHead(call.summary);
  audio.src = `${base}/audio.wav`;
  document.getElementById("call-csv").href = `/api/analysis.csv?call_id=${encodeURIComponent(callId)}`;
  renderTranscript(call);
  dynamics = call.dynamics || null;
  renderDynamics(dynamics);
  renderAnalysis(table);
  const u = chart(document.getElementById("emotion-chart"), "Anger and disappointment (0–1; dashed: agent)", tl.tracks, ["anger", "disappointment"], [0, 1], call.alerts);
  chart(document.getElementById("prosody-chart"), "Pitch (semitones) and loudness (dB) vs. the speaker's own baseline", tl.tracks, ["pitch_st", "loudness_db"], null, call.alerts);
  layoutLanes(u, call.alerts);
  window.addEventListener("resize", () => {
    for (const c of charts) c.setSize({ width: c.root.parentElement.clientWidth - 12, height: 200 });
    layoutLanes(u, call.alerts);
  });
  const start = Number(new URLSearchParams(location.search).get("t"));
  if (start) audio.currentTime = start;
}

audio.addEventListener("timeupdate", () => {
  charts.forEach((c) => c.redraw(false, false));
  const t = audio.currentTime;
  document.querySelectorAll(".line").forEach((el) => {
    const s = segments[Number(el.dataset.i)];
    el.classList.toggle("playing", s.start_s <= t && t < s.end_s);
  });
});
document.getElementById("play").addEventListener("click", () => { if (audio.paused) audio.play(); else audio.pause(); });
audio.addEventListener("play", () => { document.getElementById("play").textContent = "❚❚ Pause"; });
audio.addEventListener("pause", () => { document.getElementById("play").textContent = "▶ Play"; });
document.querySelectorAll("#solo button").forEach((b) => b.addEventListener("click", () => solo(b.dataset.solo)));
main();
