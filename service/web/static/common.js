// Shared helpers for the console pages: fetching the JSON API, formatting, the supervisor's name.
"use strict";

const cg = {
  async json(url, options) {
    const res = await fetch(url, options);
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.error || body.detail || `${res.status} ${res.statusText}`);
    return body;
  },
  esc(s) {
    return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  },
  clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = String(m).padStart(2, "0"), ss = String(r).padStart(2, "0");
    return h ? `${h}:${mm}:${ss}` : `${m}:${ss}`;
  },
  when(rfc3339) {
    if (!rfc3339) return "";
    const d = new Date(rfc3339);
    return d.toLocaleString(undefined, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  },
  level(level) {
    const name = level && level !== "ALERT_LEVEL_UNSPECIFIED" ? level : "none";
    return `<span class="badge ${name}">${name === "none" ? "—" : name}</span>`;
  },
  role(role) {
    return role === "AGENT" ? "agent" : role === "CUSTOMER" ? "customer" : "?";
  },
  me() {
    return (localStorage.getItem("callguard.me") || "").trim();
  },
  header() {
    // The same navigation on every page; the page says which one it is in data-page.
    const top = document.querySelector("header.top");
    if (!top) return;
    const on = (page) => (top.dataset.page === page ? ' class="on"' : "");
    top.innerHTML = `<b>Callguard</b><a href="/"${on("live")}>Live board</a><a href="/calls"${on("calls")}>Flagged calls</a>` +
      `<a href="/docs">API</a><label class="me">Acknowledge as <input id="me" placeholder="your name"></label>`;
  },
  bindMe() {
    cg.header();
    const input = document.getElementById("me");
    if (!input) return;
    input.value = cg.me();
    input.addEventListener("change", () => localStorage.setItem("callguard.me", input.value.trim()));
  },
  customer(meta) {
    return meta.customer_id || meta.customer || meta.caller || "";
  },
};
document.addEventListener("DOMContentLoaded", cg.bindMe);
