// Shared by the pages: token handling, API calls, plain words for a workflow, inline SVG charts.
// The token lives in this tab's sessionStorage only (gone when the tab closes), is sent only in the
// Authorization header to this node, and is never put in a URL the server sees: a link may carry it
// in the fragment (#token=...), which browsers never send; it is read once and removed.
"use strict";
const RS = (() => {
  const KEY = "rs.token";

  function takeTokenFromFragment() {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
  }

  function token() { return sessionStorage.getItem(KEY); }
  function logout() { sessionStorage.removeItem(KEY); location.reload(); }

  class AuthError extends Error {}

  async function api(path) {
    const response = await fetch(path, { headers: { Authorization: "Bearer " + token(), Accept: "application/json" }, cache: "no-store" });
    if (response.status === 401) { sessionStorage.removeItem(KEY); throw new AuthError("the token was refused"); }
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const e = new Error((body && (body.detail || body.error)) || ("HTTP " + response.status));
      e.status = response.status;
      throw e;
    }
    return body;
  }

  function el(tag, attrs, ...children) {
    const e = tag.startsWith("svg:") ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  // Shows the login form until a token is given, then runs start(); a refused token shows it again.
  function boot(title, start) {
    takeTokenFromFragment();
    const main = document.querySelector("main");
    const login = () => {
      main.replaceChildren(el("section", { class: "login", id: "login" },
        el("h2", { text: title + ": sign in" }),
        el("p", { class: "muted", text: "Paste an admin API token (an operator token, or your client token). It stays in this browser tab only." }),
        el("form", { id: "login-form", onsubmit: ev => {
          ev.preventDefault();
          const value = document.getElementById("token-input").value.trim();
          if (value) { sessionStorage.setItem(KEY, value); location.reload(); }
        } },
          el("input", { id: "token-input", type: "password", autocomplete: "off", placeholder: "token" }),
          el("button", { class: "primary", type: "submit", text: "Sign in" }))));
    };
    const out = document.getElementById("logout");
    if (out) out.addEventListener("click", logout);
    if (!token()) { login(); return; }
    start().catch(e => { if (e instanceof AuthError) login(); else showError(e); });
  }

  function showError(e) {
    const box = document.getElementById("error") || document.querySelector("main").appendChild(el("p", { id: "error", class: "error" }));
    box.textContent = "Could not load: " + (e && e.message || e);
  }

  // Refreshes every `seconds`; a failed refresh shows its error and tries again next time.
  function every(seconds, refresh) {
    const run = async () => {
      try { await refresh(); const box = document.getElementById("error"); if (box) box.textContent = ""; }
      catch (e) { if (e instanceof AuthError) { location.reload(); return; } showError(e); }
      setTimeout(run, seconds * 1000);
    };
    return run();
  }

  const pad = n => String(n).padStart(2, "0");
  function time(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function dateTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + time(iso);
  }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 1) return Math.round(seconds * 1000) + " ms";
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }
  const number = n => (n === null || n === undefined) ? "" : Number(n).toLocaleString("en-US", { maximumFractionDigits: 1 });

  // A workflow's state in plain words, and how good it is (ok, warn, bad): from its health when the
  // node classifies it, else from its state, endpoint and lag.
  function words(view) {
    const s = view.status;
    if (!s) return { text: "not answering: " + (view.problem || "no status"), level: "bad" };
    const behind = s.sourceLagSeconds === null || s.sourceLagSeconds === undefined ? null : s.sourceLagSeconds;
    const delivering = () => behind === null || behind < 1 ? "delivering, up to date" : "delivering, " + duration(behind) + " behind";
    const h = s.health;
    if (h) {
      const level = { healthy: "ok", lagging: "warn", paused: "warn", stopped: "warn", failing: "bad", stalled: "bad" }[h.state] || "warn";
      if (h.state === "healthy") return { text: delivering(), level };
      return { text: h.state + " since " + time(h.since) + ": " + h.reason, level };
    }
    const e = s.endpoint;
    switch (s.state) {
      case "paused": return { text: "paused by an operator", level: "warn" };
      case "pausing": return { text: "pausing", level: "warn" };
      case "deleted": return { text: "deleted", level: "warn" };
      case "deleting": return { text: "being deleted", level: "warn" };
      case "idle": return { text: "not started: no definition applied", level: "warn" };
      case "starting": return { text: "starting", level: "warn" };
      case "draining": return { text: "draining before a move or a new version", level: "warn" };
      case "quarantined": return { text: "stopped: the transform overran its time budget; waiting for a new version", level: "bad" };
      case "restarting": return { text: "restarting after an error" + (s.lastErrorAt ? " at " + time(s.lastErrorAt) : "") + ", retrying", level: "bad" };
    }
    if (e && (e.circuit !== "closed" || e.consecutiveFailures > 0))
      return { text: "endpoint failing since " + time(e.since) + ", retrying", level: "bad" };
    if (behind !== null && behind > 60) return { text: delivering(), level: "warn" };
    return { text: delivering(), level: "ok" };
  }

  const COLORS = ["#2453a6", "#d97706", "#059669", "#be185d", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];

  // An inline SVG line chart: series = [{name, color, points: [[timeMs, value], ...]}], x from now-1h to now.
  function chart(title, unit, series, now) {
    const W = 600, H = 150, L = 46, B = 18, T = 8, R = 8;
    const x0 = now - 3600 * 1000;
    const max = Math.max(1, ...series.flatMap(s => s.points.map(p => p[1])));
    const nice = (() => { const p = Math.pow(10, Math.floor(Math.log10(max))); for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p; return 10 * p; })();
    const X = t => L + (t - x0) / (now - x0) * (W - L - R);
    const Y = v => T + (1 - v / nice) * (H - T - B);
    const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": title });
    for (let i = 0; i <= 4; i++) {
      const v = nice * i / 4;
      svg.append(el("svg:line", { x1: L, x2: W - R, y1: Y(v), y2: Y(v), stroke: "#e5e7eb" }));
      svg.append(el("svg:text", { x: L - 4, y: Y(v) + 4, "text-anchor": "end", "font-size": 10, fill: "#6b7280" }, number(v)));
    }
    for (let m = 60; m >= 0; m -= 15) {
      const t = now - m * 60000;
      svg.append(el("svg:text", { x: X(t), y: H - 4, "text-anchor": "middle", "font-size": 10, fill: "#6b7280" }, m === 0 ? "now" : "-" + m + " min"));
    }
    for (const s of series) {
      if (s.points.length === 0) continue;
      const d = s.points.map((p, i) => (i ? "L" : "M") + X(p[0]).toFixed(1) + " " + Y(p[1]).toFixed(1)).join(" ");
      svg.append(el("svg:path", { d, fill: "none", stroke: s.color, "stroke-width": 1.6 }));
      const last = s.points[s.points.length - 1]; // the newest value stays visible even when the line is short
      svg.append(el("svg:circle", { cx: X(last[0]).toFixed(1), cy: Y(last[1]).toFixed(1), r: 2.5, fill: s.color }));
    }
    return el("div", { class: "chart" }, el("h3", { text: title + (unit ? " (" + unit + ")" : "") }), svg,
      el("div", { class: "legend" }, series.map(s => el("span", {}, el("span", { class: "swatch", "data-color": s.color }), s.name))));
  }

  // Colours the legend swatches (CSP forbids inline style attributes; CSSOM is allowed).
  function paintSwatches(root) {
    for (const sw of root.querySelectorAll(".swatch[data-color]")) sw.style.background = sw.getAttribute("data-color");
  }

  // Samples per workflow -> per-second rates and gauges; counters restart when a workflow moves or restarts.
  function seriesFrom(samples, workflowIds) {
    const by = new Map();
    for (const s of samples) { if (!by.has(s.workflowId)) by.set(s.workflowId, []); by.get(s.workflowId).push(s); }
    const out = { throughput: [], lag: [], latency: [], errors: [] };
    workflowIds.forEach((id, i) => {
      const list = (by.get(id) || []).sort((a, b) => new Date(a.at) - new Date(b.at));
      const color = COLORS[i % COLORS.length];
      const tp = [], lag = [], lat = [], err = [];
      const prevByNode = new Map();
      for (const s of list) {
        const t = new Date(s.at).getTime();
        const prev = prevByNode.get(s.node);
        if (prev) {
          const dt = (t - new Date(prev.at).getTime()) / 1000;
          const d = s.deliveredRecords - prev.deliveredRecords;
          const e = (s.deadLetters - prev.deadLetters) + (s.retries - prev.retries) + (s.restarts - prev.restarts);
          if (dt > 0 && d >= 0) tp.push([t, d / dt]);
          if (dt > 0 && e >= 0) err.push([t, e]);
        }
        prevByNode.set(s.node, s);
        if (s.sourceLagSeconds !== null && s.sourceLagSeconds !== undefined) lag.push([t, s.sourceLagSeconds]);
        if (s.latencyMs !== null && s.latencyMs !== undefined) lat.push([t, s.latencyMs]);
      }
      out.throughput.push({ name: id, color, points: tp });
      out.lag.push({ name: id, color, points: lag });
      out.latency.push({ name: id, color, points: lat });
      out.errors.push({ name: id, color, points: err });
    });
    return out;
  }

  return { boot, api, el, every, time, dateTime, duration, number, words, chart, paintSwatches, seriesFrom, token };
})();
