// Shared helpers for the console pages: fetching the JSON API, formatting, the supervisor's name.
"use strict";

const cg = {
  async json(url, options) {
    const res = await fetch(url, options);
    const body = await res.json().catch(() => ({}));
    if (res.status === 401) cg.showSignIn();
    if (!res.ok) throw new Error(body.error || body.detail || `${res.status} ${res.statusText}`);
    return body;
  },
  showSignIn() {
    const box = document.getElementById("signin");
    if (!box || box.dataset.shown) return;
    box.dataset.shown = "1";
    box.innerHTML = `<input id="token" type="password" placeholder="API token" size="22"> <button type="button" id="signin-btn">Sign in</button>`;
    document.getElementById("signin-btn").addEventListener("click", async () => {
      try {
        await cg.json("/api/session", { method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ token: document.getElementById("token").value }) });
        location.reload();
      } catch (e) {
        document.getElementById("token").value = "";
        document.getElementById("token").placeholder = e.message.slice(0, 60);
      }
    });
  },
  async session() {
    const box = document.getElementById("signin");
    const s = await cg.json("/api/session").catch(() => null);
    if (!s || !box) return;
    if (s.signed_in) {
      box.innerHTML = `${cg.esc(s.name)} (${cg.esc(s.role)}) <a href="#" id="signout">sign out</a>`;
      document.getElementById("signout").addEventListener("click", async (ev) => {
        ev.preventDefault();
        await fetch("/api/session", { method: "DELETE" });
        location.reload();
      });
      if (!cg.me()) document.getElementById("me").value = s.name;
    } else if (s.auth_required) {
      cg.showSignIn();
    }
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
  // One time convention on every page: the viewer's local zone, always labelled ("2026-11-30 20:05:55 GMT+8").
  when(value) {
    if (!value) return "";
    const d = new Date(value);
    if (Number.isNaN(d.getTime())) return "";
    const p = Object.fromEntries(cg._clock.formatToParts(d).map((x) => [x.type, x.value]));
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName}`;
  },
  _clock: new Intl.DateTimeFormat("en-US", { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short" }),
  // The viewer's zone as a label for filters and headers, e.g. "GMT+8, Asia/Shanghai".
  zone() {
    const name = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    const short = cg.when(new Date()).split(" ").at(-1);
    return name && name !== short && name !== "UTC" ? `${short}, ${name}` : short;
  },
  // A date picked in a filter (YYYY-MM-DD, the viewer's local day) as an ISO 8601 instant with its offset.
  localDayStart(day) {
    const d = new Date(`${day}T00:00:00`);
    const off = -d.getTimezoneOffset();
    const sign = off >= 0 ? "+" : "-";
    const hh = String(Math.floor(Math.abs(off) / 60)).padStart(2, "0"), mm = String(Math.abs(off) % 60).padStart(2, "0");
    return `${day}T00:00:00${sign}${hh}:${mm}`;
  },
  level(level) {
    const name = level && level !== "ALERT_LEVEL_UNSPECIFIED" ? level : "none";
    return `<span class="badge ${name}">${name === "none" ? "—" : name}</span>`;
  },
  role(role) {
    return role === "AGENT" ? "agent" : role === "CUSTOMER" ? "customer" : "?";
  },
  me() {
    const typed = document.getElementById("me");
    return ((typed && typed.value) || localStorage.getItem("callguard.me") || "").trim();
  },
  header() {
    // The same navigation on every page; the page says which one it is in data-page.
    const top = document.querySelector("header.top");
    if (!top) return;
    const on = (page) => (top.dataset.page === page ? ' class="on"' : "");
    top.innerHTML = `<b>Callguard</b><a href="/"${on("live")}>Live board</a><a href="/calls"${on("calls")}>Flagged calls</a>` +
      `<a href="/docs">API</a><label class="me">Acknowledge as <input id="me" placeholder="your name"></label>` +
      `<span id="signin" class="signin"></span>`;
    cg.session();
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
